#include "cli/decode.h"

#include "common/err.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- checking the daemon's answers ---- */

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "something else";
}

/* What a value letter of an unpack format asks for, in the words of the
 * messages. */
static const char *wanted_name(char c)
{
	switch (c) {
	case 's': return "a string";
	case 'I': return "an integer";
	case 'b': return "true or false";
	case 'F': return "a number";
	default: return "something else";
	}
}

/* "path.key", or "key" at the top. */
static void join_path(char *out, size_t size, const char *path, const char *key)
{
	if (path[0])
		snprintf(out, size, "%s.%s", path, key);
	else
		snprintf(out, size, "%s", key);
}

/* The key of the n-th member (from 0) of a flat unpack format, taken from
 * its arguments: each value's output is skipped with its own type. */
static const char *nth_key(const char *fmt, size_t n, va_list ap)
{
	bool want_key = true;
	for (const char *f = fmt; *f; f++) {
		if (strchr("{}:?, ", *f))
			continue;
		if (want_key) {
			const char *key = va_arg(ap, const char *);
			if (n-- == 0)
				return key;
		} else {
			switch (*f) {
			case 's': (void)va_arg(ap, const char **); break;
			case 'I': (void)va_arg(ap, json_int_t *); break;
			case 'b': (void)va_arg(ap, int *); break;
			case 'F': (void)va_arg(ap, double *); break;
			case 'o': (void)va_arg(ap, json_t **); break;
			default: return NULL;
			}
		}
		want_key = !want_key;
	}
	return NULL;
}

/* Members of the object o, found at path ("" at the top), through jansson's
 * json_unpack_ex. fmt is a flat object format: each member "s:" (required)
 * or "s?" (optional) and one value letter: s (a string, const char **), I
 * (an integer, json_int_t *), b (true or false, int *), F (a number,
 * double *) or o (anything, json_t **). A member that is null counts as
 * absent, as the daemon writes null for "none": an optional one leaves its
 * output as it was. flags: 0, or JSON_STRICT where the shape is closed by
 * nature (every member must be in fmt). Returns 0, or -ERR_PROTOCOL with a
 * message that names the field: "bird.connected is missing", "site should
 * be a string, not an integer", "bird.sentinels has unexpected members:
 * ipv5" (-ERR_NOMEM: out of memory). */
static int unpack(json_t *o, const char *path, size_t flags, struct err *e, const char *fmt, ...)
{
	json_error_t jerr;
	const char *k;
	json_t *v;
	va_list ap;
	char p[256];
	int rc;

	if (!json_is_object(o))
		return err_set(e, ERR_PROTOCOL, "%s should be an object, not %s",
			       path[0] ? path : "the answer", json_type_name(o));
	json_t *present = json_object();
	if (!present)
		return err_set(e, ERR_NOMEM, "out of memory");
	json_object_foreach(o, k, v) {
		/* shares the values: what the outputs point to lives in o */
		if (!json_is_null(v) && json_object_set(present, k, v) < 0) {
			json_decref(present);
			return err_set(e, ERR_NOMEM, "out of memory");
		}
	}
	va_start(ap, fmt);
	rc = json_vunpack_ex(present, &jerr, flags, fmt, ap);
	va_end(ap);
	if (rc == 0) {
		json_decref(present);
		return 0;
	}

	/* jansson names a missing key and the keys left over, and for a wrong
	 * type points at the value's letter in fmt: the members before it are
	 * the separators before it, less its own. */
	const char *listed = strstr(jerr.text, ": ");
	listed = listed ? listed + 2 : "";
	enum json_error_code code = json_error_code(&jerr);
	size_t at = jerr.position > 0 ? (size_t)jerr.position - 1 : 0;
	json_t *wrong = NULL;
	const char *key = NULL;
	if (code == json_error_wrong_type && at < strlen(fmt)) {
		size_t seps = 0;
		for (size_t i = 0; i < at; i++)
			seps += fmt[i] == ':' || fmt[i] == '?';
		if (seps > 0) {
			va_start(ap, fmt);
			key = nth_key(fmt, seps - 1, ap);
			va_end(ap);
		}
		wrong = key ? json_object_get(present, key) : NULL;
	}
	if (code == json_error_item_not_found) {
		join_path(p, sizeof p, path, listed);
		rc = err_set(e, ERR_PROTOCOL, "%s is missing", p);
	} else if (code == json_error_end_of_input_expected) {
		rc = err_set(e, ERR_PROTOCOL, "%s has unexpected members: %s",
			     path[0] ? path : "the answer", listed);
	} else if (wrong) {
		join_path(p, sizeof p, path, key);
		rc = err_set(e, ERR_PROTOCOL, "%s should be %s, not %s", p, wanted_name(fmt[at]),
			     json_type_name(wrong));
	} else {
		/* jansson's own words, with the path */
		rc = err_set(e, code == json_error_out_of_memory ? ERR_NOMEM : ERR_PROTOCOL,
			     "%s: %s", path[0] ? path : "the answer", jerr.text);
	}
	json_decref(present);
	return rc;
}

