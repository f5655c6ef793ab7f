/* The command layer: parses requests, answers reads from the backend's
 * view, hands changes to the backend and formats their results. */
#include "api/commands.h"

#include "api/audit.h"
#include "api/auth.h"
#include "api/http.h"
#include "api/idempotency.h"
#include "api/metrics.h"
#include "common/err.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "site/emergency.h"
#include "store/store.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A reason is one line of text for people: bounded, no control characters. */
#define REASON_MAX 1024u

static int status_of(enum err_code code)
{
	switch (code) {
	case ERR_INVALID: return 400;
	case ERR_NOTFOUND: return 404;
	case ERR_REFUSED: return 409;
	case ERR_POLICY: return 422;
	case ERR_UNAVAILABLE: return 503;
	case ERR_BIRD:
	case ERR_VERIFY:
	case ERR_PROTOCOL: return 502;
	case ERR_CONNECT:
	case ERR_BUSY:
	case ERR_TIMEOUT: return 503;
	default: return 500;
	}
}

static char *dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s ? s : strdup("{}");
}

/* {"error": {"code", "message"}}: code is err_code_name(), or the
 * transport's words for statuses that are not an err_code ("unauthorized",
 * "forbidden", "rate-limited", ...). */
static char *error_body(const char *code, const char *msg)
{
	return dump(json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

static json_t *time_json(time_t t)
{
	char s[32];
	time_format_utc(t, s, sizeof s);
	return json_string(s);
}

static json_t *mode_json(enum svc_mode mode, unsigned prepend)
{
	return json_pack("{s:s,s:i}", "state", svc_mode_name(mode), "prepend", (int)prepend);
}

/* What the last precheck found about BIRD's BGP protocols: one object per
 * listed protocol and per unlisted one that exports routectl's routes. */
static json_t *peers_json(const struct apply_peers *peers)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ PEER_MISSING, "missing" },     { PEER_NOT_BGP, "not-bgp" },
		{ PEER_LOCAL_AS, "local-as" },   { PEER_IGNORES, "ignores-routectl-export" },
		{ PEER_ALTERS, "alters-routectl-export" }, { PEER_UNLISTED, "unlisted-exporter" },
	};
	json_t *arr = json_array();
	for (size_t i = 0; i < peers->n; i++) {
		const struct apply_peer *p = &peers->v[i];
		json_t *fam = json_array(), *probs = json_array();
		if (p->has_v4)
			json_array_append_new(fam, json_string("ipv4"));
		if (p->has_v6)
			json_array_append_new(fam, json_string("ipv6"));
		for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
			if (p->problems & names[k].bit)
				json_array_append_new(probs, json_string(names[k].name));
		json_array_append_new(arr, json_pack("{s:s,s:b,s:b,s:o,s:o,s:o}", "name", p->name,
						     "listed", p->listed, "up", p->up,
						     "families", fam, "problems", probs,
						     "message", p->text[0] ? json_string(p->text)
									   : json_null()));
	}
	return arr;
}

static json_t *prefix_list(const struct command_service *cs, size_t from, size_t n)
{
	json_t *a = json_array();
	for (size_t k = 0; k < n; k++)
		json_array_append_new(a, json_string(cs->listed[from + k]));
	return a;
}

/* One service's state and provenance into o. */
static void svc_json(json_t *o, const struct svc_state *s)
{
	json_object_update_new(o, mode_json(s->mode, s->prepend));
	json_object_set_new(o, "since", time_json(s->since));
	json_object_set_new(o, "actor", json_string(s->actor));
	json_object_set_new(o, "reason", json_string(s->reason));
	json_object_set_new(o, "change_id", json_string(s->change_id));
	time_t now = time(NULL);
	json_t *next = json_null();
	if (s->has_next) {
		next = mode_json(s->next_mode, s->next_prepend);
		json_object_set_new(next, "at", time_json(s->next_at));
		/* the time to the next stage, so that nobody computes it from a
		 * clock that may differ from the router's */
		json_object_set_new(next, "in_s",
				    json_integer(s->next_at > now ? (json_int_t)(s->next_at - now) : 0));
	}
	json_object_set_new(o, "next", next);
	json_t *confirm = json_null();
	if (s->has_confirm)
		confirm = json_pack("{s:s,s:o,s:I,s:o}", "change_id", s->confirm_change_id,
				    "deadline", time_json(s->confirm_deadline), "in_s",
				    (json_int_t)(s->confirm_deadline > now ? s->confirm_deadline - now
									    : 0),
				    "revert_to", mode_json(s->revert_mode, s->revert_prepend));
	json_object_set_new(o, "confirm", confirm);
}

/* Every change that waits for its confirmation: id, deadline and the
 * services that go back (and to what) unless it comes. */
static json_t *pending_confirms_json(const struct state *st)
{
	json_t *list = json_array();
	time_t now = time(NULL);
	for (size_t i = 0; st && i < st->n; i++) {
		const struct svc_state *s = &st->svcs[i];
		if (!s->has_confirm)
			continue;
		json_t *entry = NULL, *e;
		size_t k;
		json_array_foreach(list, k, e)
			if (strcmp(json_string_value(json_object_get(e, "change_id")),
				   s->confirm_change_id) == 0)
				entry = e;
		if (!entry) {
			entry = json_pack("{s:s,s:o,s:I,s:[]}", "change_id", s->confirm_change_id,
					  "deadline", time_json(s->confirm_deadline), "in_s",
					  (json_int_t)(s->confirm_deadline > now
							       ? s->confirm_deadline - now : 0),
					  "services");
			json_array_append_new(list, entry);
		}
		json_array_append_new(json_object_get(entry, "services"),
				      json_pack("{s:s,s:o}", "service", s->name, "revert_to",
						mode_json(s->revert_mode, s->revert_prepend)));
	}
	return list;
}

static json_t *service_json(const struct command_view *v, const struct command_service *cs)
{
	json_t *o = json_pack("{s:s,s:{s:I,s:I}}", "name", cs->name, "prefix_count", "ipv4",
			      (json_int_t)cs->n_ipv4, "ipv6", (json_int_t)cs->n_ipv6);
	if (cs->listed) {
		json_object_set_new(o, "ipv4", prefix_list(cs, 0, cs->n_ipv4));
		json_object_set_new(o, "ipv6", prefix_list(cs, cs->n_ipv4, cs->n_ipv6));
	}
	const struct svc_state *s =
		v->state ? state_find((struct state *)v->state, cs->name) : NULL;
	if (s) {
		svc_json(o, s);
	} else {
		json_object_set_new(o, "state", json_string("unknown"));
		json_object_set_new(o, "prepend", json_integer(0));
		json_object_set_new(o, "next", json_null());
		json_object_set_new(o, "confirm", json_null());
	}
	/* In safe mode after a loss: what routectld held until then, apart
	 * from "state" so that nobody reads it as the desired state. */
	const struct svc_state *lk =
		v->last_known ? state_find((struct state *)v->last_known, cs->name) : NULL;
	if (lk) {
		json_t *k = json_object();
		svc_json(k, lk);
		json_object_set_new(o, "last_known", k);
	}
	return o;
}

static json_t *status_json(const struct command_view *v)
{
	json_t *root = json_object();
	json_object_set_new(root, "site", json_string(v->site));
	json_object_set_new(root, "generation",
			    json_integer(v->state ? (json_int_t)v->state->generation : 0));
	json_t *safe = json_null();
	if (v->safe_mode[0]) {
		safe = json_pack("{s:s,s:s}", "reason", v->safe_mode, "kind",
				 /* a reason without a kind is the stricter one */
				 safe_kind_name(v->safe_kind == SAFE_STATE_LOST
							? SAFE_STATE_LOST
							: SAFE_STATE_UNUSABLE));
		json_object_set_new(safe, "last_known",
				    v->last_known
					    ? json_pack("{s:I,s:o}", "generation",
							(json_int_t)v->last_known->generation,
							"until", time_json(v->last_known_at))
					    : json_null());
	}
	json_object_set_new(root, "safe_mode", safe);
	int up = v->bird_connected;
	json_object_set_new(root, "bird",
			    json_pack("{s:b,s:s,s:o,s:o}", "connected", up, "socket",
				      v->bird_socket, "version",
				      up && v->bird_version ? json_string(v->bird_version)
							    : json_null(),
				      "error",
				      !up && v->bird_error[0] ? json_string(v->bird_error)
							      : json_null()));
	json_t *bird = json_object_get(root, "bird");
	json_object_set_new(bird, "peers", v->peers ? peers_json(v->peers) : json_null());
	json_object_set_new(bird, "peers_checked_at",
			    v->peers ? time_json(v->peers_at) : json_null());
	/* Without the sentinel routes in BIRD (an include from an older
	 * template), peer filters that ignore routectl cannot be found. */
	json_object_set_new(bird, "sentinels",
			    v->peers ? json_pack("{s:b,s:b}", "ipv4", !v->peers->no_sentinel_v4,
						 "ipv6", !v->peers->no_sentinel_v6)
				     : json_null());
	const struct last_apply *l = v->last;
	if (l->have)
		json_object_set_new(root, "last_apply",
				    json_pack("{s:s,s:o,s:s,s:s,s:s,s:I}", "result",
					      l->ok ? "ok" : "failed", "at", time_json(l->at),
					      "trigger", l->trigger, "change_id", l->change_id,
					      "message", l->message, "ms", (json_int_t)l->ms));
	else
		json_object_set_new(root, "last_apply", json_null());
	/* A read answered while a change is applied says so: the states below
	 * are the desired state before that change. */
	if (v->in_flight)
		json_object_set_new(root, "in_flight",
				    json_pack("{s:s,s:s,s:o}", "change_id", v->in_flight_change_id,
					      "kind", v->in_flight_kind, "since",
					      time_json(v->in_flight_since)));
	else
		json_object_set_new(root, "in_flight", json_null());
	json_object_set_new(root, "repairs", json_integer((json_int_t)v->repairs));
	json_object_set_new(root, "pending_confirms", pending_confirms_json(v->state));

	json_t *svcs = json_array();
	for (size_t i = 0; i < v->n_services; i++)
		json_array_append_new(svcs, service_json(v, &v->services[i]));
	json_object_set_new(root, "services", svcs);
	return root;
}

