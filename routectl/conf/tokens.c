#include "conf/tokens.h"
#include "common/err.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

/* A token line is under 200 bytes; the rest of the room is for comments. A
 * file larger than this is not a token file (a wrong path, a log). */
#define TOKENS_FILE_MAX (16u << 20)
/* Bad lines reported in one message; the rest are counted. */
#define TOKENS_ERRORS_MAX 20
#define HASH_PREFIX "sha256:"
#define SECRET_RANDOM_BYTES 32
/* "rct_" + 43 base64url characters (32 bytes, no padding) + NUL */
#define SECRET_SIZE (sizeof TOKEN_SECRET_PREFIX - 1 + \
		     sodium_base64_ENCODED_LEN(SECRET_RANDOM_BYTES, \
					       sodium_base64_VARIANT_URLSAFE_NO_PADDING))

static const char *const role_names[] = {
	[ROLE_NONE] = "none",
	[ROLE_VIEWER] = "viewer",
	[ROLE_OPERATOR] = "operator",
	[ROLE_ADMIN] = "admin",
};

const char *role_name(enum role r)
{
	if (r < ROLE_NONE || r > ROLE_ADMIN)
		return "none";
	return role_names[r];
}

/* ROLE_NONE is not a role a token can have, so "none" does not parse. */
static int role_parse_span(const char *s, size_t len, enum role *out)
{
	for (enum role r = ROLE_VIEWER; r <= ROLE_ADMIN; r++)
		if (strlen(role_names[r]) == len && memcmp(role_names[r], s, len) == 0) {
			*out = r;
			return 0;
		}
	return -ERR_INVALID;
}

int role_parse(const char *s, enum role *out)
{
	return role_parse_span(s, strlen(s), out);
}

/* libsodium must be initialised before randombytes_buf; sodium_init() is
 * thread-safe but takes a lock each time, so once per process is enough. */
static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ready;

static void sodium_start(void)
{
	sodium_ready = sodium_init() >= 0;
}

static int need_sodium(struct err *e)
{
	pthread_once(&sodium_once, sodium_start);
	if (!sodium_ready)
		return err_set(e, ERR_IO, "libsodium could not be initialised (sodium_init failed)");
	return 0;
}

/* A field of a line as it can be quoted in a message: at most 64 bytes,
 * and a byte that is not printable ASCII is shown as '?'. */
