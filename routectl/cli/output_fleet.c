/* The output layer's part for routectl -f FLEET (declared in output.h):
 * the fleet's status as one table of site x service, and a change as one
 * line per router. */
#include "cli/output.h"
#include "common/buf.h"
#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a small table: cells cleaned of control characters ---- */

#define MAX_COLS 6

struct row {
	char *cell[MAX_COLS];
};

struct ftable {
	size_t ncols;
	struct row *rows;
	size_t n, cap;
	int nomem;
};

static void ft_add(struct ftable *t, const char *const *cells)
{
	if (t->nomem)
		return;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		void *p = realloc(t->rows, cap * sizeof *t->rows);
		if (!p) {
			t->nomem = 1;
			return;
		}
		t->rows = p;
		t->cap = cap;
	}
	struct row *r = &t->rows[t->n++];
	memset(r, 0, sizeof *r);
	for (size_t i = 0; i < t->ncols; i++) {
		struct buf b = { 0 };
		if (output_clean(&b, cells[i] ? cells[i] : "", false) < 0 || buf_puts(&b, "") < 0) {
			t->nomem = 1;
			buf_free(&b);
			return;
		}
		r->cell[i] = buf_steal(&b);
	}
}

/* Columns padded to their widest cell; the last one is not padded. */
static int ft_render(struct buf *out, struct ftable *t)
{
	if (t->nomem)
		return -ERR_NOMEM;
	size_t w[MAX_COLS] = { 0 };
	for (size_t i = 0; i < t->n; i++)
		for (size_t c = 0; c < t->ncols; c++)
			if (strlen(t->rows[i].cell[c]) > w[c])
				w[c] = strlen(t->rows[i].cell[c]);
	int rc = 0;
	for (size_t i = 0; i < t->n; i++) {
		for (size_t c = 0; c < t->ncols; c++) {
			if (c + 1 < t->ncols)
				rc |= buf_printf(out, "%-*s  ", (int)w[c], t->rows[i].cell[c]);
			else
				rc |= buf_printf(out, "%s\n", t->rows[i].cell[c]);
		}
	}
	return rc ? -ERR_NOMEM : 0;
}

static void ft_free(struct ftable *t)
{
	for (size_t i = 0; i < t->n; i++)
		for (size_t c = 0; c < t->ncols; c++)
			free(t->rows[i].cell[c]);
	free(t->rows);
}

/* ---- status ---- */

/* The object of service `name` in a router's status answer, or NULL. */
static json_t *service_obj(const struct fanout_router *fr, const char *name)
{
	if (fr->res.kind != RESULT_STATUS)
		return NULL;
	json_t *svcs = json_object_get(fr->res.body, "services"), *s;
	size_t i;
	json_array_foreach(svcs, i, s) {
		const char *n = json_string_value(json_object_get(s, "name"));
		if (n && strcmp(n, name) == 0)
			return s;
	}
	return NULL;
}

static bool router_ok(const struct fanout_router *fr)
{
	return fr->res.kind == RESULT_STATUS;
}

static const struct fleet_view_router *view_router(const struct fanout_result *r,
						   const struct fleet_router *rt)
{
	const struct fleet_view_site *s = fleet_view_find_site(&r->view, rt->site);
	for (size_t i = 0; s && i < s->n_routers; i++)
		if (s->routers[i].router == rt)
			return &s->routers[i];
	return NULL;
}

/* "withdraw at T (in N s)" from a next or confirm object's members. */
static void when_text(json_t *o, const char *at_key, char *out, size_t size)
{
	const char *at = json_string_value(json_object_get(o, at_key));
	json_t *in = json_object_get(o, "in_s");
	if (json_is_integer(in))
		snprintf(out, size, "%s (in %lld s)", at ? at : "?", (long long)json_integer_value(in));
	else
		snprintf(out, size, "%s", at ? at : "?");
}