/* A reason is one line of text for people: bounded, no control characters. */
static int check_reason(const char *reason, struct err *e)
{
	if (!reason)
		return err_set(e, ERR_INVALID,
			       "field 'reason' is required: say why (it is kept with the state)");
	size_t reason_len = strlen(reason);
	if (reason_len > REASON_MAX)
		return err_set(e, ERR_INVALID, "field 'reason' is %zu bytes long; at most %u",
			       reason_len, REASON_MAX);
	for (const unsigned char *c = (const unsigned char *)reason; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return err_set(e, ERR_INVALID,
				       "field 'reason' has a control character (0x%02x) at byte "
				       "%zu; write it on one line", *c,
				       (size_t)(c - (const unsigned char *)reason));
	return 0;
}

/* One member a request body may have, and the JSON type it must be. */
struct body_field {
	const char *name;
	json_type type;       /* JSON_TRUE stands for either boolean */
	const char *must_be;  /* the message's end: "must be a string" */
};

/* Parses body as a JSON object (duplicate keys refused) whose members are
 * all among fields, each of its type; names the first one that is not. */
static int load_body(const char *body, size_t len, const struct body_field *fields,
		     size_t n_fields, json_t **root, struct err *e)
{
	json_error_t je;
	*root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
	if (!*root)
		return err_set(e, ERR_INVALID, "request body is not JSON: %s (line %d, column %d)",
			       je.text, je.line, je.column);
	if (!json_is_object(*root))
		return err_set(e, ERR_INVALID, "request body must be a JSON object");
	const char *key;
	json_t *v;
	json_object_foreach(*root, key, v) {
		const struct body_field *f = NULL;
		for (size_t i = 0; i < n_fields && !f; i++)
			if (strcmp(key, fields[i].name) == 0)
				f = &fields[i];
		if (!f)
			return err_set(e, ERR_INVALID, "unknown field '%s'", key);
		int ok = f->type == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == f->type;
		if (!ok)
			return err_set(e, ERR_INVALID, "field '%s' %s", key, f->must_be);
	}
	return 0;
}

/* The members every write has: "site" (required) and "reason" (required,
 * check_reason). The strings point into root. */
static int read_site_and_reason(json_t *root, const char **site, const char **reason,
				struct err *e)
{
	*site = json_string_value(json_object_get(root, "site"));
	*reason = json_string_value(json_object_get(root, "reason"));
	if (!*site)
		return err_set(e, ERR_INVALID, "field 'site' is required");
	return check_reason(*reason, e);
}

#define FIELD_STRING(n) { n, JSON_STRING, "must be a string" }
#define FIELD_BOOL(n) { n, JSON_TRUE, "must be true or false" }

/* Reads the fields a change takes; names the first field that is wrong. */
static int parse_change(const char *body, size_t len, enum change_kind kind,
			const char *path_service, struct change_request *req,
			const char **one_service, json_t **root, struct err *e)
{
	memset(req, 0, sizeof *req);
	req->kind = kind;
#define CHANGE_FIELDS FIELD_STRING("site"), FIELD_STRING("reason"), FIELD_BOOL("now"), \
		      FIELD_BOOL("dry_run"), FIELD_BOOL("force"),                            \
		      { "confirm_within", JSON_INTEGER, "must be an integer (seconds)" },      \
		      FIELD_STRING("change_id")
	static const struct body_field set_fields[] = {
		CHANGE_FIELDS, FIELD_STRING("service"), FIELD_STRING("state"),
		{ "prepend", JSON_INTEGER, "must be an integer" },
	};
	static const struct body_field put_fields[] = {    /* PUT /v1/services/{service} */
		CHANGE_FIELDS, FIELD_STRING("state"),
		{ "prepend", JSON_INTEGER, "must be an integer" },
	};
	static const struct body_field site_fields[] = {   /* drain, undrain */
		CHANGE_FIELDS, { "services", JSON_ARRAY, "must be an array of names" },
	};
#undef CHANGE_FIELDS
	int set = kind == CHANGE_SET;
	const struct body_field *fields = path_service ? put_fields : set ? set_fields : site_fields;
	size_t n_fields = path_service ? sizeof put_fields / sizeof put_fields[0]
			  : set	       ? sizeof set_fields / sizeof set_fields[0]
				       : sizeof site_fields / sizeof site_fields[0];
	int rc = load_body(body, len, fields, n_fields, root, e);
	if (rc < 0)
		return rc;
	/* The site of a PUT on a service is this routectld's unless named. */
	if (path_service && !json_object_get(*root, "site")) {
		req->reason = json_string_value(json_object_get(*root, "reason"));
		rc = check_reason(req->reason, e);
	} else {
		rc = read_site_and_reason(*root, &req->site, &req->reason, e);
	}
	if (rc < 0)
		return rc;
	req->now = json_is_true(json_object_get(*root, "now"));
	req->dry_run = json_is_true(json_object_get(*root, "dry_run"));
	req->force = json_is_true(json_object_get(*root, "force"));
	json_t *cw = json_object_get(*root, "confirm_within");
	if (cw) {
		json_int_t n = json_integer_value(cw);
		if (n < 1 || n > (json_int_t)CONFIRM_WITHIN_MAX_S)
			return err_set(e, ERR_INVALID,
				       "field 'confirm_within' must be 1..%u seconds, not %lld",
				       CONFIRM_WITHIN_MAX_S, (long long)n);
		req->confirm_within_s = (unsigned)n;
	}
	/* The caller's id of the change (routectl -f: one id on every router
	 * of the fleet, confirmed with one command). Whether it is new here is
	 * judged against the state (handle_write, site_change). */
	const char *id = json_string_value(json_object_get(*root, "change_id"));
	if (id) {
		if (!change_id_valid(id))
			return err_set(e, ERR_INVALID,
				       "field 'change_id' must be 16 lowercase hex digits, as "
				       "routectld makes them, not \"%.40s\"", id);
		memcpy(req->change_id, id, sizeof req->change_id);
	}
	if (kind == CHANGE_SET) {
		*one_service = path_service ? path_service
					    : json_string_value(json_object_get(*root, "service"));
		const char *mode = json_string_value(json_object_get(*root, "state"));
		if (!*one_service)
			return err_set(e, ERR_INVALID, "field 'service' is required");
		if (!mode || svc_mode_parse(mode, &req->mode) < 0)
			return err_set(e, ERR_INVALID,
				       "field 'state' must be announce, prepend or withdraw");
		json_t *p = json_object_get(*root, "prepend");
		if (req->mode == MODE_PREPEND) {
			json_int_t n = p ? json_integer_value(p) : 0;
			if (n < PREPEND_MIN || n > PREPEND_MAX)
				return err_set(e, ERR_INVALID,
					       "field 'prepend' must be %d..%d for state prepend",
					       PREPEND_MIN, PREPEND_MAX);
			req->prepend = (unsigned)n;
		} else if (p) {
			return err_set(e, ERR_INVALID,
				       "field 'prepend' is only for state prepend");
		}
		req->services = one_service;
		req->n_services = 1;
		return 0;
	}
	json_t *list = json_object_get(*root, "services");
	size_t n = json_array_size(list);
	if (n > 0) {
		req->services = calloc(n, sizeof *req->services);
		if (!req->services)
			return err_set(e, ERR_NOMEM, "out of memory");
		for (size_t i = 0; i < n; i++) {
			req->services[i] = json_string_value(json_array_get(list, i));
			if (!req->services[i])
				return err_set(e, ERR_INVALID,
					       "field 'services' must be an array of names");
		}
		req->n_services = n;
	}
	return 0;
}

/* Every guard's verdict: [{"name", "verdict", "message"}] (site/guards.h). */
static json_t *guards_json(const struct guard_report *r)
{
	json_t *a = json_array();
	for (size_t i = 0; r->judged && i < GUARD_COUNT; i++)
		json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "name",
						   guard_name((enum guard_id)i), "verdict",
						   guard_verdict_name(r->g[i].verdict), "message",
						   r->g[i].message));
	return a;
}

/* The guards a forced change overrode, [{"guard", "message"}], or null
 * when none (for the audit record's "override"). */
static json_t *override_json(const struct guard_report *r)
{
	if (!guards_overridden(r))
		return json_null();
	json_t *a = json_array();
	for (size_t i = 0; i < GUARD_COUNT; i++)
		if (r->g[i].verdict == GUARD_OVERRIDDEN)
			json_array_append_new(a, json_pack("{s:s,s:s}", "guard",
							   guard_name((enum guard_id)i),
							   "message", r->g[i].message));
	return a;
}

static json_t *change_json(const struct change_request *req, const struct change_result *res)
{
	json_t *items = json_array();
	for (size_t i = 0; i < res->n_items; i++) {
		const struct change_item *it = &res->items[i];
		json_t *next = json_null();
		if (it->has_next) {
			next = mode_json(it->next_mode, it->next_prepend);
			json_object_set_new(next, "at", time_json(it->next_at));
		}
		json_array_append_new(items, json_pack("{s:s,s:o,s:o,s:o}", "service", it->service,
						       "from",
						       mode_json(it->from_mode, it->from_prepend),
						       "to", mode_json(it->to_mode, it->to_prepend),
						       "next", next));
	}
	json_t *o = json_pack("{s:s,s:b,s:s,s:o,s:b,s:o,s:o}", "site", req->site, "dry_run",
			      req->dry_run, "change_id", res->change_id, "changes", items, "force",
			      req->force, "guards", guards_json(&res->guards), "override",
			      override_json(&res->guards));
	/* What the precheck of this change found about BIRD's BGP protocols. */
	if (res->applied && res->have_peers)
		json_object_set_new(o, "peers", peers_json(&res->peers));
	if (req->dry_run)
		json_object_set_new(o, "diff", json_string(res->diff ? res->diff : ""));
	if (res->applied && res->partial)
		json_object_set_new(o, "apply",
				    json_pack("{s:s,s:I,s:s}", "result", "partial", "ms",
					      (json_int_t)res->apply_ms, "message",
					      res->partial_msg));
	else if (res->applied)
		json_object_set_new(o, "apply",
				    json_pack("{s:s,s:I}", "result", "ok", "ms",
					      (json_int_t)res->apply_ms));
	else
		json_object_set_new(o, "apply", json_null());
	/* What must be confirmed by when (routectl confirm CHANGE_ID). */
	json_object_set_new(o, "confirm_deadline", res->confirm_deadline
							   ? time_json(res->confirm_deadline)
							   : json_null());
	return o;
}