/* An optional member that is there and not null. */
static bool given(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return v && !json_is_null(v);
}

/* A member that unpack gave as anything ("o") and must be an object or an
 * array (NULL: absent, fine). */
static int want_type(json_t *v, const char *path, const char *key, json_type type,
		     struct err *e)
{
	if (!v || json_typeof(v) == type)
		return 0;
	char p[256];
	join_path(p, sizeof p, path, key);
	return err_set(e, ERR_PROTOCOL, "%s should be %s, not %s", p,
		       type == JSON_OBJECT ? "an object" : "an array", json_type_name(v));
}

static int want_range(const char *path, const char *key, json_int_t n, json_int_t min,
		      json_int_t max, struct err *e)
{
	if (n >= min && n <= max)
		return 0;
	char p[256];
	join_path(p, sizeof p, path, key);
	return err_set(e, ERR_PROTOCOL, "%s is %lld, outside %lld..%lld", p, (long long)n,
		       (long long)min, (long long)max);
}

/* {"state": "prepend", "prepend": 3, ...}: prepend is 1..10 with state
 * prepend (o may have other members: a service has its state in it). */
static int unpack_state(json_t *o, const char *path, enum svc_mode *mode, unsigned *prepend,
			struct err *e)
{
	const char *s;
	json_int_t n = 0;
	char p[256];

	if (unpack(o, path, 0, e, "{s:s, s?I}", "state", &s, "prepend", &n) < 0)
		return -ERR_PROTOCOL;
	if (svc_mode_parse(s, mode) < 0) {
		join_path(p, sizeof p, path, "state");
		return err_set(e, ERR_PROTOCOL, "%s: unknown state \"%s\"", p, s);
	}
	if (want_range(path, "prepend", n, 0, PREPEND_MAX, e) < 0)
		return -ERR_PROTOCOL;
	if (*mode == MODE_PREPEND && n < PREPEND_MIN) {
		join_path(p, sizeof p, path, "prepend");
		return err_set(e, ERR_PROTOCOL, "%s is %lld, but state prepend needs %d..%d",
			       p, (long long)n, PREPEND_MIN, PREPEND_MAX);
	}
	*prepend = *mode == MODE_PREPEND ? (unsigned)n : 0;
	return 0;
}

/* "next": {"state", "prepend", "at"}, or null when no stage is pending. */
static int unpack_step(json_t *next, const char *path, bool *has, struct view_step *step,
		       struct err *e)
{
	char p[256];
	*has = false;
	if (!next)
		return 0;
	join_path(p, sizeof p, path, "next");
	json_int_t in_s = 0;
	if (want_type(next, path, "next", JSON_OBJECT, e) < 0 ||
	    unpack_state(next, p, &step->mode, &step->prepend, e) < 0 ||
	    unpack(next, p, 0, e, "{s:s, s?I}", "at", &step->at, "in_s", &in_s) < 0 ||
	    want_range(p, "in_s", in_s, 0, LLONG_MAX, e) < 0)
		return -ERR_PROTOCOL;
	step->has_in_s = given(next, "in_s");
	step->in_s = in_s;
	*has = true;
	return 0;
}

/* A pending confirmation: {"change_id", "deadline", "in_s"} and, per
 * service, "revert_to": {"state", "prepend"} if given (with_revert), or in
 * status's list, "services": [{"service", "revert_to"}] (the names are
 * kept). */
static int unpack_confirm_wait(json_t *o, const char *path, bool with_revert,
			       struct view_confirm_wait *c, struct err *e)
{
	json_t *revert = NULL, *svcs = NULL, *x;
	json_int_t in_s = 0;
	char p[256];
	size_t i;
	if (unpack(o, path, 0, e, "{s:s, s:s, s?I, s?o, s?o}", "change_id", &c->change_id,
		   "deadline", &c->deadline, "in_s", &in_s, "revert_to", &revert,
		   "services", &svcs) < 0 ||
	    want_range(path, "in_s", in_s, 0, LLONG_MAX, e) < 0 ||
	    want_type(svcs, path, "services", JSON_ARRAY, e) < 0)
		return -ERR_PROTOCOL;
	c->has_in_s = given(o, "in_s");
	c->in_s = in_s;
	if (with_revert) {
		/* optional: the deadline is what matters; an answer that has
		 * it must say it right */
		join_path(p, sizeof p, path, "revert_to");
		c->has_revert = revert != NULL;
		return revert ? unpack_state(revert, p, &c->revert_mode, &c->revert_prepend, e) : 0;
	}
	c->services = calloc(json_array_size(svcs) + 1, sizeof *c->services);
	if (!c->services)
		return err_set(e, ERR_NOMEM, "out of memory");
	json_array_foreach(svcs, i, x) {
		snprintf(p, sizeof p, "%s.services[%zu]", path, i);
		if (unpack(x, p, 0, e, "{s:s}", "service", &c->services[c->n_services]) < 0)
			return -ERR_PROTOCOL;
		c->n_services++;
	}
	return 0;
}