static void state_cell(const struct fleet_view_service *vs, const struct fanout_result *r,
		       const char *site, char *out, size_t size)
{
	if (!vs->disagree) {
		if (!vs->known)
			snprintf(out, size, "unknown");
		else
			output_state_name(vs->mode, vs->prepend, out, size);
		return;
	}
	/* every router's own state, so that the operator sees who is where */
	size_t used = (size_t)snprintf(out, size, "ROUTERS DISAGREE:");
	for (size_t i = 0; i < r->n_routers && used < size; i++) {
		const struct fanout_router *fr = &r->routers[i];
		if (strcmp(fr->reply->router->site, site) != 0 || !router_ok(fr))
			continue;
		const struct view_service *s = NULL;
		for (size_t k = 0; k < fr->res.status.n_services; k++)
			if (strcmp(fr->res.status.services[k].name, vs->name) == 0)
				s = &fr->res.status.services[k];
		char st[32] = "absent";
		if (s && !s->known)
			snprintf(st, sizeof st, "unknown");
		else if (s)
			output_state_name(s->mode, s->prepend, st, sizeof st);
		used += (size_t)snprintf(out + used, size - used, " %s %s,", fr->reply->router->name, st);
	}
	if (used < size && out[used - 1] == ',')
		out[used - 1] = '\0';
}

/* The changes that wait for a confirmation, each once with the routers
 * that wait for it: a change made with -f has one id on every router. */
struct pending_one {
	const char *change_id;
	const char *deadline;         /* the earliest of its routers' */
	long long in_s;
	bool has_in_s;
	json_t *routers, *sites, *services;   /* arrays of names */
};

static void add_name(json_t *a, const char *name)
{
	json_t *x;
	size_t i;
	json_array_foreach(a, i, x)
		if (strcmp(json_string_value(x), name) == 0)
			return;
	json_array_append_new(a, json_string(name));
}

/* Fills *out (n entries; free with pending_free) from the routers' status
 * answers. */
static int pending_collect(const struct fanout_result *r, struct pending_one **out, size_t *n)
{
	size_t cap = 0;
	for (size_t i = 0; i < r->n_routers; i++)
		if (r->routers[i].res.kind == RESULT_STATUS)
			cap += r->routers[i].res.status.n_pending;
	*n = 0;
	*out = calloc(cap + 1, sizeof **out);
	if (!*out)
		return -ERR_NOMEM;
	for (size_t i = 0; i < r->n_routers; i++) {
		const struct fanout_router *fr = &r->routers[i];
		if (fr->res.kind != RESULT_STATUS)
			continue;
		for (size_t k = 0; k < fr->res.status.n_pending; k++) {
			const struct view_confirm_wait *w = &fr->res.status.pending[k];
			struct pending_one *p = NULL;
			for (size_t m = 0; m < *n && !p; m++)
				if (strcmp((*out)[m].change_id, w->change_id) == 0)
					p = &(*out)[m];
			if (!p) {
				p = &(*out)[(*n)++];
				p->change_id = w->change_id;
				p->routers = json_array();
				p->sites = json_array();
				p->services = json_array();
			}
			/* ISO 8601 UTC strings of one form compare as times */
			if (!p->deadline || strcmp(w->deadline, p->deadline) < 0) {
				p->deadline = w->deadline;
				p->has_in_s = w->has_in_s;
				p->in_s = w->in_s;
			}
			add_name(p->routers, fr->reply->router->name);
			add_name(p->sites, fr->reply->router->site);
			for (size_t m = 0; m < w->n_services; m++)
				add_name(p->services, w->services[m]);
		}
	}
	return 0;
}

static void pending_free(struct pending_one *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_decref(v[i].routers);
		json_decref(v[i].sites);
		json_decref(v[i].services);
	}
	free(v);
}

static void join_names(json_t *a, char *out, size_t size)
{
	json_t *x;
	size_t i, used = 0;
	out[0] = '\0';
	json_array_foreach(a, i, x)
		if (used < size)
			used += (size_t)snprintf(out + used, size - used, "%s%s", i ? ", " : "",
						 json_string_value(x));
}

