#include "store/store.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/timeutil.h"
#include "common/yangctx.h"
#include "conf/conf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <jansson.h>
#include <libyang/libyang.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAX_SIZE (16 * 1024 * 1024)
#define STATE_MODULE "routectl-state"
#define STATE_TOP "routectl-state:state"
#define STATE_ROOT "/" STATE_TOP
#define STATE_FILE_MODE 0640

/*
 * Checks of the document that YANG does not make (or libyang would only
 * make one at a time).
 */

static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		return 29;
	return days[month - 1];
}

/* yang:date-and-time is only a pattern: libyang takes "2026-13-45T10:00:00Z"
 * and rolls it over into another date. A state file with such a date was
 * not written by us, so it is refused. */
static void check_date_time(const char *s, char *why, size_t size)
{
	int y, mo, d, h, mi, sec, n = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19) {
		snprintf(why, size, "\"%s\" is not a date and time (YYYY-MM-DDTHH:MM:SSZ)", s);
		return;
	}
	const char *bad = NULL;
	if (mo < 1 || mo > 12)
		bad = "no such month";
	else if (d < 1 || d > days_in_month(y, mo))
		bad = "no such day in that month";
	else if (h > 23 || mi > 59 || sec > 60)
		bad = "no such time of day";
	const char *rest = s + n;
	if (!bad && *rest == '.')
		for (rest++; *rest >= '0' && *rest <= '9'; rest++)
			;
	if (!bad && (*rest == '+' || *rest == '-')) {
		int oh = 0, om = 0;
		if (sscanf(rest + 1, "%2d:%2d", &oh, &om) != 2 || oh > 23 || om > 59)
			bad = "no such time zone offset";
	}
	time_t t;
	struct tm utc;
	if (!bad && time_parse_utc(s, &t) < 0)
		bad = "cannot be read as a time";
	/* We write UTC: a time whose UTC year has no four digits could be
	 * read but not written back. */
	else if (!bad && (!gmtime_r(&t, &utc) || utc.tm_year + 1900 < 0 || utc.tm_year + 1900 > 9999))
		bad = "outside the years 0000 to 9999 in UTC";
	if (bad)
		snprintf(why, size, "\"%s\" is not a valid date and time: %s", s, bad);
}

static void check_value(void *arg, const struct lysc_node *schema, const char *value,
			const char *ly_reason, char *why, size_t why_size)
{
	(void)arg;
	if (ly_reason)
		return;
	if (strcmp(schema->name, "since") == 0 || strcmp(schema->name, "at") == 0 ||
	    strcmp(schema->name, "deadline") == 0)
		check_date_time(value, why, why_size);
}

/* prepend is there exactly when mode is prepend (of a service, or of its
 * next step). */
static void check_mode_prepend(json_t *obj, const char *path, const char *what, struct err *e)
{
	const char *mode = json_string_value(json_object_get(obj, "mode"));
	if (!mode)
		return;
	json_t *prepend = json_object_get(obj, "prepend");
	char ppath[600];
	snprintf(ppath, sizeof ppath, "%s/prepend", path);
	if (strcmp(mode, "prepend") == 0 && !prepend)
		yangctx_report(e, what, ppath, "missing; it is mandatory when mode is prepend");
	else if (strcmp(mode, "prepend") != 0 && prepend)
		yangctx_report(e, what, ppath, "only allowed when mode is prepend (mode is %s)", mode);
}

static void check_document(void *arg, json_t *doc, const char *what, struct err *e)
{
	(void)arg;
	json_t *svcs = json_object_get(json_object_get(doc, STATE_TOP), "service");
	for (size_t i = 0; i < json_array_size(svcs); i++) {
		json_t *svc = json_array_get(svcs, i);
		if (!json_is_object(svc))
			continue;
		const char *name = json_string_value(json_object_get(svc, "name"));
		char path[512], npath[520];
		if (name && !(strchr(name, '\'') && strchr(name, '"')))
			yangctx_entry_path(path, sizeof path, STATE_ROOT, "service", "name", name);
		else
			snprintf(path, sizeof path, "%s/service[%zu]", STATE_ROOT, i + 1);
		check_mode_prepend(svc, path, what, e);
		json_t *next = json_object_get(svc, "next");
		snprintf(npath, sizeof npath, "%s/next", path);
		if (json_is_object(next))
			check_mode_prepend(next, npath, what, e);
		json_t *revert = json_object_get(json_object_get(svc, "confirm"), "revert-to");
		snprintf(npath, sizeof npath, "%s/confirm/revert-to", path);
		if (json_is_object(revert))
			check_mode_prepend(revert, npath, what, e);
	}
}

/*
 * Parsing.
 */

static int cmp_svc(const void *a, const void *b)
{
	return strcmp(((const struct svc_state *)a)->name, ((const struct svc_state *)b)->name);
}

/* Oldest first; the change id orders changes made in the same second. */
static int cmp_recent(const void *a, const void *b)
{
	const struct recent_change *x = a, *y = b;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return strcmp(x->change_id, y->change_id);
}

