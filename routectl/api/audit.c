#include "api/audit.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AUDIT_FILE_MODE 0640
#define HISTORY_LIMIT_MAX 1000
/* audit_history reads this much at a time from the end. */
#define HISTORY_BLOCK (64u << 10)
/* A line longer than this is not a record routectld wrote: skipped
 * without being held in memory whole. */
#define HISTORY_LINE_MAX (1u << 20)

enum item_kind { ITEM_RECORD, ITEM_QUERY };

/* A queued record or query, and its result once the writer is done. */
struct item {
	enum item_kind kind;
	struct item *next;
	json_t *record, *idem;        /* ITEM_RECORD */
	audit_done_fn done;
	size_t limit;                 /* ITEM_QUERY */
	char *service;
	audit_history_fn history_done;
	void *ctx;
	int rc;
	bool serialised;              /* its lines are in the batch being written */
	json_t *history;
	size_t skipped;
	struct err err;
};

/* A file the writer appends to. partial: the last write stopped inside a
 * line, so the next one starts with "\n" (a reader then skips one broken
 * line instead of losing the next record into it). */
struct appended {
	const char *what;     /* "audit log", "idempotency file" in messages */
	char *path;
	int fd;
	bool partial;
};

struct audit {
	pthread_mutex_t mu;   /* guards everything up to stats */
	pthread_cond_t cv;    /* the writer waits here for work */
	struct item *queue, *queue_tail;
	size_t queued;
	struct item *done, *done_tail;
	bool stopping;
	int next_fd;          /* from audit_reopen, for the writer to take; -1: none */
	bool next_partial;
	struct audit_stats stats;

	/* The writer thread's own; fixed after audit_open otherwise. */
	struct appended log, idem;
	int event_fd;
	pthread_t thread;
};

/* ---- records ---- */

json_t *audit_record_new(long long epoch_ms, const struct audit_who *who, const char *action,
			 const char *site, json_t *services, const char *reason, bool dry_run,
			 const char *phase)
{
	static const struct audit_who nobody;
	char when[40], secs[32];
	time_t t = (time_t)(epoch_ms / 1000);
	struct tm tm;

	if (!who)
		who = &nobody;
	if (!services)
		services = json_array();
	if (!gmtime_r(&t, &tm) || strftime(secs, sizeof secs, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		json_decref(services);
		return NULL;
	}
	snprintf(when, sizeof when, "%s.%03dZ", secs, (int)(epoch_ms % 1000));
	/* "o" takes services also when packing fails. */
	return json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:o, s:s?, s:b,"
			 " s:s?, s:n, s:n, s:n, s:n, s:n, s:n, s:s?}",
			 "time", when, "request_id", who->request_id, "actor", who->actor,
			 "on_behalf_of", who->on_behalf_of, "role", who->role, "transport",
			 who->transport, "remote", who->remote, "action", action, "site", site,
			 "services", services, "reason", reason, "dry_run", dry_run, "phase", phase,
			 "result", "status", "error", "before", "after", "change_id",
			 "idempotency_key", who->idempotency_key);
}

/* ---- files ---- */

/* Opens path for appending, creating it with mode 0640. *partial: the file
 * does not end with a newline (a crash or a full disk cut its last line).
 * Read-write so that the last byte can be looked at; write-only when that
 * is all the file allows, and then assumed cut (an empty line costs a
 * reader nothing, a record glued to a broken one is lost). */
static int open_append(const char *what, const char *path, bool *partial, struct err *e)
{
	int flags = O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY;
	int fd = open(path, flags | O_RDWR, AUDIT_FILE_MODE);
	bool readable = fd >= 0;
	if (fd < 0 && errno == EACCES)
		fd = open(path, flags | O_WRONLY, AUDIT_FILE_MODE);
	if (fd < 0)
		return err_set(e, ERR_IO, "%s %s: cannot open for appending: %s", what, path,
			       strerror(errno));
	struct stat st;
	char last = '\n';
	*partial = false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
		*partial = !readable || pread(fd, &last, 1, st.st_size - 1) != 1 || last != '\n';
	return fd;
}

static double mono_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends len bytes with as many write(2)s as it takes, then fdatasync(2).
 * Keeps f->partial true when the file is left inside a line. */
