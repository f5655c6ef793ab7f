/* Idempotency keys of writes (the Idempotency-Key header, as in the IETF
 * httpapi draft "The Idempotency-Key HTTP Header Field"): a retry of a
 * write with the same key, by the same principal, returns the first
 * answer and changes nothing twice, also after a restart.
 *
 * Entries live in memory and in a file (state-dir/idempotency.jsonl, one
 * JSON object per line: principal, key, fingerprint, status, body, at),
 * appended by the audit writer (api/audit.h) before the first answer goes
 * out. At open, entries older than IDEM_TTL_S are dropped and the file is
 * rewritten with the rest (temp, fsync, rename). Pure data structure
 * otherwise: no threads, no clock of its own (times are passed in). */
#ifndef ROUTECTL_IDEMPOTENCY_H
#define ROUTECTL_IDEMPOTENCY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct err;

#define IDEM_TTL_S (24 * 3600)
#define IDEM_KEY_MAX 255        /* longer keys are refused (400) */
#define IDEM_MAX_ENTRIES 100000 /* beyond this the oldest are forgotten */

struct idem;

/* Loads path (a missing file is an empty store; a line that does not parse
 * is skipped and logged with its line number), drops expired entries and
 * rewrites the file (only when it dropped or skipped a line). Call it before
 * audit_open() opens the same file for appending: the rewrite replaces the
 * file by rename(2). Returns NULL with e set: -ERR_IO naming the file when
 * it cannot be read or rewritten, -ERR_NOMEM. When IDEM_MAX_ENTRIES are
 * kept, the oldest answered entry is forgotten for each new one. */
struct idem *idem_open(const char *path, time_t now, struct err *e);
void idem_free(struct idem *s);

/* A key is 1..IDEM_KEY_MAX visible ASCII characters (0x21..0x7e). */
int idem_key_valid(const char *key);

/* SHA-256 (libsodium) of method, path and body: what a retry must repeat. */
void idem_fingerprint(const char *method, const char *path, const char *body, size_t len,
		      uint8_t out[32]);

enum idem_look {
	IDEM_NEW,        /* not seen: now marked in flight, the caller goes on */
	IDEM_REPLAY,     /* answered before: *status and *body (the store's) */
	IDEM_MISMATCH,   /* seen with another method, path or body (422) */
	IDEM_IN_FLIGHT,  /* the first request with this key is not answered yet (409) */
};

/* Looks (principal, key) up at now. An answer older than IDEM_TTL_S
 * counts as not seen. A key in flight asked with another fingerprint is
 * IDEM_MISMATCH (the body differs, whatever became of the first). With
 * IDEM_REPLAY, *body stays valid until the store is next changed (begin,
 * abort, finish, free). Out of memory, a new key is IDEM_NEW but not kept:
 * the request goes on unguarded rather than being refused. */
enum idem_look idem_begin(struct idem *s, const char *principal, const char *key,
			  const uint8_t fp[32], time_t now, int *status, const char **body);
/* The request marked in flight by idem_begin ended without an answer to
 * keep (refused before anything changed): forget it. */
void idem_abort(struct idem *s, const char *principal, const char *key);
/* The line to append for the answer (status, body) of (principal, key):
 * a new JSON object for audit_submit's idem argument. */
json_t *idem_line(const char *principal, const char *key, const uint8_t fp[32], int status,
		  const char *body, time_t now);
/* The answer is on disk: keep it in memory (copies body). */
void idem_finish(struct idem *s, const char *principal, const char *key, int status,
		 const char *body, time_t now);

#endif
