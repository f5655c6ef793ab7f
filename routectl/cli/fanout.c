#include "cli/fanout.h"
#include "common/err.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fanout_check_command(const struct cli_request *req, struct err *e)
{
	switch (req->cmd) {
	case CMD_STATUS:
	case CMD_DRAIN:
	case CMD_UNDRAIN:
	case CMD_SET:
	case CMD_CONFIRM:
		return 0;
	default:
		return err_set(e, ERR_INVALID, "%s: not with -f (a fleet): it acts on one "
			       "router; use -s SOCKET", req->cmd_name);
	}
}

static bool all_sites(const struct cli_request *req)
{
	return req->site && strcmp(req->site, CLI_FLEET_ALL_SITES) == 0;
}

/* One router's reply checked as decode.c checks a single router's. */
static void decode_one(const struct cli_request *req, struct fanout_router *fr)
{
	const struct fleet_reply *rep = fr->reply;
	const struct fleet_router *rt = rep->router;
	const char *url = rep->endpoint && strcmp(rep->endpoint, "oob") == 0 ? rt->oob_url
									     : rt->api_url;
	snprintf(fr->url, sizeof fr->url, "%s", url);
	/* decode.c names the router by the request's socket: here its URL */
	struct cli_request rq = *req;
	rq.socket_path = fr->url;
	if (rep->endpoint) {
		cli_result_from_response(&rq, rep->status, rep->body ? rep->body : "",
					 rep->body_len, &fr->res);
		return;
	}
	cli_result_init(&rq, &fr->res);
	if (rep->maybe_applied) {
		cli_result_unknown_outcome(&rq, &fr->res, NULL, rep->error);
		return;
	}
	bool change = cli_request_is_change(req);
	cli_result_local_error(&fr->res, strstr(rep->error, "in time") ? "timeout" : "connect",
			       "%s%s%s%s", rep->error,
			       change ? "; the " : "", change ? req->cmd_name : "",
			       change ? " was not applied there (nothing was sent)" : "");
}

/* Sends only to req->site's routers: sel set, or -ERR_NOTFOUND (nothing
 * sent) when the fleet has no such site. */
static int select_site(const struct fleet *f, const struct cli_request *req,
		       struct fleet_select *sel, struct err *e)
{
	if (!fleet_find_site(f, req->site))
		return err_set(e, ERR_NOTFOUND, "%s: the fleet %s has no site %s (nothing was sent)",
			       req->cmd_name, f->source, req->site);
	sel->scope = FLEET_SITE;
	sel->site = req->site;
	return 0;
}

int fanout_execute(const struct fleet *f, const struct cli_request *req,
		   struct fanout_result *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	out->fleet = f;
	out->req = req;
	int rc = fanout_check_command(req, e);
	if (rc < 0)
		return rc;
	char target[1024];
	if (cli_request_target(req, target, sizeof target) < 0)
		return err_set(e, ERR_INVALID, "%s: the request is too long", req->cmd_name);

	struct fleet_select sel = { FLEET_ALL, NULL };
	struct fleet_call_opts o = {
		.timeout_ms = (unsigned)req->timeout_s * 1000u,
		.via = req->via == CLI_VIA_OOB	       ? FLEET_VIA_OOB
		       : req->via == CLI_VIA_PRIMARY ? FLEET_VIA_PRIMARY
						     : FLEET_VIA_AUTO,
	};
	char *body = NULL;
	if (req->cmd == CMD_CONFIRM) {
		/* Every router of the fleet by default: a router that does not
		 * have the change answers 404 and that is fine. */
		if (req->site && !all_sites(req) && select_site(f, req, &sel, e) < 0)
			return -(int)e->code;
		struct cli_request rq = *req;
		if (all_sites(req))
			rq.site = NULL;
		json_t *j = cli_request_body(&rq);
		body = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		if (!body)
			return err_set(e, ERR_NOMEM, "%s: out of memory building the request",
				       req->cmd_name);
	} else if (req->cmd != CMD_STATUS) {
		if (!all_sites(req)) {
			if (select_site(f, req, &sel, e) < 0)
				return -(int)e->code;
		} else {
			o.site_per_router = true;
		}
		json_t *j = cli_request_body(req);
		/* One change, one id on every router: one confirm confirms it
		 * everywhere. A dry run changes nothing and has none. */
		char id[17] = "";
		if (!req->dry_run)
			change_id_new(id);
		if (j && id[0] && json_object_set_new(j, "change_id", json_string(id)) < 0) {
			json_decref(j);
			j = NULL;
		}
		body = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		if (!body)
			return err_set(e, ERR_NOMEM, "%s: out of memory building the request",
				       req->cmd_name);
		memcpy(out->change_id, id, sizeof id);
	}
	struct fleet_replies replies;
	rc = fleet_call(f, sel, cli_method(req->cmd), target, body, &o, &replies, e);
	free(body);
	if (rc < 0)
		return err_prefix(e, "%s", req->cmd_name);
	char id[17];
	memcpy(id, out->change_id, sizeof id);
	rc = fanout_from_replies(f, req, &replies, out, e);
	memcpy(out->change_id, id, sizeof id);
	return rc;
}