static int append_sync(struct appended *f, const char *data, size_t len, struct err *e)
{
	size_t done = 0;
	while (done < len) {
		ssize_t k = write(f->fd, data + done, len - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			int en = k < 0 ? errno : EIO;
			if (done > 0)
				f->partial = data[done - 1] != '\n';
			return err_set(e, ERR_IO, "%s %s: write failed after %zu of %zu bytes: %s",
				       f->what, f->path, done, len, strerror(en));
		}
		done += (size_t)k;
	}
	f->partial = false;
	/* EINVAL: a special file (a pipe, a terminal) has nothing to sync. */
	if (fdatasync(f->fd) < 0 && errno != EINVAL)
		return err_set(e, ERR_IO, "%s %s: fdatasync failed: %s", f->what, f->path,
			       strerror(errno));
	return 0;
}

/* One compact line with sorted keys; jansson escapes control characters,
 * so no string in it can end the line early. */
static int append_line(struct buf *b, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		return -ERR_NOMEM;
	int rc = buf_puts(b, s);
	if (rc == 0)
		rc = buf_puts(b, "\n");
	free(s);
	return rc;
}

/* ---- the writer thread ---- */

/* Writes the records of a batch: every audit line with one write, then the
 * idempotency lines (only when the audit lines are on disk: an answer
 * whose audit record failed is not the answer the client gets). */
static void write_records(struct audit *a, struct item *batch)
{
	struct buf lines = { 0 }, idem_lines = { 0 };
	struct err log_err, idem_err;
	size_t n = 0, n_idem = 0;
	int log_rc = 0, idem_rc = 0;

	err_clear(&log_err);
	err_clear(&idem_err);
	if ((a->log.partial && buf_puts(&lines, "\n") < 0) ||
	    (a->idem.partial && buf_puts(&idem_lines, "\n") < 0))
		log_rc = err_set(&log_err, ERR_NOMEM, "audit log %s: out of memory", a->log.path);
	for (struct item *it = batch; it && log_rc == 0; it = it->next) {
		if (it->kind != ITEM_RECORD)
			continue;
		size_t mark = lines.len, idem_mark = idem_lines.len;
		if (append_line(&lines, it->record) < 0 ||
		    (it->idem && append_line(&idem_lines, it->idem) < 0)) {
			/* a record jansson cannot write (out of memory, or a
			 * string that is not UTF-8): fails alone */
			lines.len = mark;
			idem_lines.len = idem_mark;
			it->rc = err_set(&it->err, ERR_NOMEM,
					 "audit log %s: the record could not be serialised",
					 a->log.path);
			continue;
		}
		it->serialised = true;
		n++;
		n_idem += it->idem != NULL;
	}

	double t0 = mono_seconds();
	if (log_rc == 0 && n > 0)
		log_rc = append_sync(&a->log, lines.p, lines.len, &log_err);
	if (log_rc == 0 && n_idem > 0)
		idem_rc = append_sync(&a->idem, idem_lines.p, idem_lines.len, &idem_err);
	double took = mono_seconds() - t0;
	buf_free(&lines);
	buf_free(&idem_lines);

	unsigned long long ok = 0, failed = 0;
	for (struct item *it = batch; it; it = it->next) {
		if (it->kind != ITEM_RECORD)
			continue;
		if (!it->serialised) {
			if (it->rc == 0) {   /* never got to serialise it */
				it->rc = -(int)log_err.code;
				it->err = log_err;
			}
			failed++;
		} else if (log_rc < 0) {
			it->rc = log_rc;
			it->err = log_err;
			failed++;
		} else if (it->idem && idem_rc < 0) {
			it->rc = idem_rc;
			it->err = idem_err;
			failed++;
		} else {
			ok++;
		}
	}
	if (log_rc < 0)
		log_error("%s", log_err.msg);
	if (idem_rc < 0)
		log_error("%s", idem_err.msg);

	pthread_mutex_lock(&a->mu);
	a->stats.records += ok;
	a->stats.failures += failed;
	if (n > 0) {
		a->stats.batches++;
		a->stats.last_sync_seconds = took;
	}
	pthread_mutex_unlock(&a->mu);
}

static void run_queries(struct audit *a, struct item *batch)
{
	for (struct item *it = batch; it; it = it->next)
		if (it->kind == ITEM_QUERY)
			it->rc = audit_history(a->log.path, it->limit, it->service, &it->history,
					       &it->skipped, &it->err);
}

