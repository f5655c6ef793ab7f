#include "cli/check.h"

#include "common/buf.h"
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *check_code_name(enum check_code c)
{
	switch (c) {
	case CHECK_OK: return "OK";
	case CHECK_WARNING: return "WARNING";
	case CHECK_CRITICAL: return "CRITICAL";
	default: return "UNKNOWN";
	}
}

/* Which problem comes first in the summary, and which sets the code:
 * CRITICAL, then UNKNOWN (a router not asked hides less than what is known
 * to be broken), then WARNING. */
static int rank(enum check_code c)
{
	switch (c) {
	case CHECK_CRITICAL: return 3;
	case CHECK_UNKNOWN: return 2;
	case CHECK_WARNING: return 1;
	default: return 0;
	}
}

struct problem {
	enum check_code code;
	size_t seq;             /* order found: kept within a rank */
	char text[320];
};

struct problems {
	struct problem *v;
	size_t n, cap;
	bool nomem;
};

static void add(struct problems *p, enum check_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void add(struct problems *p, enum check_code code, const char *fmt, ...)
{
	if (p->nomem)
		return;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct problem *v = realloc(p->v, cap * sizeof *v);
		if (!v) {
			p->nomem = true;
			return;
		}
		p->v = v;
		p->cap = cap;
	}
	struct problem *x = &p->v[p->n++];
	x->code = code;
	x->seq = p->n - 1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->text, sizeof x->text, fmt, ap);
	va_end(ap);
}

/* A (site, service) pair: the most drained state among the site's routers
 * that answered (what traffic sees at the worst router). */
struct site_service {
	const char *site, *service;
	bool known;
	enum svc_mode mode;
	unsigned prepend;
};

/* withdraw, then prepend (more first), then announce. */
static int drained(enum svc_mode m, unsigned prepend)
{
	return m == MODE_WITHDRAW ? 100 : m == MODE_PREPEND ? (int)prepend : 0;
}

struct service_seen {
	const char *name;
	bool announced;   /* announced or prepended (or unknown) at some router */
};

static const char *opt(const char *s)
{
	return s ? s : "";
}

static void judge_router(const struct check_router *rt, struct problems *p)
{
	const struct view_status *v = rt->status;
	const char *name = rt->name;
	if (v->safe_mode_reason)
		add(p, CHECK_CRITICAL, "%s: safe mode: %s", name, v->safe_mode_reason);
	if (!v->bird_connected)
		add(p, CHECK_CRITICAL, "%s: BIRD not connected%s%s", name,
		    v->bird_error ? ": " : "", opt(v->bird_error));
	if (v->has_last_apply && v->last_result && strcmp(v->last_result, "ok") != 0)
		add(p, CHECK_WARNING, "%s: last apply %s%s%s%s%s%s", name, v->last_result,
		    v->last_trigger ? " (" : "", opt(v->last_trigger), v->last_trigger ? ")" : "",
		    v->last_message ? ": " : "", opt(v->last_message));
	if (v->has_reload && !v->reload_ok)
		add(p, CHECK_WARNING, "%s: config reload%s%s FAILED (running the config loaded at "
		    "%s): %s", name, v->reload_at ? " at " : "", opt(v->reload_at),
		    v->config_loaded_at ? v->config_loaded_at : "start",
		    v->reload_error ? v->reload_error : "no reason given");
	for (size_t i = 0; i < v->n_pending; i++)
		add(p, CHECK_WARNING, "%s: change %s waits for its confirmation%s%s", name,
		    opt(v->pending[i].change_id), v->pending[i].deadline ? " until " : "",
		    opt(v->pending[i].deadline));
	for (size_t i = 0; v->has_peers && i < v->n_peers; i++)
		if (v->peers[i].problems[0])
			add(p, CHECK_WARNING, "%s: peer %s: %s", name, opt(v->peers[i].name),
			    v->peers[i].problems);
	/* A listener that is not bound: a fallback path (out-of-band) or the
	 * chat-ops path is down while routectld runs. */
	for (size_t i = 0; i < v->n_listeners; i++)
		if (!v->listeners[i].bound)
			add(p, CHECK_WARNING, "%s: %s listener %s port %lld not bound%s%s", name,
			    v->listeners[i].kind, v->listeners[i].address, v->listeners[i].port,
			    v->listeners[i].error ? ": " : "", opt(v->listeners[i].error));
}

/* b gets s without control characters, and with no '|' (it would start the
 * perfdata). */
