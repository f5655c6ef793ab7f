/* Guards across sites and the flap budget (see guards.h). */
#include "site/guards.h"

#include "common/err.h"
#include "common/timeutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void guard_view_free(struct guard_view *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n_sites; i++)
		free(v->sites[i].services);
	free(v->sites);
	memset(v, 0, sizeof *v);
}

const char *guard_verdict_name(enum guard_verdict v)
{
	switch (v) {
	case GUARD_PASS: return "pass";
	case GUARD_REFUSED: return "refused";
	case GUARD_OVERRIDDEN: return "overridden";
	case GUARD_SKIPPED: return "skipped";
	}
	return "skipped";
}

const char *guard_name(enum guard_id id)
{
	static const char *const names[GUARD_COUNT] = {
		"last-site", "max-drained-sites", "unreachable", "flap-budget",
	};
	return (unsigned)id < GUARD_COUNT ? names[id] : "guard";
}

int guard_takes_away(enum svc_mode from, unsigned fp, enum svc_mode to, unsigned tp)
{
	if (to == MODE_WITHDRAW)
		return from != MODE_WITHDRAW;
	if (to == MODE_PREPEND)
		return from == MODE_ANNOUNCE || (from == MODE_PREPEND && tp > fp);
	return 0;
}

/* Appends printf text to a bounded message (truncated, never overrun). */
static void add(char *msg, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void add(char *msg, size_t size, const char *fmt, ...)
{
	size_t used = strlen(msg);
	if (used + 1 >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg + used, size - used, fmt, ap);
	va_end(ap);
}

static void set(struct guard_outcome *g, enum guard_verdict v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set(struct guard_outcome *g, enum guard_verdict v, const char *fmt, ...)
{
	g->verdict = v;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->message, sizeof g->message, fmt, ap);
	va_end(ap);
}

/* A refusal, or with force the override of it. */
static void refuse(struct guard_outcome *g, int force)
{
	g->verdict = force ? GUARD_OVERRIDDEN : GUARD_REFUSED;
}

static const struct guard_view_service *view_service(const struct guard_view_site *s,
						     const char *name)
{
	for (size_t i = 0; i < s->n_services; i++)
		if (strcmp(s->services[i].name, name) == 0)
			return &s->services[i];
	return NULL;
}

static void mode_text(enum svc_mode m, unsigned prepend, char *out, size_t size)
{
	if (m == MODE_PREPEND)
		snprintf(out, size, "prepend %u", prepend);
	else
		snprintf(out, size, "%s", svc_mode_name(m));
}

/* "chi withdraw, sea not reachable (...)": every other site's state of
 * service, for the messages. */
static void others_text(const struct guard_view *view, const char *service, char *out,
			size_t size)
{
	for (size_t i = 0; i < view->n_sites; i++) {
		const struct guard_view_site *vs = &view->sites[i];
		if (!vs->reachable) {
			add(out, size, "; %s not reachable", vs->name);
			continue;
		}
		const struct guard_view_service *sv = view_service(vs, service);
		char m[32];
		if (sv)
			mode_text(sv->mode, sv->prepend, m, sizeof m);
		else
			snprintf(m, sizeof m, "not configured");
		add(out, size, "; %s %s", vs->name, m);
	}
}

static void judge_last_site(const struct policy *p, const char *site,
			    const struct guard_move *moves, size_t n, const struct guard_view *view,
			    int force, struct guard_outcome *g)
{
	if (!p->guard_last_site) {
		set(g, GUARD_SKIPPED, "turned off by the policy (guards/last-site false)");
		return;
	}
	set(g, GUARD_PASS, "%s", "");
	for (size_t i = 0; i < n; i++) {
		const struct guard_move *m = &moves[i];
		if (!guard_takes_away(m->from_mode, m->from_prepend, m->to_mode, m->to_prepend))
			continue;
		if (m->to_mode != MODE_WITHDRAW)
			continue;   /* still announced (prepended) from here */
		size_t announcing = 0;
		for (size_t k = 0; k < view->n_sites; k++) {
			const struct guard_view_service *sv =
				view->sites[k].reachable ? view_service(&view->sites[k], m->service)
							 : NULL;
			if (sv && sv->mode != MODE_WITHDRAW)
				announcing++;
		}
		if (announcing > 0)
			continue;
		if (g->verdict == GUARD_PASS)
			g->message[0] = '\0';
		else
			add(g->message, sizeof g->message, "; ");
		add(g->message, sizeof g->message,
		    "service %s would be announced from no site: %s (this site) withdraw after "
		    "this change",
		    m->service, site);
		others_text(view, m->service, g->message, sizeof g->message);
		refuse(g, force);
	}
	if (g->verdict == GUARD_PASS)
		snprintf(g->message, sizeof g->message,
			 "every service this change takes away stays announced from some site");
}

static void judge_max_drained(const struct policy *p, const char *site,
			      const struct guard_move *moves, size_t n,
			      const struct guard_view *view, int force, struct guard_outcome *g)
{
	set(g, GUARD_PASS, "%s", "");
	for (size_t i = 0; i < n; i++) {
		const struct guard_move *m = &moves[i];
		if (m->to_mode != MODE_WITHDRAW || m->from_mode == MODE_WITHDRAW)
			continue;
		char sites[512] = "";
		size_t withdrawn = 1;   /* this site, after the change */
		add(sites, sizeof sites, "%s (this site, after this change)", site);
		for (size_t k = 0; k < view->n_sites; k++) {
			const struct guard_view_site *vs = &view->sites[k];
			const struct guard_view_service *sv =
				vs->reachable ? view_service(vs, m->service) : NULL;
			if (sv && sv->mode == MODE_WITHDRAW) {
				withdrawn++;
				add(sites, sizeof sites, ", %s", vs->name);
			}
		}
		if (withdrawn <= p->max_drained_sites)
			continue;
		if (g->verdict == GUARD_PASS)
			g->message[0] = '\0';
		else
			add(g->message, sizeof g->message, "; ");
		add(g->message, sizeof g->message,
		    "service %s would be withdrawn at %zu sites at once (%s); the policy allows "
		    "%u (guards/max-drained-sites)",
		    m->service, withdrawn, sites, p->max_drained_sites);
		refuse(g, force);
	}
	if (g->verdict == GUARD_PASS)
		snprintf(g->message, sizeof g->message,
			 "at most %u site(s) with a service withdrawn at once",
			 p->max_drained_sites);
}

static void judge_unreachable(const struct guard_view *view, int force,
			      struct guard_outcome *g)
{
	set(g, GUARD_PASS, "%s", "");
	for (size_t k = 0; k < view->n_sites; k++) {
		const struct guard_view_site *vs = &view->sites[k];
		if (vs->reachable)
			continue;
		add(g->message, sizeof g->message, "%s%s (%s)",
		    g->verdict == GUARD_PASS ? "cannot ask site " : "; site ", vs->name,
		    vs->why[0] ? vs->why : "no answer");
		refuse(g, force);
	}
	if (g->verdict == GUARD_PASS)
		snprintf(g->message, sizeof g->message, "every other site answered (%zu)",
			 view->n_sites);
	else
		add(g->message, sizeof g->message,
		    "; without their state the guards cannot tell what this change leaves "
		    "announced");
}

void guards_judge_fleet(const struct policy *p, const char *site, const struct guard_move *moves,
			size_t n_moves, const struct guard_view *view, const char *no_view_why,
			int force, struct guard_report *r)
{
	r->judged = 1;
	struct guard_outcome *ls = &r->g[GUARD_LAST_SITE], *md = &r->g[GUARD_MAX_DRAINED],
			     *un = &r->g[GUARD_UNREACHABLE];
	int takes = 0;
	for (size_t i = 0; i < n_moves && !takes; i++)
		takes = guard_takes_away(moves[i].from_mode, moves[i].from_prepend,
					 moves[i].to_mode, moves[i].to_prepend);
	if (!takes) {
		const char *why = "the change takes no announcement away";
		set(ls, GUARD_SKIPPED, "%s", why);
		set(md, GUARD_SKIPPED, "%s", why);
		set(un, GUARD_SKIPPED, "%s", why);
		return;
	}
	if (!view) {
		set(ls, GUARD_SKIPPED, "the other sites could not be asked");
		set(md, GUARD_SKIPPED, "the other sites could not be asked");
		set(un, GUARD_REFUSED,
		    "cannot see the other sites: %s; a change that takes announcements away "
		    "needs their state",
		    no_view_why && *no_view_why ? no_view_why : "no view of the fleet");
		refuse(un, force);
		return;
	}
	judge_last_site(p, site, moves, n_moves, view, force, ls);
	judge_max_drained(p, site, moves, n_moves, view, force, md);
	judge_unreachable(view, force, un);
}

static int cmp_time(const void *a, const void *b)
{
	time_t x = *(const time_t *)a, y = *(const time_t *)b;
	return x < y ? -1 : x > y;
}

size_t guards_flap_prune(time_t *times, size_t n, time_t now, unsigned window_s, size_t keep)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (times[i] > now - (time_t)window_s)
			times[k++] = times[i];
	if (k > 1)
		qsort(times, k, sizeof *times, cmp_time);
	if (k > keep) {
		memmove(times, times + (k - keep), keep * sizeof *times);
		k = keep;
	}
	return k;
}

