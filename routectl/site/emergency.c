/* The site lock, the emergency journal and its adoption (see emergency.h). */
#include "site/emergency.h"

#include "common/buf.h"

#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "site/site.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- locks -------------------------------------------------------------------- */

/* Opens (creating) dir/name and takes an exclusive flock, polling every
 * 50 ms up to wait_ms. Returns the fd, or <0 with e set. */
static int lock_file(const char *dir, const char *name, int wait_ms, struct err *e)
{
	char path[4096];
	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return err_set(e, ERR_INVALID, "path too long: %s/%s", dir, name);
	struct stat sb;
	if (stat(dir, &sb) < 0 && errno == ENOENT)
		return err_set(e, ERR_NOTFOUND, "state directory %s does not exist", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0 && errno == EACCES)   /* a lock file someone else made: flock needs no write */
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return err_set(e, ERR_IO, "cannot open lock file %s: %s", path, strerror(errno));
	int64_t until = now_ms() + wait_ms;
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int saved = errno;
			close(fd);
			return err_set(e, ERR_IO, "cannot lock %s: %s", path, strerror(saved));
		}
		if (now_ms() >= until)
			break;
		poll(NULL, 0, 50);
	}
	char holder[80] = "";
	ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
	holder[n > 0 ? n : 0] = '\0';
	holder[strcspn(holder, "\n")] = '\0';
	close(fd);
	/* "PID PROGRAM" (site_lock_take) reads "process PID (PROGRAM)" */
	char *prog = strchr(holder, ' ');
	if (prog)
		*prog++ = '\0';
	return err_set(e, ERR_BUSY, "%s is locked by %s%s%s%s%s", path,
		       holder[0] ? "process " : "another process", holder,
		       prog && prog[0] ? " (" : "", prog ? prog : "", prog && prog[0] ? ")" : "");
}

int site_lock_take(const char *state_dir, int wait_ms, int *fd, struct err *e)
{
	*fd = -1;
	int lfd = lock_file(state_dir, SITE_LOCK_FILE, wait_ms, e);
	if (lfd < 0)
		return lfd;
	char pid[80];
	int len = snprintf(pid, sizeof pid, "%ld %.32s\n", (long)getpid(),
			   program_invocation_short_name);
	if (ftruncate(lfd, 0) < 0 || pwrite(lfd, pid, (size_t)len, 0) != len)
		log_warn("cannot write the PID into %s/%s: %s", state_dir, SITE_LOCK_FILE,
			 strerror(errno));
	*fd = lfd;
	return 0;
}

int site_lock_holder(const char *state_dir, long *pid, char *prog, size_t size)
{
	char path[4096], text[80] = "";
	*pid = 0;
	prog[0] = '\0';
	snprintf(path, sizeof path, "%s/%s", state_dir, SITE_LOCK_FILE);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -1;
	ssize_t n = pread(fd, text, sizeof text - 1, 0);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	text[strcspn(text, "\n")] = '\0';
	char *end = NULL;
	long v = strtol(text, &end, 10);
	if (end == text || v <= 0)
		return -1;
	*pid = v;
	if (*end == ' ')
		snprintf(prog, size, "%s", end + 1);
	return 0;
}

/* ---- the journal ---------------------------------------------------------------- */

const char *emergency_result_name(enum emergency_result r)
{
	switch (r) {
	case EMERGENCY_APPLIED: return "applied";
	case EMERGENCY_FAILED: return "failed";
	case EMERGENCY_REFUSED: return "refused";
	case EMERGENCY_NO_OUTCOME: break;
	}
	return "unknown";
}

static void record_free(struct emergency_record *r)
{
	free(r->actor);
	free(r->reason);
	free(r->error);
	free(r->svcs);
	free(r->overrides);
	memset(r, 0, sizeof *r);
}

void emergency_journal_free(struct emergency_journal *j)
{
	for (size_t i = 0; i < j->n; i++)
		record_free(&j->recs[i]);
	free(j->recs);
	memset(j, 0, sizeof *j);
}