static int pending_text(struct buf *out, const struct fanout_result *r)
{
	struct pending_one *v;
	size_t n;
	if (pending_collect(r, &v, &n) < 0)
		return -ERR_NOMEM;
	int rc = 0;
	if (n) {
		static const char *const head[] = { "CHANGE", "DEADLINE", "ROUTERS", "SITES",
						    "SERVICES" };
		struct ftable t = { .ncols = 5 };
		ft_add(&t, head);
		for (size_t i = 0; i < n; i++) {
			char when[100], routers[1024], sites[512], svcs[1024];
			if (v[i].has_in_s)
				snprintf(when, sizeof when, "%s (in %lld s)", v[i].deadline, v[i].in_s);
			else
				snprintf(when, sizeof when, "%s", v[i].deadline);
			join_names(v[i].routers, routers, sizeof routers);
			join_names(v[i].sites, sites, sizeof sites);
			join_names(v[i].services, svcs, sizeof svcs);
			const char *row[] = { v[i].change_id, when, routers, sites, svcs };
			ft_add(&t, row);
		}
		rc |= buf_printf(out, "\nwaiting for a confirmation (routectl -f %s confirm "
				 "CHANGE):\n", r->fleet->source);
		rc |= ft_render(out, &t);
		ft_free(&t);
	}
	pending_free(v, n);
	return rc ? -ERR_NOMEM : 0;
}

static json_t *pending_json(const struct fanout_result *r)
{
	struct pending_one *v;
	size_t n;
	if (pending_collect(r, &v, &n) < 0)
		return NULL;
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_pack("{s:s,s:s,s:O,s:O,s:O}", "change_id", v[i].change_id,
				      "deadline", v[i].deadline, "routers", v[i].routers, "sites",
				      v[i].sites, "services", v[i].services);
		if (o && v[i].has_in_s)
			json_object_set_new(o, "in_s", json_integer(v[i].in_s));
		json_array_append_new(a, o);
	}
	pending_free(v, n);
	return a;
}

/* The change a router waits for on service svc ("" for none). */
static const char *confirm_id_of(const struct fanout_router *fr, const char *svc)
{
	json_t *c = json_object_get(service_obj(fr, svc), "confirm");
	const char *id = json_string_value(json_object_get(c, "change_id"));
	return id ? id : "";
}

/* A change made on every router of a site waits under one id on each: when
 * the routers of site wait for different changes on svc (or some for none),
 * the CONFIRM cell says which router waits for which. */
static void confirm_differs(const struct fanout_result *r, const char *site, const char *svc,
			    char *out, size_t size)
{
	const char *first = NULL;
	bool differ = false;
	for (size_t i = 0; i < r->n_routers; i++) {
		const struct fanout_router *fr = &r->routers[i];
		if (strcmp(fr->reply->router->site, site) != 0 || !router_ok(fr))
			continue;
		const char *id = confirm_id_of(fr, svc);
		if (!first)
			first = id;
		else if (strcmp(first, id) != 0)
			differ = true;
	}
	if (!differ)
		return;
	size_t used = (size_t)snprintf(out, size, "ROUTERS DIFFER:");
	for (size_t i = 0; i < r->n_routers && used < size; i++) {
		const struct fanout_router *fr = &r->routers[i];
		if (strcmp(fr->reply->router->site, site) != 0 || !router_ok(fr))
			continue;
		const char *id = confirm_id_of(fr, svc);
		used += (size_t)snprintf(out + used, size - used, " %s %s,", fr->reply->router->name,
					 id[0] ? id : "none");
	}
	if (used < size && out[used - 1] == ',')
		out[used - 1] = '\0';
}

