#include "api/commands.h"

#include "bird/bird.h"
#include "common/err.h"
#include "common/timeutil.h"
#include "daemon/daemon.h"
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

static json_t *status_json(struct daemon *d)
{
	json_t *root = json_object();
	json_object_set_new(root, "site", json_string(d->conf->site));
	json_object_set_new(root, "generation",
			    json_integer(d->state ? (json_int_t)d->state->generation : 0));
	json_object_set_new(root, "safe_mode",
			    d->safe_mode[0]
				    ? json_pack("{s:s,s:s}", "reason", d->safe_mode, "kind",
						d->safe_kind == SAFE_STATE_LOST ? "state-lost"
										: "state-unusable")
				    : json_null());
	int up = d->bird && bird_alive(d->bird);
	json_object_set_new(root, "bird",
			    json_pack("{s:b,s:s,s:o,s:o}", "connected", up, "socket",
				      d->conf->bird_socket, "version",
				      up ? json_string(bird_version(d->bird)) : json_null(),
				      "error",
				      !up && d->bird_error[0] ? json_string(d->bird_error)
							      : json_null()));
	if (d->last.have)
		json_object_set_new(root, "last_apply",
				    json_pack("{s:s,s:o,s:s,s:s,s:s,s:I}", "result",
					      d->last.ok ? "ok" : "failed", "at",
					      time_json(d->last.at), "trigger", d->last.trigger,
					      "change_id", d->last.change_id, "message",
					      d->last.message, "ms", (json_int_t)d->last.ms));
	else
		json_object_set_new(root, "last_apply", json_null());
	json_object_set_new(root, "repairs", json_integer((json_int_t)d->repairs));

	json_t *svcs = json_array();
	for (size_t i = 0; i < d->conf->n_services; i++) {
		const struct conf_service *cs = &d->conf->services[i];
		json_t *v4 = json_array(), *v6 = json_array();
		for (size_t k = 0; k < cs->n_prefixes; k++)
			json_array_append_new(cs->prefixes[k].family == 4 ? v4 : v6,
					      json_string(cs->prefixes[k].text));
		json_t *o = json_pack("{s:s,s:o,s:o}", "name", cs->name, "ipv4", v4, "ipv6", v6);
		const struct svc_state *s = d->state ? state_find(d->state, cs->name) : NULL;
		if (s) {
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
		} else {
			json_object_set_new(o, "state", json_string("unknown"));
			json_object_set_new(o, "prepend", json_integer(0));
			json_object_set_new(o, "next", json_null());
		}
		json_array_append_new(svcs, o);
	}
	json_object_set_new(root, "services", svcs);
	return root;
}

static int check_reason(const char *reason, struct err *e)
{
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

/* Reads the fields a change takes; names the first field that is wrong. */
static int parse_change(const char *body, size_t len, enum change_kind kind,
			struct change_request *req, const char **one_service, json_t **root,
			struct err *e)
{
	memset(req, 0, sizeof *req);
	req->kind = kind;
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
		if (strcmp(key, "site") == 0 || strcmp(key, "reason") == 0 ||
		    (kind == CHANGE_SET && strcmp(key, "state") == 0) ||
		    (kind == CHANGE_SET && strcmp(key, "service") == 0)) {
			if (!json_is_string(v))
				return err_set(e, ERR_INVALID, "field '%s' must be a string", key);
		} else if (strcmp(key, "now") == 0 || strcmp(key, "dry_run") == 0) {
			if (!json_is_boolean(v))
				return err_set(e, ERR_INVALID, "field '%s' must be true or false", key);
		} else if (kind == CHANGE_SET && strcmp(key, "prepend") == 0) {
			if (!json_is_integer(v))
				return err_set(e, ERR_INVALID, "field 'prepend' must be an integer");
		} else if (kind != CHANGE_SET && strcmp(key, "services") == 0) {
			if (!json_is_array(v))
				return err_set(e, ERR_INVALID,
					       "field 'services' must be an array of names");
		} else {
			return err_set(e, ERR_INVALID, "unknown field '%s'", key);
		}
	}
	req->site = json_string_value(json_object_get(*root, "site"));
	req->reason = json_string_value(json_object_get(*root, "reason"));
	req->now = json_is_true(json_object_get(*root, "now"));
	req->dry_run = json_is_true(json_object_get(*root, "dry_run"));
	if (!req->site)
		return err_set(e, ERR_INVALID, "field 'site' is required");
	if (!req->reason)
		return err_set(e, ERR_INVALID,
			       "field 'reason' is required: say why (it is kept with the state)");
	int rc = check_reason(req->reason, e);
	if (rc < 0)
		return rc;
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

static json_t *change_json(const struct daemon *d, const struct change_request *req,
			   const struct change_result *res)
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
	json_t *o = json_pack("{s:s,s:b,s:s,s:o}", "site", d->conf->site, "dry_run",
			      req->dry_run, "change_id", res->change_id, "changes", items);
	if (req->dry_run)
		json_object_set_new(o, "diff", json_string(res->diff ? res->diff : ""));
	if (res->applied)
		json_object_set_new(o, "apply",
				    json_pack("{s:s,s:I}", "result", "ok", "ms",
					      (json_int_t)res->apply_ms));
	else
		json_object_set_new(o, "apply", json_null());
	return o;
}

static void handle_change(struct daemon *d, const struct caller *who, enum change_kind kind,
			  const char *body, size_t len, int *status, char **reply)
{
	struct change_request req;
	struct change_result res;
	const char *one_service = NULL;   /* the service of a set */
	json_t *root = NULL;
	struct err e;
	err_clear(&e);
	int rc = parse_change(body, len, kind, &req, &one_service, &root, &e);
	if (rc == 0)
		rc = daemon_change(d, &req, who, &res, &e);
	if (rc < 0) {
		error_reply(e.code, e.msg, status, reply);
	} else {
		*status = 200;
		*reply = dump(change_json(d, &req, &res));
		change_result_free(&res);
	}
	if (kind != CHANGE_SET)
		free(req.services);
	json_decref(root);
}