/* {"state", "prepend"} into mode and prepend; 0 or -1. */
static int mode_of(json_t *o, enum svc_mode *mode, unsigned *prepend)
{
	const char *st = json_string_value(json_object_get(o, "state"));
	json_t *p = json_object_get(o, "prepend");
	if (!st || svc_mode_parse(st, mode) < 0)
		return -1;
	*prepend = 0;
	if (*mode == MODE_PREPEND) {
		if (!json_is_integer(p) || json_integer_value(p) < PREPEND_MIN ||
		    json_integer_value(p) > PREPEND_MAX)
			return -1;
		*prepend = (unsigned)json_integer_value(p);
	}
	return 0;
}

/* One intent line into r; 0, -1 (not an intent of the form), -ERR_NOMEM. */
static int parse_intent(json_t *o, struct emergency_record *r)
{
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *action = json_string_value(json_object_get(o, "action"));
	const char *actor = json_string_value(json_object_get(o, "actor"));
	const char *reason = json_string_value(json_object_get(o, "reason"));
	json_t *svcs = json_object_get(o, "services");
	json_t *before = json_object_get(o, "before");
	if (!id || !id[0] || strlen(id) >= sizeof r->id || !action ||
	    strlen(action) >= sizeof r->action || !actor || !reason || !json_is_object(svcs))
		return -1;
	memset(r, 0, sizeof *r);
	snprintf(r->id, sizeof r->id, "%s", id);
	snprintf(r->action, sizeof r->action, "%s", action);
	r->epoch_ms = json_integer_value(json_object_get(o, "epoch_ms"));
	r->force = json_is_true(json_object_get(o, "force"));
	r->actor = strdup(actor);
	r->reason = strdup(reason);
	r->svcs = calloc(json_object_size(svcs) + 1, sizeof *r->svcs);
	if (!r->actor || !r->reason || !r->svcs) {
		record_free(r);
		return -ERR_NOMEM;
	}
	const char *name;
	json_t *v;
	json_object_foreach(svcs, name, v) {
		struct emergency_service *s = &r->svcs[r->n_svcs];
		if (strlen(name) >= sizeof s->name || mode_of(v, &s->mode, &s->prepend) < 0) {
			record_free(r);
			return -1;
		}
		snprintf(s->name, sizeof s->name, "%s", name);
		json_t *b = json_object_get(before, name);
		s->has_before = b && mode_of(b, &s->before_mode, &s->before_prepend) == 0;
		r->n_svcs++;
	}
	return 0;
}

static struct emergency_record *find_record(struct emergency_journal *j, const char *id)
{
	for (size_t i = j->n; i-- > 0;)
		if (strcmp(j->recs[i].id, id) == 0)
			return &j->recs[i];
	return NULL;
}

/* One outcome line onto its intent; 0 or -1 (no intent, or not of the form). */
static int parse_outcome(json_t *o, struct emergency_journal *j)
{
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *result = json_string_value(json_object_get(o, "result"));
	const char *error = json_string_value(json_object_get(o, "error"));
	struct emergency_record *r = id ? find_record(j, id) : NULL;
	if (!r || !result)
		return -1;
	if (strcmp(result, "applied") == 0)
		r->result = EMERGENCY_APPLIED;
	else if (strcmp(result, "failed") == 0)
		r->result = EMERGENCY_FAILED;
	else if (strcmp(result, "refused") == 0)
		r->result = EMERGENCY_REFUSED;
	else
		return -1;
	free(r->error);
	r->error = error ? strdup(error) : NULL;
	json_int_t g = json_integer_value(json_object_get(o, "generation"));
	r->generation = g > 0 ? (uint64_t)g : 0;
	r->ms = json_integer_value(json_object_get(o, "ms"));
	json_t *ov = json_object_get(o, "override");
	free(r->overrides);
	r->overrides = NULL;
	r->n_overrides = 0;
	if (json_is_array(ov) && json_array_size(ov) > 0) {
		r->overrides = calloc(json_array_size(ov), sizeof *r->overrides);
		if (!r->overrides)
			return -ERR_NOMEM;
		size_t i;
		json_t *g;
		json_array_foreach(ov, i, g) {
			const char *name = json_string_value(json_object_get(g, "guard"));
			const char *msg = json_string_value(json_object_get(g, "message"));
			if (!name)
				continue;
			struct emergency_override *eo = &r->overrides[r->n_overrides++];
			snprintf(eo->guard, sizeof eo->guard, "%s", name);
			snprintf(eo->message, sizeof eo->message, "%s", msg ? msg : "");
		}
	}
	return 0;
}