static int dup_str(char **dst, const char *src)
{
	*dst = strdup(src ? src : "");
	return *dst ? 0 : -1;
}

static void svc_state_clear(struct svc_state *s)
{
	free(s->name);
	free(s->actor);
	free(s->reason);
	free(s->change_id);
	free(s->recent);
	memset(s, 0, sizeof *s);
}

/* The tree is valid; these fail only on memory, or on a time the
 * checks above would have refused. time_leaf NULL: no time to read. */
static int read_mode(const struct lyd_node *node, enum svc_mode *mode, unsigned *prepend,
		     const char *time_leaf, time_t *when)
{
	const char *m = yangctx_get(node, "mode");
	if (!m || svc_mode_parse(m, mode) < 0)
		return -ERR_INVALID;
	*prepend = 0;
	if (*mode == MODE_PREPEND) {
		*prepend = (unsigned)yangctx_get_uint(node, "prepend", 0);
		if (*prepend < PREPEND_MIN || *prepend > PREPEND_MAX)
			return -ERR_INVALID;
	}
	if (!time_leaf)
		return 0;
	/* libyang's canonical date-and-time is in local time with an
	 * offset; time_parse_utc takes offsets. */
	const char *t = yangctx_get(node, time_leaf);
	if (!t || time_parse_utc(t, when) < 0)
		return -ERR_INVALID;
	return 0;
}

static int fill_svc(const struct lyd_node *node, struct svc_state *s, const char *what,
		    struct err *e)
{
	if (dup_str(&s->name, yangctx_get(node, "name")) < 0 ||
	    dup_str(&s->actor, yangctx_get(node, "actor")) < 0 ||
	    dup_str(&s->reason, yangctx_get(node, "reason")) < 0 ||
	    dup_str(&s->change_id, yangctx_get(node, "change-id")) < 0)
		return err_set(e, ERR_NOMEM, "%s: out of memory", what);
	if (read_mode(node, &s->mode, &s->prepend, "since", &s->since) < 0)
		return err_set(e, ERR_INVALID, "%s: " STATE_ROOT "/service[name='%s']: bad mode, prepend or since",
			       what, s->name);
	size_t n_recent = yangctx_count_children(node, "recent-change");
	if (n_recent) {
		s->recent = calloc(n_recent, sizeof *s->recent);
		if (!s->recent)
			return err_set(e, ERR_NOMEM, "%s: out of memory", what);
	}
	for (const struct lyd_node *c = lyd_child(node); c; c = c->next) {
		if (!c->schema || strcmp(c->schema->name, "recent-change") != 0)
			continue;
		struct recent_change *rc = &s->recent[s->n_recent++];
		const char *at = yangctx_get(c, "at");
		snprintf(rc->change_id, sizeof rc->change_id, "%s", yangctx_get(c, "change-id"));
		if (!at || time_parse_utc(at, &rc->at) < 0)
			return err_set(e, ERR_INVALID,
				       "%s: " STATE_ROOT "/service[name='%s']/recent-change: bad at",
				       what, s->name);
	}
	if (s->n_recent > 1)
		qsort(s->recent, s->n_recent, sizeof *s->recent, cmp_recent);
	struct lyd_node *next = NULL;
	if (lyd_find_path(node, "next", 0, &next) == LY_SUCCESS && next) {
		s->has_next = 1;
		if (read_mode(next, &s->next_mode, &s->next_prepend, "at", &s->next_at) < 0)
			return err_set(e, ERR_INVALID,
				       "%s: " STATE_ROOT "/service[name='%s']/next: bad mode, prepend or at",
				       what, s->name);
	}
	struct lyd_node *confirm = NULL, *revert = NULL;
	if (lyd_find_path(node, "confirm", 0, &confirm) == LY_SUCCESS && confirm) {
		s->has_confirm = 1;
		const char *id = yangctx_get(confirm, "change-id");
		const char *dl = yangctx_get(confirm, "deadline");
		snprintf(s->confirm_change_id, sizeof s->confirm_change_id, "%s", id ? id : "");
		if (!id || !dl || time_parse_utc(dl, &s->confirm_deadline) < 0 ||
		    lyd_find_path(confirm, "revert-to", 0, &revert) != LY_SUCCESS || !revert ||
		    read_mode(revert, &s->revert_mode, &s->revert_prepend, NULL, NULL) < 0)
			return err_set(e, ERR_INVALID,
				       "%s: " STATE_ROOT "/service[name='%s']/confirm: bad change-id, "
				       "deadline or revert-to", what, s->name);
	}
	return 0;
}