static void *writer_main(void *arg)
{
	struct audit *a = arg;
	for (;;) {
		pthread_mutex_lock(&a->mu);
		while (!a->queue && !a->stopping)
			pthread_cond_wait(&a->cv, &a->mu);
		struct item *batch = a->queue;
		a->queue = a->queue_tail = NULL;
		a->queued = 0;
		bool stop = a->stopping;
		/* A reopened file: the old one is no longer written to, so it
		 * is closed here, by the only thread that writes to it. */
		if (a->next_fd >= 0) {
			close(a->log.fd);
			a->log.fd = a->next_fd;
			a->log.partial = a->next_partial;
			a->next_fd = -1;
		}
		pthread_mutex_unlock(&a->mu);

		if (!batch) {
			if (stop)
				break;
			continue;
		}
		write_records(a, batch);
		run_queries(a, batch);

		struct item *last = batch;
		while (last->next)
			last = last->next;
		pthread_mutex_lock(&a->mu);
		if (a->done_tail)
			a->done_tail->next = batch;
		else
			a->done = batch;
		a->done_tail = last;
		pthread_mutex_unlock(&a->mu);
		uint64_t one = 1;
		/* Fails only when the counter is near overflow: it is readable then. */
		if (write(a->event_fd, &one, sizeof one) < 0 && errno != EAGAIN)
			log_error("audit log %s: eventfd write failed: %s", a->log.path,
				  strerror(errno));
	}
	return NULL;
}

/* ---- the event loop's side ---- */

static void item_free(struct item *it)
{
	json_decref(it->record);
	json_decref(it->idem);
	json_decref(it->history);
	free(it->service);
	free(it);
}

struct audit *audit_open(const char *path, const char *idem_path, struct err *e)
{
	struct audit *a = calloc(1, sizeof *a);
	if (!a) {
		err_set(e, ERR_NOMEM, "audit log %s: out of memory", path);
		return NULL;
	}
	a->log = (struct appended){ .what = "audit log", .fd = -1 };
	a->idem = (struct appended){ .what = "idempotency file", .fd = -1 };
	a->event_fd = -1;
	a->next_fd = -1;
	a->log.path = strdup(path);
	a->idem.path = idem_path ? strdup(idem_path) : NULL;
	if (!a->log.path || (idem_path && !a->idem.path)) {
		err_set(e, ERR_NOMEM, "audit log %s: out of memory", path);
		goto fail;
	}
	a->log.fd = open_append(a->log.what, path, &a->log.partial, e);
	if (a->log.fd < 0)
		goto fail;
	if (idem_path) {
		a->idem.fd = open_append(a->idem.what, idem_path, &a->idem.partial, e);
		if (a->idem.fd < 0)
			goto fail;
	}
	a->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->event_fd < 0) {
		err_set(e, ERR_IO, "audit log %s: eventfd: %s", path, strerror(errno));
		goto fail;
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);

	/* The writer takes no signals: they belong to the event loop's
	 * signalfd, whatever the mask is when this runs. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&a->thread, NULL, writer_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		err_set(e, ERR_IO, "audit log %s: cannot start the writer thread: %s", path,
			strerror(rc));
		pthread_cond_destroy(&a->cv);
		pthread_mutex_destroy(&a->mu);
		goto fail;
	}
	return a;
fail:
	if (a->log.fd >= 0)
		close(a->log.fd);
	if (a->idem.fd >= 0)
		close(a->idem.fd);
	if (a->event_fd >= 0)
		close(a->event_fd);
	free(a->log.path);
	free(a->idem.path);
	free(a);
	return NULL;
}

void audit_collect(struct audit *a)
{
	uint64_t n;
	if (read(a->event_fd, &n, sizeof n) < 0 && errno != EAGAIN)
		log_error("audit log %s: eventfd read failed: %s", a->log.path, strerror(errno));
	pthread_mutex_lock(&a->mu);
	struct item *list = a->done;
	a->done = a->done_tail = NULL;
	pthread_mutex_unlock(&a->mu);

	for (struct item *it = list, *next; it; it = next) {
		next = it->next;
		if (it->kind == ITEM_RECORD) {
			if (it->done)
				it->done(it->ctx, it->rc, it->rc < 0 ? &it->err : NULL);
		} else if (it->history_done) {
			json_t *h = it->history;
			it->history = NULL;   /* the callee's now */
			it->history_done(it->ctx, it->rc, h, it->skipped,
					 it->rc < 0 ? &it->err : NULL);
		}
		item_free(it);
	}
}

void audit_close(struct audit *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = true;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);
	audit_collect(a);

	if (a->next_fd >= 0)
		close(a->next_fd);
	close(a->log.fd);
	if (a->idem.fd >= 0)
		close(a->idem.fd);
	close(a->event_fd);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a->log.path);
	free(a->idem.path);
	free(a);
}