int output_fleet_status_text(struct buf *out, const struct fanout_result *r)
{
	static const char *const head[] = { "SITE", "SERVICE", "STATE", "NEXT", "CONFIRM" };
	struct ftable t = { .ncols = 5 };
	ft_add(&t, head);
	size_t unreachable = 0;
	for (size_t i = 0; i < r->view.n_sites; i++) {
		const struct fleet_view_site *s = &r->view.sites[i];
		unreachable += s->n_unreachable;
		if (s->n_unreachable == s->n_routers) {
			const char *row[] = { s->name, "-", "UNREACHABLE (no router answered)", "-",
					      "-" };
			ft_add(&t, row);
			continue;
		}
		for (size_t k = 0; k < s->n_services; k++) {
			const struct fleet_view_service *vs = &s->services[k];
			char state[512], next[160] = "-", confirm[512] = "-";
			state_cell(vs, r, s->name, state, sizeof state);
			/* next step and pending confirmation from the first router
			 * that has one */
			for (size_t j = 0; j < r->n_routers; j++) {
				const struct fanout_router *fr = &r->routers[j];
				if (strcmp(fr->reply->router->site, s->name) != 0)
					continue;
				json_t *o = service_obj(fr, vs->name);
				json_t *n = json_object_get(o, "next");
				json_t *c = json_object_get(o, "confirm");
				if (json_is_object(n) && strcmp(next, "-") == 0) {
					char st[32], when[100];
					enum svc_mode m;
					json_t *p = json_object_get(n, "prepend");
					const char *ms = json_string_value(json_object_get(n, "state"));
					if (ms && svc_mode_parse(ms, &m) == 0)
						output_state_name(m, json_is_integer(p)
									 ? (unsigned)json_integer_value(p)
									 : 0, st, sizeof st);
					else
						snprintf(st, sizeof st, "?");
					when_text(n, "at", when, sizeof when);
					snprintf(next, sizeof next, "%s at %s", st, when);
				}
				if (json_is_object(c) && strcmp(confirm, "-") == 0) {
					char when[100];
					when_text(c, "deadline", when, sizeof when);
					const char *id = json_string_value(json_object_get(c, "change_id"));
					snprintf(confirm, sizeof confirm, "by %s, change %s", when,
						 id ? id : "?");
				}
			}
			confirm_differs(r, s->name, vs->name, confirm, sizeof confirm);
			const char *row[] = { s->name, vs->name, state, next, confirm };
			ft_add(&t, row);
		}
		if (s->n_unreachable) {
			char msg[96];
			snprintf(msg, sizeof msg, "PARTLY UNREACHABLE (%zu of %zu routers did not answer)",
				 s->n_unreachable, s->n_routers);
			const char *row[] = { s->name, "*", msg, "-", "-" };
			ft_add(&t, row);
		}
	}
	int rc = buf_printf(out, "fleet %s: %zu sites, %zu routers", r->fleet->source,
			    r->view.n_sites, r->n_routers);
	rc |= unreachable ? buf_printf(out, ", %zu UNREACHABLE\n", unreachable) : buf_puts(out, "\n");
	rc |= ft_render(out, &t);
	ft_free(&t);

	/* the routers: who answered, through which endpoint, and what is wrong */
	static const char *const rhead[] = { "ROUTER", "SITE", "ANSWERED", "NOTE" };
	struct ftable rt = { .ncols = 4 };
	ft_add(&rt, rhead);
	for (size_t i = 0; i < r->n_routers; i++) {
		const struct fanout_router *fr = &r->routers[i];
		const struct fleet_view_router *vr = view_router(r, fr->reply->router);
		char answered[64], note[900] = "";
		if (vr && vr->answered) {
			snprintf(answered, sizeof answered, "%s", fr->reply->endpoint);
			if (fr->reply->primary_error[0])
				snprintf(note, sizeof note, "primary passed over: %s",
					 fr->reply->primary_error);
			if (fr->res.status.safe_mode_reason)
				snprintf(note + strlen(note), sizeof note - strlen(note), "%sSAFE MODE: %s",
					 note[0] ? "; " : "", fr->res.status.safe_mode_reason);
			else if (!fr->res.status.bird_connected)
				snprintf(note + strlen(note), sizeof note - strlen(note),
					 "%sBIRD not connected", note[0] ? "; " : "");
			if (fr->res.status.has_reload && !fr->res.status.reload_ok)
				snprintf(note + strlen(note), sizeof note - strlen(note),
					 "%sconfig reload at %s FAILED, the config loaded before runs",
					 note[0] ? "; " : "",
					 fr->res.status.reload_at ? fr->res.status.reload_at : "?");
			/* a path to this router that is down while routectld runs */
			for (size_t k = 0; k < fr->res.status.n_listeners; k++) {
				const struct view_listener *l = &fr->res.status.listeners[k];
				if (!l->bound)
					snprintf(note + strlen(note), sizeof note - strlen(note),
						 strchr(l->address, ':') ? "%s%s listener [%s]:%lld NOT BOUND"
									 : "%s%s listener %s:%lld NOT BOUND",
						 note[0] ? "; " : "", l->kind, l->address, l->port);
			}
		} else {
			snprintf(answered, sizeof answered, "UNREACHABLE");
			snprintf(note, sizeof note, "%s", vr ? vr->error : fr->reply->error);
		}
		const char *row[] = { fr->reply->router->name, fr->reply->router->site, answered,
				      note[0] ? note : "-" };
		ft_add(&rt, row);
	}
	rc |= buf_puts(out, "\n");
	rc |= ft_render(out, &rt);
	ft_free(&rt);
	rc |= pending_text(out, r);
	return rc ? -ERR_NOMEM : 0;
}