/* An array of strings: each one into out[*n] (out has room for all). */
static int string_items(json_t *arr, const char *path, const char *key, const char **out,
			size_t *n, struct err *e)
{
	json_t *v;
	size_t i;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v))
			return err_set(e, ERR_PROTOCOL, "%s%s%s[%zu] should be a string, not %s",
				       path, path[0] ? "." : "", key, i, json_type_name(v));
		out[(*n)++] = json_string_value(v);
	}
	return 0;
}

static int parse_service(json_t *svc, const char *path, struct view_service *s,
			 struct err *e)
{
	json_t *v4 = NULL, *v6 = NULL, *count = NULL, *next = NULL, *lk = NULL, *confirm = NULL;
	const char *state;
	if (!json_is_object(svc))
		return err_set(e, ERR_PROTOCOL, "%s should be an object, not %s",
			       path, json_type_name(svc));
	if (unpack(svc, path, 0, e, "{s:s, s?o, s?o, s?o, s:s, s?s, s?s, s?s, s?s, s?o, s?o}",
		   "name", &s->name, "ipv4", &v4, "ipv6", &v6, "prefix_count", &count,
		   "state", &state, "since", &s->since, "actor", &s->actor,
		   "reason", &s->reason, "change_id", &s->change_id, "next", &next,
		   "last_known", &lk) < 0 ||
	    want_type(v4, path, "ipv4", JSON_ARRAY, e) < 0 ||
	    want_type(v6, path, "ipv6", JSON_ARRAY, e) < 0 ||
	    want_type(count, path, "prefix_count", JSON_OBJECT, e) < 0 ||
	    want_type(lk, path, "last_known", JSON_OBJECT, e) < 0)
		return -ERR_PROTOCOL;
	confirm = json_object_get(svc, "confirm");
	if (confirm && !json_is_null(confirm)) {
		char p[256];
		join_path(p, sizeof p, path, "confirm");
		if (want_type(confirm, path, "confirm", JSON_OBJECT, e) < 0 ||
		    unpack_confirm_wait(confirm, p, true, &s->confirm, e) < 0)
			return -ERR_PROTOCOL;
		s->has_confirm = true;
	}
	size_t n = json_array_size(v4) + json_array_size(v6);
	s->prefixes = calloc(n + 1, sizeof *s->prefixes);
	if (!s->prefixes)
		return err_set(e, ERR_NOMEM, "out of memory");
	if (string_items(v4, path, "ipv4", s->prefixes, &s->n_listed, e) < 0 ||
	    string_items(v6, path, "ipv6", s->prefixes, &s->n_listed, e) < 0)
		return -ERR_PROTOCOL;
	/* A large service comes with its counts only ("prefix_count"); a
	 * listed one may have them too, and they must agree. */
	s->n_prefixes = s->n_listed;
	if (count) {
		char p[256];
		json_int_t n4, n6;
		join_path(p, sizeof p, path, "prefix_count");
		if (unpack(count, p, JSON_STRICT, e, "{s:I, s:I}", "ipv4", &n4, "ipv6", &n6) < 0 ||
		    want_range(p, "ipv4", n4, 0, 100000000, e) < 0 ||
		    want_range(p, "ipv6", n6, 0, 100000000, e) < 0)
			return -ERR_PROTOCOL;
		if ((v4 || v6) && (size_t)(n4 + n6) != s->n_listed)
			return err_set(e, ERR_PROTOCOL,
				       "%s says %lld prefixes, but %zu are listed", p,
				       (long long)(n4 + n6), s->n_listed);
		s->n_prefixes = (size_t)(n4 + n6);
	}
	/* A service the daemon has no state for (safe mode: the state file did
	 * not load) is "unknown"; status must still show it. */
	s->known = strcmp(state, "unknown") != 0;
	if ((s->known && unpack_state(svc, path, &s->mode, &s->prepend, e) < 0) ||
	    unpack_step(next, path, &s->has_next, &s->next, e) < 0)
		return -ERR_PROTOCOL;
	/* Safe mode after a loss: the state held before it, shown as such. */
	if (lk && !s->known) {
		char p[256];
		join_path(p, sizeof p, path, "last_known");
		s->last_known = true;
		if (unpack_state(lk, p, &s->mode, &s->prepend, e) < 0 ||
		    unpack(lk, p, 0, e, "{s?s, s?s, s?s, s?s}", "since", &s->since,
			   "actor", &s->actor, "reason", &s->reason,
			   "change_id", &s->change_id) < 0)
			return -ERR_PROTOCOL;
	}
	return 0;
}

static void view_status_free(struct view_status *v)
{
	for (size_t i = 0; i < v->n_services; i++)
		free(v->services[i].prefixes);
	free(v->services);
	free(v->peers);
	for (size_t i = 0; i < v->n_pending; i++)
		free(v->pending[i].services);
	free(v->pending);
	free(v->listeners);
	memset(v, 0, sizeof *v);
}

