#include "api/idempotency.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

/* A line longer than this is not one idem_line() wrote: skipped at load. */
#define IDEM_LINE_MAX (4u << 20)
#define IDEM_FILE_MODE 0600

struct entry {
	char *principal, *key;
	uint8_t fp[32];
	bool in_flight;
	int status;
	char *body;             /* NULL while in flight */
	time_t at;              /* when it began, then when it was answered */
	struct entry *hnext;    /* hash chain */
	struct entry *older, *newer;   /* age list, oldest first */
	uint64_t hash;
};

struct idem {
	struct entry **buckets;
	size_t nbuckets;        /* a power of two */
	size_t count;
	struct entry *oldest, *newest;
};

/* ---- the table ---- */

/* FNV-1a over principal, a NUL, key: the NUL keeps ("ab","c") apart from
 * ("a","bc"). */
static uint64_t hash_of(const char *principal, const char *key)
{
	uint64_t h = 1469598103934665603ull;
	for (const char *p = principal;; p++) {
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
		if (!*p)
			break;
	}
	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return h;
}

static struct entry *find(const struct idem *s, const char *principal, const char *key,
			  uint64_t h)
{
	for (struct entry *x = s->buckets[h & (s->nbuckets - 1)]; x; x = x->hnext)
		if (x->hash == h && strcmp(x->principal, principal) == 0 &&
		    strcmp(x->key, key) == 0)
			return x;
	return NULL;
}

static void entry_free(struct entry *x)
{
	free(x->principal);
	free(x->key);
	free(x->body);
	free(x);
}

static void age_unlink(struct idem *s, struct entry *x)
{
	if (x->older)
		x->older->newer = x->newer;
	else
		s->oldest = x->newer;
	if (x->newer)
		x->newer->older = x->older;
	else
		s->newest = x->older;
	x->older = x->newer = NULL;
}

static void age_push(struct idem *s, struct entry *x)
{
	x->older = s->newest;
	x->newer = NULL;
	if (s->newest)
		s->newest->newer = x;
	else
		s->oldest = x;
	s->newest = x;
}

static void remove_entry(struct idem *s, struct entry *x)
{
	struct entry **pp = &s->buckets[x->hash & (s->nbuckets - 1)];
	while (*pp != x)
		pp = &(*pp)->hnext;
	*pp = x->hnext;
	age_unlink(s, x);
	s->count--;
	entry_free(x);
}

/* Doubles the buckets when the chains grow past two on average; a failed
 * allocation only leaves the chains longer. */
static void maybe_grow(struct idem *s)
{
	if (s->count < s->nbuckets * 2)
		return;
	size_t n = s->nbuckets * 2;
	struct entry **b = calloc(n, sizeof *b);
	if (!b)
		return;
	for (size_t i = 0; i < s->nbuckets; i++)
		for (struct entry *x = s->buckets[i], *next; x; x = next) {
			next = x->hnext;
			x->hnext = b[x->hash & (n - 1)];
			b[x->hash & (n - 1)] = x;
		}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
}

/* Forgets the oldest answered entry (an entry in flight is kept: its
 * idem_finish must find it). */
static void evict_oldest(struct idem *s)
{
	for (struct entry *x = s->oldest; x; x = x->newer)
		if (!x->in_flight) {
			remove_entry(s, x);
			return;
		}
}

/* A new newest entry; NULL when out of memory. */
static struct entry *insert(struct idem *s, const char *principal, const char *key, uint64_t h)
{
	struct entry *x = calloc(1, sizeof *x);
	if (!x)
		return NULL;
	x->principal = strdup(principal);
	x->key = strdup(key);
	if (!x->principal || !x->key) {
		entry_free(x);
		return NULL;
	}
	if (s->count >= IDEM_MAX_ENTRIES)
		evict_oldest(s);
	x->hash = h;
	size_t b = h & (s->nbuckets - 1);
	x->hnext = s->buckets[b];
	s->buckets[b] = x;
	age_push(s, x);
	s->count++;
	maybe_grow(s);
	return x;
}

static bool expired(const struct entry *x, time_t now)
{
	return !x->in_flight && now - x->at >= IDEM_TTL_S;
}

/* ---- keys and fingerprints ---- */

int idem_key_valid(const char *key)
{
	size_t n = 0;
	if (!key)
		return 0;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++, n++)
		if (*p < 0x21 || *p > 0x7e || n >= IDEM_KEY_MAX)
			return 0;
	return n > 0;
}