int fanout_from_replies(const struct fleet *f, const struct cli_request *req,
			struct fleet_replies *replies, struct fanout_result *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	out->fleet = f;
	out->req = req;
	out->replies = *replies;
	memset(replies, 0, sizeof *replies);
	out->routers = calloc(out->replies.n + 1, sizeof *out->routers);
	if (!out->routers) {
		fleet_replies_free(&out->replies);
		return err_set(e, ERR_NOMEM, "%s: out of memory", req->cmd_name);
	}
	out->n_routers = out->replies.n;
	for (size_t i = 0; i < out->n_routers; i++) {
		out->routers[i].reply = &out->replies.v[i];
		decode_one(req, &out->routers[i]);
	}
	if (req->cmd == CMD_STATUS) {
		int rc = fleet_view_from_replies(f, &out->replies, &out->view, e);
		if (rc < 0) {
			fanout_result_free(out);
			return rc;
		}
		out->has_view = true;
	}
	return 0;
}

void fanout_result_free(struct fanout_result *r)
{
	for (size_t i = 0; i < r->n_routers; i++)
		cli_result_free(&r->routers[i].res);
	free(r->routers);
	fleet_replies_free(&r->replies);
	if (r->has_view)
		fleet_view_free(&r->view);
	memset(r, 0, sizeof *r);
}

enum fanout_confirm fanout_confirm_outcome(const struct fanout_router *fr)
{
	const struct cli_result *res = &fr->res;
	if (res->outcome_unknown)
		return FCONFIRM_UNKNOWN;
	if (res->kind == RESULT_CONFIRMED)
		return FCONFIRM_CONFIRMED;
	if (res->kind != RESULT_API_ERROR)
		return fr->reply->endpoint ? FCONFIRM_REFUSED : FCONFIRM_UNREACHABLE;
	if (res->http_status == 404)
		return FCONFIRM_NOT_PENDING;
	const char *oc = res->error_outcome;
	if (res->http_status != 409 || !oc)
		return FCONFIRM_REFUSED;
	if (strcmp(oc, "confirmed") == 0)
		return FCONFIRM_ALREADY;
	if (strcmp(oc, "superseded") == 0)
		return FCONFIRM_SUPERSEDED;
	if (strcmp(oc, "late") == 0 || strcmp(oc, "reverted") == 0 || strcmp(oc, "kept") == 0)
		return FCONFIRM_LATE;
	return FCONFIRM_REFUSED;
}

const char *fanout_confirm_name(enum fanout_confirm c)
{
	switch (c) {
	case FCONFIRM_CONFIRMED: return "confirmed";
	case FCONFIRM_ALREADY: return "already-confirmed";
	case FCONFIRM_NOT_PENDING: return "not-pending";
	case FCONFIRM_SUPERSEDED: return "superseded";
	case FCONFIRM_LATE: return "late";
	case FCONFIRM_REFUSED: return "refused";
	case FCONFIRM_UNREACHABLE: return "unreachable";
	case FCONFIRM_UNKNOWN: return "unknown";
	}
	return "refused";
}