int audit_reopen(struct audit *a, struct err *e)
{
	bool partial;
	int fd = open_append(a->log.what, a->log.path, &partial, e);
	if (fd < 0)
		return fd;
	pthread_mutex_lock(&a->mu);
	/* Reopened twice before the writer took the first: it never wrote
	 * to that one. */
	if (a->next_fd >= 0)
		close(a->next_fd);
	a->next_fd = fd;
	a->next_partial = partial;
	pthread_mutex_unlock(&a->mu);
	return 0;
}

/* Queues it, or refuses (and frees it) when full or stopping. */
static int enqueue(struct audit *a, struct item *it, struct err *e)
{
	int rc = 0;
	pthread_mutex_lock(&a->mu);
	if (a->stopping)
		rc = err_set(e, ERR_REFUSED, "audit log %s: closing, nothing more is written",
			     a->log.path);
	else if (a->queued >= AUDIT_QUEUE_MAX)
		rc = err_set(e, ERR_BUSY,
			     "audit log %s: %d records are waiting to be written: the disk does "
			     "not keep up", a->log.path, AUDIT_QUEUE_MAX);
	if (rc == 0) {
		if (a->queue_tail)
			a->queue_tail->next = it;
		else
			a->queue = it;
		a->queue_tail = it;
		a->queued++;
		pthread_cond_signal(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	if (rc < 0)
		item_free(it);
	return rc;
}

int audit_submit(struct audit *a, json_t *record, json_t *idem, audit_done_fn done, void *ctx,
		 struct err *e)
{
	if (!json_is_object(record) || (idem && !json_is_object(idem)) ||
	    (idem && a->idem.fd < 0)) {
		json_decref(record);
		json_decref(idem);
		return err_set(e, ERR_INVALID,
			       idem && a->idem.fd < 0 ?
			       "audit log %s: an idempotency line, but no idempotency file is open" :
			       "audit log %s: a record is a JSON object", a->log.path);
	}
	struct item *it = calloc(1, sizeof *it);
	if (!it) {
		json_decref(record);
		json_decref(idem);
		return err_set(e, ERR_NOMEM, "audit log %s: out of memory", a->log.path);
	}
	it->kind = ITEM_RECORD;
	it->record = record;
	it->idem = idem;
	it->done = done;
	it->ctx = ctx;
	return enqueue(a, it, e);
}

int audit_query(struct audit *a, size_t limit, const char *service, audit_history_fn done,
		void *ctx, struct err *e)
{
	if (limit < 1 || limit > HISTORY_LIMIT_MAX)
		return err_set(e, ERR_INVALID, "history limit %zu is outside 1..%d", limit,
			       HISTORY_LIMIT_MAX);
	struct item *it = calloc(1, sizeof *it);
	if (!it || (service && !(it->service = strdup(service)))) {
		free(it);
		return err_set(e, ERR_NOMEM, "audit log %s: out of memory", a->log.path);
	}
	it->kind = ITEM_QUERY;
	it->limit = limit;
	it->history_done = done;
	it->ctx = ctx;
	return enqueue(a, it, e);
}

int audit_done_fd(const struct audit *a)
{
	return a->event_fd;
}

void audit_stats(const struct audit *a, struct audit_stats *out)
{
	/* The lock is the writer's too; reading under it changes nothing. */
	struct audit *m = (struct audit *)a;
	pthread_mutex_lock(&m->mu);
	*out = a->stats;
	pthread_mutex_unlock(&m->mu);
}

/* ---- reading back ---- */

struct history_scan {
	size_t limit;
	const char *service;
	json_t *out;
	json_t *answered;     /* request_ids that have an outcome: a set */
	size_t skipped;
	bool overlong;        /* the line being gathered is too long: drop it */
};

static bool has_service(json_t *record, const char *service)
{
	json_t *v;
	size_t i;
	json_array_foreach(json_object_get(record, "services"), i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), service) == 0)
			return true;
	return false;
}

/* One line, newest first: 0, or -ERR_NOMEM. */
static int history_line(struct history_scan *h, const char *p, size_t n)
{
	size_t blank = 0;
	while (blank < n && (p[blank] == ' ' || p[blank] == '\t' || p[blank] == '\r'))
		blank++;
	if (blank == n)
		return 0;   /* an empty line (after a cut one) is not a record */

	json_error_t jerr;
	json_t *r = json_loadb(p, n, 0, &jerr);
	if (!json_is_object(r)) {
		json_decref(r);
		h->skipped++;
		return 0;
	}
	const char *phase = json_string_value(json_object_get(r, "phase"));
	const char *rid = json_string_value(json_object_get(r, "request_id"));
	int rc = 0;
	if (phase && strcmp(phase, "outcome") == 0 && rid) {
		if (json_object_set_new(h->answered, rid, json_true()) < 0)
			rc = -ERR_NOMEM;
	} else if (phase && strcmp(phase, "intent") == 0) {
		if (rid && json_object_get(h->answered, rid)) {
			json_decref(r);
			return 0;
		}
		if (json_object_set_new(r, "result", json_string("unknown")) < 0)
			rc = -ERR_NOMEM;
	}
	if (rc == 0 && (!h->service || has_service(r, h->service)) &&
	    json_array_append(h->out, r) < 0)
		rc = -ERR_NOMEM;
	json_decref(r);
	return rc;
}