static void view_confirmed_free(struct view_confirmed *v)
{
	free(v->items);
	memset(v, 0, sizeof *v);
}

static void view_change_free(struct view_change *v)
{
	free(v->items);
	memset(v, 0, sizeof *v);
}

static void view_history_free(struct view_history *v)
{
	for (size_t i = 0; i < v->n_records; i++)
		free(v->records[i].services);
	free(v->records);
	memset(v, 0, sizeof *v);
}

/* history[i]: an audit record; the members the text shows are checked,
 * the others are the daemon's business (--json shows them). */
static int parse_audit_record(json_t *o, const char *path, struct view_audit_record *r,
			      struct err *e)
{
	json_t *svcs = NULL;
	int dry_run = 0;
	if (!json_is_object(o))
		return err_set(e, ERR_PROTOCOL, "%s should be an object, not %s", path,
			       json_type_name(o));
	if (unpack(o, path, 0, e, "{s:s, s:s, s:s, s?s, s?s, s?s, s?s, s?s, s?b, s?o}",
		   "time", &r->time, "action", &r->action, "result", &r->result,
		   "actor", &r->actor, "on_behalf_of", &r->on_behalf_of, "site", &r->site,
		   "change_id", &r->change_id, "reason", &r->reason, "dry_run", &dry_run,
		   "services", &svcs) < 0 ||
	    want_type(svcs, path, "services", JSON_ARRAY, e) < 0)
		return -ERR_PROTOCOL;
	json_int_t failed = 0;
	if (unpack(o, path, 0, e, "{s?s, s?s, s?o, s?o, s?I}", "follows_change_id",
		   &r->follows_change_id, "follows_actor", &r->follows_actor, "before", &r->before,
		   "after", &r->after, "failed_attempts", &failed) < 0 ||
	    want_range(path, "failed_attempts", failed, 0, LLONG_MAX, e) < 0)
		return -ERR_PROTOCOL;
	r->failed_attempts = failed;
	if (!json_is_object(r->before))
		r->before = NULL;
	if (!json_is_object(r->after))
		r->after = NULL;
	r->dry_run = dry_run;
	r->services = calloc(json_array_size(svcs) + 1, sizeof *r->services);
	if (!r->services)
		return err_set(e, ERR_NOMEM, "out of memory");
	return string_items(svcs, path, "services", r->services, &r->n_services, e);
}

int cli_parse_history(json_t *body, struct view_history *v, struct err *e)
{
	json_t *recs, *rec;
	json_int_t skipped = 0;
	size_t i;

	memset(v, 0, sizeof *v);
	if (!json_is_object(body))
		return err_set(e, ERR_PROTOCOL, "the history should be an object, not %s",
			       json_type_name(body));
	if (unpack(body, "", 0, e, "{s:o, s?I}", "history", &recs, "skipped", &skipped) < 0 ||
	    want_type(recs, "", "history", JSON_ARRAY, e) < 0 ||
	    want_range("", "skipped", skipped, 0, LLONG_MAX, e) < 0)
		goto fail;
	v->skipped = skipped;
	v->records = calloc(json_array_size(recs) + 1, sizeof *v->records);
	if (!v->records) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	json_array_foreach(recs, i, rec) {
		char p[64];
		snprintf(p, sizeof p, "history[%zu]", i);
		/* counted first so that a failure frees what it allocated */
		v->n_records++;
		if (parse_audit_record(rec, p, &v->records[i], e) < 0)
			goto fail;
	}
	return 0;
fail:
	view_history_free(v);
	return -(int)(e ? e->code : ERR_PROTOCOL);
}

/* bird.peers[i]: {"name", "listed", "up", "families": ["ipv4"...],
 * "problems": ["..."], "message"}. */
static int parse_peer(json_t *o, const char *path, struct view_peer *p, struct err *e)
{
	json_t *fams = NULL, *probs = NULL, *x;
	int listed = 0, up = 0;
	size_t k;
	if (!json_is_object(o))
		return err_set(e, ERR_PROTOCOL, "%s should be an object, not %s", path,
			       json_type_name(o));
	if (unpack(o, path, 0, e, "{s:s, s?b, s?b, s?o, s?o, s?s}", "name", &p->name,
		   "listed", &listed, "up", &up, "families", &fams, "problems", &probs,
		   "message", &p->message) < 0 ||
	    want_type(fams, path, "families", JSON_ARRAY, e) < 0 ||
	    want_type(probs, path, "problems", JSON_ARRAY, e) < 0)
		return -ERR_PROTOCOL;
	p->listed = listed;
	p->up = up;
	json_array_foreach(fams, k, x) {
		const char *f = json_string_value(x);
		if (!f)
			return err_set(e, ERR_PROTOCOL, "%s.families[%zu] should be a string", path,
				       k);
		if (strcmp(f, "ipv4") == 0)
			p->v4 = true;
		else if (strcmp(f, "ipv6") == 0)
			p->v6 = true;
		else
			return err_set(e, ERR_PROTOCOL, "%s.families[%zu]: unknown family \"%.64s\"",
				       path, k, f);
	}
	size_t used = 0;
	json_array_foreach(probs, k, x) {
		const char *pr = json_string_value(x);
		if (!pr)
			return err_set(e, ERR_PROTOCOL, "%s.problems[%zu] should be a string", path,
				       k);
		if (used < sizeof p->problems)
			used += (size_t)snprintf(p->problems + used, sizeof p->problems - used,
						 "%s%s", used ? ", " : "", pr);
	}
	return 0;
}