static enum cli_exit confirm_exit(const struct fanout_result *r)
{
	enum cli_exit worst = CLI_EXIT_OK;
	bool known = false;
	for (size_t i = 0; i < r->n_routers; i++) {
		switch (fanout_confirm_outcome(&r->routers[i])) {
		case FCONFIRM_UNKNOWN:
			return CLI_EXIT_UNKNOWN;
		case FCONFIRM_CONFIRMED:
		case FCONFIRM_ALREADY:
		case FCONFIRM_SUPERSEDED:
			known = true;
			break;
		case FCONFIRM_NOT_PENDING:
			break;
		case FCONFIRM_LATE:
			known = true;
			worst = CLI_EXIT_FAILED;
			break;
		case FCONFIRM_REFUSED:
		case FCONFIRM_UNREACHABLE:
			worst = CLI_EXIT_FAILED;
			break;
		}
	}
	return known ? worst : CLI_EXIT_FAILED;
}

enum cli_exit fanout_exit(const struct fanout_result *r)
{
	if (r->req->cmd == CMD_CONFIRM)
		return confirm_exit(r);
	enum cli_exit worst = CLI_EXIT_OK;
	for (size_t i = 0; i < r->n_routers; i++) {
		enum cli_exit x = cli_result_exit(&r->routers[i].res);
		if (x == CLI_EXIT_UNKNOWN)
			return CLI_EXIT_UNKNOWN;
		if (x != CLI_EXIT_OK)
			worst = CLI_EXIT_FAILED;
	}
	/* a status that is not of the site the fleet document says, or not of
	 * the shape a view needs, leaves that router unasked too */
	for (size_t i = 0; r->has_view && i < r->view.n_sites; i++)
		if (r->view.sites[i].n_unreachable)
			worst = CLI_EXIT_FAILED;
	return worst;
}

/* "ok", "refused", "failed", "unknown": what a router's change came to. */
static const char *outcome_word(const struct cli_result *res)
{
	if (res->outcome_unknown)
		return "unknown";
	if (res->kind == RESULT_API_ERROR)
		return "refused";
	if (res->kind != RESULT_CHANGE)
		return "failed";
	if (res->change.has_apply && strcmp(res->change.apply_result, "ok") != 0)
		return "failed";
	return "ok";
}

bool fanout_site_disagrees(const struct fanout_result *r, const char *site, char *why,
			   size_t size)
{
	const struct fanout_router *first = NULL;
	bool differ = false, states_differ = false;
	for (size_t i = 0; i < r->n_routers; i++) {
		const struct fanout_router *fr = &r->routers[i];
		if (strcmp(fr->reply->router->site, site) != 0)
			continue;
		if (!first) {
			first = fr;
			continue;
		}
		const char *a = outcome_word(&first->res), *b = outcome_word(&fr->res);
		if (strcmp(a, b) != 0) {
			differ = true;
			break;
		}
		if (strcmp(a, "ok") != 0)
			continue;
		/* Both applied: a service both changed must have gone to the same
		 * state. (One that only one of them changed was already where
		 * the change takes it at the other: "no change" there.) */
		const struct view_change *x = &first->res.change, *y = &fr->res.change;
		for (size_t k = 0; k < x->n_items && !differ; k++)
			for (size_t m = 0; m < y->n_items; m++)
				if (strcmp(y->items[m].service, x->items[k].service) == 0 &&
				    (y->items[m].to_mode != x->items[k].to_mode ||
				     y->items[m].to_prepend != x->items[k].to_prepend))
					differ = true;
		if (differ) {
			states_differ = true;
			break;
		}
	}
	if (!differ)
		return false;
	size_t used = (size_t)snprintf(why, size, "routers of %s disagree:", site);
	for (size_t i = 0; i < r->n_routers && used < size; i++) {
		const struct fanout_router *fr = &r->routers[i];
		if (strcmp(fr->reply->router->site, site) != 0)
			continue;
		used += (size_t)snprintf(why + used, size - used, " %s %s;",
					 fr->reply->router->name, outcome_word(&fr->res));
	}
	if (used < size && used > 0 && why[used - 1] == ';')
		why[--used] = '\0';
	if (states_differ && used < size)
		snprintf(why + used, size - used, " (their services went to different states)");
	return true;
}