/* The lines of data, newest first; what precedes the first newline is a
 * line whose start is in an earlier block (or the file's first line when
 * at_start): *head and *head_len. */
static int history_block(struct history_scan *h, const char *data, size_t len, bool at_start,
			 size_t *head_len)
{
	size_t end = len;
	for (size_t i = len; i > 0 && json_array_size(h->out) < h->limit; i--) {
		if (data[i - 1] != '\n')
			continue;
		if (h->overlong) {
			/* the start of the line that grew too long */
			h->overlong = false;
			h->skipped++;
		} else if (history_line(h, data + i, end - i) < 0) {
			return -ERR_NOMEM;
		}
		end = i - 1;
	}
	*head_len = end;
	if (at_start && json_array_size(h->out) < h->limit) {
		if (h->overlong) {
			h->overlong = false;
			h->skipped++;
		} else if (history_line(h, data, end) < 0) {
			return -ERR_NOMEM;
		}
		*head_len = 0;
	}
	return 0;
}

int audit_history(const char *path, size_t limit, const char *service, json_t **out,
		  size_t *skipped, struct err *e)
{
	struct history_scan h = { .limit = limit, .service = service };
	char *carry = NULL, *data = NULL;
	size_t carry_len = 0, scanned = 0;
	int rc = 0;

	*out = NULL;
	if (skipped)
		*skipped = 0;
	if (limit < 1 || limit > HISTORY_LIMIT_MAX)
		return err_set(e, ERR_INVALID, "history limit %zu is outside 1..%d", limit,
			       HISTORY_LIMIT_MAX);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 && errno != ENOENT)
		return err_set(e, ERR_IO, "audit log %s: cannot open: %s", path, strerror(errno));
	h.out = json_array();
	h.answered = json_object();
	if (!h.out || !h.answered) {
		rc = err_set(e, ERR_NOMEM, "audit log %s: out of memory", path);
		goto out;
	}
	if (fd < 0)
		goto out;   /* no log yet: nothing has been asked */
	struct stat st;
	if (fstat(fd, &st) < 0) {
		rc = err_set(e, ERR_IO, "audit log %s: fstat: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = err_set(e, ERR_INVALID, "audit log %s: not a regular file", path);
		goto out;
	}

	off_t pos = st.st_size;
	while (pos > 0 && json_array_size(h.out) < limit && scanned < AUDIT_SCAN_MAX) {
		size_t n = pos > (off_t)HISTORY_BLOCK ? HISTORY_BLOCK : (size_t)pos;
		pos -= (off_t)n;
		data = malloc(n + carry_len + 1);
		if (!data) {
			rc = err_set(e, ERR_NOMEM, "audit log %s: out of memory", path);
			goto out;
		}
		for (size_t got = 0; got < n;) {
			ssize_t k = pread(fd, data + got, n - got, pos + (off_t)got);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				rc = err_set(e, ERR_IO, "audit log %s: read at byte %lld failed: %s",
					     path, (long long)(pos + (off_t)got),
					     k < 0 ? strerror(errno) : "the file shrank while read");
				goto out;
			}
			got += (size_t)k;
		}
		if (carry_len)
			memcpy(data + n, carry, carry_len);
		free(carry);
		carry = NULL;
		scanned += n;

		size_t head_len;
		if (history_block(&h, data, n + carry_len, pos == 0, &head_len) < 0) {
			rc = err_set(e, ERR_NOMEM, "audit log %s: out of memory", path);
			goto out;
		}
		carry_len = 0;
		if (head_len > HISTORY_LINE_MAX) {
			h.overlong = true;
		} else if (head_len > 0 && !h.overlong) {
			carry = data;   /* the head is at its start */
			carry_len = head_len;
			data = NULL;
		}
		free(data);
		data = NULL;
	}
out:
	if (fd >= 0)
		close(fd);
	free(carry);
	free(data);
	json_decref(h.answered);
	if (rc < 0) {
		json_decref(h.out);
		return rc;
	}
	if (skipped)
		*skipped = h.skipped;
	*out = h.out;
	return 0;
}