void guards_judge_flap(const struct policy *p, const char *site, const struct guard_move *moves,
		       size_t n_moves, time_t now, int force, struct guard_report *r)
{
	r->judged = 1;
	struct guard_outcome *g = &r->g[GUARD_FLAP_BUDGET];
	set(g, GUARD_PASS, "%s", "");
	for (size_t i = 0; i < n_moves; i++) {
		const struct guard_move *m = &moves[i];
		time_t *t = m->n_recent ? malloc(m->n_recent * sizeof *t) : NULL;
		if (m->n_recent && !t) {
			set(g, GUARD_REFUSED, "out of memory");
			refuse(g, force);
			return;
		}
		if (t)
			memcpy(t, m->recent, m->n_recent * sizeof *t);
		size_t in = guards_flap_prune(t, m->n_recent, now, p->flap_window_s, SIZE_MAX);
		if (in >= p->flap_changes && p->flap_changes > 0) {
			/* The oldest of the last flap_changes leaves the window
			 * at hold-down's end; then one more change fits. */
			time_t until = t[in - p->flap_changes] + (time_t)p->flap_window_s;
			char when[40];
			time_format_utc(until, when, sizeof when);
			if (g->verdict == GUARD_PASS)
				g->message[0] = '\0';
			else
				add(g->message, sizeof g->message, "; ");
			add(g->message, sizeof g->message,
			    "service %s changed %zu times at site %s within the last %u s (the "
			    "policy allows %u, flap-budget): held down until %s",
			    m->service, in, site, p->flap_window_s, p->flap_changes, when);
			refuse(g, force);
		}
		free(t);
	}
	if (g->verdict == GUARD_PASS)
		snprintf(g->message, sizeof g->message,
			 "within %u changes per %u s for every service it changes", p->flap_changes,
			 p->flap_window_s);
}

