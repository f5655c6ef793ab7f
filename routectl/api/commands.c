/* The command layer: parses requests, answers reads from the backend's
 * view, hands changes to the backend and formats their results. */
#include "api/commands.h"

#include "common/err.h"
#include "common/timeutil.h"
#include "store/store.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* A reason is one line of text for people: bounded, no control characters. */
#define REASON_MAX 1024u

static int status_of(enum err_code code)
{
	switch (code) {
	case ERR_INVALID: return 400;
	case ERR_NOTFOUND: return 404;
	case ERR_REFUSED: return 409;
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

static void error_reply(enum err_code code, const char *msg, int *status, char **reply)
{
	*status = status_of(code);
	*reply = dump(json_pack("{s:{s:s,s:s}}", "error", "code", err_code_name(code),
				"message", msg));
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
	json_t *next = json_null();
	if (s->has_next) {
		next = mode_json(s->next_mode, s->next_prepend);
		json_object_set_new(next, "at", time_json(s->next_at));
	}
	json_object_set_new(o, "next", next);
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
			struct change_request *req, const char **one_service, json_t **root,
			struct err *e)
{
	memset(req, 0, sizeof *req);
	req->kind = kind;
#define CHANGE_FIELDS FIELD_STRING("site"), FIELD_STRING("reason"), FIELD_BOOL("now"), \
		      FIELD_BOOL("dry_run")
	static const struct body_field set_fields[] = {
		CHANGE_FIELDS, FIELD_STRING("service"), FIELD_STRING("state"),
		{ "prepend", JSON_INTEGER, "must be an integer" },
	};
	static const struct body_field site_fields[] = {   /* drain, undrain */
		CHANGE_FIELDS, { "services", JSON_ARRAY, "must be an array of names" },
	};
#undef CHANGE_FIELDS
	int set = kind == CHANGE_SET;
	const struct body_field *fields = set ? set_fields : site_fields;
	size_t n_fields = set ? sizeof set_fields / sizeof set_fields[0]
			      : sizeof site_fields / sizeof site_fields[0];
	int rc = load_body(body, len, fields, n_fields, root, e);
	if (rc < 0)
		return rc;
	rc = read_site_and_reason(*root, &req->site, &req->reason, e);
	if (rc < 0)
		return rc;
	req->now = json_is_true(json_object_get(*root, "now"));
	req->dry_run = json_is_true(json_object_get(*root, "dry_run"));
	if (kind == CHANGE_SET) {
		*one_service = json_string_value(json_object_get(*root, "service"));
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
	json_t *o = json_pack("{s:s,s:b,s:s,s:o}", "site", req->site, "dry_run",
			      req->dry_run, "change_id", res->change_id, "changes", items);
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
	return o;
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

static void job_free(struct command_job *job)
{
	if (job->kind == COMMAND_JOB_CHANGE && job->req.kind != CHANGE_SET)
		free(job->req.services);
	free(job->priv_assume);
	json_decref(job->priv_root);
	free(job);
}

void command_job_done(struct command_job *job)
{
	int status;
	char *reply;
	if (job->rc < 0) {
		error_reply(job->err.code, job->err.msg, &status, &reply);
	} else if (job->kind == COMMAND_JOB_ADOPT) {
		status = 200;
		reply = dump(adopt_json(&job->adopt, &job->adopt_res));
	} else {
		status = 200;
		reply = dump(change_json(&job->req, &job->res));
	}
	change_result_free(&job->res);
	adopt_result_free(&job->adopt_res);
	job->priv_to.send(job->priv_to.ctx, status, reply);
	job_free(job);
}

/* Parses a change and hands it to the backend. Returns 1 with the reply
 * set when it could not be handed over, else 0. */
static int handle_change(const struct command_backend *b, const struct caller *who,
			 enum change_kind kind, const char *body, size_t len,
			 const struct command_reply_to *to, int *status, char **reply)
{
	struct command_job *job = calloc(1, sizeof *job);
	if (!job) {
		error_reply(ERR_NOMEM, "out of memory", status, reply);
		return 1;
	}
	json_t *root = NULL;
	struct err e;
	err_clear(&e);
	job->who = *who;
	job->priv_to = *to;
	int rc = parse_change(body, len, kind, &job->req, &job->priv_one_service, &root, &e);
	/* req.services of a set points at priv_one_service, inside the job. */
	if (kind == CHANGE_SET && job->req.services)
		job->req.services = &job->priv_one_service;
	job->priv_root = root;
	if (rc == 0)
		rc = b->submit(b->arg, job, &e);
	if (rc < 0) {
		error_reply(e.code, e.msg, status, reply);
		job_free(job);
		return 1;
	}
	return 0;
}

/* Parses an adopt request and hands it to the backend, like a change: it
 * reads BIRD, so it runs where BIRD is. Returns 1 with the reply set when it
 * could not be handed over, else 0. */
static int handle_adopt(const struct command_backend *b, const struct caller *who,
			const char *body, size_t len, const struct command_reply_to *to,
			int *status, char **reply)
{
	struct command_job *job = calloc(1, sizeof *job);
	if (!job) {
		error_reply(ERR_NOMEM, "out of memory", status, reply);
		return 1;
	}
	json_t *root = NULL;
	struct err e;
	err_clear(&e);
	job->kind = COMMAND_JOB_ADOPT;
	job->who = *who;
	job->priv_to = *to;
	int rc = parse_adopt(body, len, &job->adopt, &job->priv_assume, &root, &e);
	job->priv_root = root;
	if (rc == 0)
		rc = b->submit(b->arg, job, &e);
	if (rc < 0) {
		error_reply(e.code, e.msg, status, reply);
		job_free(job);
		return 1;
	}
	return 0;
}

struct status_ctx {
	const char *path;
	int status;
	char *reply;
};

static void answer_read(const struct command_view *v, void *arg)
{
	struct status_ctx *c = arg;
	if (strcmp(c->path, "/v1/status") == 0) {
		c->status = 200;
		c->reply = dump(status_json(v));
	} else {
		const char *why = v->safe_mode[0] ? v->safe_mode
				  : !v->bird_connected ? "BIRD is not connected"
						       : NULL;
		c->status = why ? 503 : 200;
		c->reply = dump(why ? json_pack("{s:b,s:s}", "ready", 0, "reason", why)
				    : json_pack("{s:b}", "ready", 1));
	}
}

int commands_handle(const struct command_backend *b, const struct caller *who,
		    const char *method, const char *path, const char *body, size_t body_len,
		    const struct command_reply_to *to, int *status, char **reply)
{
	int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	static const struct {
		const char *path;
		int post;
	} routes[] = {
		{ "/v1/status", 0 }, { "/healthz", 0 }, { "/readyz", 0 },
		{ "/v1/drain", 1 },  { "/v1/undrain", 1 }, { "/v1/set", 1 },
		{ "/v1/adopt", 1 },
	};
	size_t r;
	for (r = 0; r < sizeof routes / sizeof routes[0]; r++)
		if (strcmp(path, routes[r].path) == 0)
			break;
	if (r == sizeof routes / sizeof routes[0]) {
		char msg[300];
		snprintf(msg, sizeof msg, "no such endpoint: %.200s", path);
		error_reply(ERR_NOTFOUND, msg, status, reply);
		return 1;
	}
	if ((routes[r].post && !post) || (!routes[r].post && !get)) {
		char msg[300];
		snprintf(msg, sizeof msg, "%s takes %s, not %.20s", path,
			 routes[r].post ? "POST" : "GET", method);
		error_reply(ERR_INVALID, msg, status, reply);
		*status = 405;
		return 1;
	}
	if (strcmp(path, "/healthz") == 0) {
		*status = 200;
		*reply = dump(json_pack("{s:b}", "ok", 1));
		return 1;
	}
	if (strcmp(path, "/v1/status") == 0 || strcmp(path, "/readyz") == 0) {
		struct status_ctx c = { path, 500, NULL };
		b->with_view(b->arg, answer_read, &c);
		*status = c.status;
		*reply = c.reply ? c.reply : strdup("{}");
		return 1;
	}
	if (strcmp(path, "/v1/adopt") == 0)
		return handle_adopt(b, who, body, body_len, to, status, reply);
	enum change_kind kind = strcmp(path, "/v1/drain") == 0     ? CHANGE_DRAIN
				: strcmp(path, "/v1/undrain") == 0 ? CHANGE_UNDRAIN
								   : CHANGE_SET;
	return handle_change(b, who, kind, body, body_len, to, status, reply);
}