int emergency_journal_parse(const char *text, size_t len, const char *name,
			    struct emergency_journal *j, struct err *e)
{
	memset(j, 0, sizeof *j);
	size_t cap = 0;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *line = p;
		p = nl ? nl + 1 : end;
		if (n == 0)
			continue;
		/* A line without its newline is the tail of an interrupted
		 * write: one write(2) puts the newline with the record. */
		json_t *o = nl ? json_loadb(line, n, JSON_REJECT_DUPLICATES, NULL) : NULL;
		const char *type = json_string_value(json_object_get(o, "type"));
		int rc = -1;
		if (type && strcmp(type, "intent") == 0) {
			if (j->n == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				struct emergency_record *nr = realloc(j->recs, ncap * sizeof *nr);
				if (!nr) {
					json_decref(o);
					emergency_journal_free(j);
					return err_set(e, ERR_NOMEM, "out of memory");
				}
				j->recs = nr;
				cap = ncap;
			}
			rc = parse_intent(o, &j->recs[j->n]);
			if (rc == 0)
				j->n++;
		} else if (type && strcmp(type, "outcome") == 0) {
			rc = parse_outcome(o, j);
		}
		json_decref(o);
		if (rc == -ERR_NOMEM) {
			emergency_journal_free(j);
			return err_set(e, ERR_NOMEM, "out of memory");
		}
		if (rc < 0) {
			j->skipped++;
			log_warn("emergency journal %s: skipped a line that is not a whole record "
				 "(%zu bytes%s)", name, n, nl ? "" : ", no newline: a torn last write");
		}
	}
	return 0;
}

int emergency_journal_read(const char *path, struct emergency_journal *j, struct err *e)
{
	memset(j, 0, sizeof *j);
	char *text = NULL;
	size_t len = 0;
	int rc = fs_read_file_flags(path, EMERGENCY_JOURNAL_MAX, FS_READ_NOFOLLOW, &text, &len, e);
	if (rc < 0)
		return rc;
	rc = emergency_journal_parse(text, len, path, j, e);
	free(text);
	return rc;
}

int emergency_writer_open(const char *state_dir, int wait_ms, struct emergency_writer *w,
			  struct err *e)
{
	w->fd = -1;
	w->lock_fd = lock_file(state_dir, EMERGENCY_LOCK_FILE, wait_ms, e);
	if (w->lock_fd < 0) {
		int rc = w->lock_fd;
		w->lock_fd = -1;
		if (rc == -ERR_BUSY)
			err_prefix(e, "another routectl emergency is writing the journal");
		return rc;
	}
	snprintf(w->path, sizeof w->path, "%s/%s", state_dir, EMERGENCY_JOURNAL);
	int created = 0;
	w->fd = fs_open_append(w->path, 0640, &created, e);
	if (w->fd < 0) {
		int rc = w->fd;
		w->fd = -1;
		err_prefix(e, "the emergency journal cannot be written");
		emergency_writer_close(w);
		return rc;
	}
	if (created && fs_fsync_dir_of(w->path, e) < 0) {
		emergency_writer_close(w);
		return -ERR_IO;
	}
	return 0;
}

/* Records, compact, one line each, in one write, then fsync: a crash
 * leaves all of them or a torn tail the reader skips. Takes recs. */