static void quote_span(const char *s, size_t len, char *out, size_t size)
{
	size_t n = 0;
	for (size_t i = 0; i < len && n + 4 < size; i++) {
		if (i == 64) {
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		unsigned char c = (unsigned char)s[i];
		out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[n] = '\0';
}

static int name_char_ok(unsigned char c, int first)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return 1;
	return !first && (c == '_' || c == '.' || c == '@' || c == '-');
}

/* What is wrong with a name (into why), or 0 when nothing is. */
static int name_problem(const char *s, size_t len, char *why, size_t why_size)
{
	char q[80];
	quote_span(s, len, q, sizeof q);
	if (len == 0) {
		snprintf(why, why_size, "the token name is empty");
		return -1;
	}
	if (len > TOKEN_NAME_MAX) {
		snprintf(why, why_size, "token name \"%s\" is longer than %d characters", q,
			 TOKEN_NAME_MAX);
		return -1;
	}
	if (!name_char_ok((unsigned char)s[0], 1)) {
		snprintf(why, why_size, "token name \"%s\" must start with a letter or a digit", q);
		return -1;
	}
	for (size_t i = 1; i < len; i++)
		if (!name_char_ok((unsigned char)s[i], 0)) {
			unsigned char c = (unsigned char)s[i];
			if (c >= 0x20 && c < 0x7f)
				snprintf(why, why_size,
					 "token name \"%s\" contains '%c' (allowed: letters, digits, "
					 "_ . @ -)", q, c);
			else
				snprintf(why, why_size,
					 "token name \"%s\" contains the byte 0x%02x (allowed: "
					 "letters, digits, _ . @ -)", q, c);
			return -1;
		}
	return 0;
}

int tokens_check_name(const char *name, struct err *e)
{
	char why[256];
	if (name_problem(name, strlen(name), why, sizeof why) < 0)
		return err_set(e, ERR_INVALID, "%s", why);
	return 0;
}

/* ---- parsing ---- */

/* A token and the line it came from (for the messages about duplicates). */
struct entry {
	struct token t;
	unsigned line;
};

struct parse {
	const char *path;
	struct err *e;
	unsigned n_errors;
	int too_many;       /* "more than TOKENS_MAX" said once */
	struct entry *v;
	size_t n, cap;
};

static void bad_line(struct parse *p, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void bad_line(struct parse *p, unsigned line, const char *fmt, ...)
{
	if (++p->n_errors > TOKENS_ERRORS_MAX)
		return;
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	err_append(p->e, ERR_INVALID, "token file %s: line %u: %s", p->path, line, what);
}

static int is_blank_char(char c)
{
	return c == ' ' || c == '\t';
}

/* One line (without its newline); a token line is appended to p->v.
 * Returns -ERR_NOMEM only; a bad line is counted in p. */
static int parse_line(struct parse *p, unsigned line, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			bad_line(p, line, c == '\r'
				 ? "contains a carriage return (a file with CRLF line ends?)"
				 : "contains the control character 0x%02x", c);
			return 0;
		}
	}
	size_t i = 0;
	while (i < len && is_blank_char(s[i]))
		i++;
	if (i == len || s[i] == '#')
		return 0;

	const char *f[3];
	size_t flen[3], nf = 0;
	while (i < len) {
		size_t start = i;
		while (i < len && !is_blank_char(s[i]))
			i++;
		if (nf < 3) {
			f[nf] = s + start;
			flen[nf] = i - start;
		}
		nf++;
		while (i < len && is_blank_char(s[i]))
			i++;
	}
	if (nf != 3) {
		bad_line(p, line, "expected NAME ROLE sha256:HEX, found %zu field%s", nf,
			 nf == 1 ? "" : "s");
		return 0;
	}

	struct entry en;
	memset(&en, 0, sizeof en);
	en.line = line;
	char why[256], q[80];
	if (name_problem(f[0], flen[0], why, sizeof why) < 0) {
		bad_line(p, line, "%s", why);
		return 0;
	}
	memcpy(en.t.name, f[0], flen[0]);
	en.t.name[flen[0]] = '\0';

	if (role_parse_span(f[1], flen[1], &en.t.role) < 0) {
		quote_span(f[1], flen[1], q, sizeof q);
		bad_line(p, line, "unknown role \"%s\" (viewer, operator or admin)", q);
		return 0;
	}

	const size_t plen = sizeof HASH_PREFIX - 1;
	quote_span(f[2], flen[2], q, sizeof q);
	if (flen[2] < plen || memcmp(f[2], HASH_PREFIX, plen) != 0) {
		bad_line(p, line, "hash \"%s\" does not start with " HASH_PREFIX, q);
		return 0;
	}
	const char *hex = f[2] + plen;
	size_t hex_len = flen[2] - plen, bin_len = 0;
	const char *hex_end = NULL;
	if (hex_len != 2 * TOKEN_HASH_BYTES ||
	    sodium_hex2bin(en.t.hash, sizeof en.t.hash, hex, hex_len, NULL, &bin_len,
			   &hex_end) != 0 ||
	    bin_len != TOKEN_HASH_BYTES || hex_end != hex + hex_len) {
		bad_line(p, line, "hash \"%s\" is not " HASH_PREFIX " and %d hex digits (SHA-256)",
			 q, 2 * TOKEN_HASH_BYTES);
		return 0;
	}

	if (p->n == TOKENS_MAX) {
		if (!p->too_many)
			bad_line(p, line, "more than %d tokens", TOKENS_MAX);
		p->too_many = 1;
		return 0;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 16;
		struct entry *v = realloc(p->v, cap * sizeof *v);
		if (!v)
			return -ERR_NOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = en;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->t.name, y->t.name);
	return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int by_hash(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = memcmp(x->t.hash, y->t.hash, TOKEN_HASH_BYTES);
	return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int by_line(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	return (x->line > y->line) - (x->line < y->line);
}

/* Two tokens of one name would make the audit trail ambiguous; two of one
 * hash would give one secret two identities and roles. Sorted
 * rather than compared pairwise: a file may have TOKENS_MAX lines. */
static void find_duplicates(struct parse *p)
{
	if (p->n < 2)
		return;
	qsort(p->v, p->n, sizeof *p->v, by_name);
	for (size_t i = 1; i < p->n; i++) {
		size_t first = i - 1;
		while (i < p->n && strcmp(p->v[i].t.name, p->v[first].t.name) == 0) {
			bad_line(p, p->v[i].line, "token name \"%s\" is already used on line %u",
				 p->v[i].t.name, p->v[first].line);
			i++;
		}
	}
	qsort(p->v, p->n, sizeof *p->v, by_hash);
	for (size_t i = 1; i < p->n; i++) {
		size_t first = i - 1;
		while (i < p->n && memcmp(p->v[i].t.hash, p->v[first].t.hash, TOKEN_HASH_BYTES) == 0) {
			bad_line(p, p->v[i].line,
				 "the hash of token \"%s\" is the hash of \"%s\" on line %u "
				 "(one secret for two tokens)",
				 p->v[i].t.name, p->v[first].t.name, p->v[first].line);
			i++;
		}
	}
	qsort(p->v, p->n, sizeof *p->v, by_line);
}

/* Parses a whole file's text. On success p->v holds the tokens in file
 * order; on failure e has one line per problem (up to TOKENS_ERRORS_MAX). */
static int parse_text(struct parse *p, const char *text, size_t len)
{
	unsigned line = 1;
	for (size_t pos = 0; pos < len; line++) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		int rc = parse_line(p, line, text + pos, end - pos);
		if (rc < 0)
			return err_set(p->e, ERR_NOMEM, "token file %s: out of memory", p->path);
		pos = end + 1;
	}
	find_duplicates(p);
	if (p->n_errors > TOKENS_ERRORS_MAX)
		err_append(p->e, ERR_INVALID, "token file %s: %u more errors not shown", p->path,
			   p->n_errors - TOKENS_ERRORS_MAX);
	return p->n_errors ? -ERR_INVALID : 0;
}

/* ---- reading ---- */

static int check_mode(const char *path, const struct stat *st, struct err *e)
{
	if (!S_ISREG(st->st_mode))
		return err_set(e, ERR_INVALID, "token file %s: not a regular file", path);
	if (st->st_size > (off_t)TOKENS_FILE_MAX)
		return err_set(e, ERR_INVALID,
			       "token file %s: %lld bytes, more than %u (not a token file?)", path,
			       (long long)st->st_size, TOKENS_FILE_MAX);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return err_set(e, ERR_INVALID,
			       "token file %s: writable by %s (mode %04o), and it decides who is "
			       "admin: refused (chmod go-w %s)",
			       path, (st->st_mode & S_IWGRP) ? "its group" : "others",
			       (unsigned)(st->st_mode & 07777), path);
	return 0;
}

/* Reads fd from offset 0 to its end (at most TOKENS_FILE_MAX bytes) into a
 * NUL-terminated heap buffer. */
static int read_all(const char *path, int fd, char **data, size_t *len, struct err *e)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	if (!buf)
		return err_set(e, ERR_NOMEM, "token file %s: out of memory", path);
	for (;;) {
		if (n + 1 == cap) {
			/* checked with fstat before; this is for a file that
			 * grows while it is read */
			if (cap > TOKENS_FILE_MAX) {
				free(buf);
				return err_set(e, ERR_INVALID,
					       "token file %s: more than %u bytes (not a token file?)",
					       path, TOKENS_FILE_MAX);
			}
			char *b = realloc(buf, 2 * cap);
			if (!b) {
				free(buf);
				return err_set(e, ERR_NOMEM, "token file %s: out of memory", path);
			}
			buf = b;
			cap *= 2;
		}
		ssize_t k = pread(fd, buf + n, cap - 1 - n, (off_t)n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int err = errno;
			free(buf);
			return err_set(e, ERR_IO, "token file %s: cannot read: %s", path,
				       strerror(err));
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
}

/* Opens path for reading (O_NONBLOCK: a FIFO there must not hold us up) or,
 * with for_append, for appending and creating it with mode 0600. *created
 * says whether this call made the file. */
static int open_token_file(const char *path, int for_append, int *fd_out, int *created,
			   struct err *e)
{
	int flags = O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (for_append ? O_RDWR | O_APPEND : O_RDONLY);
	*created = 0;
	for (int attempt = 0; attempt < 3; attempt++) {
		int fd = open(path, flags);
		if (fd >= 0) {
			*fd_out = fd;
			return 0;
		}
		if (errno != ENOENT || !for_append)
			break;
		fd = open(path, flags | O_CREAT | O_EXCL, 0600);
		if (fd >= 0) {
			*fd_out = fd;
			*created = 1;
			return 0;
		}
		if (errno != EEXIST)
			break;
		/* someone else created it meanwhile: open theirs */
	}
	if (errno == ENOENT && !for_append)
		return err_set(e, ERR_NOTFOUND, "token file %s: no such file", path);
	int err = errno;
	return err_set(e, err == ENOENT ? ERR_NOTFOUND : ERR_IO, "token file %s: cannot %s: %s",
		       path, for_append ? "open or create" : "open", strerror(err));
}

/* The entries of p as a token_set (file order). */
static int take_tokens(struct parse *p, struct token_set *out, struct err *e)
{
	out->v = NULL;
	out->n = 0;
	if (p->n == 0)
		return 0;
	out->v = calloc(p->n, sizeof *out->v);
	if (!out->v)
		return err_set(e, ERR_NOMEM, "token file %s: out of memory", p->path);
	for (size_t i = 0; i < p->n; i++)
		out->v[i] = p->v[i].t;
	out->n = p->n;
	return 0;
}

int tokens_load(const char *path, struct token_set *out, struct err *e)
{
	out->v = NULL;
	out->n = 0;
	err_clear(e);
	int rc = need_sodium(e);
	if (rc < 0)
		return rc;
	int fd, created;
	rc = open_token_file(path, 0, &fd, &created, e);
	if (rc < 0)
		return rc;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int err = errno;
		close(fd);
		return err_set(e, ERR_IO, "token file %s: cannot stat: %s", path, strerror(err));
	}
	char *text = NULL;
	size_t len = 0;
	rc = check_mode(path, &st, e);
	if (rc == 0)
		rc = read_all(path, fd, &text, &len, e);
	close(fd);
	if (rc < 0)
		return rc;
	rc = tokens_parse(text, len, path, out, e);
	free(text);
	return rc;
}

int tokens_parse(const char *text, size_t len, const char *name, struct token_set *out,
		 struct err *e)
{
	out->v = NULL;
	out->n = 0;
	err_clear(e);
	struct parse p = { .path = name, .e = e };
	int rc = parse_text(&p, text, len);
	if (rc == 0)
		rc = take_tokens(&p, out, e);
	free(p.v);
	return rc;
}

void tokens_free(struct token_set *s)
{
	if (!s)
		return;
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

const struct token *tokens_match(const struct token_set *s, const char *secret, size_t len)
{
	if (!s || s->n == 0 || len == 0 || len > TOKEN_SECRET_MAX)
		return NULL;
	uint8_t hash[TOKEN_HASH_BYTES];
	crypto_hash_sha256(hash, (const unsigned char *)secret, len);
	/* No early exit and no branch on a comparison: the index of a match
	 * is selected with a mask, so every token costs the same. Hashes are
	 * unique in a loaded set, so at most one matches. */
	size_t found = 0, any = 0;
	for (size_t i = 0; i < s->n; i++) {
		size_t eq = (size_t)(sodium_memcmp(hash, s->v[i].hash, TOKEN_HASH_BYTES) == 0);
		size_t mask = (size_t)0 - eq;
		found = (found & ~mask) | (i & mask);
		any |= eq;
	}
	sodium_memzero(hash, sizeof hash);
	return any ? &s->v[found] : NULL;
}

/* Writes all of buf at the end of fd (O_APPEND). */
static int append_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t k = write(fd, buf, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		buf += k;
		len -= (size_t)k;
	}
	return 0;
}

/* After creating a file, its directory entry must reach the disk too. */
static int sync_parent_dir(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* The appending part of tokens_new, on the open and locked fd. */
static int append_token(const char *path, int fd, int created, const char *name, enum role role,
			char *secret, struct err *e)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return err_set(e, ERR_IO, "token file %s: cannot stat: %s", path, strerror(errno));
	int rc = check_mode(path, &st, e);
	if (rc < 0)
		return rc;

	/* The name must be new, and a file that does not load now would not
	 * load with one more line either. */
	char *text = NULL;
	size_t len = 0;
	rc = read_all(path, fd, &text, &len, e);
	if (rc < 0)
		return rc;
	struct parse p = { .path = path, .e = e };
	rc = parse_text(&p, text, len);
	int ends_in_newline = len == 0 || text[len - 1] == '\n';
	free(text);
	if (rc < 0) {
		free(p.v);
		return rc;
	}
	for (size_t i = 0; i < p.n; i++)
		if (strcmp(p.v[i].t.name, name) == 0) {
			rc = err_set(e, ERR_INVALID,
				     "token file %s: line %u: a token named \"%s\" is already there "
				     "(remove its line to replace it)",
				     path, p.v[i].line, name);
			break;
		}
	free(p.v);
	if (rc < 0)
		return rc;

	uint8_t raw[SECRET_RANDOM_BYTES], hash[TOKEN_HASH_BYTES];
	randombytes_buf(raw, sizeof raw);
	const size_t plen = sizeof TOKEN_SECRET_PREFIX - 1;
	memcpy(secret, TOKEN_SECRET_PREFIX, plen);
	sodium_bin2base64(secret + plen, SECRET_SIZE - plen, raw, sizeof raw,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof raw);
	crypto_hash_sha256(hash, (const unsigned char *)secret, strlen(secret));

	char hex[2 * TOKEN_HASH_BYTES + 1];
	sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
	char line[TOKEN_NAME_MAX + 128];
	int n = snprintf(line, sizeof line, "%s%s %s " HASH_PREFIX "%s\n",
			 ends_in_newline ? "" : "\n", name, role_name(role), hex);

	if (append_all(fd, line, (size_t)n) < 0 || fsync(fd) < 0) {
		int err = errno;
		/* Leave the file as it was: a half line would stop every load. */
		if (ftruncate(fd, st.st_size) == 0)
			(void)fsync(fd);
		return err_set(e, ERR_IO, "token file %s: cannot append the token: %s", path,
			       strerror(err));
	}
	if (created && sync_parent_dir(path) < 0)
		return err_set(e, ERR_IO,
			       "token file %s: created, but its directory could not be synced: %s",
			       path, strerror(errno));
	return 0;
}

int tokens_new(const char *path, const char *name, enum role role, char *secret,
	       size_t secret_size, struct err *e)
{
	err_clear(e);
	if (secret_size > 0)
		secret[0] = '\0';
	if (secret_size < SECRET_SIZE)
		return err_set(e, ERR_INVALID, "tokens_new: the secret needs %zu bytes, not %zu",
			       (size_t)SECRET_SIZE, secret_size);
	int rc = tokens_check_name(name, e);
	if (rc < 0)
		return rc;
	if (role < ROLE_VIEWER || role > ROLE_ADMIN)
		return err_set(e, ERR_INVALID, "a token's role is viewer, operator or admin");
	rc = need_sodium(e);
	if (rc < 0)
		return rc;

	int fd, created;
	rc = open_token_file(path, 1, &fd, &created, e);
	if (rc < 0)
		return rc;
	/* Two `routectl token new` at once must not both find a name free and
	 * both append it. */
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int err = errno;
			close(fd);
			return err_set(e, ERR_IO, "token file %s: cannot lock: %s", path,
				       strerror(err));
		}
	}
	rc = append_token(path, fd, created, name, role, secret, e);
	close(fd);
	if (rc < 0)
		sodium_memzero(secret, secret_size);
	return rc;
}