static json_t *str_or_null(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

static json_t *router_json(const struct fanout_router *fr, const struct fleet_view_router *vr)
{
	const struct fleet_reply *rep = fr->reply;
	json_t *o = json_pack("{s:s,s:s,s:o,s:s,s:o,s:I}", "name", rep->router->name, "site",
			      rep->router->site, "endpoint", str_or_null(rep->endpoint), "url",
			      fr->url, "primary_error", str_or_null(rep->primary_error),
			      "http_status", (json_int_t)rep->status);
	const char *err = NULL;
	if (vr && !vr->answered)
		err = vr->error;
	else if (fr->res.kind == RESULT_LOCAL_ERROR)
		err = fr->res.local_msg;
	else if (fr->res.kind == RESULT_API_ERROR)
		err = fr->res.error_message;
	json_object_set_new(o, "error", str_or_null(err));
	json_object_set(o, "answer", fr->res.body ? fr->res.body : json_null());
	return o;
}

static json_t *status_json(const struct fanout_result *r)
{
	json_t *sites = json_array();
	for (size_t i = 0; i < r->view.n_sites; i++) {
		const struct fleet_view_site *s = &r->view.sites[i];
		json_t *unreach = json_array(), *svcs = json_array();
		for (size_t k = 0; k < s->n_routers; k++)
			if (!s->routers[k].answered)
				json_array_append_new(unreach, json_pack("{s:s,s:s}", "router",
									 s->routers[k].router->name,
									 "error", s->routers[k].error));
		for (size_t k = 0; k < s->n_services; k++) {
			const struct fleet_view_service *vs = &s->services[k];
			json_t *per = json_object(), *next = json_null(), *confirm = json_null();
			for (size_t j = 0; j < r->n_routers; j++) {
				const struct fanout_router *fr = &r->routers[j];
				if (strcmp(fr->reply->router->site, s->name) != 0)
					continue;
				json_t *o = service_obj(fr, vs->name);
				if (!o)
					continue;
				json_object_set_new(per, fr->reply->router->name,
						    json_pack("{s:O,s:O}", "state",
							      json_object_get(o, "state"), "prepend",
							      json_object_get(o, "prepend")));
				if (json_is_null(next) && json_is_object(json_object_get(o, "next")))
					next = json_deep_copy(json_object_get(o, "next"));
				if (json_is_null(confirm) &&
				    json_is_object(json_object_get(o, "confirm")))
					confirm = json_deep_copy(json_object_get(o, "confirm"));
			}
			json_array_append_new(svcs, json_pack(
				"{s:s,s:s,s:i,s:b,s:o,s:o,s:o}", "name", vs->name, "state",
				vs->known ? svc_mode_name(vs->mode) : "unknown", "prepend",
				(int)vs->prepend, "disagree", vs->disagree, "next", next, "confirm",
				confirm, "routers", per));
		}
		json_array_append_new(sites, json_pack("{s:s,s:I,s:o,s:b,s:o}", "name", s->name,
						       "routers", (json_int_t)s->n_routers,
						       "unreachable", unreach, "disagree", s->disagree,
						       "services", svcs));
	}
	json_t *routers = json_array();
	for (size_t i = 0; i < r->n_routers; i++)
		json_array_append_new(routers, router_json(&r->routers[i],
							   view_router(r, r->routers[i].reply->router)));
	return json_pack("{s:s,s:o,s:o,s:o}", "fleet", r->fleet->source, "sites", sites, "routers",
			 routers, "pending_confirms", pending_json(r));
}

/* ---- changes ---- */

static const char *result_word(const struct cli_result *res)
{
	if (res->outcome_unknown)
		return "OUTCOME UNKNOWN";
	switch (res->kind) {
	case RESULT_CHANGE:
		if (res->change.has_apply && strcmp(res->change.apply_result, "ok") != 0)
			return strcmp(res->change.apply_result, "partial") == 0 ? "PARTIAL" : "FAILED";
		return res->change.dry_run ? "dry run" : "ok";
	case RESULT_API_ERROR:
		return "REFUSED";
	default:
		return "NOT REACHED";
	}
}


/* Appends text (cleaned of control characters, output_clean) and a newline
 * to out, and frees text. */
static int put_clean_line(struct buf *out, struct buf *text)
{
	struct buf clean = { 0 };
	int rc = output_clean(&clean, text->p ? text->p : "", false);
	rc |= buf_puts(out, clean.p ? clean.p : "");
	rc |= buf_puts(out, "\n");
	buf_free(&clean);
	buf_free(text);
	return rc;
}

/* text indented by four spaces, line by line */
static int put_indented(struct buf *out, const char *text)
{
	int rc = 0;
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		rc |= buf_puts(out, "    ");
		rc |= buf_append(out, p, n);
		rc |= buf_puts(out, "\n");
		p = nl ? nl + 1 : NULL;
	}
	return rc;
}