/* bird.peers, bird.peers_checked_at, bird.sentinels (all may be null). */
static int parse_peers(json_t *peers, json_t *sent, struct view_status *v, struct err *e)
{
	json_t *p;
	size_t i;
	if (want_type(peers, "bird", "peers", JSON_ARRAY, e) < 0 ||
	    want_type(sent, "bird", "sentinels", JSON_OBJECT, e) < 0)
		return -ERR_PROTOCOL;
	if (!peers)
		return 0;
	v->has_peers = true;
	v->peers = calloc(json_array_size(peers) + 1, sizeof *v->peers);
	if (!v->peers)
		return err_set(e, ERR_NOMEM, "out of memory");
	json_array_foreach(peers, i, p) {
		char path[64];
		snprintf(path, sizeof path, "bird.peers[%zu]", i);
		if (parse_peer(p, path, &v->peers[i], e) < 0)
			return -ERR_PROTOCOL;
		v->n_peers++;
	}
	if (sent) {
		/* absent: nothing known to be missing */
		int v4 = 1, v6 = 1;
		if (unpack(sent, "bird.sentinels", JSON_STRICT, e, "{s?b, s?b}", "ipv4", &v4,
			   "ipv6", &v6) < 0)
			return -ERR_PROTOCOL;
		v->no_sentinel_v4 = !v4;
		v->no_sentinel_v6 = !v6;
	}
	return 0;
}

/* reload: {"config_path", "config_loaded_at", "at", "ok", "error",
 * "warning"} (null: an older routectld, or none said). */
static int parse_reload(json_t *r, struct view_status *v, struct err *e)
{
	int ok = 1;
	if (!r || json_is_null(r))
		return 0;
	if (unpack(r, "reload", 0, e, "{s:b, s?s, s?s, s?s, s?s, s?s}", "ok", &ok,
		   "config_path", &v->config_path, "config_loaded_at", &v->config_loaded_at,
		   "at", &v->reload_at, "error", &v->reload_error, "warning",
		   &v->reload_warning) < 0)
		return -ERR_PROTOCOL;
	v->has_reload = true;
	v->reload_ok = ok;
	return 0;
}

/* api.listeners: [{"address", "port", "kind", "transport", "bound", "error"}]. */
static int parse_listeners(json_t *api, struct view_status *v, struct err *e)
{
	json_t *list = NULL, *l;
	size_t i;
	if (!api || json_is_null(api))
		return 0;
	if (want_type(api, "", "api", JSON_OBJECT, e) < 0 ||
	    unpack(api, "api", 0, e, "{s?o}", "listeners", &list) < 0 ||
	    want_type(list, "api", "listeners", JSON_ARRAY, e) < 0)
		return -ERR_PROTOCOL;
	v->listeners = calloc(json_array_size(list) + 1, sizeof *v->listeners);
	if (!v->listeners)
		return err_set(e, ERR_NOMEM, "out of memory");
	json_array_foreach(list, i, l) {
		char p[64];
		int bound;
		json_int_t port;
		struct view_listener *x = &v->listeners[i];
		snprintf(p, sizeof p, "api.listeners[%zu]", i);
		if (unpack(l, p, 0, e, "{s:s, s:I, s:s, s?s, s:b, s?s}", "address", &x->address,
			   "port", &port, "kind", &x->kind, "transport", &x->transport, "bound",
			   &bound, "error", &x->error) < 0 ||
		    want_range(p, "port", port, 1, 65535, e) < 0)
			return -ERR_PROTOCOL;
		x->port = port;
		x->bound = bound;
		v->n_listeners++;
	}
	return 0;
}