/* POST /v1/adopt: {"site", "reason", "force", "dry_run", "assume": [{"service",
 * "state", "prepend"}]}. */
static int parse_adopt(const char *body, size_t len, const struct daemon *d,
		       struct adopt_request *req, struct adopt_assumption **assume,
		       json_t **root, struct err *e)
{
	memset(req, 0, sizeof *req);
	*assume = NULL;
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
		if (strcmp(key, "site") == 0 || strcmp(key, "reason") == 0) {
			if (!json_is_string(v))
				return err_set(e, ERR_INVALID, "field '%s' must be a string", key);
		} else if (strcmp(key, "force") == 0 || strcmp(key, "dry_run") == 0) {
			if (!json_is_boolean(v))
				return err_set(e, ERR_INVALID, "field '%s' must be true or false", key);
		} else if (strcmp(key, "assume") == 0) {
			if (!json_is_array(v))
				return err_set(e, ERR_INVALID, "field 'assume' must be an array of "
					       "{\"service\", \"state\", \"prepend\"}");
		} else {
			return err_set(e, ERR_INVALID, "unknown field '%s'", key);
		}
	}
	const char *site = json_string_value(json_object_get(*root, "site"));
	req->reason = json_string_value(json_object_get(*root, "reason"));
	req->force = json_is_true(json_object_get(*root, "force"));
	req->dry_run = json_is_true(json_object_get(*root, "dry_run"));
	if (!site)
		return err_set(e, ERR_INVALID, "field 'site' is required");
	if (strcmp(site, d->conf->site) != 0)
		return err_set(e, ERR_REFUSED,
			       "this routectld serves site '%s', not '%s': talk to the routectld "
			       "of site '%s'", d->conf->site, site, site);
	if (!req->reason)
		return err_set(e, ERR_INVALID,
			       "field 'reason' is required: say why (it is kept with the state)");
	int rc = check_reason(req->reason, e);
	if (rc < 0)
		return rc;
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

static json_t *adopt_json(const struct daemon *d, const struct adopt_request *req,
			  const struct adopt_result *res)
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
	json_t *o = json_pack("{s:s,s:b,s:s,s:o,s:o,s:I,s:s}", "site", d->conf->site, "dry_run",
			      req->dry_run, "change_id", res->change_id, "changes", changes,
			      "adopted", adopted, "generation", (json_int_t)res->generation,
			      "evidence", res->evidence);
	json_object_set_new(o, "warnings", res->plan.warnings[0]
					   ? json_string(res->plan.warnings) : json_null());
	json_object_set_new(o, "set_aside",
			    res->set_aside[0] ? json_string(res->set_aside) : json_null());
	if (req->dry_run)
		json_object_set_new(o, "diff", json_string(res->diff ? res->diff : ""));
	json_object_set_new(o, "apply",
			    res->applied ? json_pack("{s:s,s:I}", "result", "ok", "ms",
						     (json_int_t)res->apply_ms)
					 : json_null());
	return o;
}

static void handle_adopt(struct daemon *d, const struct caller *who, const char *body,
			 size_t len, int *status, char **reply)
{
	struct adopt_request req;
	struct adopt_result res;
	struct adopt_assumption *assume = NULL;
	json_t *root = NULL;
	struct err e;
	err_clear(&e);
	int rc = parse_adopt(body, len, d, &req, &assume, &root, &e);
	if (rc == 0)
		rc = daemon_adopt(d, &req, who, &res, &e);
	if (rc < 0) {
		error_reply(e.code, e.msg, status, reply);
	} else {
		*status = 200;
		*reply = dump(adopt_json(d, &req, &res));
		adopt_result_free(&res);
	}
	free(assume);
	json_decref(root);
}

void commands_handle(struct daemon *d, const struct caller *who, const char *method,
		     const char *path, const char *body, size_t body_len, int *status,
		     char **reply)
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
		return;
	}
	if ((routes[r].post && !post) || (!routes[r].post && !get)) {
		char msg[300];
		snprintf(msg, sizeof msg, "%s takes %s, not %.20s", path,
			 routes[r].post ? "POST" : "GET", method);
		error_reply(ERR_INVALID, msg, status, reply);
		*status = 405;
		return;
	}
	if (strcmp(path, "/v1/status") == 0) {
		*status = 200;
		*reply = dump(status_json(d));
	} else if (strcmp(path, "/healthz") == 0) {
		*status = 200;
		*reply = dump(json_pack("{s:b}", "ok", 1));
	} else if (strcmp(path, "/readyz") == 0) {
		const char *why = d->safe_mode[0] ? d->safe_mode
				  : !(d->bird && bird_alive(d->bird)) ? "BIRD is not connected"
								      : NULL;
		*status = why ? 503 : 200;
		*reply = dump(why ? json_pack("{s:b,s:s}", "ready", 0, "reason", why)
				  : json_pack("{s:b}", "ready", 1));
	} else if (strcmp(path, "/v1/drain") == 0) {
		handle_change(d, who, CHANGE_DRAIN, body, body_len, status, reply);
	} else if (strcmp(path, "/v1/adopt") == 0) {
		handle_adopt(d, who, body, body_len, status, reply);
	} else if (strcmp(path, "/v1/undrain") == 0) {
		handle_change(d, who, CHANGE_UNDRAIN, body, body_len, status, reply);
	} else {
		handle_change(d, who, CHANGE_SET, body, body_len, status, reply);
	}
}