/* The guard verdicts a routectld reply carries ("guards": [{name, verdict,
 * message}]), one line each. */
static int put_guards(struct buf *out, json_t *body)
{
	json_t *g = json_object_get(body, "guards"), *x;
	size_t i;
	int rc = 0;
	json_array_foreach(g, i, x) {
		const char *name = json_string_value(json_object_get(x, "name"));
		const char *verdict = json_string_value(json_object_get(x, "verdict"));
		const char *msg = json_string_value(json_object_get(x, "message"));
		struct buf line = { 0 };
		rc |= buf_printf(&line, "guard %s: %s%s%s", name ? name : "?", verdict ? verdict : "?",
				 msg && *msg ? ": " : "", msg ? msg : "");
		struct buf clean = { 0 };
		rc |= output_clean(&clean, line.p ? line.p : "", false);
		rc |= put_indented(out, clean.p ? clean.p : "");
		buf_free(&line);
		buf_free(&clean);
	}
	return rc;
}

int output_fleet_change_text(struct buf *out, const struct fanout_result *r)
{
	int rc = 0;
	size_t counts[5] = { 0 };   /* ok, refused, failed, unknown, not reached */
	for (size_t i = 0; i < r->n_routers; i++) {
		const struct fanout_router *fr = &r->routers[i];
		const struct fleet_reply *rep = fr->reply;
		const char *more = NULL;   /* lines of an error message after its first */
		struct buf line = { 0 };
		rc |= buf_printf(&line, "%s (%s)", rep->router->name, rep->router->site);
		if (rep->endpoint)
			rc |= buf_printf(&line, " via %s", rep->endpoint);
		if (rep->endpoint && rep->primary_error[0])
			rc |= buf_printf(&line, " (primary passed over: %s)", rep->primary_error);
		const char *word = result_word(&fr->res);
		rc |= buf_printf(&line, ": %s", word);
		if (fr->res.kind == RESULT_CHANGE) {
			counts[0]++;
			if (fr->res.change.change_id)
				rc |= buf_printf(&line, ", change %s", fr->res.change.change_id);
		} else if (fr->res.kind == RESULT_API_ERROR) {
			counts[1]++;
			/* the message's first line here, the rest indented below */
			const char *msg = fr->res.error_message ? fr->res.error_message : "";
			const char *nl = strchr(msg, '\n');
			rc |= buf_printf(&line, " (HTTP %ld %s): %.*s", fr->res.http_status,
					 fr->res.error_code, nl ? (int)(nl - msg) : (int)strlen(msg),
					 msg);
			more = nl ? nl + 1 : NULL;
		} else {
			counts[fr->res.outcome_unknown ? 3 : rep->endpoint ? 2 : 4]++;
			rc |= buf_printf(&line, ": %s", fr->res.local_msg);
		}
		rc |= put_clean_line(out, &line);
		if (more && *more) {
			struct buf rest = { 0 };
			rc |= output_clean(&rest, more, true);
			rc |= put_indented(out, rest.p ? rest.p : "");
			buf_free(&rest);
		}
		if (fr->res.kind == RESULT_CHANGE) {
			struct buf detail = { 0 };
			rc |= output_change_text(&detail, &fr->res.change);
			rc |= put_indented(out, detail.p);
			buf_free(&detail);
		}
		if (fr->res.body)
			rc |= put_guards(out, fr->res.body);
	}
	/* sites whose routers did not end up alike */
	for (size_t i = 0; i < r->fleet->n_sites; i++) {
		char why[1024];
		if (fanout_site_disagrees(r, r->fleet->sites[i].name, why, sizeof why)) {
			struct buf clean = { 0 };
			rc |= output_clean(&clean, why, false);
			rc |= buf_printf(out, "SITE %s: %s\n", r->fleet->sites[i].name,
					 clean.p ? clean.p : "");
			buf_free(&clean);
		}
	}
	rc |= buf_printf(out, "%s %s: %zu router%s: %zu ok", r->req->cmd_name,
			 r->req->site ? r->req->site : "", r->n_routers,
			 r->n_routers == 1 ? "" : "s", counts[0]);
	static const char *const names[] = { NULL, "refused", "failed", "outcome unknown",
					     "not reached" };
	for (int k = 1; k < 5; k++)
		if (counts[k])
			rc |= buf_printf(out, ", %zu %s", counts[k], names[k]);
	rc |= buf_puts(out, "\n");
	/* One change, one id: what confirms it everywhere. */
	const char *deadline = NULL;
	for (size_t i = 0; i < r->n_routers && !deadline; i++)
		if (r->routers[i].res.kind == RESULT_CHANGE)
			deadline = r->routers[i].res.change.confirm_deadline;
	if (r->change_id[0] && deadline)
		rc |= buf_printf(out, "change %s reverts by itself at %s unless confirmed: "
				 "routectl -f %s confirm %s\n", r->change_id, deadline,
				 r->fleet->source, r->change_id);
	else if (r->change_id[0])
		rc |= buf_printf(out, "change %s\n", r->change_id);
	return rc ? -ERR_NOMEM : 0;
}