int cli_parse_status(json_t *body, struct view_status *v, struct err *e)
{
	json_t *safe = NULL, *bird, *last = NULL, *svcs, *svc, *flight = NULL;
	json_t *peers = NULL, *sent = NULL, *pending = NULL, *pc;
	json_int_t gen, repairs = 0;
	int connected;
	size_t i;

	memset(v, 0, sizeof *v);
	if (!json_is_object(body))
		return err_set(e, ERR_PROTOCOL, "the status should be an object, not %s",
			       json_type_name(body));
	if (unpack(body, "", 0, e, "{s:s, s:I}", "site", &v->site, "generation", &gen) < 0 ||
	    want_range("", "generation", gen, 0, LLONG_MAX, e) < 0 ||
	    unpack(body, "", 0, e, "{s?o, s:o, s?o, s?o, s:o, s?I}", "safe_mode", &safe,
		   "bird", &bird, "last_apply", &last, "in_flight", &flight, "services", &svcs,
		   "repairs", &repairs) < 0 ||
	    want_type(safe, "", "safe_mode", JSON_OBJECT, e) < 0 ||
	    want_type(bird, "", "bird", JSON_OBJECT, e) < 0 ||
	    want_type(last, "", "last_apply", JSON_OBJECT, e) < 0 ||
	    want_type(flight, "", "in_flight", JSON_OBJECT, e) < 0 ||
	    want_type(svcs, "", "services", JSON_ARRAY, e) < 0)
		goto fail;
	v->generation = gen;
	if (flight) {
		v->has_in_flight = true;
		if (unpack(flight, "in_flight", 0, e, "{s:s, s?s, s?s}", "kind", &v->in_flight_kind,
			   "change_id", &v->in_flight_change_id, "since", &v->in_flight_since) < 0)
			goto fail;
	}
	/* an older routectld does not count repairs */
	if (want_range("", "repairs", repairs, 0, LLONG_MAX, e) < 0)
		goto fail;
	v->repairs = repairs;
	v->has_repairs = json_object_get(body, "repairs") != NULL;
	if (safe) {
		json_t *lk = NULL;
		if (unpack(safe, "safe_mode", 0, e, "{s:s, s?o}", "reason", &v->safe_mode_reason,
			   "last_known", &lk) < 0 ||
		    want_type(lk, "safe_mode", "last_known", JSON_OBJECT, e) < 0)
			goto fail;
		if (lk) {
			json_int_t lkgen;
			v->has_last_known = true;
			if (unpack(lk, "safe_mode.last_known", JSON_STRICT, e, "{s:I, s?s}",
				   "generation", &lkgen, "until", &v->last_known_until) < 0 ||
			    want_range("safe_mode.last_known", "generation", lkgen, 0, LLONG_MAX,
				       e) < 0)
				goto fail;
			v->last_known_generation = lkgen;
		}
	}
	if (unpack(bird, "bird", 0, e, "{s:b, s?s, s?s, s?s, s?o, s?s, s?o}",
		   "connected", &connected, "socket", &v->bird_socket, "version", &v->bird_version,
		   "error", &v->bird_error, "peers", &peers,
		   "peers_checked_at", &v->peers_checked_at, "sentinels", &sent) < 0 ||
	    parse_peers(peers, sent, v, e) < 0)
		goto fail;
	v->bird_connected = connected;
	if (parse_reload(json_object_get(body, "reload"), v, e) < 0)
		goto fail;
	if (last) {
		v->has_last_apply = true;
		if (unpack(last, "last_apply", 0, e, "{s:s, s?s, s?s, s?s, s?s, s?F}",
			   "result", &v->last_result, "at", &v->last_at,
			   "change_id", &v->last_change_id, "message", &v->last_message,
			   "trigger", &v->last_trigger, "ms", &v->last_ms) < 0)
			goto fail;
		v->has_last_ms = given(last, "ms");
	}
	v->services = calloc(json_array_size(svcs) + 1, sizeof *v->services);
	if (!v->services) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	json_array_foreach(svcs, i, svc) {
		char p[64];
		snprintf(p, sizeof p, "services[%zu]", i);
		/* counted first so that a failure frees what it allocated */
		v->n_services++;
		if (parse_service(svc, p, &v->services[i], e) < 0)
			goto fail;
	}
	pending = json_object_get(body, "pending_confirms");
	if (pending && !json_is_null(pending)) {
		if (want_type(pending, "", "pending_confirms", JSON_ARRAY, e) < 0)
			goto fail;
		v->pending = calloc(json_array_size(pending) + 1, sizeof *v->pending);
		if (!v->pending) {
			err_set(e, ERR_NOMEM, "out of memory");
			goto fail;
		}
		json_array_foreach(pending, i, pc) {
			char p[64];
			snprintf(p, sizeof p, "pending_confirms[%zu]", i);
			v->n_pending++;
			if (unpack_confirm_wait(pc, p, false, &v->pending[i], e) < 0)
				goto fail;
		}
	}
	if (parse_listeners(json_object_get(body, "api"), v, e) < 0)
		goto fail;
	return 0;
fail:
	view_status_free(v);
	return -(int)(e ? e->code : ERR_PROTOCOL);
}

