/* The audit log: one JSON object per line for every write routectld is
 * asked for, accepted or refused, and for every change it makes on its own
 * (api/commands.h, commands_audit_auto), so that an incident review can tell
 * who changed what, on whose behalf, why, and what came of it.
 *
 * Lines are written by a thread of this module (group commit: whatever is
 * queued is written with one write(2) and one fdatasync(2)), so that the
 * event loop never waits on the disk. A record's callback runs, on the
 * thread that calls audit_collect(), only after its line is on disk (rc 0)
 * or could not be written (rc < 0, e says why: the file, and errno's text).
 * The file is opened O_APPEND (mode 0640, created when missing);
 * audit_reopen() opens it again by name (after logrotate moved it).
 *
 * A record (see audit_record_new) has these members:
 *   time (RFC 3339 UTC, milliseconds), request_id, actor, on_behalf_of
 *   (null when none), role, transport ("console", "http", "https";
 *   "emergency" and "routectld" for the records of commands.h),
 *   out_of_band (true when it came in on an out-of-band listener; set by
 *   the command layer), remote, action ("drain", "undrain", "set", "adopt",
 *   "confirm"; commands.h adds others), site, services
 *   (array), reason, dry_run, phase ("intent" before a change is handed to
 *   the BIRD worker, "outcome" after), result ("accepted", "ok",
 *   "partial", "failed", "refused"), status (HTTP), error (null or
 *   {"code","message"}), before and after (null, or an object service ->
 *   {"state","prepend"}), change_id (null or text), idempotency_key. */
#ifndef ROUTECTL_AUDIT_H
#define ROUTECTL_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct err;
struct audit;

/* Who asked for a write, as the API layer knows it; any member may be NULL
 * (null in the record). */
struct audit_who {
	const char *request_id, *actor, *on_behalf_of, *role, *transport, *remote;
	const char *idempotency_key;
};

/* A new record with every member above: time from epoch_ms (milliseconds
 * since 1970, UTC), who, action, site, services (taken; NULL is an empty
 * array), reason, dry_run, phase; result, status, error, before, after and
 * change_id null until the caller sets them (json_object_set_new). NULL
 * when out of memory or a string is not UTF-8 (jansson refuses it). */
json_t *audit_record_new(long long epoch_ms, const struct audit_who *who, const char *action,
			 const char *site, json_t *services, const char *reason, bool dry_run,
			 const char *phase);

/* Opens (creating) path and starts the writer thread. idem_path (may be
 * NULL) is a second file the thread appends to with the same guarantee:
 * the idempotency store (api/idempotency.h), opened O_APPEND likewise. */
struct audit *audit_open(const char *path, const char *idem_path, struct err *e);
/* Stops the thread after writing what is queued, runs the remaining
 * callbacks (rc as written) and closes the file. */
void audit_close(struct audit *a);
/* Opens path again by name, for the next records (SIGHUP, logrotate).
 * On failure the old file stays in use and e says why. */
int audit_reopen(struct audit *a, struct err *e);

typedef void (*audit_done_fn)(void *ctx, int rc, const struct err *e);

/* Queues record (taken; one JSON object, written compact with sorted keys
 * and a newline) and idem (taken, may be NULL: a line for the idempotency
 * file). done(ctx, rc, e) runs from audit_collect() once both lines are on
 * disk, or with rc < 0 when either failed (-ERR_IO, e names the file and
 * errno's text; the idempotency line is written only once the audit line
 * is on disk). Returns 0, or <0 when the queue is full (-ERR_BUSY:
 * AUDIT_QUEUE_MAX records, the disk does not keep up), the module is
 * stopping (-ERR_REFUSED), or record is not an object or idem comes
 * without an idempotency file (-ERR_INVALID); then done is not called,
 * nothing is written, and record and idem are released. */
#define AUDIT_QUEUE_MAX 4096
int audit_submit(struct audit *a, json_t *record, json_t *idem, audit_done_fn done, void *ctx,
		 struct err *e);

/* Runs audit_history() on the writer thread (so that the event loop never
 * reads the file): done(ctx, rc, history, skipped, e) from audit_collect(),
 * with history (a JSON array, the callee's to decref) and skipped (lines
 * that were not JSON objects, for the reply's "skipped") when rc is 0. Same
 * limits and errors as audit_submit, and -ERR_INVALID for a limit outside
 * 1..1000. service may be NULL; it is copied. */
typedef void (*audit_history_fn)(void *ctx, int rc, json_t *history, size_t skipped,
				 const struct err *e);
int audit_query(struct audit *a, size_t limit, const char *service, audit_history_fn done,
		void *ctx, struct err *e);

/* Readable when callbacks are due; then call audit_collect(). */
int audit_done_fd(const struct audit *a);
void audit_collect(struct audit *a);

/* Counters for /metrics. */
struct audit_stats {
	unsigned long long records;    /* written */
	unsigned long long failures;   /* records that could not be written */
	unsigned long long batches;    /* write + fdatasync rounds (group commits) */
	double last_sync_seconds;      /* duration of the last write + fdatasync */
};
void audit_stats(const struct audit *a, struct audit_stats *out);

/* Reads the log at path back, newest first: up to limit records (1..1000),
 * only those whose services include service when it is not NULL. An
 * "intent" record whose "outcome" (same request_id) is in the log is left
 * out; one without is shown with result "unknown" (routectld stopped
 * while applying). Reads from the end of the file in blocks, so a large log
 * costs only what is shown; stops after AUDIT_SCAN_MAX bytes. A line that
 * is not a JSON object is skipped and counted in *skipped (may be NULL);
 * so is a line longer than 1 MiB, which no record is; an empty line is
 * not counted. A missing file is an empty history. *out is a JSON array.
 * Returns 0, or -ERR_INVALID (limit outside 1..1000, or path is not a
 * regular file), -ERR_IO naming the file, -ERR_NOMEM; *out is NULL then.
 * Blocking file I/O: not for the event loop. */
#define AUDIT_SCAN_MAX (64u << 20)
int audit_history(const char *path, size_t limit, const char *service, json_t **out,
		  size_t *skipped, struct err *e);

#endif