void idem_fingerprint(const char *method, const char *path, const char *body, size_t len,
		      uint8_t out[32])
{
	crypto_hash_sha256_state st;
	/* SHA-256 needs no set-up, but libsodium asks that sodium_init() come
	 * first; it is cheap once done and safe from any thread. */
	if (sodium_init() < 0)
		log_warn("libsodium does not initialise; SHA-256 goes on without it");
	/* Neither method nor path holds a NUL, so the NULs between them make
	 * the input unambiguous. */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)method, strlen(method) + 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)path, strlen(path) + 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)body, len);
	crypto_hash_sha256_final(&st, out);
}

/* ---- lookups ---- */

enum idem_look idem_begin(struct idem *s, const char *principal, const char *key,
			  const uint8_t fp[32], time_t now, int *status, const char **body)
{
	uint64_t h = hash_of(principal, key);
	struct entry *x = find(s, principal, key, h);

	if (x && expired(x, now)) {
		remove_entry(s, x);
		x = NULL;
	}
	if (x) {
		if (memcmp(x->fp, fp, 32) != 0)
			return IDEM_MISMATCH;
		if (x->in_flight)
			return IDEM_IN_FLIGHT;
		*status = x->status;
		*body = x->body;
		return IDEM_REPLAY;
	}
	x = insert(s, principal, key, h);
	/* Without memory the request still goes on, unprotected: refusing a
	 * drain for want of a retry guard would be worse. */
	if (x) {
		memcpy(x->fp, fp, 32);
		x->in_flight = true;
		x->at = now;
	}
	return IDEM_NEW;
}

void idem_abort(struct idem *s, const char *principal, const char *key)
{
	struct entry *x = find(s, principal, key, hash_of(principal, key));
	if (x && x->in_flight)
		remove_entry(s, x);
}

void idem_finish(struct idem *s, const char *principal, const char *key, int status,
		 const char *body, time_t now)
{
	struct entry *x = find(s, principal, key, hash_of(principal, key));
	/* Not found only when idem_begin had no memory: the line on disk
	 * still serves a retry after a restart. */
	if (!x)
		return;
	char *copy = strdup(body ? body : "");
	if (!copy) {
		remove_entry(s, x);
		return;
	}
	free(x->body);
	x->body = copy;
	x->status = status;
	x->in_flight = false;
	x->at = now;
	age_unlink(s, x);
	age_push(s, x);
}

/* ---- the file ---- */

static void hex_of(const uint8_t fp[32], char out[65])
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = digits[fp[i] >> 4];
		out[2 * i + 1] = digits[fp[i] & 15];
	}
	out[64] = '\0';
}

static int unhex(const char *s, uint8_t fp[32])
{
	if (strlen(s) != 64)
		return -1;
	for (size_t i = 0; i < 64; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return -1;
		fp[i / 2] = (uint8_t)(i % 2 ? (fp[i / 2] << 4) | v : v);
	}
	return 0;
}

json_t *idem_line(const char *principal, const char *key, const uint8_t fp[32], int status,
		  const char *body, time_t now)
{
	char hex[65];
	hex_of(fp, hex);
	return json_pack("{s:s, s:s, s:s, s:i, s:s, s:I}", "principal", principal, "key", key,
			 "fingerprint", hex, "status", status, "body", body ? body : "", "at",
			 (json_int_t)now);
}

/* One line of the file into an answered entry; -1 with why (size bytes)
 * when it is not what idem_line() writes. */