/* POST /v1/changes/{change_id}/confirm: an empty body, or {"site",
 * "reason"}, both optional. The strings point into *root. */
static int parse_confirm(const char *body, size_t len, const char *change_id,
			 struct confirm_request *req, json_t **root, struct err *e)
{
	memset(req, 0, sizeof *req);
	req->change_id = change_id;
	static const struct body_field fields[] = { FIELD_STRING("site"), FIELD_STRING("reason") };
	if (!body || len == 0) {
		*root = json_object();
		return *root ? 0 : err_set(e, ERR_NOMEM, "out of memory");
	}
	int rc = load_body(body, len, fields, sizeof fields / sizeof fields[0], root, e);
	if (rc < 0)
		return rc;
	req->site = json_string_value(json_object_get(*root, "site"));
	req->reason = json_string_value(json_object_get(*root, "reason"));
	return req->reason ? check_reason(req->reason, e) : 0;
}

static json_t *confirm_json(const struct confirm_request *req, const struct confirm_result *res,
			    const char *site)
{
	json_t *items = json_array();
	for (size_t i = 0; i < res->n_items; i++) {
		const struct change_item *it = &res->items[i];
		json_array_append_new(items, json_pack("{s:s,s:o,s:o}", "service", it->service,
						       "state", mode_json(it->to_mode, it->to_prepend),
						       "revert_to_cancelled",
						       mode_json(it->from_mode, it->from_prepend)));
	}
	(void)req;
	return json_pack("{s:s,s:s,s:b,s:o,s:o}", "site", site, "change_id", res->change_id,
			 "confirmed", 1, "deadline", time_json(res->deadline), "services", items);
}

/* POST /v1/adopt: {"site", "reason", "force", "dry_run", "assume": [{"service",
 * "state", "prepend"}]}. The strings point into *root; *assume is the
 * caller's to free. */
static int parse_adopt(const char *body, size_t len, struct adopt_request *req,
		       struct adopt_assumption **assume, json_t **root, struct err *e)
{
	memset(req, 0, sizeof *req);
	*assume = NULL;
	static const struct body_field fields[] = {
		FIELD_STRING("site"), FIELD_STRING("reason"), FIELD_BOOL("force"),
		FIELD_BOOL("dry_run"),
		{ "assume", JSON_ARRAY,
		  "must be an array of {\"service\", \"state\", \"prepend\"}" },
	};
	int rc = load_body(body, len, fields, sizeof fields / sizeof fields[0], root, e);
	if (rc < 0)
		return rc;
	rc = read_site_and_reason(*root, &req->site, &req->reason, e);
	if (rc < 0)
		return rc;
	req->force = json_is_true(json_object_get(*root, "force"));
	req->dry_run = json_is_true(json_object_get(*root, "dry_run"));
	json_t *list = json_object_get(*root, "assume");
	size_t n = json_array_size(list);
	*assume = calloc(n + 1, sizeof **assume);
	if (!*assume)
		return err_set(e, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *a = json_array_get(list, i);
		const char *svc = json_string_value(json_object_get(a, "service"));
		const char *mode = json_string_value(json_object_get(a, "state"));
		json_t *p = json_object_get(a, "prepend");
		if (!json_is_object(a) || !svc || !mode || (p && !json_is_integer(p)) ||
		    json_object_size(a) != 2u + (p != NULL))
			return err_set(e, ERR_INVALID,
				       "assume[%zu] must be {\"service\": NAME, \"state\": "
				       "announce|prepend|withdraw[, \"prepend\": N]}", i);
		struct adopt_assumption *x = &(*assume)[i];
		x->service = svc;
		if (svc_mode_parse(mode, &x->mode) < 0)
			return err_set(e, ERR_INVALID,
				       "assume[%zu].state must be announce, prepend or withdraw", i);
		json_int_t count = p ? json_integer_value(p) : 0;
		if (count < 0 || count > PREPEND_MAX)
			return err_set(e, ERR_INVALID, "assume[%zu].prepend must be %d..%d", i,
				       PREPEND_MIN, PREPEND_MAX);
		x->prepend = (unsigned)count;
	}
	req->assumptions = *assume;
	req->n_assumptions = n;
	return 0;
}

static json_t *adopt_json(const struct adopt_request *req, const struct adopt_result *res)
{
	json_t *changes = json_array(), *adopted = json_array();
	for (size_t i = 0; i < res->plan.n; i++) {
		const struct adopt_item *it = &res->plan.items[i];
		json_t *bird = it->bird_clear ? mode_json(it->bird_mode, it->bird_prepend)
					      : json_null();
		json_array_append_new(changes,
				      json_pack("{s:s,s:o,s:o,s:n}", "service", it->service,
						"from", bird, "to", mode_json(it->mode, it->prepend),
						"next"));
		json_array_append_new(adopted,
				      json_pack("{s:s,s:o,s:s,s:s}", "service", it->service,
						"to", mode_json(it->mode, it->prepend), "source",
						it->source == ADOPT_FROM_BIRD ? "bird" : "operator",
						"bird", it->bird_text));
	}
	json_t *o = json_pack("{s:s,s:b,s:s,s:o,s:o,s:I,s:s}", "site", req->site, "dry_run",
			      req->dry_run, "change_id", res->change_id, "changes", changes,
			      "adopted", adopted, "generation", (json_int_t)res->generation,
			      "evidence", res->evidence);
	json_object_set_new(o, "warnings", res->plan.warnings[0]
					   ? json_string(res->plan.warnings) : json_null());
	json_object_set_new(o, "set_aside",
			    res->set_aside[0] ? json_string(res->set_aside) : json_null());
	if (req->dry_run)
		json_object_set_new(o, "diff", json_string(res->diff ? res->diff : ""));
	if (res->applied && res->partial)
		json_object_set_new(o, "apply",
				    json_pack("{s:s,s:I,s:s}", "result", "partial", "ms",
					      (json_int_t)res->apply_ms, "message",
					      res->partial_msg));
	else
		json_object_set_new(o, "apply",
				    res->applied ? json_pack("{s:s,s:I}", "result", "ok", "ms",
							     (json_int_t)res->apply_ms)
						 : json_null());
	return o;
}

/* ---- the request flow ------------------------------------------------------ */

/* What a route is for. */
enum route_kind {
	RK_STATUS, RK_SERVICES, RK_SERVICE, RK_HISTORY, RK_HEALTHZ, RK_READYZ, RK_METRICS,
	RK_DRAIN, RK_UNDRAIN, RK_SET, RK_PUT_SERVICE, RK_ADOPT, RK_CONFIRM,
};

struct route {
	const char *method;
	const char *path;          /* a template: {service} is one path segment */
	enum route_kind kind;
	enum role role;            /* ROLE_NONE: open to anyone */
	int write;
	int metrics_listener;      /* also served on a metrics-only listener */
};

static const struct route ROUTES[] = {
	{ "GET", "/v1/status", RK_STATUS, ROLE_VIEWER, 0, 0 },
	{ "GET", "/v1/services", RK_SERVICES, ROLE_VIEWER, 0, 0 },
	{ "GET", "/v1/services/{service}", RK_SERVICE, ROLE_VIEWER, 0, 0 },
	{ "PUT", "/v1/services/{service}", RK_PUT_SERVICE, ROLE_OPERATOR, 1, 0 },
	{ "POST", "/v1/drain", RK_DRAIN, ROLE_OPERATOR, 1, 0 },
	{ "POST", "/v1/undrain", RK_UNDRAIN, ROLE_OPERATOR, 1, 0 },
	{ "POST", "/v1/set", RK_SET, ROLE_OPERATOR, 1, 0 },
	{ "POST", "/v1/adopt", RK_ADOPT, ROLE_ADMIN, 1, 0 },
	{ "POST", "/v1/changes/{change_id}/confirm", RK_CONFIRM, ROLE_OPERATOR, 1, 0 },
	{ "GET", "/v1/history", RK_HISTORY, ROLE_VIEWER, 0, 0 },
	{ "GET", "/healthz", RK_HEALTHZ, ROLE_NONE, 0, 1 },
	{ "GET", "/readyz", RK_READYZ, ROLE_NONE, 0, 1 },
	{ "GET", "/metrics", RK_METRICS, ROLE_VIEWER, 0, 1 },
};
#define N_ROUTES (sizeof ROUTES / sizeof ROUTES[0])

const struct command_route *commands_routes(size_t *n)
{
	static struct command_route out[N_ROUTES];
	for (size_t i = 0; i < N_ROUTES; i++)
		out[i] = (struct command_route){ ROUTES[i].method, ROUTES[i].path };
	*n = N_ROUTES;
	return out;
}

/* The longest X-Actor kept; a longer one is refused (400). */
#define ON_BEHALF_MAX 127
/* Rate-limit buckets kept (one per token that wrote lately). */
#define BUCKETS_MAX 1024
#define HISTORY_DEFAULT 20
#define HISTORY_MAX 1000

struct bucket {
	char who[TOKEN_NAME_MAX + 8];   /* the token's name; "oob " first for an
					   out-of-band token (another set) */
	double tokens;
	int64_t at_ms;
};

struct reload_info {
	int have;
	char config_path[4096];
	time_t config_loaded_at, at;
	int ok;
	char error[ERR_MSG_MAX];
	char warning[ERR_MSG_MAX];
};

struct commands {
	struct commands_deps d;
	struct reload_info reload;
	char audit_error[512];     /* why there is no audit log (d.audit NULL) */
	char idem_error[512];      /* why there is no idempotency store */
	struct bucket buckets[BUCKETS_MAX];
	size_t n_buckets;
	const struct command_listener *listeners;
	size_t n_listeners;
};