static int put_clean(struct buf *b, const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		char ch = (*c < 0x20 || *c == 0x7f) ? '?' : *c == '|' ? '/' : (char)*c;
		int rc = buf_append(b, &ch, 1);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int cmp_problem(const void *a, const void *b)
{
	const struct problem *x = a, *y = b;
	int d = rank(y->code) - rank(x->code);
	/* qsort is not stable: keep the order found for equal ranks */
	return d ? d : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

static void summarise(struct problems *p, const struct check_input *in,
		      struct check_result *out)
{
	struct buf b = { 0 };
	int rc = 0;
	if (p->n == 0) {
		const struct check_counts *c = &out->counts;
		if (in->fleet)
			rc = buf_printf(&b, "%zu services announced from %zu site%s (%zu router%s)",
					c->services, c->sites, c->sites == 1 ? "" : "s",
					in->n_routers, in->n_routers == 1 ? "" : "s");
		else
			rc = buf_printf(&b, "site %s: %zu services announced, BIRD connected",
					in->n_routers && in->routers[0].status &&
					in->routers[0].status->site ? in->routers[0].status->site : "?",
					c->services);
	}
	if (p->n)
		qsort(p->v, p->n, sizeof *p->v, cmp_problem);
	for (size_t i = 0; i < p->n && rc == 0; i++) {
		if (i)
			rc = buf_puts(&b, "; ");
		if (rc == 0)
			rc = put_clean(&b, p->v[i].text);
	}
	if (rc < 0) {
		snprintf(out->summary, sizeof out->summary, "out of memory");
		out->code = CHECK_UNKNOWN;
	} else if (b.len >= sizeof out->summary) {
		memcpy(out->summary, b.p, sizeof out->summary - 4);
		memcpy(out->summary + sizeof out->summary - 4, "...", 4);
	} else {
		snprintf(out->summary, sizeof out->summary, "%s", b.len ? b.p : "");
	}
	buf_free(&b);
}

int check_judge(const struct check_input *in, struct check_result *out)
{
	memset(out, 0, sizeof *out);
	struct problems p = { 0 };
	size_t cap = 0;
	for (size_t i = 0; i < in->n_routers; i++)
		if (in->routers[i].status)
			cap += in->routers[i].status->n_services;
	struct site_service *pairs = calloc(cap + 1, sizeof *pairs);
	struct service_seen *seen = calloc(cap + 1, sizeof *seen);
	const char **sites = calloc(in->n_routers + 1, sizeof *sites);
	size_t n_pairs = 0, n_seen = 0, n_sites = 0;
	if (!pairs || !seen || !sites) {
		free(pairs);
		free(seen);
		free(sites);
		out->code = CHECK_UNKNOWN;
		snprintf(out->summary, sizeof out->summary, "out of memory");
		return -ERR_NOMEM;
	}

	for (size_t i = 0; i < in->n_routers; i++) {
		const struct check_router *rt = &in->routers[i];
		if (!rt->status) {
			out->counts.unreachable++;
			add(&p, CHECK_UNKNOWN, "%s: cannot be asked: %s", rt->name,
			    rt->error ? rt->error : "no answer");
			continue;
		}
		const struct view_status *v = rt->status;
		const char *site = rt->site ? rt->site : v->site ? v->site : "?";
		judge_router(rt, &p);
		out->counts.pending_confirms += v->n_pending;
		size_t k;
		for (k = 0; k < n_sites && strcmp(sites[k], site) != 0; k++)
			;
		if (k == n_sites)
			sites[n_sites++] = site;
		for (size_t j = 0; j < v->n_services; j++) {
			const struct view_service *s = &v->services[j];
			/* A state that is not known (safe mode, which is already
			 * CRITICAL) may still be announced: BIRD keeps what it had. */
			bool up = !s->known || s->last_known || s->mode != MODE_WITHDRAW;
			for (k = 0; k < n_seen && strcmp(seen[k].name, s->name) != 0; k++)
				;
			if (k == n_seen)
				seen[n_seen++] = (struct service_seen){ s->name, false };
			seen[k].announced |= up;

			for (k = 0; k < n_pairs; k++)
				if (strcmp(pairs[k].site, site) == 0 &&
				    strcmp(pairs[k].service, s->name) == 0)
					break;
			bool known = s->known && !s->last_known;
			if (k == n_pairs) {
				pairs[n_pairs++] = (struct site_service){ site, s->name, known,
									  s->mode, s->prepend };
			} else if (!known) {
				pairs[k].known = false;
			} else if (drained(s->mode, s->prepend) >
				   drained(pairs[k].mode, pairs[k].prepend)) {
				pairs[k].mode = s->mode;
				pairs[k].prepend = s->prepend;
			}
		}
	}

	for (size_t k = 0; k < n_pairs; k++) {
		const struct site_service *x = &pairs[k];
		if (!x->known) {
			out->counts.unknown++;
		} else if (x->mode == MODE_WITHDRAW) {
			out->counts.withdrawn++;
			add(&p, CHECK_WARNING, "%s: %s withdrawn%s", x->site, x->service,
			    in->fleet ? "" : " here (this router cannot see the other sites)");
		} else if (x->mode == MODE_PREPEND) {
			out->counts.prepended++;
			add(&p, CHECK_WARNING, "%s: %s prepended %u", x->site, x->service,
			    x->prepend);
		} else {
			out->counts.announced++;
		}
	}
	/* With one router, "withdrawn here" is all that can be known (the
	 * WARNING above); a fleet knows every site. */
	for (size_t k = 0; in->fleet && k < n_seen; k++)
		if (!seen[k].announced)
			add(&p, CHECK_CRITICAL, "%s announced from no site%s", seen[k].name,
			    out->counts.unreachable ? " that answered" : "");

	out->counts.services = n_seen;
	out->counts.sites = n_sites;
	if (in->n_routers == 0)
		add(&p, CHECK_UNKNOWN, "no router to ask");
	for (size_t i = 0; i < p.n; i++)
		if (rank(p.v[i].code) > rank(out->code))
			out->code = p.v[i].code;
	int rc = 0;
	if (p.nomem) {
		out->code = CHECK_UNKNOWN;
		snprintf(out->summary, sizeof out->summary, "out of memory");
		rc = -ERR_NOMEM;
	} else {
		summarise(&p, in, out);
	}
	free(p.v);
	free(pairs);
	free(seen);
	free(sites);
	return rc;
}

void check_unknown(struct check_result *out, const char *why)
{
	memset(out, 0, sizeof *out);
	out->code = CHECK_UNKNOWN;
	struct buf b = { 0 };
	if (put_clean(&b, why) < 0)
		snprintf(out->summary, sizeof out->summary, "out of memory");
	else
		snprintf(out->summary, sizeof out->summary, "%s", b.len ? b.p : "");
	buf_free(&b);
}

int check_format(struct buf *b, const struct check_result *r)
{
	const struct check_counts *c = &r->counts;
	return buf_printf(b, "ROUTECTL %s - %s | services=%zu announced=%zu prepended=%zu "
			  "withdrawn=%zu unknown=%zu sites=%zu unreachable=%zu "
			  "pending_confirms=%zu\n",
			  check_code_name(r->code), r->summary, c->services, c->announced,
			  c->prepended, c->withdrawn, c->unknown, c->sites, c->unreachable,
			  c->pending_confirms);
}

/* Why a result is not a status, in one line. */
static void not_a_status(const struct cli_result *res, char *out, size_t size)
{
	if (res->kind == RESULT_API_ERROR)
		snprintf(out, size, "routectld answered HTTP %ld: %s: %s", res->http_status,
			 opt(res->error_code), opt(res->error_message));
	else if (res->kind == RESULT_LOCAL_ERROR)
		snprintf(out, size, "%s", res->local_msg);
	else
		snprintf(out, size, "the answer is not a status");
}

int check_from_result(const struct cli_result *res, const char *name, struct check_result *out)
{
	char why[4200];
	struct check_router rt = { .name = name };
	if (res->kind == RESULT_STATUS) {
		rt.status = &res->status;
	} else {
		not_a_status(res, why, sizeof why);
		rt.error = why;
	}
	struct check_input in = { .fleet = false, .routers = &rt, .n_routers = 1 };
	return check_judge(&in, out);
}

int check_from_fanout(const struct fanout_result *r, struct check_result *out)
{
	struct check_router *rts = calloc(r->n_routers + 1, sizeof *rts);
	char (*why)[600] = calloc(r->n_routers + 1, sizeof *why);
	if (!rts || !why) {
		free(rts);
		free(why);
		memset(out, 0, sizeof *out);
		out->code = CHECK_UNKNOWN;
		snprintf(out->summary, sizeof out->summary, "out of memory");
		return -ERR_NOMEM;
	}
	for (size_t i = 0; i < r->n_routers; i++) {
		const struct fanout_router *fr = &r->routers[i];
		const struct fleet_router *router = fr->reply->router;
		rts[i].name = router->name;
		rts[i].site = router->site;
		if (fr->res.kind != RESULT_STATUS) {
			not_a_status(&fr->res, why[i], sizeof why[i]);
			rts[i].error = why[i];
		} else if (!fr->res.status.site || strcmp(fr->res.status.site, router->site) != 0) {
			/* Its states would be counted at the wrong site. */
			snprintf(why[i], sizeof why[i], "%s answers for site %s, not %s", fr->url,
				 opt(fr->res.status.site), router->site);
			rts[i].error = why[i];
		} else {
			rts[i].status = &fr->res.status;
		}
	}
	struct check_input in = { .fleet = true, .routers = rts, .n_routers = r->n_routers };
	int rc = check_judge(&in, out);
	free(rts);
	free(why);
	return rc;
}
