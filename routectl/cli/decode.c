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

/* "path.key", or "key" at the top. */
static void join_path(char *out, size_t size, const char *path, const char *key)
{
	if (path[0])
		snprintf(out, size, "%s.%s", path, key);
	else
		snprintf(out, size, "%s", key);
}

/* Looks up key; absent and null are the same (NULL), which is an error only
 * when the field is required. */
static int field(json_t *o, const char *path, const char *key, bool required,
		 json_t **out, struct err *e)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v)) {
		*out = NULL;
		if (required) {
			char p[256];
			join_path(p, sizeof p, path, key);
			return err_set(e, ERR_PROTOCOL, "%s is missing", p);
		}
		return 0;
	}
	*out = v;
	return 0;
}

static int wrong_type(const char *path, const char *key, const char *want,
		      json_t *v, struct err *e)
{
	char p[256];
	join_path(p, sizeof p, path, key);
	return err_set(e, ERR_PROTOCOL, "%s should be %s, not %s", p, want, json_type_name(v));
}

static int get_str(json_t *o, const char *path, const char *key, bool required,
		   const char **out, struct err *e)
{
	json_t *v;
	*out = NULL;
	if (field(o, path, key, required, &v, e) < 0)
		return -ERR_PROTOCOL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return wrong_type(path, key, "a string", v, e);
	*out = json_string_value(v);
	return 0;
}

static int get_bool(json_t *o, const char *path, const char *key, bool required,
		    bool *out, struct err *e)
{
	json_t *v;
	*out = false;
	if (field(o, path, key, required, &v, e) < 0)
		return -ERR_PROTOCOL;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return wrong_type(path, key, "true or false", v, e);
	*out = json_is_true(v);
	return 0;
}

static int get_int(json_t *o, const char *path, const char *key, bool required,
		   long long min, long long max, long long *out, struct err *e)
{
	json_t *v;
	*out = 0;
	if (field(o, path, key, required, &v, e) < 0)
		return -ERR_PROTOCOL;
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return wrong_type(path, key, "an integer", v, e);
	long long n = json_integer_value(v);
	if (n < min || n > max) {
		char p[256];
		join_path(p, sizeof p, path, key);
		return err_set(e, ERR_PROTOCOL, "%s is %lld, outside %lld..%lld", p, n, min, max);
	}
	*out = n;
	return 0;
}

static int get_num(json_t *o, const char *path, const char *key, bool *has,
		   double *out, struct err *e)
{
	json_t *v;
	*has = false;
	*out = 0;
	if (field(o, path, key, false, &v, e) < 0)
		return -ERR_PROTOCOL;
	if (!v)
		return 0;
	if (!json_is_number(v))
		return wrong_type(path, key, "a number", v, e);
	*out = json_number_value(v);
	*has = true;
	return 0;
}

/* An object member that may be null; a present one must be an object. */
static int get_obj(json_t *o, const char *path, const char *key, bool required,
		   json_t **out, struct err *e)
{
	if (field(o, path, key, required, out, e) < 0)
		return -ERR_PROTOCOL;
	if (*out && !json_is_object(*out))
		return wrong_type(path, key, "an object", *out, e);
	return 0;
}

static int get_arr(json_t *o, const char *path, const char *key, bool required,
		   json_t **out, struct err *e)
{
	if (field(o, path, key, required, out, e) < 0)
		return -ERR_PROTOCOL;
	if (*out && !json_is_array(*out))
		return wrong_type(path, key, "an array", *out, e);
	return 0;
}