static int cmp_end(const void *a, const void *b)
{
	const struct confirm_end *x = a, *y = b;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* The confirmations that ended, oldest first (the newest are kept when a
 * file holds more than STATE_CONFIRMS_ENDED_MAX: YANG's max-elements
 * refuses that anyway). */
static int fill_ended(const struct lyd_node *root, struct state *st, const char *what,
		      struct err *e)
{
	struct confirm_end all[STATE_CONFIRMS_ENDED_MAX];
	size_t n = 0;
	for (const struct lyd_node *c = lyd_child(root); c; c = c->next) {
		if (!c->schema || strcmp(c->schema->name, "confirm-ended") != 0)
			continue;
		const char *id = yangctx_get(c, "change-id");
		const char *out = yangctx_get(c, "outcome");
		const char *at = yangctx_get(c, "at");
		struct confirm_end ce = { 0 };
		snprintf(ce.change_id, sizeof ce.change_id, "%s", id ? id : "");
		ce.outcome = out && strcmp(out, "confirmed") == 0  ? CONFIRM_CONFIRMED
			     : out && strcmp(out, "reverted") == 0 ? CONFIRM_REVERTED
			     : out && strcmp(out, "kept") == 0	   ? CONFIRM_KEPT
								   : CONFIRM_SUPERSEDED;
		if (!id || !out || !at || time_parse_utc(at, &ce.at) < 0)
			return err_set(e, ERR_INVALID, "%s: " STATE_ROOT "/confirm-ended: bad "
				       "change-id, outcome or at", what);
		if (n == STATE_CONFIRMS_ENDED_MAX) {
			qsort(all, n, sizeof *all, cmp_end);
			if (ce.at <= all[0].at)
				continue;
			all[0] = ce;
		} else {
			all[n++] = ce;
		}
	}
	qsort(all, n, sizeof *all, cmp_end);
	memcpy(st->ended, all, n * sizeof *all);
	st->n_ended = n;
	return 0;
}

static int fill_state(const struct lyd_node *tree, const char *what, void *arg,
		      struct err *e)
{
	struct state *st = arg;
	struct lyd_node *root = NULL;
	if (lyd_find_path(tree, STATE_ROOT, 0, &root) != LY_SUCCESS || !root)
		return err_set(e, ERR_INVALID, "%s: no %s", what, STATE_TOP);
	if (dup_str(&st->site, yangctx_get(root, "site")) < 0)
		return err_set(e, ERR_NOMEM, "%s: out of memory", what);
	st->generation = yangctx_get_uint(root, "generation", 0);
	size_t n = yangctx_count_children(root, "service");
	st->svcs = calloc(n ? n : 1, sizeof *st->svcs);
	if (!st->svcs)
		return err_set(e, ERR_NOMEM, "%s: out of memory", what);
	for (const struct lyd_node *c = lyd_child(root); c; c = c->next) {
		if (!c->schema || strcmp(c->schema->name, "service") != 0)
			continue;
		st->n++;
		int rc = fill_svc(c, &st->svcs[st->n - 1], what, e);
		if (rc < 0)
			return rc;
	}
	qsort(st->svcs, st->n, sizeof *st->svcs, cmp_svc);
	size_t nr = yangctx_count_children(root, "removed-service");
	st->removed = calloc(nr ? nr : 1, sizeof *st->removed);
	if (!st->removed)
		return err_set(e, ERR_NOMEM, "%s: out of memory", what);
	for (const struct lyd_node *c = lyd_child(root); c; c = c->next) {
		if (!c->schema || strcmp(c->schema->name, "removed-service") != 0)
			continue;
		struct svc_state *r = &st->removed[st->n_removed++];
		int rc = fill_svc(c, r, what, e);
		if (rc < 0)
			return rc;
		const char *at = yangctx_get(c, "removed-at");
		if (!at || time_parse_utc(at, &r->removed_at) < 0)
			return err_set(e, ERR_INVALID,
				       "%s: " STATE_ROOT "/removed-service[name='%s']: bad removed-at",
				       what, r->name);
	}
	return fill_ended(root, st, what, e);
}

int state_parse(const char *json, const char *name, struct state **out, struct err *e)
{
	char what[512];
	snprintf(what, sizeof what, "state %s", name);
	const struct yangctx_checks checks = {
		.value = check_value,
		.document = check_document,
	};
	struct state *st = calloc(1, sizeof *st);
	if (!st)
		return err_set(e, ERR_NOMEM, "%s: out of memory", what);
	int rc = yangctx_read_document(json, STATE_MODULE, what, &checks, fill_state, st, e);
	if (rc < 0) {
		state_free(st);
		return rc;
	}
	*out = st;
	return 0;
}

int state_load(const char *path, struct state **out, struct err *e)
{
	char *data = NULL;
	struct err fe;
	int rc = fs_read_file_flags(path, STATE_MAX_SIZE, FS_READ_NOFOLLOW, &data, NULL, &fe);
	if (rc < 0)
		return err_set(e, fe.code, "state %s", fe.msg);
	rc = state_parse(data, path, out, e);
	free(data);
	return rc;
}

/*
 * Writing. jansson with sorted keys rather than libyang's printer: libyang
 * prints date-and-time in the local time zone, and the file must be the
 * same bytes for the same state wherever it is written.
 */

struct json_out {
	int failed;        /* a value jansson refused (NULL, bad UTF-8) or no memory */
	char field[64];    /* the first such field */
};

static void put(struct json_out *o, json_t *obj, const char *key, json_t *v)
{
	if (!v || json_object_set_new(obj, key, v) < 0) {
		if (!o->failed)
			snprintf(o->field, sizeof o->field, "%s", key);
		o->failed = 1;
	}
}

/* Not time_format_utc: strftime's %Y does not pad years before 1000 to the
 * four digits that yang:date-and-time requires, and a file that says year
 * 391 must round-trip like any other. */
static int time_text(time_t t, char *out, size_t size)
{
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return -1;
	snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return 0;
}

static void put_time(struct json_out *o, json_t *obj, const char *time_key, time_t t)
{
	char when[64];
	if (time_text(t, when, sizeof when) < 0) {
		put(o, obj, time_key, NULL);
		return;
	}
	put(o, obj, time_key, json_string(when));
}

/* time_key NULL: mode and prepend only. */
static void mode_object(struct json_out *o, json_t *obj, enum svc_mode mode, unsigned prepend,
			const char *time_key, time_t t)
{
	put(o, obj, "mode", json_string(svc_mode_name(mode)));
	if (mode == MODE_PREPEND)
		put(o, obj, "prepend", json_integer(prepend));
	if (time_key)
		put_time(o, obj, time_key, t);
}

static int cmp_svc_ptr(const void *a, const void *b)
{
	const struct svc_state *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

int state_to_json(const struct state *st, char **out, struct err *e)
{
	if (!st->site)
		return err_set(e, ERR_INVALID, "state: no site");
	const struct svc_state **order = calloc(st->n ? st->n : 1, sizeof *order);
	if (!order)
		return err_set(e, ERR_NOMEM, "state: out of memory");
	for (size_t i = 0; i < st->n; i++) {
		order[i] = &st->svcs[i];
		const char *missing = !order[i]->name ? "name" : !order[i]->actor ? "actor" :
				      !order[i]->change_id ? "change-id" : NULL;
		if (missing) {
			free(order);
			return err_set(e, ERR_INVALID, "state: service #%zu has no %s", i + 1, missing);
		}
	}
	qsort(order, st->n, sizeof *order, cmp_svc_ptr);

	struct json_out o = { 0 };
	json_t *doc = json_object(), *body = json_object(), *list = json_array();
	char gen[32];
	snprintf(gen, sizeof gen, "%llu", (unsigned long long)st->generation);
	put(&o, body, "site", json_string(st->site));
	put(&o, body, "generation", json_string(gen));
	for (size_t i = 0; i < st->n && list; i++) {
		const struct svc_state *s = order[i];
		json_t *svc = json_object();
		if (!svc) {
			o.failed = 1;
			break;
		}
		put(&o, svc, "name", json_string(s->name));
		mode_object(&o, svc, s->mode, s->prepend, "since", s->since);
		put(&o, svc, "actor", json_string(s->actor));
		put(&o, svc, "reason", json_string(s->reason ? s->reason : ""));
		put(&o, svc, "change-id", json_string(s->change_id));
		if (s->has_next) {
			json_t *next = json_object();
			if (next)
				mode_object(&o, next, s->next_mode, s->next_prepend, "at", s->next_at);
			put(&o, svc, "next", next);
		}
		if (s->n_recent) {
			json_t *recent = json_array();
			for (size_t k = 0; recent && k < s->n_recent; k++) {
				json_t *rc = json_object();
				char when[64];
				if (!rc || time_text(s->recent[k].at, when, sizeof when) < 0 ||
				    json_array_append_new(recent, rc) < 0) {
					json_decref(rc);
					put(&o, svc, "recent-change", NULL);
					break;
				}
				put(&o, rc, "at", json_string(when));
				put(&o, rc, "change-id", json_string(s->recent[k].change_id));
			}
			put(&o, svc, "recent-change", recent);
		}
		if (s->has_confirm) {
			json_t *confirm = json_object(), *revert = json_object();
			if (confirm && revert) {
				put(&o, confirm, "change-id", json_string(s->confirm_change_id));
				put_time(&o, confirm, "deadline", s->confirm_deadline);
				mode_object(&o, revert, s->revert_mode, s->revert_prepend, NULL, 0);
				put(&o, confirm, "revert-to", revert);
			} else {
				json_decref(revert);
				put(&o, svc, "revert-to", NULL);   /* out of memory: fails */
			}
			put(&o, svc, "confirm", confirm);
		}
		if (o.failed) {
			json_decref(svc);
			free(order);
			json_decref(list);
			json_decref(body);
			json_decref(doc);
			return err_set(e, ERR_INVALID,
				       "state: service '%s': %s cannot be written as JSON (not UTF-8?)",
				       s->name, o.field);
		}
		json_array_append_new(list, svc);
	}
	free(order);
	if (st->n > 0)
		put(&o, body, "service", list);
	else
		json_decref(list);
	if (st->n_removed > 0) {
		json_t *removed = json_array();
		for (size_t i = 0; i < st->n_removed && removed; i++) {
			const struct svc_state *r = &st->removed[i];
			json_t *rs = json_object();
			if (!rs || json_array_append_new(removed, rs) < 0) {
				o.failed = 1;
				break;
			}
			put(&o, rs, "name", json_string(r->name));
			mode_object(&o, rs, r->mode, r->prepend, "since", r->since);
			put(&o, rs, "actor", json_string(r->actor));
			put(&o, rs, "reason", json_string(r->reason ? r->reason : ""));
			put(&o, rs, "change-id", json_string(r->change_id));
			put_time(&o, rs, "removed-at", r->removed_at);
		}
		put(&o, body, "removed-service", removed);
	}
	if (st->n_ended > 0) {
		json_t *ended = json_array();
		for (size_t i = 0; i < st->n_ended && ended; i++) {
			json_t *ce = json_object();
			if (!ce)
				break;
			put(&o, ce, "change-id", json_string(st->ended[i].change_id));
			put(&o, ce, "outcome",
			    json_string(confirm_outcome_name(st->ended[i].outcome)));
			put_time(&o, ce, "at", st->ended[i].at);
			json_array_append_new(ended, ce);
		}
		put(&o, body, "confirm-ended", ended);
	}
	if (doc)
		put(&o, doc, STATE_TOP, body);
	else
		json_decref(body);
	char *text = o.failed ? NULL : json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(doc);
	if (!text)
		return err_set(e, o.failed && o.field[0] ? ERR_INVALID : ERR_NOMEM,
			       "state: cannot write %s as JSON", o.field[0] ? o.field : "the state");
	size_t len = strlen(text);
	char *withnl = realloc(text, len + 2);
	if (!withnl) {
		free(text);
		return err_set(e, ERR_NOMEM, "state: out of memory");
	}
	withnl[len] = '\n';
	withnl[len + 1] = '\0';
	*out = withnl;
	return 0;
}

int state_save(const char *path, const struct state *st, struct err *e)
{
	char *json = NULL;
	int rc = state_to_json(st, &json, e);
	if (rc < 0)
		return rc;
	/* What is saved is what the next start will read: refuse to write a
	 * file that would put the daemon in safe mode. */
	struct state *check = NULL;
	rc = state_parse(json, path, &check, e);
	state_free(check);
	if (rc < 0) {
		free(json);
		return err_prefix(e, "refusing to save an invalid state");
	}
	rc = fs_write_atomic(path, json, strlen(json), STATE_FILE_MODE, e);
	free(json);
	if (rc < 0)
		return err_prefix(e, "cannot save state %s", path);
	return 0;
}

/*
 * The state in memory.
 */

static int svc_init(struct svc_state *s, const struct conf_service *cs, const char *reason,
		    const char *change_id, time_t now)
{
	memset(s, 0, sizeof *s);
	s->mode = cs->initial_mode;
	s->prepend = cs->initial_mode == MODE_PREPEND ? cs->initial_prepend : 0;
	s->since = now;
	if (dup_str(&s->name, cs->name) < 0 || dup_str(&s->actor, "routectld") < 0 ||
	    dup_str(&s->reason, reason) < 0 || dup_str(&s->change_id, change_id) < 0) {
		svc_state_clear(s);
		return -ERR_NOMEM;
	}
	return 0;
}

struct state *state_new(const struct conf *c, time_t now)
{
	struct state *st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	char id[17];
	change_id_new(id);
	st->svcs = calloc(c->n_services ? c->n_services : 1, sizeof *st->svcs);
	if (!st->svcs || dup_str(&st->site, c->site) < 0) {
		state_free(st);
		return NULL;
	}
	for (size_t i = 0; i < c->n_services; i++) {
		if (svc_init(&st->svcs[i], &c->services[i], "initial state from the config", id,
			     now) < 0) {
			state_free(st);
			return NULL;
		}
		st->n++;
	}
	qsort(st->svcs, st->n, sizeof *st->svcs, cmp_svc);
	return st;
}

/* How far a mode takes a service away: withdraw, then a longer prepend,
 * then announce. */
static unsigned drain_rank(enum svc_mode mode, unsigned prepend)
{
	return mode == MODE_WITHDRAW ? 1000u : mode == MODE_PREPEND ? prepend : 0u;
}

static struct svc_state *removed_find(struct state *st, const char *name)
{
	for (size_t i = 0; i < st->n_removed; i++)
		if (st->removed[i].name && strcmp(st->removed[i].name, name) == 0)
			return &st->removed[i];
	return NULL;
}

/* s (made by svc_init) takes the mode and provenance of was. */
static int svc_restore(struct svc_state *s, const struct svc_state *was)
{
	char *actor = NULL, *reason = NULL, *change_id = NULL;
	if (dup_str(&actor, was->actor) < 0 || dup_str(&reason, was->reason) < 0 ||
	    dup_str(&change_id, was->change_id) < 0) {
		free(actor);
		free(reason);
		free(change_id);
		return -ERR_NOMEM;
	}
	free(s->actor);
	free(s->reason);
	free(s->change_id);
	s->actor = actor;
	s->reason = reason;
	s->change_id = change_id;
	s->mode = was->mode;
	s->prepend = was->prepend;
	s->since = was->since;
	return 0;
}

static int cmp_removed_newest(const void *a, const void *b)
{
	const struct svc_state *x = a, *y = b;
	return x->removed_at > y->removed_at ? -1 : x->removed_at < y->removed_at;
}

int state_sync_services(struct state *st, const struct conf *c, time_t now)
{
	struct svc_state *svcs = calloc(c->n_services ? c->n_services : 1, sizeof *svcs);
	struct svc_state *removed = calloc(st->n + st->n_removed + 1, sizeof *removed);
	if (!svcs || !removed) {
		free(svcs);
		free(removed);
		return -ERR_NOMEM;
	}
	char id[17];
	change_id_new(id);
	int changed = 0;
	/* Build the new lists aside, so that running out of memory leaves st
	 * as it was. */
	for (size_t i = 0; i < c->n_services; i++) {
		if (state_find(st, c->services[i].name))
			continue;
		const struct svc_state *was = removed_find(st, c->services[i].name);
		int rc = svc_init(&svcs[i], &c->services[i], "new in config", id, now);
		if (rc == 0 && was &&
		    drain_rank(was->mode, was->prepend) >= drain_rank(svcs[i].mode, svcs[i].prepend))
			rc = svc_restore(&svcs[i], was);
		if (rc < 0) {
			for (size_t k = 0; k < c->n_services; k++)
				svc_state_clear(&svcs[k]);
			free(svcs);
			free(removed);
			return -ERR_NOMEM;
		}
		changed++;
	}
	for (size_t i = 0; i < c->n_services; i++) {
		struct svc_state *old = state_find(st, c->services[i].name);
		if (old) {
			svcs[i] = *old;
			/* Moved: its strings now belong to svcs. */
			memset(old, 0, sizeof *old);
		}
	}
	/* What leaves the config now is remembered, with what it was. */
	size_t nr = 0;
	for (size_t i = 0; i < st->n; i++) {
		struct svc_state *gone = &st->svcs[i];
		if (!gone->name)
			continue;
		changed++;
		free(gone->recent);
		gone->recent = NULL;
		gone->n_recent = 0;
		gone->has_next = gone->has_confirm = 0;
		gone->removed_at = now;
		removed[nr++] = *gone;
		memset(gone, 0, sizeof *gone);
	}
	/* ... besides what left before and is still out (not twice). */
	for (size_t i = 0; i < st->n_removed; i++) {
		struct svc_state *r = &st->removed[i];
		int keep = r->name && !conf_find_service(c, r->name);
		for (size_t k = 0; keep && k < nr; k++)
			keep = strcmp(removed[k].name, r->name) != 0;
		if (keep) {
			removed[nr++] = *r;
			memset(r, 0, sizeof *r);
		} else {
			svc_state_clear(r);
		}
	}
	qsort(removed, nr, sizeof *removed, cmp_removed_newest);
	while (nr > STATE_REMOVED_MAX)
		svc_state_clear(&removed[--nr]);
	free(st->svcs);
	free(st->removed);
	st->svcs = svcs;
	st->n = c->n_services;
	st->removed = removed;
	st->n_removed = nr;
	qsort(st->svcs, st->n, sizeof *st->svcs, cmp_svc);
	return changed;
}

struct state *state_dup(const struct state *st)
{
	struct state *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->generation = st->generation;
	memcpy(d->ended, st->ended, sizeof d->ended);
	d->n_ended = st->n_ended;
	d->svcs = calloc(st->n ? st->n : 1, sizeof *d->svcs);
	if (!d->svcs || dup_str(&d->site, st->site) < 0) {
		state_free(d);
		return NULL;
	}
	for (size_t i = 0; i < st->n; i++) {
		const struct svc_state *s = &st->svcs[i];
		struct svc_state *t = &d->svcs[i];
		*t = *s;
		t->name = t->actor = t->reason = t->change_id = NULL;
		t->recent = NULL;
		t->n_recent = 0;
		d->n++;
		if (s->n_recent) {
			t->recent = malloc(s->n_recent * sizeof *t->recent);
			if (!t->recent) {
				state_free(d);
				return NULL;
			}
			memcpy(t->recent, s->recent, s->n_recent * sizeof *t->recent);
			t->n_recent = s->n_recent;
		}
		if (dup_str(&t->name, s->name) < 0 || dup_str(&t->actor, s->actor) < 0 ||
		    dup_str(&t->reason, s->reason) < 0 || dup_str(&t->change_id, s->change_id) < 0) {
			state_free(d);
			return NULL;
		}
	}
	d->removed = calloc(st->n_removed + 1, sizeof *d->removed);
	if (!d->removed) {
		state_free(d);
		return NULL;
	}
	for (size_t i = 0; i < st->n_removed; i++) {
		const struct svc_state *r = &st->removed[i];
		struct svc_state *t = &d->removed[d->n_removed++];
		*t = *r;
		t->name = t->actor = t->reason = t->change_id = NULL;
		t->recent = NULL;
		t->n_recent = 0;
		if (dup_str(&t->name, r->name) < 0 || dup_str(&t->actor, r->actor) < 0 ||
		    dup_str(&t->reason, r->reason) < 0 || dup_str(&t->change_id, r->change_id) < 0) {
			state_free(d);
			return NULL;
		}
	}
	return d;
}

void state_free(struct state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++)
		svc_state_clear(&st->svcs[i]);
	free(st->svcs);
	for (size_t i = 0; i < st->n_removed; i++)
		svc_state_clear(&st->removed[i]);
	free(st->removed);
	free(st->site);
	free(st);
}

struct svc_state *state_find(struct state *st, const char *name)
{
	if (!st || !name)
		return NULL;
	/* Linear: a few dozen services, and it stays right even if a caller
	 * has not kept the array sorted. */
	for (size_t i = 0; i < st->n; i++)
		if (st->svcs[i].name && strcmp(st->svcs[i].name, name) == 0)
			return &st->svcs[i];
	return NULL;
}

int svc_state_set(struct svc_state *s, enum svc_mode mode, unsigned prepend,
		  const char *actor, const char *reason, const char *change_id, time_t now)
{
	if (mode != MODE_ANNOUNCE && mode != MODE_PREPEND && mode != MODE_WITHDRAW)
		return -ERR_INVALID;
	if (mode == MODE_PREPEND && (prepend < PREPEND_MIN || prepend > PREPEND_MAX))
		return -ERR_INVALID;
	if (!actor || !*actor || !change_id || !*change_id)
		return -ERR_INVALID;
	/* Copy first: actor or reason may point into s itself. */
	char *a = strdup(actor), *r = strdup(reason ? reason : ""), *c = strdup(change_id);
	if (!a || !r || !c) {
		free(a);
		free(r);
		free(c);
		return -ERR_NOMEM;
	}
	free(s->actor);
	free(s->reason);
	free(s->change_id);
	s->actor = a;
	s->reason = r;
	s->change_id = c;
	s->mode = mode;
	s->prepend = mode == MODE_PREPEND ? prepend : 0;
	s->since = now;
	s->has_next = 0;
	s->next_mode = MODE_ANNOUNCE;
	s->next_prepend = 0;
	s->next_at = 0;
	s->has_confirm = 0;
	s->confirm_change_id[0] = '\0';
	s->confirm_deadline = 0;
	s->revert_mode = MODE_ANNOUNCE;
	s->revert_prepend = 0;
	return 0;
}

int svc_recent_add(struct svc_state *s, const char *change_id, time_t at, time_t newer_than,
		   size_t keep)
{
	if (keep > STATE_RECENT_MAX)
		keep = STATE_RECENT_MAX;
	struct recent_change *r = malloc((s->n_recent + 1) * sizeof *r);
	if (!r)
		return -ERR_NOMEM;
	size_t n = 0;
	for (size_t i = 0; i < s->n_recent; i++)
		if (s->recent[i].at > newer_than && strcmp(s->recent[i].change_id, change_id) != 0)
			r[n++] = s->recent[i];
	r[n].at = at;
	snprintf(r[n].change_id, sizeof r[n].change_id, "%s", change_id);
	n++;
	qsort(r, n, sizeof *r, cmp_recent);
	if (n > keep) {
		memmove(r, r + (n - keep), keep * sizeof *r);
		n = keep;
	}
	free(s->recent);
	s->recent = r;
	s->n_recent = n;
	return 0;
}

const char *confirm_outcome_name(enum confirm_outcome o)
{
	switch (o) {
	case CONFIRM_CONFIRMED: return "confirmed";
	case CONFIRM_REVERTED: return "reverted";
	case CONFIRM_SUPERSEDED: return "superseded";
	case CONFIRM_KEPT: return "kept";
	}
	return "superseded";
}

void state_note_confirm_end(struct state *st, const char *change_id,
			    enum confirm_outcome outcome, time_t at)
{
	size_t k = 0;
	for (size_t i = 0; i < st->n_ended; i++)
		if (strcmp(st->ended[i].change_id, change_id) != 0)
			st->ended[k++] = st->ended[i];
	st->n_ended = k;
	if (st->n_ended == STATE_CONFIRMS_ENDED_MAX) {
		memmove(&st->ended[0], &st->ended[1], (st->n_ended - 1) * sizeof st->ended[0]);
		st->n_ended--;
	}
	struct confirm_end *ce = &st->ended[st->n_ended++];
	memset(ce, 0, sizeof *ce);
	snprintf(ce->change_id, sizeof ce->change_id, "%s", change_id);
	ce->outcome = outcome;
	ce->at = at;
}

const struct confirm_end *state_find_confirm_end(const struct state *st,
						 const char *change_id)
{
	for (size_t i = st ? st->n_ended : 0; i-- > 0;)
		if (strcmp(st->ended[i].change_id, change_id) == 0)
			return &st->ended[i];
	return NULL;
}

int change_id_valid(const char *id)
{
	size_t n = 0;
	for (; id && id[n]; n++)
		if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f')))
			return 0;
	return n == 16;
}

int state_names_change(const struct state *st, const char *change_id)
{
	if (!st || !change_id || !change_id[0])
		return 0;
	for (size_t i = 0; i < st->n; i++) {
		const struct svc_state *s = &st->svcs[i];
		if (strcmp(s->change_id, change_id) == 0 ||
		    (s->has_confirm && strcmp(s->confirm_change_id, change_id) == 0))
			return 1;
		for (size_t k = 0; k < s->n_recent; k++)
			if (strcmp(s->recent[k].change_id, change_id) == 0)
				return 1;
	}
	return state_find_confirm_end(st, change_id) != NULL;
}

static int read_urandom(void *buf, size_t len)
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return got == len ? 0 : -1;
}