int cli_parse_change(json_t *body, struct view_change *v, struct err *e)
{
	json_t *items, *it, *apply = NULL;
	int dry_run = 0;
	size_t i;

	memset(v, 0, sizeof *v);
	if (!json_is_object(body))
		return err_set(e, ERR_PROTOCOL, "the answer should be an object, not %s",
			       json_type_name(body));
	if (unpack(body, "", 0, e, "{s:s, s?b, s?s, s:o, s?s, s?o, s?o, s?o, s?s}", "site",
		   &v->site, "dry_run", &dry_run, "change_id", &v->change_id, "changes", &items,
		   "diff", &v->diff, "apply", &apply, "guards", &v->guards, "override",
		   &v->override, "confirm_deadline", &v->confirm_deadline) < 0 ||
	    want_type(items, "", "changes", JSON_ARRAY, e) < 0 ||
	    want_type(apply, "", "apply", JSON_OBJECT, e) < 0)
		goto fail;
	v->dry_run = dry_run;
	if (apply) {
		v->has_apply = true;
		if (unpack(apply, "apply", 0, e, "{s:s, s?s, s?F}", "result", &v->apply_result,
			   "message", &v->apply_message, "ms", &v->apply_ms) < 0)
			goto fail;
		v->has_apply_ms = given(apply, "ms");
	}
	v->items = calloc(json_array_size(items) + 1, sizeof *v->items);
	if (!v->items) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	json_array_foreach(items, i, it) {
		struct view_change_item *c = &v->items[i];
		char p[64], pf[80], pt[80];
		json_t *from = NULL, *to = NULL, *next = NULL;
		snprintf(p, sizeof p, "changes[%zu]", i);
		if (!json_is_object(it)) {
			err_set(e, ERR_PROTOCOL, "%s should be an object, not %s",
				p, json_type_name(it));
			goto fail;
		}
		snprintf(pf, sizeof pf, "%s.from", p);
		snprintf(pt, sizeof pt, "%s.to", p);
		/* adopt says "from": null for a service BIRD exports in no
		 * single state; absent, it is missing. */
		c->from_unknown = json_is_null(json_object_get(it, "from"));
		if (unpack(it, p, 0, e, c->from_unknown ? "{s:s, s?o, s:o, s?o}" : "{s:s, s:o, s:o, s?o}",
			   "service", &c->service, "from", &from, "to", &to, "next", &next) < 0 ||
		    want_type(from, p, "from", JSON_OBJECT, e) < 0 ||
		    want_type(to, p, "to", JSON_OBJECT, e) < 0 ||
		    (!c->from_unknown &&
		     unpack_state(from, pf, &c->from_mode, &c->from_prepend, e) < 0) ||
		    unpack_state(to, pt, &c->to_mode, &c->to_prepend, e) < 0 ||
		    unpack_step(next, p, &c->has_next, &c->next, e) < 0)
			goto fail;
		v->n_items++;
	}
	return 0;
fail:
	view_change_free(v);
	return -(int)(e ? e->code : ERR_PROTOCOL);
}

int cli_parse_confirmed(json_t *body, struct view_confirmed *v, struct err *e)
{
	json_t *items, *it;
	size_t i;
	memset(v, 0, sizeof *v);
	if (unpack(body, "", 0, e, "{s:s, s?s, s:o}", "change_id", &v->change_id, "deadline",
		   &v->deadline, "services", &items) < 0 ||
	    want_type(items, "", "services", JSON_ARRAY, e) < 0)
		goto fail;
	v->items = calloc(json_array_size(items) + 1, sizeof *v->items);
	if (!v->items) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	json_array_foreach(items, i, it) {
		struct view_change_item *c = &v->items[i];
		json_t *state = NULL, *revert = NULL;
		char p[64], ps[80], pr[96];
		snprintf(p, sizeof p, "services[%zu]", i);
		snprintf(ps, sizeof ps, "%s.state", p);
		snprintf(pr, sizeof pr, "%s.revert_to_cancelled", p);
		if (unpack(it, p, 0, e, "{s:s, s:o, s:o}", "service", &c->service, "state", &state,
			   "revert_to_cancelled", &revert) < 0 ||
		    unpack_state(state, ps, &c->to_mode, &c->to_prepend, e) < 0 ||
		    unpack_state(revert, pr, &c->from_mode, &c->from_prepend, e) < 0)
			goto fail;
		v->n_items++;
	}
	return 0;
fail:
	view_confirmed_free(v);
	return -(int)(e ? e->code : ERR_PROTOCOL);
}

/* ---- results ---- */

void cli_result_local_error(struct cli_result *res, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->local_msg, sizeof res->local_msg, fmt, ap);
	va_end(ap);
	res->kind = RESULT_LOCAL_ERROR;
	res->local_code = code;
}

void cli_result_unknown_outcome(const struct cli_request *req, struct cli_result *res,
				const char *change_id, const char *what)
{
	char status_cmd[160];
	if (strcmp(req->socket_path, CLI_DEFAULT_SOCKET) == 0)
		snprintf(status_cmd, sizeof status_cmd, "routectl status");
	else
		snprintf(status_cmd, sizeof status_cmd, "routectl -s %s status", req->socket_path);
	char id[96] = "";
	if (change_id)
		snprintf(id, sizeof id, " (change id %.64s)", change_id);
	cli_result_local_error(res, "outcome-unknown",
			       "outcome unknown: the %s%s may or may not have been applied: %s; "
			       "run `%s` to see the state (each service shows the reason of its "
			       "last change: \"%.200s\")",
			       req->cmd_name, id, what, status_cmd, req->reason ? req->reason : "");
	res->outcome_unknown = true;
}