static int parse_line(struct idem *s, const char *line, size_t len, time_t now, bool *dropped,
		      char *why, size_t size)
{
	json_error_t jerr;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *principal, *key, *hex, *body;
	json_int_t status, at;
	uint8_t fp[32];
	int rc = -1;

	*dropped = false;
	if (!o) {
		snprintf(why, size, "not JSON (column %d: %s)", jerr.column, jerr.text);
		return -1;
	}
	if (json_unpack(o, "{s:s, s:s, s:s, s:I, s:s, s:I}", "principal", &principal, "key", &key,
			"fingerprint", &hex, "status", &status, "body", &body, "at", &at) < 0) {
		snprintf(why, size, "not an object with principal, key, fingerprint, status, body and at");
	} else if (!idem_key_valid(key)) {
		snprintf(why, size, "key is not 1..255 visible ASCII characters");
	} else if (unhex(hex, fp) < 0) {
		snprintf(why, size, "fingerprint is not 64 lowercase hex digits");
	} else if (status < 100 || status > 599) {
		snprintf(why, size, "status is not an HTTP status");
	} else if (at < 0 || at > (json_int_t)now + IDEM_TTL_S) {
		/* far ahead of the clock it would never expire */
		snprintf(why, size, "at %lld is not a time up to a day from now", (long long)at);
	} else if (now - (time_t)at >= IDEM_TTL_S) {
		*dropped = true;   /* expired: not an error */
		rc = 0;
	} else {
		uint64_t h = hash_of(principal, key);
		struct entry *x = find(s, principal, key, h);
		/* A key answered twice (should not happen): the later answer wins. */
		if (x)
			remove_entry(s, x);
		x = insert(s, principal, key, h);
		char *copy = x ? strdup(body) : NULL;
		if (!copy) {
			if (x)
				remove_entry(s, x);
			snprintf(why, size, "out of memory");
		} else {
			memcpy(x->fp, fp, 32);
			x->status = (int)status;
			x->body = copy;
			x->at = (time_t)at;
			rc = 0;
		}
	}
	json_decref(o);
	return rc;
}

/* Reads path into s; *changed when a line was skipped or dropped (the file
 * should be rewritten). A missing file is an empty store. */
static int load(struct idem *s, const char *path, time_t now, bool *changed, struct err *e)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;

	*changed = false;
	/* Only a regular file: a FIFO put in its place must not hang the
	 * start (its open would wait for a writer, with SIGTERM blocked). */
	int fd = fs_open_read(path, 0, NULL, e);
	if (fd == -ERR_NOTFOUND)
		return 0;
	if (fd < 0)
		return err_prefix(e, "idempotency file");
	FILE *f = fdopen(fd, "r");
	if (!f) {
		int saved = errno;
		close(fd);
		return err_set(e, ERR_IO, "idempotency file %s: cannot open: %s", path,
			       strerror(saved));
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		bool dropped = false;
		char why[200] = "";
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		else
			*changed = true;   /* a last line without newline: rewrite it whole */
		if (n == 0) {
			*changed = true;
			continue;
		}
		if ((size_t)n > IDEM_LINE_MAX)
			snprintf(why, sizeof why, "longer than %u bytes", IDEM_LINE_MAX);
		else
			parse_line(s, line, (size_t)n, now, &dropped, why, sizeof why);
		if (why[0]) {
			log_warn("idempotency file %s: line %zu skipped: %s", path, lineno, why);
			*changed = true;
		}
		if (dropped)
			*changed = true;
	}
	int rc = 0;
	if (ferror(f))
		rc = err_set(e, ERR_IO, "idempotency file %s: read failed at line %zu: %s", path,
			     lineno + 1, strerror(errno));
	free(line);
	fclose(f);
	return rc;
}

/* Writes the entries, oldest first, as idem_line() would. */
static int rewrite(const struct idem *s, const char *path, struct err *e)
{
	struct buf b = { 0 };
	int rc = 0;
	for (const struct entry *x = s->oldest; x && rc == 0; x = x->newer) {
		json_t *o = idem_line(x->principal, x->key, x->fp, x->status, x->body, x->at);
		char *txt = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(o);
		if (!txt || buf_puts(&b, txt) < 0 || buf_puts(&b, "\n") < 0)
			rc = err_set(e, ERR_NOMEM, "idempotency file %s: out of memory rewriting it",
				     path);
		free(txt);
	}
	if (rc == 0)
		rc = fs_write_atomic(path, b.p ? b.p : "", b.len, IDEM_FILE_MODE, e);
	buf_free(&b);
	return rc;
}

struct idem *idem_open(const char *path, time_t now, struct err *e)
{
	struct idem *s = calloc(1, sizeof *s);
	if (!s || !(s->buckets = calloc(64, sizeof *s->buckets))) {
		free(s);
		err_set(e, ERR_NOMEM, "idempotency store: out of memory");
		return NULL;
	}
	s->nbuckets = 64;
	bool changed;
	if (load(s, path, now, &changed, e) < 0 || (changed && rewrite(s, path, e) < 0)) {
		idem_free(s);
		return NULL;
	}
	return s;
}

void idem_free(struct idem *s)
{
	if (!s)
		return;
	for (struct entry *x = s->oldest, *next; x; x = next) {
		next = x->newer;
		entry_free(x);
	}
	free(s->buckets);
	free(s);
}