void change_id_new(char out[17])
{
	unsigned char b[8];
	ssize_t n;
	do
		n = getrandom(b, sizeof b, 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof b && read_urandom(b, sizeof b) < 0) {
		/* No randomness at all: still unique enough to tell changes
		 * apart in the audit log. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t x = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
			     ((uint64_t)getpid() << 48);
		memcpy(b, &x, sizeof b);
	}
	for (size_t i = 0; i < sizeof b; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/*
 * Lost state.
 */

#define INCLUDE_HEADER_READ 4096
#define INCLUDE_HEADER_FMT "# Generated by routectld for site %63[^,], generation %" SCNu64

int state_parse_include_header(const char *text, char *site, size_t size,
			       uint64_t *generation)
{
	char s[64];
	uint64_t g;
	int n = 0;
	if (!text || sscanf(text, INCLUDE_HEADER_FMT "%n", s, &g, &n) != 2 || n == 0)
		return 0;
	/* The number must end there ("7." or "7\n"), not run into junk. */
	if (text[n] != '.' && text[n] != '\n' && text[n] != '\0')
		return 0;
	snprintf(site, size, "%s", s);
	*generation = g;
	return 1;
}

int state_find_evidence(const struct conf *c, struct state_evidence *ev, struct err *e)
{
	(void)e;
	memset(ev, 0, sizeof *ev);
	struct stat sb;
	if (lstat(c->include_path, &sb) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		ev->found = 1;
		snprintf(ev->what, sizeof ev->what, "%s (cannot be looked at: %s)", c->include_path,
			 strerror(errno));
		return 0;
	}
	ev->found = 1;
	char *head = NULL;
	struct err re;
	if (fs_read_file_flags(c->include_path, INCLUDE_HEADER_READ, FS_READ_HEAD, &head, NULL,
			       &re) < 0) {
		snprintf(ev->what, sizeof ev->what, "%s exists (%s)", c->include_path, re.msg);
		return 0;
	}
	ev->has_header = state_parse_include_header(head, ev->site, sizeof ev->site,
						    &ev->generation);
	free(head);
	if (ev->has_header)
		snprintf(ev->what, sizeof ev->what, "%s (generation %" PRIu64 " of site %s)",
			 c->include_path, ev->generation, ev->site);
	else
		snprintf(ev->what, sizeof ev->what,
			 "%s exists but does not start with routectld's header", c->include_path);
	return 0;
}

int state_dir_check(const char *dir, int *dangling, struct err *e)
{
	*dangling = 0;
	struct stat sb;
	if (stat(dir, &sb) == 0) {
		if (S_ISDIR(sb.st_mode))
			return 0;
		return err_set(e, ERR_INVALID, "state directory %s is not a directory", dir);
	}
	int saved = errno;
	struct stat lsb;
	if (lstat(dir, &lsb) == 0 && S_ISLNK(lsb.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(dir, target, sizeof target - 1);
		target[n < 0 ? 0 : n] = '\0';
		*dangling = 1;
		return err_set(e, ERR_INVALID,
			       "state directory %s is a symbolic link to '%s', which does not "
			       "exist (a file system that did not mount?)", dir, target);
	}
	if (saved == ENOENT)
		return err_set(e, ERR_NOTFOUND, "state directory %s does not exist", dir);
	if (saved == ENOTDIR)
		return err_set(e, ERR_INVALID, "state directory %s: a part of the path is not a "
			       "directory", dir);
	return err_set(e, ERR_IO, "state directory %s: cannot look at it: %s", dir,
		       strerror(saved));
}

int state_is_dangling_link(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) < 0 || !S_ISLNK(sb.st_mode))
		return 0;
	return stat(path, &sb) < 0 && (errno == ENOENT || errno == ENOTDIR);
}