struct commands *commands_new(const struct commands_deps *d)
{
	struct commands *c = calloc(1, sizeof *c);
	if (c) {
		c->d = *d;
		commands_set_audit(c, d->audit, d->idem, NULL, NULL);
	}
	return c;
}

void commands_free(struct commands *c)
{
	free(c);
}

void commands_set_audit(struct commands *c, struct audit *a, struct idem *idem,
			const char *audit_error, const char *idem_error)
{
	c->d.audit = a;
	c->d.idem = idem;
	snprintf(c->audit_error, sizeof c->audit_error, "%s",
		 a ? "" : audit_error && *audit_error ? audit_error : "no audit log");
	snprintf(c->idem_error, sizeof c->idem_error, "%s",
		 idem ? "" : idem_error && *idem_error ? idem_error : "no idempotency store");
}

void commands_set_backend(struct commands *c, const struct command_backend *b)
{
	c->d.backend = *b;
}

void commands_set_rates(struct commands *c, unsigned rate_per_min, unsigned burst)
{
	/* Buckets keep what they hold, cut to the new burst at their next
	 * write (take_write). */
	c->d.write_rate_per_min = rate_per_min;
	c->d.write_burst = burst;
}

void commands_set_reload(struct commands *c, const struct command_reload *r)
{
	struct reload_info *ri = &c->reload;
	ri->have = 1;
	snprintf(ri->config_path, sizeof ri->config_path, "%s", r->config_path ? r->config_path : "");
	ri->config_loaded_at = r->config_loaded_at;
	ri->at = r->at;
	ri->ok = r->ok;
	snprintf(ri->error, sizeof ri->error, "%s", r->error ? r->error : "");
	snprintf(ri->warning, sizeof ri->warning, "%s", r->warning ? r->warning : "");
	metrics_config_reload(c->d.metrics, r->ok, r->config_loaded_at);
}

/* status's "reload": the running config and the last reload's result;
 * null from a backend that never said (tests). */
static json_t *reload_json(const struct reload_info *ri)
{
	if (!ri->have)
		return json_null();
	return json_pack("{s:s,s:o,s:o,s:b,s:o,s:o}", "config_path", ri->config_path,
			 "config_loaded_at", time_json(ri->config_loaded_at), "at",
			 ri->at ? time_json(ri->at) : json_null(), "ok", ri->ok, "error",
			 !ri->ok && ri->error[0] ? json_string(ri->error) : json_null(), "warning",
			 ri->warning[0] ? json_string(ri->warning) : json_null());
}

void commands_set_listeners(struct commands *c, const struct command_listener *v, size_t n)
{
	c->listeners = v;
	c->n_listeners = n;
	metrics_set_listeners(c->d.metrics, v, n);
}

/* {"listeners": [{"address", "port", "kind", "transport", "bound", "error"}]}:
 * a listener that could not bind is named with the reason (routectld keeps
 * trying). */
static json_t *api_json(const struct commands *c)
{
	json_t *a = json_array();
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct command_listener *l = &c->listeners[i];
		json_array_append_new(a, json_pack("{s:s,s:i,s:s,s:s,s:b,s:o}", "address",
						   l->address, "port", (int)l->port, "kind",
						   l->kind, "transport", l->transport, "bound",
						   l->bound, "error",
						   l->bound || !l->error || !l->error[0]
							   ? json_null()
							   : json_string(l->error)));
	}
	return json_pack("{s:o}", "listeners", a);
}

/* Takes one write from the bucket of token `who`: 0, or the seconds until
 * one is available. Buckets start full (write_burst) and refill at
 * write_rate_per_min. */
static unsigned take_write(struct commands *c, const char *who)
{
	int64_t now = now_ms();
	double rate = c->d.write_rate_per_min / 60000.0, burst = c->d.write_burst;
	struct bucket *b = NULL, *oldest = NULL;
	for (size_t i = 0; i < c->n_buckets && !b; i++) {
		if (strcmp(c->buckets[i].who, who) == 0)
			b = &c->buckets[i];
		else if (!oldest || c->buckets[i].at_ms < oldest->at_ms)
			oldest = &c->buckets[i];
	}
	if (!b) {
		b = c->n_buckets < BUCKETS_MAX ? &c->buckets[c->n_buckets++] : oldest;
		snprintf(b->who, sizeof b->who, "%s", who);
		b->tokens = burst;
		b->at_ms = now;
	}
	b->tokens += (double)(now - b->at_ms) * rate;
	if (b->tokens > burst)
		b->tokens = burst;
	b->at_ms = now;
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return 0;
	}
	/* whole seconds, rounded up: Retry-After counts seconds */
	int64_t wait_ms = (int64_t)((1.0 - b->tokens) / rate) + 1;
	return (unsigned)((wait_ms + 999) / 1000);
}

/* One request on its way: what its audit records and its answer need,
 * copied out of the transport's request (which is gone once the handler
 * returns). */
struct op {
	struct commands *c;
	struct command_reply_to to;
	const struct route *route;
	char method[8];
	char request_id[129];
	char remote[96];
	char transport[8];
	int out_of_band;                     /* came in on an out-of-band listener */
	struct principal who;
	char on_behalf_of[ON_BEHALF_MAX + 1];
	char idem_key[IDEM_KEY_MAX + 1];
	char idem_who[TOKEN_NAME_MAX + 16];  /* "token:NAME", "oob-token:NAME" or
						"console:uid N" */
	uint8_t fp[32];
	int idem_marked;                     /* idem_begin said IDEM_NEW */
	char path_service[64];
	struct command_job *job;
	json_t *root;                        /* the parsed body; job strings point in */
	json_t *claimed;                     /* a refused body as sent, for its record */
	struct adopt_assumption *assume;
	const char *one_service;
	int status;                          /* the answer once known */
	char *body;
	const char *www_authenticate;        /* a 401's challenge */
};

static void op_free(struct op *o)
{
	if (o->job) {
		if (o->job->kind == COMMAND_JOB_CHANGE && o->job->req.kind != CHANGE_SET)
			free(o->job->req.services);
		change_result_free(&o->job->res);
		adopt_result_free(&o->job->adopt_res);
		confirm_result_free(&o->job->confirm_res);
		free(o->job);
	}
	free(o->assume);
	json_decref(o->root);
	json_decref(o->claimed);
	free(o->body);
	free(o);
}

static void count(struct commands *c, const struct route *r, const char *method, int status)
{
	if (c->d.metrics)
		metrics_http(c->d.metrics, r ? r->path : "other", method, status);
}

/* Sends the op's answer through its continuation and frees the op. */
static void op_send(struct op *o, unsigned retry_after_s)
{
	count(o->c, o->route, o->method, o->status);
	struct http_reply r = { .status = o->status, .body = o->body,
				.retry_after_s = retry_after_s,
				.www_authenticate = o->www_authenticate };
	o->body = NULL;
	o->to.send(o->to.ctx, &r);
	op_free(o);
}

/* The op's answer as the handler's immediate answer; frees the op. */
static int op_answer_now(struct op *o, struct http_reply *out, unsigned retry_after_s)
{
	count(o->c, o->route, o->method, o->status);
	*out = (struct http_reply){ .status = o->status, .body = o->body,
				    .retry_after_s = retry_after_s,
				    .www_authenticate = o->www_authenticate };
	o->body = NULL;
	op_free(o);
	return 1;
}

static const char *action_name(enum route_kind k)
{
	switch (k) {
	case RK_DRAIN: return "drain";
	case RK_UNDRAIN: return "undrain";
	case RK_ADOPT: return "adopt";
	case RK_CONFIRM: return "confirm";
	default: return "set";
	}
}

/* What a refused body asked for, as far as it can be read: its "services"
 * (the names that are strings) or "service", else the path's service. */
static json_t *claimed_services(const struct op *o)
{
	json_t *a = json_array();
	json_t *list = json_object_get(o->claimed, "services"), *v;
	size_t i;
	json_array_foreach(list, i, v)
		if (json_is_string(v))
			json_array_append(a, v);
	json_t *one = json_object_get(o->claimed, "service");
	if (json_is_string(one))
		json_array_append(a, one);
	if (o->path_service[0])
		json_array_append_new(a, json_string(o->path_service));
	return a;
}

/* The services a write names: the request's list, null for "all". */
static json_t *requested_services(const struct op *o)
{
	const struct command_job *j = o->job;
	if (!j || (o->claimed && !o->root))
		return claimed_services(o);
	json_t *a = json_array();
	if (j->kind == COMMAND_JOB_CONFIRM) {
		for (size_t i = 0; i < j->confirm_res.n_items; i++)
			json_array_append_new(a, json_string(j->confirm_res.items[i].service));
		return a;
	}
	if (j->kind == COMMAND_JOB_ADOPT) {
		for (size_t i = 0; i < j->adopt.n_assumptions; i++)
			json_array_append_new(a, json_string(j->adopt.assumptions[i].service));
		return a;
	}
	if (!j->req.services) {
		json_decref(a);
		return json_null();
	}
	for (size_t i = 0; i < j->req.n_services; i++)
		if (j->req.services[i])
			json_array_append_new(a, json_string(j->req.services[i]));
	return a;
}