void cli_result_init(const struct cli_request *req, struct cli_result *res)
{
	memset(res, 0, sizeof *res);
	res->cmd = req->cmd;
	res->cmd_name = req->cmd_name;
}

void cli_result_from_response(const struct cli_request *req, long http_status,
			      const char *body, size_t len, struct cli_result *res)
{
	json_error_t jerr;
	struct err e;

	cli_result_init(req, res);
	res->http_status = http_status;
	err_clear(&e);

	res->body = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!res->body && cli_request_is_change(req) && http_status >= 200 && http_status < 300) {
		char what[300];
		snprintf(what, sizeof what,
			 "routectld at %s answered HTTP %ld with a body that is not JSON "
			 "(line %d: %s)", req->socket_path, http_status, jerr.line, jerr.text);
		cli_result_unknown_outcome(req, res, NULL, what);
		return;
	}
	if (!res->body) {
		/* Show the start of what came, cleaned: it is often a proxy's or
		 * another server's page, which tells the operator what is on the
		 * socket. */
		char head[121];
		size_t n = len < sizeof head - 1 ? len : sizeof head - 1;
		for (size_t i = 0; i < n; i++)
			head[i] = isprint((unsigned char)body[i]) ? body[i] : ' ';
		head[n] = '\0';
		cli_result_local_error(res, "protocol",
			    "routectld answered HTTP %ld with a body that is not JSON "
			    "(line %d: %s)%s%s%s",
			    http_status, jerr.line, jerr.text,
			    n ? ": \"" : "", head, n ? (len > n ? "...\"" : "\"") : "");
		return;
	}

	if (http_status >= 200 && http_status < 300) {
		int rc;
		if (req->cmd == CMD_STATUS) {
			res->kind = RESULT_STATUS;
			rc = cli_parse_status(res->body, &res->status, &e);
		} else if (req->cmd == CMD_HISTORY) {
			res->kind = RESULT_HISTORY;
			rc = cli_parse_history(res->body, &res->history, &e);
		} else if (req->cmd == CMD_CONFIRM) {
			res->kind = RESULT_CONFIRMED;
			rc = cli_parse_confirmed(res->body, &res->confirmed, &e);
		} else {
			res->kind = RESULT_CHANGE;
			rc = cli_parse_change(res->body, &res->change, &e);
		}
		if (rc < 0 && cli_request_is_change(req)) {
			/* It said yes, but not in a way that tells what it did. */
			char what[600];
			json_t *id = json_object_get(res->body, "change_id");
			snprintf(what, sizeof what,
				 "routectld at %s answered HTTP %ld but its answer does not have "
				 "the expected shape (%s)", req->socket_path, http_status, e.msg);
			cli_result_unknown_outcome(req, res, json_is_string(id) ? json_string_value(id) : NULL,
					what);
		} else if (rc < 0) {
			cli_result_local_error(res, "protocol",
				    "routectld's answer to %s does not have the expected shape: %s",
				    req->cmd_name, e.msg);
		}
		return;
	}

	json_t *err_obj = NULL;
	const char *code = NULL, *msg = NULL;
	if (!json_is_object(res->body) ||
	    unpack(res->body, "", 0, &e, "{s:o}", "error", &err_obj) < 0 ||
	    want_type(err_obj, "", "error", JSON_OBJECT, &e) < 0 ||
	    unpack(err_obj, "error", 0, &e, "{s?s, s:s}", "code", &code, "message", &msg) < 0) {
		cli_result_local_error(res, "protocol",
			    "routectld answered HTTP %ld without a usable error document: %s",
			    http_status, json_is_object(res->body) ? e.msg : "the body is not an object");
		return;
	}
	res->kind = RESULT_API_ERROR;
	res->error_code = code ? code : "unknown";
	res->error_message = msg;
	res->error_outcome = json_string_value(json_object_get(err_obj, "outcome"));
}

void cli_result_free(struct cli_result *res)
{
	view_status_free(&res->status);
	view_change_free(&res->change);
	view_history_free(&res->history);
	view_confirmed_free(&res->confirmed);
	json_decref(res->body);
	res->body = NULL;
}

enum cli_exit cli_result_exit(const struct cli_result *res)
{
	if (res->outcome_unknown)
		return CLI_EXIT_UNKNOWN;
	switch (res->kind) {
	case RESULT_STATUS:
	case RESULT_HISTORY:
	case RESULT_CONFIRMED:
		return CLI_EXIT_OK;
	case RESULT_CHANGE:
		if (res->change.has_apply && strcmp(res->change.apply_result, "ok") != 0)
			return CLI_EXIT_FAILED;
		return CLI_EXIT_OK;
	default:
		return CLI_EXIT_FAILED;
	}
}