/* {"state": "prepend", "prepend": 3}: prepend is 1..10 with state prepend. */
static int get_state(json_t *o, const char *path, enum svc_mode *mode,
		     unsigned *prepend, struct err *e)
{
	const char *s;
	long long n;
	if (get_str(o, path, "state", true, &s, e) < 0)
		return -ERR_PROTOCOL;
	if (svc_mode_parse(s, mode) < 0) {
		char p[256];
		join_path(p, sizeof p, path, "state");
		return err_set(e, ERR_PROTOCOL, "%s: unknown state \"%s\"", p, s);
	}
	if (get_int(o, path, "prepend", false, 0, PREPEND_MAX, &n, e) < 0)
		return -ERR_PROTOCOL;
	if (*mode == MODE_PREPEND && n < PREPEND_MIN) {
		char p[256];
		join_path(p, sizeof p, path, "prepend");
		return err_set(e, ERR_PROTOCOL, "%s is %lld, but state prepend needs %d..%d",
			       p, n, PREPEND_MIN, PREPEND_MAX);
	}
	*prepend = *mode == MODE_PREPEND ? (unsigned)n : 0;
	return 0;
}

static int get_step(json_t *o, const char *path, bool *has, struct view_step *step,
		    struct err *e)
{
	json_t *n;
	char p[256];
	*has = false;
	if (get_obj(o, path, "next", false, &n, e) < 0)
		return -ERR_PROTOCOL;
	if (!n)
		return 0;
	join_path(p, sizeof p, path, "next");
	if (get_state(n, p, &step->mode, &step->prepend, e) < 0 ||
	    get_str(n, p, "at", true, &step->at, e) < 0)
		return -ERR_PROTOCOL;
	*has = true;
	return 0;
}

static int add_prefixes(json_t *svc, const char *path, const char *key,
			struct view_service *s, struct err *e)
{
	json_t *arr, *v;
	size_t i;
	if (get_arr(svc, path, key, false, &arr, e) < 0)
		return -ERR_PROTOCOL;
	if (!arr)
		return 0;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v)) {
			char p[256];
			snprintf(p, sizeof p, "%s.%s[%zu]", path, key, i);
			return err_set(e, ERR_PROTOCOL, "%s should be a string, not %s",
				       p, json_type_name(v));
		}
		s->prefixes[s->n_listed++] = json_string_value(v);
	}
	return 0;
}