/* One audit record (api/audit.h says the members). */
static json_t *audit_record(const struct op *o, const char *phase, const char *result,
			    const struct err *e, json_t *services, json_t *before, json_t *after,
			    const char *change_id)
{
	const struct command_job *j = o->job;
	const char *site = NULL, *reason = NULL;
	int dry_run = 0;
	if (j && j->kind == COMMAND_JOB_ADOPT) {
		site = j->adopt.site;
		reason = j->adopt.reason;
		dry_run = j->adopt.dry_run;
	} else if (j && j->kind == COMMAND_JOB_CONFIRM) {
		site = j->confirm.site;
		reason = j->confirm.reason;
	} else if (j) {
		site = j->req.site;
		reason = j->req.reason;
		dry_run = j->req.dry_run;
	}
	if (!site && !reason && o->claimed) {
		/* refused before the body was read: what it says, unchecked */
		site = json_string_value(json_object_get(o->claimed, "site"));
		reason = json_string_value(json_object_get(o->claimed, "reason"));
		dry_run = json_is_true(json_object_get(o->claimed, "dry_run"));
	}
	const char *actor = j && j->who.actor[0] ? j->who.actor : o->who.name;
	char anon[64];
	if (!actor[0]) {
		snprintf(anon, sizeof anon, "unauthenticated (%s token)",
			 o->who.fail == AUTH_MISSING ? "no" : auth_fail_name(o->who.fail));
		actor = anon;
	}
	struct audit_who w = {
		.request_id = o->request_id, .actor = actor,
		.on_behalf_of = o->on_behalf_of[0] ? o->on_behalf_of : NULL,
		.role = role_name(o->who.role), .transport = o->transport, .remote = o->remote,
		.idempotency_key = o->idem_key[0] ? o->idem_key : NULL,
	};
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	json_t *r = audit_record_new((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, &w,
				     action_name(o->route->kind), site,
				     json_is_array(services) ? services : NULL, reason, dry_run,
				     phase);
	if (!json_is_array(services))
		json_decref(services);
	if (!r) {
		json_decref(before);
		json_decref(after);
		return NULL;
	}
	json_object_set_new(r, "out_of_band", json_boolean(o->out_of_band));
	json_object_set_new(r, "result", json_string(result));
	json_object_set_new(r, "status", json_integer(o->status));
	if (e)
		json_object_set_new(r, "error", json_pack("{s:s,s:s}", "code",
							  err_code_name(e->code), "message",
							  e->msg));
	if (before)
		json_object_set_new(r, "before", before);
	if (after)
		json_object_set_new(r, "after", after);
	if (change_id && *change_id)
		json_object_set_new(r, "change_id", json_string(change_id));
	/* A change may be forced past the guards (admin only): the outcome
	 * says which it overrode (command_job_done), null when none. */
	if (o->route->kind != RK_ADOPT) {
		json_object_set_new(r, "force",
				    json_boolean(j ? j->req.force
						   : json_is_true(json_object_get(o->claimed,
										  "force"))));
		if (strcmp(phase, "outcome") == 0)
			json_object_set_new(r, "override", json_null());
	}
	return r;
}

static void refusal_written(void *ctx, int rc, const struct err *e)
{
	struct op *o = ctx;
	if (rc < 0)
		log_error("audit: the refusal of request %s (%s by %s) is not in the audit log: %s",
			  o->request_id, action_name(o->route->kind), o->who.name, e->msg);
	op_send(o, 0);
}

/* A write refused before anything changed: audited, then answered. code
 * and msg make the error document; status the HTTP status. Returns 1 with
 * *out set (answered now) or 0 (answered once the record is on disk). */
static int refuse_write(struct op *o, int status, const char *code, const struct err *e,
			const char *msg, unsigned retry_after_s, struct http_reply *out)
{
	if (o->idem_marked) {
		idem_abort(o->c->d.idem, o->idem_who, o->idem_key);
		o->idem_marked = 0;
	}
	o->status = status;
	o->body = error_body(code, msg);
	struct err ae;
	err_clear(&ae);
	if (!o->c->d.audit) {
		log_error("audit: the refusal of request %s (%s by %s, %d) is not in the audit log: "
			  "%s", o->request_id, action_name(o->route->kind), o->who.name, status,
			  o->c->audit_error);
	} else if (retry_after_s == 0) {
		json_t *rec = audit_record(o, "outcome", "refused", e, requested_services(o), NULL,
					   NULL, NULL);
		json_object_set_new(rec, "error",
				    json_pack("{s:s,s:s}", "code", code, "message", msg));
		if (audit_submit(o->c->d.audit, rec, NULL, refusal_written, o, &ae) == 0)
			return 0;
		log_error("audit: the refusal of request %s is not in the audit log: %s",
			  o->request_id, ae.msg);
	} else {
		/* Rate-limited: recorded like the others, but the answer does
		 * not wait for the disk (a flood must not queue fsyncs). */
		json_t *rec = audit_record(o, "outcome", "refused", e, requested_services(o), NULL,
					   NULL, NULL);
		json_object_set_new(rec, "error",
				    json_pack("{s:s,s:s}", "code", code, "message", msg));
		if (audit_submit(o->c->d.audit, rec, NULL, NULL, NULL, &ae) < 0)
			log_error("audit: the refusal of request %s is not in the audit log: %s",
				  o->request_id, ae.msg);
	}
	return op_answer_now(o, out, retry_after_s);
}

static int refuse_err(struct op *o, const struct err *e, struct http_reply *out)
{
	return refuse_write(o, status_of(e->code), err_code_name(e->code), e, e->msg, 0, out);
}

/* before/after of a change's items. */
static void change_states(const struct command_job *j, json_t **services, json_t **before,
			  json_t **after)
{
	*services = json_array();
	*before = json_object();
	*after = json_object();
	if (j->kind == COMMAND_JOB_CONFIRM) {
		/* A confirm moves nothing: before and after would be the same. */
		for (size_t i = 0; i < j->confirm_res.n_items; i++)
			json_array_append_new(*services,
					      json_string(j->confirm_res.items[i].service));
		json_decref(*before);
		json_decref(*after);
		*before = *after = NULL;
		return;
	}
	if (j->kind == COMMAND_JOB_ADOPT) {
		const struct adopt_plan *p = &j->adopt_res.plan;
		for (size_t i = 0; i < p->n; i++) {
			const struct adopt_item *it = &p->items[i];
			json_array_append_new(*services, json_string(it->service));
			json_object_set_new(*before, it->service,
					    it->bird_clear ? mode_json(it->bird_mode, it->bird_prepend)
							   : json_null());
			json_object_set_new(*after, it->service, mode_json(it->mode, it->prepend));
		}
		return;
	}
	const struct change_result *r = &j->res;
	for (size_t i = 0; i < r->n_items; i++) {
		const struct change_item *it = &r->items[i];
		json_array_append_new(*services, json_string(it->service));
		json_object_set_new(*before, it->service, mode_json(it->from_mode, it->from_prepend));
		json_object_set_new(*after, it->service, mode_json(it->to_mode, it->to_prepend));
	}
}

static void outcome_written(void *ctx, int rc, const struct err *e)
{
	struct op *o = ctx;
	if (rc < 0)
		log_error("audit: the outcome of request %s (%s by %s, change %s) is not in the "
			  "audit log: %s", o->request_id, action_name(o->route->kind),
			  o->job->who.actor,
			  o->job->kind == COMMAND_JOB_ADOPT ? o->job->adopt_res.change_id
							    : o->job->res.change_id,
			  e->msg);
	if (o->idem_marked) {
		/* Kept in memory even when the line did not reach the disk: a
		 * retry in this run still gets the first answer. */
		idem_finish(o->c->d.idem, o->idem_who, o->idem_key, o->status, o->body, time(NULL));
		o->idem_marked = 0;
	}
	op_send(o, 0);
}

void command_job_done(struct command_job *job)
{
	struct op *o = job->priv;
	const char *result, *change_id;
	if (job->rc < 0 && job->kind == COMMAND_JOB_CHANGE && job->res.guards.judged) {
		/* Refused by a guard: the answer shows every verdict. */
		o->status = status_of(job->err.code);
		o->body = dump(json_pack("{s:{s:s,s:s,s:o}}", "error", "code",
					 err_code_name(job->err.code), "message", job->err.msg,
					 "guards", guards_json(&job->res.guards)));
		result = job->err.code == ERR_POLICY ? "refused" : "failed";
	} else if (job->rc < 0 && job->kind == COMMAND_JOB_CONFIRM && job->confirm_res.ended[0]) {
		/* Too late or no longer waiting: how the wait ended, for a
		 * client that confirms at many routers and must tell "confirmed
		 * already" from "reverted". */
		o->status = status_of(job->err.code);
		o->body = dump(json_pack("{s:{s:s,s:s,s:s,s:o}}", "error", "code",
					 err_code_name(job->err.code), "message", job->err.msg,
					 "outcome", job->confirm_res.ended, "at",
					 time_json(job->confirm_res.ended_at)));
		result = "refused";
	} else if (job->rc < 0) {
		o->status = status_of(job->err.code);
		o->body = error_body(err_code_name(job->err.code), job->err.msg);
		int refused = job->err.code == ERR_INVALID || job->err.code == ERR_NOTFOUND ||
			      job->err.code == ERR_REFUSED || job->err.code == ERR_POLICY ||
			      job->err.code == ERR_UNAVAILABLE;
		result = refused ? "refused" : "failed";
	} else if (job->kind == COMMAND_JOB_ADOPT) {
		o->status = 200;
		o->body = dump(adopt_json(&job->adopt, &job->adopt_res));
		result = job->adopt_res.applied && job->adopt_res.partial ? "partial" : "ok";
	} else if (job->kind == COMMAND_JOB_CONFIRM) {
		o->status = 200;
		o->body = dump(confirm_json(&job->confirm, &job->confirm_res,
					    json_string_value(json_object_get(o->root, "site"))));
		result = "ok";
	} else {
		o->status = 200;
		o->body = dump(change_json(&job->req, &job->res));
		result = job->res.applied && job->res.partial ? "partial" : "ok";
	}
	change_id = job->kind == COMMAND_JOB_ADOPT     ? job->adopt_res.change_id
		    : job->kind == COMMAND_JOB_CONFIRM ? job->confirm.change_id
						       : job->res.change_id;
	json_t *services, *before, *after;
	change_states(job, &services, &before, &after);
	if (json_array_size(services) == 0) {
		json_decref(services);
		services = requested_services(o);
	}
	if (job->rc < 0) {
		json_decref(before);
		json_decref(after);
		before = after = NULL;
	}
	json_t *rec = audit_record(o, "outcome", result, job->rc < 0 ? &job->err : NULL,
				   services, before, after, change_id);
	if (rec && job->kind == COMMAND_JOB_CHANGE && job->rc == 0)
		json_object_set_new(rec, "override", override_json(&job->res.guards));
	json_t *idem_rec = o->idem_marked ? idem_line(o->idem_who, o->idem_key, o->fp, o->status,
						      o->body, time(NULL))
					  : NULL;
	struct err ae;
	if (audit_submit(o->c->d.audit, rec, idem_rec, outcome_written, o, &ae) < 0) {
		struct err we;
		err_set(&we, ERR_IO, "%s", ae.msg);
		outcome_written(o, -1, &we);
	}
}

static void intent_written(void *ctx, int rc, const struct err *e)
{
	struct op *o = ctx;
	struct err se;
	err_clear(&se);
	if (rc < 0) {
		log_error("audit: cannot write the audit log (%s); refusing request %s (%s by %s)",
			  e->msg, o->request_id, action_name(o->route->kind), o->who.name);
		if (o->idem_marked)
			idem_abort(o->c->d.idem, o->idem_who, o->idem_key);
		o->idem_marked = 0;
		char msg[ERR_MSG_MAX + 128];
		snprintf(msg, sizeof msg,
			 "the change was not made: its audit record cannot be written (%s)", e->msg);
		o->status = 503;
		o->body = error_body(err_code_name(ERR_UNAVAILABLE), msg);
		op_send(o, 0);
		return;
	}
	if (o->c->d.backend.submit(o->c->d.backend.arg, o->job, &se) == 0)
		return;   /* back in command_job_done */
	struct http_reply out;
	if (refuse_err(o, &se, &out))
		o->to.send(o->to.ctx, &out);
}

/* X-Actor: the human a bot acts for, one line of visible text. */
static int read_on_behalf(const struct http_request *rq, char *out, size_t size, struct err *e)
{
	const char *v = http_request_header(rq, "X-Actor");
	out[0] = '\0';
	if (!v)
		return 0;
	size_t n = strlen(v);
	if (n == 0 || n >= size)
		return err_set(e, ERR_INVALID, "header X-Actor must be 1..%zu bytes (it is %zu)",
			       size - 1, n);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return err_set(e, ERR_INVALID,
				       "header X-Actor has a control character (0x%02x)", *p);
	json_t *probe = json_stringn(v, n);
	if (!probe)
		return err_set(e, ERR_INVALID, "header X-Actor is not valid UTF-8");
	json_decref(probe);
	memcpy(out, v, n + 1);
	return 0;
}

/* A JSON body is what the API takes: a Content-Type other than
 * application/json (parameters allowed) is refused with 415; none is taken
 * as JSON. */
static int json_content_type(const struct http_request *rq)
{
	const char *ct = http_request_header(rq, "Content-Type");
	if (!ct)
		return 1;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	size_t n = strlen("application/json");
	return strncasecmp(ct, "application/json", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

struct site_ctx {
	char site[64];
};

static void copy_site(const struct command_view *v, void *arg)
{
	struct site_ctx *s = arg;
	snprintf(s->site, sizeof s->site, "%s", v->site);
}

struct id_ctx {
	const char *change_id;
	int taken;
	char site[64];
};

/* Whether the view's state already has a change with the id asked for. */
static void find_change_id(const struct command_view *v, void *arg)
{
	struct id_ctx *ic = arg;
	snprintf(ic->site, sizeof ic->site, "%s", v->site);
	ic->taken = state_names_change(v->state, ic->change_id);
}

/* Reads the body of a write into o->job. */
static int parse_write(struct op *o, const struct http_request *rq, struct err *e)
{
	struct command_job *job = calloc(1, sizeof *job);
	if (!job)
		return err_set(e, ERR_NOMEM, "out of memory");
	o->job = job;
	job->priv = o;
	if (o->route->kind == RK_ADOPT) {
		job->kind = COMMAND_JOB_ADOPT;
		return parse_adopt(rq->body, rq->body_len, &job->adopt, &o->assume, &o->root, e);
	}
	if (o->route->kind == RK_CONFIRM) {
		job->kind = COMMAND_JOB_CONFIRM;
		int rc = parse_confirm(rq->body, rq->body_len, o->path_service, &job->confirm,
				       &o->root, e);
		if (rc == 0 && !job->confirm.site) {
			struct site_ctx sc = { "" };
			o->c->d.backend.with_view(o->c->d.backend.arg, copy_site, &sc);
			json_object_set_new(o->root, "site", json_string(sc.site));
			job->confirm.site = json_string_value(json_object_get(o->root, "site"));
		}
		return rc;
	}
	enum change_kind kind = o->route->kind == RK_DRAIN     ? CHANGE_DRAIN
				: o->route->kind == RK_UNDRAIN ? CHANGE_UNDRAIN
							       : CHANGE_SET;
	int rc = parse_change(rq->body, rq->body_len, kind,
			      o->route->kind == RK_PUT_SERVICE ? o->path_service : NULL,
			      &job->req, &o->one_service, &o->root, e);
	/* req.services of a set points at one_service, inside the op. */
	if (kind == CHANGE_SET && job->req.services)
		job->req.services = &o->one_service;
	if (rc == 0 && !job->req.site) {
		struct site_ctx sc = { "" };
		o->c->d.backend.with_view(o->c->d.backend.arg, copy_site, &sc);
		json_object_set_new(o->root, "site", json_string(sc.site));
		job->req.site = json_string_value(json_object_get(o->root, "site"));
	}
	return rc;
}

/* The caller of a change as the site controller records it. */
static void make_caller(const struct op *o, const struct http_request *rq, struct caller *who)
{
	memset(who, 0, sizeof *who);
	snprintf(who->on_behalf_of, sizeof who->on_behalf_of, "%s", o->on_behalf_of);
	const char *for_ = o->on_behalf_of[0] ? " for " : "";
	if (rq->transport == HTTP_CONSOLE) {
		who->has_uid = rq->has_cred;
		who->uid = rq->uid;
		snprintf(who->actor, sizeof who->actor, "%s via console%s%s", o->who.name, for_,
			 o->on_behalf_of);
		return;
	}
	/* The remote address without its port: "127.0.0.1", "::1". */
	char host[96];
	snprintf(host, sizeof host, "%s", o->remote);
	char *colon = strrchr(host, ':');
	if (colon)
		*colon = '\0';
	const char *h = host;
	if (h[0] == '[') {
		h++;
		char *close = strchr(host, ']');
		if (close)
			*close = '\0';
	}
	snprintf(who->actor, sizeof who->actor, "%s via %s%s from %s%s%s", o->who.name,
		 o->transport, o->out_of_band ? " (out-of-band)" : "", h, for_, o->on_behalf_of);
}

/* The challenge of a 401 (RFC 6750, section 3). */
static const char *bearer_challenge(enum auth_fail f)
{
	return f == AUTH_MISSING ? "Bearer realm=\"routectld\""
				 : "Bearer realm=\"routectld\", error=\"invalid_token\"";
}

/* The message of a 401. */
static const char *unauthorized_text(enum auth_fail f)
{
	return f == AUTH_MISSING     ? "a bearer token is required (Authorization: Bearer ...)"
	       : f == AUTH_MALFORMED ? "the Authorization header is not 'Bearer <token>'"
				     : "the bearer token is not valid";
}

static int handle_write(struct op *o, const struct http_request *rq, struct http_reply *out)
{
	struct commands *c = o->c;
	struct err e, obo_err;
	err_clear(&e);
	/* Read first, so that a refusal below records whom it claimed to be
	 * for and what it asked. */
	int obo_rc = read_on_behalf(rq, o->on_behalf_of, sizeof o->on_behalf_of, &obo_err);
	if (rq->body && rq->body_len)
		o->claimed = json_loadb(rq->body, rq->body_len, 0, NULL);
	if (o->who.role == ROLE_NONE) {
		if (c->d.metrics)
			metrics_auth_failure(c->d.metrics, auth_fail_name(o->who.fail));
		o->www_authenticate = bearer_challenge(o->who.fail);
		return refuse_write(o, 401, "unauthorized", NULL, unauthorized_text(o->who.fail), 0,
				    out);
	}
	if (o->who.role < o->route->role) {
		if (c->d.metrics)
			metrics_auth_failure(c->d.metrics, "forbidden");
		char msg[300];
		snprintf(msg, sizeof msg, "%s %s needs the %s role; %s has %s", o->method,
			 o->route->path, role_name(o->route->role), o->who.name,
			 role_name(o->who.role));
		return refuse_write(o, 403, "forbidden", NULL, msg, 0, out);
	}
	if (obo_rc < 0)
		return refuse_err(o, &obo_err, out);
	if (!json_content_type(rq)) {
		char msg[300];
		snprintf(msg, sizeof msg, "Content-Type %.200s is not taken; send application/json",
			 http_request_header(rq, "Content-Type"));
		return refuse_write(o, 415, "unsupported-media-type", NULL, msg, 0, out);
	}
	const char *key = http_request_header(rq, "Idempotency-Key");
	if (key && !idem_key_valid(key)) {
		err_set(&e, ERR_INVALID, "header Idempotency-Key must be 1..%d visible ASCII "
			"characters", IDEM_KEY_MAX);
		return refuse_err(o, &e, out);
	}
	/* Without its log a change is never made; without the store a key
	 * could not keep a retry from applying twice. */
	if (!c->d.audit || (key && !c->d.idem)) {
		err_set(&e, ERR_UNAVAILABLE, "the change was not made: %s",
			!c->d.audit ? c->audit_error : c->idem_error);
		return refuse_err(o, &e, out);
	}
	if (rq->transport != HTTP_CONSOLE) {
		char bucket[TOKEN_NAME_MAX + 8];
		snprintf(bucket, sizeof bucket, "%s%s", o->out_of_band ? "oob " : "", o->who.name);
		unsigned wait_s = take_write(c, bucket);
		if (wait_s) {
			if (c->d.metrics)
				metrics_rate_limited(c->d.metrics);
			char msg[300];
			snprintf(msg, sizeof msg,
				 "token %s made more than %u writes at once or %u a minute; try "
				 "again in %u s", o->who.name, c->d.write_burst,
				 c->d.write_rate_per_min, wait_s);
			return refuse_write(o, 429, "rate-limited", NULL, msg, wait_s, out);
		}
	}
	if (parse_write(o, rq, &e) < 0)
		return refuse_err(o, &e, out);
	if (o->job->kind == COMMAND_JOB_CHANGE && o->job->req.force && o->who.role < ROLE_ADMIN) {
		if (c->d.metrics)
			metrics_auth_failure(c->d.metrics, "forbidden");
		char msg[300];
		snprintf(msg, sizeof msg,
			 "force (passing the guards) needs the admin role; %s has %s", o->who.name,
			 role_name(o->who.role));
		return refuse_write(o, 403, "forbidden", NULL, msg, 0, out);
	}
	make_caller(o, rq, &o->job->who);
	if (key) {
		snprintf(o->idem_key, sizeof o->idem_key, "%s", key);
		snprintf(o->idem_who, sizeof o->idem_who, "%s:%s",
			 rq->transport == HTTP_CONSOLE ? "console"
			 : o->out_of_band	       ? "oob-token"
							: "token",
			 o->who.name);
		idem_fingerprint(o->method, rq->path, rq->body, rq->body_len, o->fp);
		int status = 0;
		const char *body = NULL;
		switch (idem_begin(c->d.idem, o->idem_who, o->idem_key, o->fp, time(NULL), &status,
				   &body)) {
		case IDEM_REPLAY:
			/* The first answer again; nothing is done or recorded twice. */
			o->status = status;
			o->body = strdup(body ? body : "{}");
			return op_answer_now(o, out, 0);
		case IDEM_MISMATCH:
			return refuse_write(o, 422, "idempotency-key-reused", NULL,
					    "this Idempotency-Key was used with another request "
					    "(method, path or body); use a new key", 0, out);
		case IDEM_IN_FLIGHT:
			return refuse_write(o, 409, "idempotency-key-in-flight", NULL,
					    "the first request with this Idempotency-Key is still "
					    "being carried out; ask again when it is done", 0, out);
		case IDEM_NEW:
			o->idem_marked = 1;
			break;
		}
	}
	/* After the replay above: the retry of a change made with this id
	 * gets its first answer, a new request with it a 409. */
	if (o->job->kind == COMMAND_JOB_CHANGE && o->job->req.change_id[0]) {
		struct id_ctx ic = { o->job->req.change_id, 0, "" };
		c->d.backend.with_view(c->d.backend.arg, find_change_id, &ic);
		if (ic.taken) {
			err_set(&e, ERR_REFUSED,
				"change id %s already names another change at site '%s': a change "
				"takes a new id (routectl history shows that one)",
				o->job->req.change_id, ic.site);
			return refuse_err(o, &e, out);
		}
	}
	/* The intent is on disk before anything changes. */
	o->status = 0;
	json_t *rec = audit_record(o, "intent", "accepted", NULL, requested_services(o), NULL, NULL,
				   NULL);
	if (audit_submit(c->d.audit, rec, NULL, intent_written, o, &e) == 0)
		return 0;
	struct err we;
	err_set(&we, ERR_IO, "%s", e.msg);
	log_error("audit: %s; refusing request %s", e.msg, o->request_id);
	if (o->idem_marked)
		idem_abort(c->d.idem, o->idem_who, o->idem_key);
	o->idem_marked = 0;
	char msg[ERR_MSG_MAX + 128];
	snprintf(msg, sizeof msg, "the change was not made: its audit record cannot be written (%s)",
		 e.msg);
	o->status = 503;
	o->body = error_body(err_code_name(ERR_UNAVAILABLE), msg);
	return op_answer_now(o, out, 1);
}

/* ---- reads ---- */

struct read_ctx {
	const struct op *o;
	struct commands *c;
	const char *service;
	int status;
	char *reply;
	const char *content_type;
};

static void answer_read(const struct command_view *v, void *arg)
{
	struct read_ctx *r = arg;
	switch (r->o->route->kind) {
	case RK_STATUS:
	{
		json_t *st = status_json(v);
		json_object_set_new(st, "reload", reload_json(&r->c->reload));
		json_object_set_new(st, "api", api_json(r->c));
		r->status = 200;
		r->reply = dump(st);
		return;
	}
	case RK_SERVICES: {
		json_t *a = json_array();
		for (size_t i = 0; i < v->n_services; i++)
			json_array_append_new(a, service_json(v, &v->services[i]));
		r->status = 200;
		r->reply = dump(json_pack("{s:s,s:o,s:o}", "site", v->site, "safe_mode",
					  v->safe_mode[0] ? json_string(v->safe_mode) : json_null(),
					  "services", a));
		return;
	}
	case RK_SERVICE:
		for (size_t i = 0; i < v->n_services; i++) {
			if (strcmp(v->services[i].name, r->service) != 0)
				continue;
			json_t *o = service_json(v, &v->services[i]);
			json_object_set_new(o, "site", json_string(v->site));
			r->status = 200;
			r->reply = dump(o);
			return;
		}
		{
			char msg[200];
			snprintf(msg, sizeof msg, "site %s has no service '%.64s'", v->site,
				 r->service);
			r->status = 404;
			r->reply = error_body(err_code_name(ERR_NOTFOUND), msg);
		}
		return;
	case RK_METRICS: {
		struct audit_stats as;
		if (r->c->d.audit)
			audit_stats(r->c->d.audit, &as);
		r->status = 200;
		r->reply = metrics_render(r->c->d.metrics, v, r->c->d.audit ? &as : NULL);
		r->content_type = "text/plain; version=0.0.4; charset=utf-8";
		return;
	}
	default: {
		const char *why = v->safe_mode[0] ? v->safe_mode
				  : !v->bird_connected ? "BIRD is not connected"
						       : NULL;
		r->status = why ? 503 : 200;
		r->reply = dump(why ? json_pack("{s:b,s:s}", "ready", 0, "reason", why)
				    : json_pack("{s:b}", "ready", 1));
	}
	}
}

static void history_read(void *ctx, int rc, json_t *history, size_t skipped,
			 const struct err *e)
{
	struct op *o = ctx;
	if (rc < 0) {
		o->status = status_of(e->code);
		o->body = error_body(err_code_name(e->code), e->msg);
	} else {
		o->status = 200;
		o->body = dump(json_pack("{s:o,s:I}", "history", history, "skipped",
					 (json_int_t)skipped));
	}
	op_send(o, 0);
}

static int handle_history(struct op *o, const struct http_request *rq, struct http_reply *out)
{
	const char *ls = http_request_arg(rq, "limit"), *svc = http_request_arg(rq, "service");
	long limit = HISTORY_DEFAULT;
	struct err e;
	err_clear(&e);
	if (ls) {
		char *end;
		limit = strtol(ls, &end, 10);
		if (!*ls || *end || limit < 1 || limit > HISTORY_MAX) {
			char msg[200];
			snprintf(msg, sizeof msg, "query argument limit must be 1..%d, not '%.32s'",
				 HISTORY_MAX, ls);
			o->status = 400;
			o->body = error_body(err_code_name(ERR_INVALID), msg);
			return op_answer_now(o, out, 0);
		}
	}
	if (!o->c->d.audit || audit_query(o->c->d.audit, (size_t)limit, svc, history_read, o,
					  &e) < 0) {
		o->status = 503;
		o->body = error_body(err_code_name(ERR_UNAVAILABLE),
				     o->c->d.audit ? e.msg : o->c->audit_error);
		return op_answer_now(o, out, 1);
	}
	return 0;
}

/* ---- routing ---- */

/* Does path match the template? A {name} takes one non-empty segment
 * (copied into seg); what follows it in the template ("/confirm") must
 * follow it in the path. -1: it would match, but the segment is too long. */
static int path_matches(const char *tmpl, const char *path, char *seg, size_t seg_size)
{
	const char *brace = strchr(tmpl, '{');
	if (!brace)
		return strcmp(tmpl, path) == 0;
	size_t pre = (size_t)(brace - tmpl);
	if (strncmp(tmpl, path, pre) != 0)
		return 0;
	const char *close = strchr(brace, '}');
	const char *suffix = close ? close + 1 : "";
	const char *rest = path + pre;
	size_t n = strcspn(rest, "/");
	if (n == 0 || strcmp(rest + n, suffix) != 0)
		return 0;
	if (n >= seg_size)
		return -1;
	memcpy(seg, rest, n);
	seg[n] = '\0';
	return 1;
}

static int answer_plain(struct commands *c, const struct route *r, const char *method,
			int status, const char *code, const char *msg, struct http_reply *out)
{
	count(c, r, method, status);
	*out = (struct http_reply){ .status = status, .body = error_body(code, msg) };
	return 1;
}

int commands_handle(struct commands *c, const struct http_request *rq,
		    const struct command_reply_to *to, struct http_reply *out)
{
	const struct route *r = NULL;
	char seg[64] = "";
	int path_known = 0, too_long = 0;
	for (size_t i = 0; i < N_ROUTES && !r; i++) {
		int m = path_matches(ROUTES[i].path, rq->path, seg, sizeof seg);
		if (m < 0)
			too_long = 1;
		if (m <= 0)
			continue;
		if (rq->metrics_only && !ROUTES[i].metrics_listener)
			continue;
		path_known = 1;
		if (strcmp(ROUTES[i].method, rq->method) == 0 ||
		    (strcmp(rq->method, "HEAD") == 0 && strcmp(ROUTES[i].method, "GET") == 0))
			r = &ROUTES[i];
	}
	char msg[400];
	if (!r && !path_known) {
		snprintf(msg, sizeof msg, too_long ? strncmp(rq->path, "/v1/changes/", 12) == 0
					     ? "no such change: the id is too long"
					     : "no such service: the name is too long"
				     : rq->metrics_only
					     ? "no such endpoint on this address (it serves /metrics, "
					       "/healthz and /readyz only): %.200s"
					     : "no such endpoint: %.200s",
			 rq->path);
		return answer_plain(c, NULL, rq->method, 404, err_code_name(ERR_NOTFOUND), msg, out);
	}
	if (!r) {
		size_t used = 0;
		for (size_t i = 0; i < N_ROUTES; i++)
			if (path_matches(ROUTES[i].path, rq->path, seg, sizeof seg) > 0)
				used += (size_t)snprintf(msg + used, sizeof msg - used, "%s%s",
							 used ? ", " : "", ROUTES[i].method);
		char m2[600];
		snprintf(m2, sizeof m2, "%.200s takes %s, not %.20s", rq->path, msg, rq->method);
		return answer_plain(c, NULL, rq->method, 405, "method-not-allowed", m2, out);
	}
	struct op *o = calloc(1, sizeof *o);
	if (!o)
		return answer_plain(c, r, rq->method, 500, err_code_name(ERR_NOMEM), "out of memory",
				    out);
	o->c = c;
	if (to)
		o->to = *to;
	o->route = r;
	snprintf(o->method, sizeof o->method, "%s", r->method);
	snprintf(o->request_id, sizeof o->request_id, "%s", rq->request_id ? rq->request_id : "");
	snprintf(o->remote, sizeof o->remote, "%s", rq->remote ? rq->remote : "");
	snprintf(o->transport, sizeof o->transport, "%s", http_transport_name(rq->transport));
	snprintf(o->path_service, sizeof o->path_service, "%s", seg);
	/* Each listener set has its own tokens: a request is never tried
	 * against the other set's. */
	o->out_of_band = rq->transport != HTTP_CONSOLE && rq->out_of_band;
	struct auth *auth = o->out_of_band ? c->d.oob_auth : c->d.auth;
	if (auth)
		auth_identify(auth, rq, &o->who);
	else
		o->who.fail = AUTH_MISSING;
	if (r->write)
		return handle_write(o, rq, out);

	/* Reads: open routes, then the role. */
	int open = r->role == ROLE_NONE || (rq->metrics_only && r->metrics_listener);
	if (!open && o->who.role == ROLE_NONE) {
		if (c->d.metrics)
			metrics_auth_failure(c->d.metrics, auth_fail_name(o->who.fail));
		o->status = 401;
		o->body = error_body("unauthorized", unauthorized_text(o->who.fail));
		o->www_authenticate = bearer_challenge(o->who.fail);
		return op_answer_now(o, out, 0);
	}
	if (!open && o->who.role < r->role) {
		if (c->d.metrics)
			metrics_auth_failure(c->d.metrics, "forbidden");
		o->status = 403;
		snprintf(msg, sizeof msg, "%s needs the %s role", r->path, role_name(r->role));
		o->body = error_body("forbidden", msg);
		return op_answer_now(o, out, 0);
	}
	if (r->kind == RK_HEALTHZ) {
		o->status = 200;
		o->body = dump(json_pack("{s:b}", "ok", 1));
		return op_answer_now(o, out, 0);
	}
	if (r->kind == RK_HISTORY)
		return handle_history(o, rq, out);
	struct read_ctx rc = { o, c, seg, 500, NULL, NULL };
	c->d.backend.with_view(c->d.backend.arg, answer_read, &rc);
	o->status = rc.status;
	o->body = rc.reply ? rc.reply : strdup("{}");
	count(c, r, o->method, o->status);
	*out = (struct http_reply){ .status = o->status, .body = o->body,
				    .content_type = rc.content_type };
	o->body = NULL;
	op_free(o);
	return 1;
}


/* An outcome record of a change made outside the API (an adopted
 * emergency command, routectld's own change): svcs, before and after are
 * taken (NULL ones tell that building them ran out of memory), result and
 * status 0 set. NULL on ENOMEM or text that is not UTF-8. */
static json_t *outside_record(int64_t epoch_ms, const struct audit_who *w, const char *action,
			      const char *site, const char *reason, json_t *svcs, json_t *before,
			      json_t *after, const char *result)
{
	json_t *rec = svcs && before && after
		? audit_record_new(epoch_ms, w, action, site, svcs, reason, false, "outcome")
		: NULL;
	if (!rec) {
		if (!svcs || !before || !after)
			json_decref(svcs);   /* else audit_record_new took it */
		json_decref(before);
		json_decref(after);
		return NULL;
	}
	json_object_set_new(rec, "result", json_string(result));
	json_object_set_new(rec, "status", json_integer(0));
	json_object_set_new(rec, "before", before);
	json_object_set_new(rec, "after", after);
	return rec;
}

/* ---- adopted emergency commands ------------------------------------------------ */

/* The audit writer's answer for a record queued by submit_outside. */
static void outside_written(void *ctx, int rc, const struct err *e)
{
	char *what = ctx;
	if (rc < 0)
		log_error("audit: %s is not in the audit log: %s", what, e->msg);
	free(what);
}

/* Queues rec (taken) on the audit writer; what names the change in the
 * log ("the adopted emergency command ID"). Returns 1 queued, 0 not
 * (logged). */
static int submit_outside(struct commands *c, json_t *rec, const char *what)
{
	char *ctx = strdup(what);
	struct err ae;
	if (!ctx) {
		json_decref(rec);
		log_error("audit: %s is not in the audit log: out of memory", what);
		return 0;
	}
	if (audit_submit(c->d.audit, rec, NULL, outside_written, ctx, &ae) < 0) {
		log_error("audit: %s is not in the audit log: %s", what, ae.msg);
		free(ctx);
		return 0;
	}
	return 1;
}

size_t commands_audit_emergency(struct commands *c, const char *site,
				const struct emergency_journal *j)
{
	size_t queued = 0;
	for (size_t i = 0; i < j->n; i++) {
		const struct emergency_record *r = &j->recs[i];
		if (!c->d.audit) {
			log_error("audit: the adopted emergency command %s (%s by %s) is not in the "
				  "audit log: %s", r->id, r->action, r->actor, c->audit_error);
			continue;
		}
		json_t *svcs = json_array(), *before = json_object(), *after = json_object();
		for (size_t k = 0; svcs && before && after && k < r->n_svcs; k++) {
			const struct emergency_service *es = &r->svcs[k];
			json_array_append_new(svcs, json_string(es->name));
			json_object_set_new(after, es->name, mode_json(es->mode, es->prepend));
			if (es->has_before)
				json_object_set_new(before, es->name,
						    mode_json(es->before_mode, es->before_prepend));
		}
		char action[32];
		snprintf(action, sizeof action, "emergency-%s", r->action);
		/* on the router host, with BIRD's socket: every power there is */
		struct audit_who w = { .request_id = r->id, .actor = r->actor, .role = "admin",
				       .transport = "emergency", .remote = "local" };
		const char *result = r->result == EMERGENCY_APPLIED ? "ok"
				     : r->result == EMERGENCY_FAILED ? "failed"
				     : r->result == EMERGENCY_REFUSED ? "refused" : "unknown";
		json_t *rec = outside_record(r->epoch_ms, &w, action, site, r->reason, svcs, before,
					     after, result);
		if (!rec) {
			log_error("audit: the adopted emergency command %s cannot be recorded (out of "
				  "memory, or text that is not UTF-8)", r->id);
			continue;
		}
		json_object_set_new(rec, "change_id", json_string(r->id));
		json_object_set_new(rec, "force", json_boolean(r->force));
		json_object_set_new(rec, "adopted", json_boolean(r->result != EMERGENCY_REFUSED));
		json_t *ov = r->n_overrides ? json_array() : json_null();
		for (size_t k = 0; k < r->n_overrides; k++)
			json_array_append_new(ov, json_pack("{s:s,s:s}", "guard", r->overrides[k].guard,
							     "message", r->overrides[k].message));
		json_object_set_new(rec, "override", ov);
		if (r->error)
			json_object_set_new(rec, "error", json_pack("{s:s,s:s}", "code", "emergency",
								    "message", r->error));
		char what[128];
		snprintf(what, sizeof what, "the adopted emergency command %s", r->id);
		queued += (size_t)submit_outside(c, rec, what);
	}
	return queued;
}

/* ---- changes routectld made on its own ---------------------------------------- */

/* The audit record of r (NULL on ENOMEM or text that is not UTF-8). */
static json_t *auto_record(const char *site, const struct auto_change *r)
{
	json_t *svcs = json_array(), *before = json_object(), *after = json_object();
	for (size_t k = 0; svcs && before && after && k < r->n_svcs; k++) {
		const struct auto_service *v = &r->svcs[k];
		json_array_append_new(svcs, json_string(v->name));
		json_object_set_new(before, v->name, mode_json(v->from_mode, v->from_prepend));
		json_object_set_new(after, v->name, mode_json(v->to_mode, v->to_prepend));
	}
	/* routectld acts on its own authority over its BIRD, on the router
	 * host: as an emergency command does */
	struct audit_who w = { .request_id = r->change_id, .actor = "routectld", .role = "admin",
			       .transport = "routectld", .remote = "local" };
	const char *result = r->result == APPLY_RESULT_FAILED ? "failed"
			     : r->kind == AUTO_REVERT_KEPT ? "refused"
			     : r->result == APPLY_RESULT_PARTIAL ? "partial" : "ok";
	json_t *rec = outside_record(r->epoch_ms, &w, auto_kind_name(r->kind), site, r->reason,
				     svcs, before, after, result);
	if (!rec)
		return NULL;
	json_object_set_new(rec, "change_id", json_string(r->change_id));
	json_object_set_new(rec, "follows_change_id", json_string(r->follows));
	json_object_set_new(rec, "follows_actor", json_string(r->follows_actor));
	json_object_set_new(rec, "failed_attempts", json_integer(r->failed_attempts));
	if (r->error[0])
		json_object_set_new(rec, "error",
				    json_pack("{s:s,s:s}", "code",
					      err_code_name(r->error_code ? r->error_code : ERR_IO),
					      "message", r->error));
	return rec;
}

size_t commands_audit_auto(struct commands *c, const char *site, const struct auto_changes *a)
{
	size_t queued = 0;
	for (size_t i = 0; i < a->n; i++) {
		const struct auto_change *r = &a->recs[i];
		char what[256];
		snprintf(what, sizeof what, "routectld's own change %s (%s after %s)", r->change_id,
			 auto_kind_name(r->kind), r->follows);
		if (!c->d.audit) {
			log_error("audit: %s is not in the audit log: %s", what, c->audit_error);
			continue;
		}
		json_t *rec = auto_record(site, r);
		if (!rec) {
			log_error("audit: %s cannot be recorded (out of memory, or text that is not "
				  "UTF-8)", what);
			continue;
		}
		queued += (size_t)submit_outside(c, rec, what);
	}
	return queued;
}