void guards_skip_all(struct guard_report *r, const char *why)
{
	r->judged = 1;
	for (size_t i = 0; i < GUARD_COUNT; i++)
		set(&r->g[i], GUARD_SKIPPED, "%s", why);
}

int guards_refused(const struct guard_report *r, struct err *e)
{
	if (!r->judged)
		return 0;
	int n = 0;
	for (size_t i = 0; i < GUARD_COUNT; i++) {
		if (r->g[i].verdict != GUARD_REFUSED)
			continue;
		if (n++ == 0)
			err_set(e, ERR_POLICY, "refused by guard %s: %s", guard_name((enum guard_id)i),
				r->g[i].message);
		else
			err_append(e, ERR_POLICY, "refused by guard %s: %s",
				   guard_name((enum guard_id)i), r->g[i].message);
	}
	if (n == 0)
		return 0;
	return err_append(e, ERR_POLICY,
			  "nothing changed; an admin may override (routectl --force, or "
			  "\"force\": true over the API) with a reason, audited as an override");
}

int guards_overridden(const struct guard_report *r)
{
	if (!r->judged)
		return 0;
	for (size_t i = 0; i < GUARD_COUNT; i++)
		if (r->g[i].verdict == GUARD_OVERRIDDEN)
			return 1;
	return 0;
}