static int append(struct emergency_writer *w, json_t *const *recs, size_t n_recs,
		  struct err *e)
{
	struct buf b = { 0 };
	int bad = 0;
	for (size_t i = 0; i < n_recs; i++) {
		char *line = recs[i] ? json_dumps(recs[i], JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(recs[i]);
		if (!line || buf_puts(&b, line) < 0 || buf_puts(&b, "\n") < 0)
			bad = 1;
		free(line);
	}
	if (bad || !b.len) {
		buf_free(&b);
		return err_set(e, ERR_NOMEM, "out of memory (or a text that is not UTF-8)");
	}
	ssize_t wr = write(w->fd, b.p, b.len);
	int saved = errno;
	int whole = wr == (ssize_t)b.len;
	buf_free(&b);
	if (!whole)
		return err_set(e, ERR_IO, "cannot write the emergency journal %s: %s", w->path,
			       wr < 0 ? strerror(saved) : "short write");
	if (fsync(w->fd) < 0)
		return err_set(e, ERR_IO, "cannot fsync the emergency journal %s: %s", w->path,
			       strerror(errno));
	return 0;
}

static json_t *when_json(long long epoch_ms)
{
	char t[32];
	time_format_utc((time_t)(epoch_ms / 1000), t, sizeof t);
	return json_string(t);
}

static json_t *mode_json(enum svc_mode m, unsigned prepend)
{
	return json_pack("{s:s,s:i}", "state", svc_mode_name(m), "prepend", (int)prepend);
}

static json_t *intent_json(const struct emergency_record *r)
{
	json_t *svcs = json_object(), *before = json_object();
	for (size_t i = 0; svcs && before && i < r->n_svcs; i++) {
		const struct emergency_service *s = &r->svcs[i];
		json_object_set_new(svcs, s->name, mode_json(s->mode, s->prepend));
		if (s->has_before)
			json_object_set_new(before, s->name,
					    mode_json(s->before_mode, s->before_prepend));
	}
	json_t *rec = svcs && before
		? json_pack("{s:s,s:s,s:o,s:I,s:s,s:s,s:s,s:b,s:i,s:o,s:o}", "type", "intent",
			    "id", r->id, "time", when_json(r->epoch_ms), "epoch_ms",
			    (json_int_t)r->epoch_ms, "actor", r->actor, "reason", r->reason,
			    "action", r->action, "force", r->force, "pid", (int)getpid(),
			    "services", svcs, "before", before)
		: NULL;
	if (!rec) {
		json_decref(svcs);
		json_decref(before);
	}
	return rec;
}

static json_t *outcome_json(const char *id, enum emergency_result result, const char *error,
			    uint64_t generation, long long ms, const struct guard_report *guards)
{
	json_t *ov = json_array();
	for (size_t i = 0; ov && guards && i < GUARD_COUNT; i++)
		if (guards->g[i].verdict == GUARD_OVERRIDDEN)
			json_array_append_new(ov, json_pack("{s:s,s:s}", "guard",
							    guard_name((enum guard_id)i), "message",
							    guards->g[i].message));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return ov ? json_pack("{s:s,s:s,s:o,s:I,s:s,s:o,s:I,s:I,s:o}", "type", "outcome", "id", id,
			      "time", when_json(now), "epoch_ms", (json_int_t)now, "result",
			      emergency_result_name(result), "error",
			      error ? json_string(error) : json_null(), "generation",
			      (json_int_t)generation, "ms", (json_int_t)ms, "override", ov)
		  : NULL;
}

int emergency_write_intent(struct emergency_writer *w, const struct emergency_record *r,
			   struct err *e)
{
	json_t *rec = intent_json(r);
	return append(w, &rec, 1, e);
}

int emergency_write_outcome(struct emergency_writer *w, const char *id,
			    enum emergency_result result, const char *error, uint64_t generation,
			    long long ms, const struct guard_report *guards, struct err *e)
{
	json_t *rec = outcome_json(id, result, error, generation, ms, guards);
	return append(w, &rec, 1, e);
}

int emergency_write_refused(struct emergency_writer *w, const struct emergency_record *r,
			    const char *error, struct err *e)
{
	json_t *recs[2] = { intent_json(r), outcome_json(r->id, EMERGENCY_REFUSED, error, 0, 0,
							 NULL) };
	return append(w, recs, 2, e);
}

void emergency_writer_close(struct emergency_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (w->lock_fd >= 0)
		close(w->lock_fd);
	w->fd = w->lock_fd = -1;
}

/* ---- adoption --------------------------------------------------------------------- */

/* Puts every adoptable record of j onto st, in journal order (the later
 * command wins for a service both name). Returns how many services
 * changed, or -ERR_NOMEM. */
static int adopt_records(struct site *s, struct state *st, const struct emergency_journal *j)
{
	int changed = 0;
	for (size_t i = 0; i < j->n; i++) {
		const struct emergency_record *r = &j->recs[i];
		if (r->result == EMERGENCY_REFUSED)
			continue;
		if (r->generation > st->generation)
			st->generation = r->generation;
		for (size_t k = 0; k < r->n_svcs; k++) {
			const struct emergency_service *es = &r->svcs[k];
			struct svc_state *ns = state_find(st, es->name);
			if (!ns) {
				log_warn("emergency journal: %s names service '%s', which site %s "
					 "does not have (any more): skipped", r->id, es->name,
					 s->conf->site);
				continue;
			}
			if (svc_state_set(ns, es->mode, es->prepend, r->actor, r->reason, r->id,
					  (time_t)(r->epoch_ms / 1000)) < 0)
				return -ERR_NOMEM;
			changed++;
		}
	}
	return changed;
}

int site_emergency_adopt(struct site *s, struct emergency_journal *adopted, char *aside,
			 size_t size, struct err *e)
{
	memset(adopted, 0, sizeof *adopted);
	aside[0] = '\0';
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", s->conf->state_dir, EMERGENCY_JOURNAL);
	struct stat sb;
	if (lstat(path, &sb) < 0)
		return 0;
	if (s->safe_mode[0])
		return err_set(e, ERR_UNAVAILABLE,
			       "the emergency journal %s is not adopted in safe mode: there is "
			       "no desired state to adopt it into",
			       path);
	int lfd = lock_file(s->conf->state_dir, EMERGENCY_LOCK_FILE, 0, e);
	if (lfd < 0)
		return lfd;
	struct emergency_journal j;
	int rc = emergency_journal_read(path, &j, e);
	if (rc == -ERR_NOTFOUND) {
		close(lfd);
		return 0;     /* adopted meanwhile by another routectld? nothing left */
	}
	if (rc < 0) {
		close(lfd);
		return err_prefix(e, "the emergency journal is not adopted");
	}
	struct state *new = state_dup(s->state);
	rc = new ? adopt_records(s, new, &j) : -ERR_NOMEM;
	if (rc == -ERR_NOMEM)
		err_set(e, ERR_NOMEM, "out of memory");
	if (rc >= 0) {
		new->generation++;
		rc = state_save(s->state_path, new, e);
		if (rc < 0)
			err_prefix(e, "the emergency journal %s is not adopted", path);
	}
	if (rc < 0) {
		state_free(new);
		emergency_journal_free(&j);
		close(lfd);
		return rc;
	}
	state_free(s->state);
	s->state = new;
	s->next_reconcile_ms = now_ms();
	/* Only once the state is on disk: a crash before this adopts the same
	 * records again, to the same effect. */
	char when[32];
	time_format_utc(time(NULL), when, sizeof when);
	snprintf(aside, size, "%s.adopted-%s", path, when);
	if (rename(path, aside) < 0 || fs_fsync_dir_of(path, e) < 0) {
		log_error("emergency journal %s adopted, but it cannot be renamed to %s: %s; it "
			  "will be adopted again (to the same effect)", path, aside,
			  strerror(errno));
		aside[0] = '\0';
	}
	close(lfd);
	for (size_t i = 0; i < j.n; i++) {
		const struct emergency_record *r = &j.recs[i];
		char svcs[1024] = "";
		size_t used = 0;
		for (size_t k = 0; k < r->n_svcs && used < sizeof svcs; k++)
			used += (size_t)snprintf(svcs + used, sizeof svcs - used, "%s%s %s",
						 k ? ", " : "", r->svcs[k].name,
						 svc_mode_name(r->svcs[k].mode));
		struct log_fields lf = { LOG_MSGID_CHANGE, r->id, s->conf->site, NULL };
		log_record(r->result == EMERGENCY_REFUSED ? LOG_LVL_INFO : LOG_LVL_WARN, &lf,
			   "emergency %s %s by %s (%s; %s): %s; reason: %s", r->action, r->id,
			   r->actor, svcs, emergency_result_name(r->result),
			   r->result == EMERGENCY_REFUSED ? "refused then, not adopted"
			   : r->result == EMERGENCY_APPLIED ? "adopted as the desired state"
			   : "adopted as the desired state; the reconciler applies it",
			   r->reason);
	}
	log_info("emergency journal adopted: %zu command(s), desired state generation %" PRIu64
		 "%s%s", j.n, s->state->generation, aside[0] ? "; journal kept as " : "", aside);
	*adopted = j;
	return 1;
}