static int parse_service(json_t *svc, const char *path, struct view_service *s,
			 struct err *e)
{
	json_t *v4, *v6, *count;
	const char *state;
	if (!json_is_object(svc))
		return err_set(e, ERR_PROTOCOL, "%s should be an object, not %s",
			       path, json_type_name(svc));
	if (get_str(svc, path, "name", true, &s->name, e) < 0 ||
	    get_arr(svc, path, "ipv4", false, &v4, e) < 0 ||
	    get_arr(svc, path, "ipv6", false, &v6, e) < 0 ||
	    get_obj(svc, path, "prefix_count", false, &count, e) < 0)
		return -ERR_PROTOCOL;
	size_t n = (v4 ? json_array_size(v4) : 0) + (v6 ? json_array_size(v6) : 0);
	s->prefixes = calloc(n + 1, sizeof *s->prefixes);
	if (!s->prefixes)
		return err_set(e, ERR_NOMEM, "out of memory");
	if (add_prefixes(svc, path, "ipv4", s, e) < 0 ||
	    add_prefixes(svc, path, "ipv6", s, e) < 0 ||
	    get_str(svc, path, "state", true, &state, e) < 0)
		return -ERR_PROTOCOL;
	/* A large service comes with its counts only ("prefix_count"); a
	 * listed one may have them too, and they must agree. */
	s->n_prefixes = s->n_listed;
	if (count) {
		char p[256];
		long long n4, n6;
		join_path(p, sizeof p, path, "prefix_count");
		if (get_int(count, p, "ipv4", true, 0, 100000000, &n4, e) < 0 ||
		    get_int(count, p, "ipv6", true, 0, 100000000, &n6, e) < 0)
			return -ERR_PROTOCOL;
		if ((v4 || v6) && (size_t)(n4 + n6) != s->n_listed)
			return err_set(e, ERR_PROTOCOL,
				       "%s says %lld prefixes, but %zu are listed", p, n4 + n6,
				       s->n_listed);
		s->n_prefixes = (size_t)(n4 + n6);
	}
	/* A service the daemon has no state for (safe mode: the state file did
	 * not load) is "unknown"; status must still show it. */
	s->known = strcmp(state, "unknown") != 0;
	if ((s->known && get_state(svc, path, &s->mode, &s->prepend, e) < 0) ||
	    get_str(svc, path, "since", false, &s->since, e) < 0 ||
	    get_str(svc, path, "actor", false, &s->actor, e) < 0 ||
	    get_str(svc, path, "reason", false, &s->reason, e) < 0 ||
	    get_str(svc, path, "change_id", false, &s->change_id, e) < 0 ||
	    get_step(svc, path, &s->has_next, &s->next, e) < 0)
		return -ERR_PROTOCOL;
	/* Safe mode after a loss: the state held before it, shown as such. */
	json_t *lk;
	if (get_obj(svc, path, "last_known", false, &lk, e) < 0)
		return -ERR_PROTOCOL;
	if (lk && !s->known) {
		char p[256];
		join_path(p, sizeof p, path, "last_known");
		s->last_known = true;
		if (get_state(lk, p, &s->mode, &s->prepend, e) < 0 ||
		    get_str(lk, p, "since", false, &s->since, e) < 0 ||
		    get_str(lk, p, "actor", false, &s->actor, e) < 0 ||
		    get_str(lk, p, "reason", false, &s->reason, e) < 0 ||
		    get_str(lk, p, "change_id", false, &s->change_id, e) < 0)
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
	json_t *svcs, *x;
	size_t k;
	if (!json_is_object(o))
		return err_set(e, ERR_PROTOCOL, "%s should be an object, not %s", path,
			       json_type_name(o));
	if (get_str(o, path, "time", true, &r->time, e) < 0 ||
	    get_str(o, path, "action", true, &r->action, e) < 0 ||
	    get_str(o, path, "result", true, &r->result, e) < 0 ||
	    get_str(o, path, "actor", false, &r->actor, e) < 0 ||
	    get_str(o, path, "on_behalf_of", false, &r->on_behalf_of, e) < 0 ||
	    get_str(o, path, "site", false, &r->site, e) < 0 ||
	    get_str(o, path, "change_id", false, &r->change_id, e) < 0 ||
	    get_str(o, path, "reason", false, &r->reason, e) < 0 ||
	    get_bool(o, path, "dry_run", false, &r->dry_run, e) < 0 ||
	    get_arr(o, path, "services", false, &svcs, e) < 0)
		return -ERR_PROTOCOL;
	r->services = calloc(json_array_size(svcs) + 1, sizeof *r->services);
	if (!r->services)
		return err_set(e, ERR_NOMEM, "out of memory");
	json_array_foreach(svcs, k, x) {
		if (!json_is_string(x))
			return err_set(e, ERR_PROTOCOL, "%s.services[%zu] should be a string, not %s",
				       path, k, json_type_name(x));
		r->services[r->n_services++] = json_string_value(x);
	}
	return 0;
}

int cli_parse_history(json_t *body, struct view_history *v, struct err *e)
{
	json_t *recs, *rec;
	size_t i;

	memset(v, 0, sizeof *v);
	if (!json_is_object(body))
		return err_set(e, ERR_PROTOCOL, "the history should be an object, not %s",
			       json_type_name(body));
	if (get_arr(body, "", "history", true, &recs, e) < 0 ||
	    get_int(body, "", "skipped", false, 0, LLONG_MAX, &v->skipped, e) < 0)
		goto fail;
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
	json_t *fams, *probs, *x;
	size_t k;
	if (!json_is_object(o))
		return err_set(e, ERR_PROTOCOL, "%s should be an object, not %s", path,
			       json_type_name(o));
	if (get_str(o, path, "name", true, &p->name, e) < 0 ||
	    get_bool(o, path, "listed", false, &p->listed, e) < 0 ||
	    get_bool(o, path, "up", false, &p->up, e) < 0 ||
	    get_arr(o, path, "families", false, &fams, e) < 0 ||
	    get_arr(o, path, "problems", false, &probs, e) < 0 ||
	    get_str(o, path, "message", false, &p->message, e) < 0)
		return -ERR_PROTOCOL;
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
static int parse_peers(json_t *bird, struct view_status *v, struct err *e)
{
	json_t *peers, *sent, *p;
	size_t i;
	if (get_arr(bird, "bird", "peers", false, &peers, e) < 0 ||
	    get_str(bird, "bird", "peers_checked_at", false, &v->peers_checked_at, e) < 0 ||
	    get_obj(bird, "bird", "sentinels", false, &sent, e) < 0)
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
		bool v4 = true, v6 = true;
		if (get_bool(sent, "bird.sentinels", "ipv4", false, &v4, e) < 0 ||
		    get_bool(sent, "bird.sentinels", "ipv6", false, &v6, e) < 0)
			return -ERR_PROTOCOL;
		/* absent: nothing known to be missing */
		v->no_sentinel_v4 = json_object_get(sent, "ipv4") && !v4;
		v->no_sentinel_v6 = json_object_get(sent, "ipv6") && !v6;
	}
	return 0;
}

int cli_parse_status(json_t *body, struct view_status *v, struct err *e)
{
	json_t *safe, *bird, *last, *svcs, *svc, *flight;
	long long gen;
	size_t i;

	memset(v, 0, sizeof *v);
	if (!json_is_object(body))
		return err_set(e, ERR_PROTOCOL, "the status should be an object, not %s",
			       json_type_name(body));
	if (get_str(body, "", "site", true, &v->site, e) < 0 ||
	    get_int(body, "", "generation", true, 0, LLONG_MAX, &gen, e) < 0 ||
	    get_obj(body, "", "safe_mode", false, &safe, e) < 0 ||
	    get_obj(body, "", "bird", true, &bird, e) < 0 ||
	    get_obj(body, "", "last_apply", false, &last, e) < 0 ||
	    get_obj(body, "", "in_flight", false, &flight, e) < 0 ||
	    get_arr(body, "", "services", true, &svcs, e) < 0)
		goto fail;
	v->generation = gen;
	if (flight) {
		v->has_in_flight = true;
		if (get_str(flight, "in_flight", "kind", true, &v->in_flight_kind, e) < 0 ||
		    get_str(flight, "in_flight", "change_id", false, &v->in_flight_change_id, e) < 0 ||
		    get_str(flight, "in_flight", "since", false, &v->in_flight_since, e) < 0)
			goto fail;
	}
	if (get_int(body, "", "repairs", false, 0, LLONG_MAX, &v->repairs, e) < 0)
		goto fail;
	v->has_repairs = json_object_get(body, "repairs") != NULL;
	if (safe) {
		json_t *lk;
		if (get_str(safe, "safe_mode", "reason", true, &v->safe_mode_reason, e) < 0 ||
		    get_obj(safe, "safe_mode", "last_known", false, &lk, e) < 0)
			goto fail;
		if (lk) {
			v->has_last_known = true;
			if (get_int(lk, "safe_mode.last_known", "generation", true, 0, LLONG_MAX,
				    &v->last_known_generation, e) < 0 ||
			    get_str(lk, "safe_mode.last_known", "until", false,
				    &v->last_known_until, e) < 0)
				goto fail;
		}
	}
	if (get_bool(bird, "bird", "connected", true, &v->bird_connected, e) < 0 ||
	    get_str(bird, "bird", "socket", false, &v->bird_socket, e) < 0 ||
	    get_str(bird, "bird", "version", false, &v->bird_version, e) < 0 ||
	    get_str(bird, "bird", "error", false, &v->bird_error, e) < 0 ||
	    parse_peers(bird, v, e) < 0)
		goto fail;
	if (last) {
		v->has_last_apply = true;
		if (get_str(last, "last_apply", "result", true, &v->last_result, e) < 0 ||
		    get_str(last, "last_apply", "at", false, &v->last_at, e) < 0 ||
		    get_str(last, "last_apply", "change_id", false, &v->last_change_id, e) < 0 ||
		    get_str(last, "last_apply", "message", false, &v->last_message, e) < 0 ||
		    get_str(last, "last_apply", "trigger", false, &v->last_trigger, e) < 0 ||
		    get_num(last, "last_apply", "ms", &v->has_last_ms, &v->last_ms, e) < 0)
			goto fail;
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
	return 0;
fail:
	view_status_free(v);
	return -(int)(e ? e->code : ERR_PROTOCOL);
}

int cli_parse_change(json_t *body, struct view_change *v, struct err *e)
{
	json_t *items, *it, *apply;
	size_t i;

	memset(v, 0, sizeof *v);
	if (!json_is_object(body))
		return err_set(e, ERR_PROTOCOL, "the answer should be an object, not %s",
			       json_type_name(body));
	if (get_str(body, "", "site", true, &v->site, e) < 0 ||
	    get_bool(body, "", "dry_run", false, &v->dry_run, e) < 0 ||
	    get_str(body, "", "change_id", false, &v->change_id, e) < 0 ||
	    get_arr(body, "", "changes", true, &items, e) < 0 ||
	    get_str(body, "", "diff", false, &v->diff, e) < 0 ||
	    get_obj(body, "", "apply", false, &apply, e) < 0)
		goto fail;
	if (apply) {
		v->has_apply = true;
		if (get_str(apply, "apply", "result", true, &v->apply_result, e) < 0 ||
		    get_str(apply, "apply", "message", false, &v->apply_message, e) < 0 ||
		    get_num(apply, "apply", "ms", &v->has_apply_ms, &v->apply_ms, e) < 0)
			goto fail;
	}
	v->items = calloc(json_array_size(items) + 1, sizeof *v->items);
	if (!v->items) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	json_array_foreach(items, i, it) {
		struct view_change_item *c = &v->items[i];
		char p[64], pf[80], pt[80];
		json_t *from = NULL, *to = NULL;
		snprintf(p, sizeof p, "changes[%zu]", i);
		if (!json_is_object(it)) {
			err_set(e, ERR_PROTOCOL, "%s should be an object, not %s",
				p, json_type_name(it));
			goto fail;
		}
		snprintf(pf, sizeof pf, "%s.from", p);
		snprintf(pt, sizeof pt, "%s.to", p);
		/* adopt says "from": null for a service BIRD exports in no
		 * single state. */
		c->from_unknown = json_is_null(json_object_get(it, "from"));
		if (get_str(it, p, "service", true, &c->service, e) < 0 ||
		    (!c->from_unknown && get_obj(it, p, "from", true, &from, e) < 0) ||
		    get_obj(it, p, "to", true, &to, e) < 0 ||
		    (!c->from_unknown &&
		     get_state(from, pf, &c->from_mode, &c->from_prepend, e) < 0) ||
		    get_state(to, pt, &c->to_mode, &c->to_prepend, e) < 0 ||
		    get_step(it, p, &c->has_next, &c->next, e) < 0)
			goto fail;
		v->n_items++;
	}
	return 0;
fail:
	view_change_free(v);
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

	json_t *err_obj;
	const char *code = NULL, *msg = NULL;
	if (!json_is_object(res->body) ||
	    get_obj(res->body, "", "error", true, &err_obj, &e) < 0 ||
	    get_str(err_obj, "error", "code", false, &code, &e) < 0 ||
	    get_str(err_obj, "error", "message", true, &msg, &e) < 0) {
		cli_result_local_error(res, "protocol",
			    "routectld answered HTTP %ld without a usable error document: %s",
			    http_status, json_is_object(res->body) ? e.msg : "the body is not an object");
		return;
	}
	res->kind = RESULT_API_ERROR;
	res->error_code = code ? code : "unknown";
	res->error_message = msg;
}

void cli_result_free(struct cli_result *res)
{
	view_status_free(&res->status);
	view_change_free(&res->change);
	view_history_free(&res->history);
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
		return CLI_EXIT_OK;
	case RESULT_CHANGE:
		if (res->change.has_apply && strcmp(res->change.apply_result, "ok") != 0)
			return CLI_EXIT_FAILED;
		return CLI_EXIT_OK;
	default:
		return CLI_EXIT_FAILED;
	}
}