/* ---- confirm ---- */

static const char *confirm_word(enum fanout_confirm c)
{
	switch (c) {
	case FCONFIRM_CONFIRMED: return "confirmed";
	case FCONFIRM_ALREADY: return "confirmed before";
	case FCONFIRM_NOT_PENDING: return "not pending there";
	case FCONFIRM_SUPERSEDED: return "SUPERSEDED";
	case FCONFIRM_LATE: return "LATE";
	case FCONFIRM_REFUSED: return "REFUSED";
	case FCONFIRM_UNREACHABLE: return "UNREACHABLE";
	case FCONFIRM_UNKNOWN: return "OUTCOME UNKNOWN";
	}
	return "REFUSED";
}

int output_fleet_confirm_text(struct buf *out, const struct fanout_result *r)
{
	int rc = 0;
	size_t counts[FCONFIRM_UNKNOWN + 1] = { 0 };
	for (size_t i = 0; i < r->n_routers; i++) {
		const struct fanout_router *fr = &r->routers[i];
		const struct fleet_reply *rep = fr->reply;
		enum fanout_confirm c = fanout_confirm_outcome(fr);
		counts[c]++;
		struct buf line = { 0 };
		rc |= buf_printf(&line, "%s (%s)", rep->router->name, rep->router->site);
		if (rep->endpoint)
			rc |= buf_printf(&line, " via %s", rep->endpoint);
		if (rep->endpoint && rep->primary_error[0])
			rc |= buf_printf(&line, " (primary passed over: %s)", rep->primary_error);
		rc |= buf_printf(&line, ": %s", confirm_word(c));
		if (c == FCONFIRM_CONFIRMED) {
			const struct view_confirmed *v = &fr->res.confirmed;
			rc |= buf_puts(&line, v->n_items ? ": " : "");
			for (size_t k = 0; k < v->n_items; k++) {
				char st[32];
				output_state_name(v->items[k].to_mode, v->items[k].to_prepend, st,
						  sizeof st);
				rc |= buf_printf(&line, "%s%s stays %s", k ? ", " : "",
						 v->items[k].service, st);
			}
			if (v->deadline)
				rc |= buf_printf(&line, " (deadline %s)", v->deadline);
		} else if (fr->res.kind == RESULT_API_ERROR) {
			/* routectld's words say what happened (reverted, when) */
			rc |= buf_printf(&line, " (HTTP %ld): %s", fr->res.http_status,
					 fr->res.error_message ? fr->res.error_message : "");
		} else if (fr->res.kind == RESULT_LOCAL_ERROR) {
			rc |= buf_printf(&line, ": %s", fr->res.local_msg);
		}
		rc |= put_clean_line(out, &line);
	}
	struct buf sum = { 0 };
	rc |= buf_printf(&sum, "confirm %s: %zu router%s", r->req->change_id, r->n_routers,
			 r->n_routers == 1 ? "" : "s");
	for (int k = 0; k <= FCONFIRM_UNKNOWN; k++)
		if (counts[k])
			rc |= buf_printf(&sum, ", %zu %s", counts[k],
					 confirm_word((enum fanout_confirm)k));
	if (counts[FCONFIRM_NOT_PENDING] == r->n_routers)
		rc |= buf_printf(&sum, "; no router has change %s (routectl -f %s status lists "
				 "the pending ones)", r->req->change_id, r->fleet->source);
	rc |= put_clean_line(out, &sum);
	return rc ? -ERR_NOMEM : 0;
}

static json_t *change_json(const struct fanout_result *r)
{
	json_t *routers = json_array(), *disagree = json_array();
	for (size_t i = 0; i < r->n_routers; i++) {
		const struct fanout_router *fr = &r->routers[i];
		json_t *o = router_json(fr, NULL);
		if (r->req->cmd == CMD_CONFIRM) {
			json_object_set_new(o, "result", json_string(fanout_confirm_name(
							      fanout_confirm_outcome(fr))));
			json_array_append_new(routers, o);
			continue;
		}
		const char *w = result_word(&fr->res);
		json_object_set_new(o, "result", json_string(
			strcmp(w, "ok") == 0 || strcmp(w, "dry run") == 0 ? "ok"
			: strcmp(w, "REFUSED") == 0			 ? "refused"
			: strcmp(w, "OUTCOME UNKNOWN") == 0		 ? "unknown"
			: strcmp(w, "NOT REACHED") == 0		 ? "not-reached"
									 : "failed"));
		json_array_append_new(routers, o);
	}
	for (size_t i = 0; r->req->cmd != CMD_CONFIRM && i < r->fleet->n_sites; i++) {
		char why[1024];
		if (fanout_site_disagrees(r, r->fleet->sites[i].name, why, sizeof why))
			json_array_append_new(disagree, json_pack("{s:s,s:s}", "site",
								  r->fleet->sites[i].name, "message",
								  why));
	}
	const char *id = r->req->cmd == CMD_CONFIRM ? r->req->change_id : r->change_id;
	return json_pack("{s:s,s:s,s:o,s:o,s:o,s:o}", "fleet", r->fleet->source, "command",
			 r->req->cmd_name, "site", str_or_null(r->req->site), "change_id",
			 str_or_null(id), "routers", routers, "disagree", disagree);
}

int output_fleet_json_text(struct buf *out, const struct fanout_result *r)
{
	json_t *j = r->req->cmd == CMD_STATUS ? status_json(r) : change_json(r);
	char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	json_decref(j);
	if (!s)
		return -ERR_NOMEM;
	int rc = buf_puts(out, s) | buf_puts(out, "\n");
	free(s);
	return rc ? -ERR_NOMEM : 0;
}

int output_fleet(FILE *out, FILE *errout, const struct fanout_result *r, enum output_format fmt)
{
	struct buf o = { 0 };
	int rc;
	if (fmt == OUTPUT_JSON)
		rc = output_fleet_json_text(&o, r);
	else if (r->req->cmd == CMD_STATUS)
		rc = output_fleet_status_text(&o, r);
	else if (r->req->cmd == CMD_CONFIRM)
		rc = output_fleet_confirm_text(&o, r);
	else
		rc = output_fleet_change_text(&o, r);
	if (rc < 0) {
		fputs("routectl: out of memory rendering the answers\n", errout);
	} else if (o.len && (fwrite(o.p, 1, o.len, out) != o.len || fflush(out) != 0)) {
		rc = -ERR_IO;
	}
	buf_free(&o);
	return rc;
}
