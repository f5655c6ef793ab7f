/* Adopt: deriving the desired state from what BIRD exports (site/adopt.h). */
#include "site/adopt.h"

#include "bird/bird.h"
#include "common/err.h"
#include "conf/conf.h"
#include "render/render.h"
#include "store/store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How many refusals one message names; the rest are counted. */
#define ADOPT_REPORT_MAX 20

/*
 * Derivation (pure).
 */

/* What BIRD does with one prefix. */
enum seen { SEEN_MISSING, SEEN_WITHDRAW, SEEN_ANNOUNCE, SEEN_PREPEND, SEEN_FOREIGN };

struct prefix_seen {
	enum seen what;
	unsigned prepend;       /* SEEN_PREPEND */
	char why[96];           /* SEEN_FOREIGN */
};

/* First index of an entry for p in a sorted array, or n. */
static size_t find_first(const struct bird_export *a, size_t n, const struct prefix *p)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (prefix_cmp(&a[mid].prefix, p) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && prefix_cmp(&a[lo].prefix, p) == 0 ? lo : n;
}

static void classify_one(const struct bird_export *x, struct prefix_seen *s)
{
	if (x->path_truncated) {
		s->what = SEEN_FOREIGN;
		snprintf(s->why, sizeof s->why, "exported with an AS path BIRD cut short");
	} else if (x->path_len == 0) {
		s->what = SEEN_ANNOUNCE;
	} else if (x->path_len == x->first_asn_run && x->path_len >= PREPEND_MIN &&
		   x->path_len <= PREPEND_MAX) {
		s->what = SEEN_PREPEND;
		s->prepend = x->path_len;
	} else {
		s->what = SEEN_FOREIGN;
		snprintf(s->why, sizeof s->why,
			 "exported with AS path length %u, which routectl_export() does not make",
			 x->path_len);
	}
}

static void classify(const struct adopt_bird_view *v, const struct prefix *p,
		     struct prefix_seen *s)
{
	memset(s, 0, sizeof *s);
	if (find_first(v->routes, v->n_routes, p) == v->n_routes) {
		s->what = SEEN_MISSING;
		return;
	}
	size_t i = find_first(v->accepted, v->n_accepted, p);
	if (i == v->n_accepted) {
		s->what = SEEN_WITHDRAW;
		return;
	}
	classify_one(&v->accepted[i], s);
	/* Several routes of one net (ADD-PATH): all must say the same. */
	for (size_t k = i + 1; k < v->n_accepted && s->what != SEEN_FOREIGN &&
			       prefix_cmp(&v->accepted[k].prefix, p) == 0; k++) {
		struct prefix_seen o = { 0 };
		classify_one(&v->accepted[k], &o);
		if (o.what != s->what || o.prepend != s->prepend) {
			s->what = SEEN_FOREIGN;
			snprintf(s->why, sizeof s->why,
				 "exported as several routes with different AS paths");
		}
	}
}

static const char *seen_text(const struct prefix_seen *s, char *buf, size_t size)
{
	switch (s->what) {
	case SEEN_MISSING: return "missing from BIRD";
	case SEEN_WITHDRAW: return "withdraw";
	case SEEN_ANNOUNCE: return "announce";
	case SEEN_PREPEND:
		snprintf(buf, size, "prepend %u", s->prepend);
		return buf;
	case SEEN_FOREIGN: return s->why;
	}
	return "?";
}

static int seen_mode(const struct prefix_seen *s, enum svc_mode *mode, unsigned *prepend)
{
	*prepend = 0;
	switch (s->what) {
	case SEEN_WITHDRAW: *mode = MODE_WITHDRAW; return 0;
	case SEEN_ANNOUNCE: *mode = MODE_ANNOUNCE; return 0;
	case SEEN_PREPEND: *mode = MODE_PREPEND; *prepend = s->prepend; return 0;
	default: return -1;
	}
}

static const struct adopt_assumption *find_assumption(const struct adopt_assumption *a,
						      size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i].service, name) == 0)
			return &a[i];
	return NULL;
}

static void mode_text(enum svc_mode mode, unsigned prepend, char *out, size_t size)
{
	if (mode == MODE_PREPEND)
		snprintf(out, size, "prepend %u", prepend);
	else
		snprintf(out, size, "%s", svc_mode_name(mode));
}

static int check_assumptions(const struct conf *c, const struct adopt_assumption *a, size_t n,
			     struct err *e)
{
	for (size_t i = 0; i < n; i++) {
		if (!a[i].service || !conf_find_service(c, a[i].service))
			return err_set(e, ERR_INVALID,
				       "adopt: no service '%s' at site '%s' (assumed state)",
				       a[i].service ? a[i].service : "", c->site);
		if (find_assumption(a, i, a[i].service))
			return err_set(e, ERR_INVALID,
				       "adopt: service '%s' is given a state twice", a[i].service);
		if (a[i].mode != MODE_ANNOUNCE && a[i].mode != MODE_PREPEND &&
		    a[i].mode != MODE_WITHDRAW)
			return err_set(e, ERR_INVALID, "adopt: service '%s': unknown state",
				       a[i].service);
		if (a[i].mode == MODE_PREPEND &&
		    (a[i].prepend < PREPEND_MIN || a[i].prepend > PREPEND_MAX))
			return err_set(e, ERR_INVALID,
				       "adopt: service '%s': prepend must be %d..%d, not %u",
				       a[i].service, PREPEND_MIN, PREPEND_MAX, a[i].prepend);
		if (a[i].mode != MODE_PREPEND && a[i].prepend != 0)
			return err_set(e, ERR_INVALID,
				       "adopt: service '%s': a prepend count goes only with prepend",
				       a[i].service);
	}
	return 0;
}

/* Appends a refusal line (at most ADOPT_REPORT_MAX are written). */
static void refuse(struct err *e, unsigned *count, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void refuse(struct err *e, unsigned *count, const char *fmt, ...)
{
	if (*count < ADOPT_REPORT_MAX) {
		char line[1024];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(line, sizeof line, fmt, ap);
		va_end(ap);
		err_append(e, ERR_REFUSED, "%s", line);
	}
	(*count)++;
}

/* Routes of routectl_v4/v6 that belong to no service (sentinels aside). */
static void stray_routes(const struct conf *c, const struct adopt_bird_view *v, int force,
			 struct adopt_plan *plan, struct err *e, unsigned *count)
{
	struct prefix sentinel[2];
	prefix_parse(RENDER_SENTINEL_V4, &sentinel[0], NULL, 0);
	prefix_parse(RENDER_SENTINEL_V6, &sentinel[1], NULL, 0);
	size_t used = 0;
	for (size_t i = 0; i < v->n_routes; i++) {
		const struct prefix *p = &v->routes[i].prefix;
		if (i > 0 && prefix_cmp(&v->routes[i - 1].prefix, p) == 0)
			continue;
		if (prefix_cmp(p, &sentinel[0]) == 0 || prefix_cmp(p, &sentinel[1]) == 0)
			continue;
		int known = 0;
		for (size_t s = 0; s < c->n_services && !known; s++)
			for (size_t k = 0; k < c->services[s].n_prefixes && !known; k++)
				known = prefix_cmp(&c->services[s].prefixes[k], p) == 0;
		if (known)
			continue;
		if (force) {
			if (used < sizeof plan->warnings)
				used += (size_t)snprintf(plan->warnings + used,
							 sizeof plan->warnings - used, "%s%s",
							 used ? ", " : "", p->text);
			continue;
		}
		refuse(e, count,
		       "%s is a route of BIRD's %s but in no service of the config: BIRD runs "
		       "an include made for another config, and applying the adopted state "
		       "would withdraw it (adopt --force takes that)",
		       p->text, p->family == 4 ? RENDER_STATIC_V4 : RENDER_STATIC_V6);
	}
	if (used && used < sizeof plan->warnings)
		snprintf(plan->warnings + used, sizeof plan->warnings - used,
			 ": in BIRD but in no service; the adopted state withdraws them");
}

/* One service: its item, or a refusal. */
static void derive_service(const struct conf_service *cs, const struct adopt_bird_view *v,
			   const struct adopt_assumption *assumed, struct adopt_item *it,
			   struct err *e, unsigned *count)
{
	snprintf(it->service, sizeof it->service, "%s", cs->name);
	struct prefix_seen first = { 0 };
	int clear = 1, missing = 0, foreign = 0;
	size_t used = 0;
	for (size_t k = 0; k < cs->n_prefixes; k++) {
		struct prefix_seen s;
		char buf[32];
		classify(v, &cs->prefixes[k], &s);
		missing += s.what == SEEN_MISSING;
		foreign += s.what == SEEN_FOREIGN;
		if (k == 0)
			first = s;
		else if (s.what != first.what || s.prepend != first.prepend)
			clear = 0;
		if (used < sizeof it->bird_text)
			used += (size_t)snprintf(it->bird_text + used, sizeof it->bird_text - used,
						 "%s%s %s", k ? ", " : "", cs->prefixes[k].text,
						 seen_text(&s, buf, sizeof buf));
	}
	it->bird_clear = clear && seen_mode(&first, &it->bird_mode, &it->bird_prepend) == 0;
	char want[32], have[32];
	if (it->bird_clear) {
		mode_text(it->bird_mode, it->bird_prepend, have, sizeof have);
		snprintf(it->bird_text, sizeof it->bird_text, "%s", have);
		if (assumed && (assumed->mode != it->bird_mode ||
				assumed->prepend != it->bird_prepend)) {
			mode_text(assumed->mode, assumed->prepend, want, sizeof want);
			refuse(e, count,
			       "service %s: BIRD exports it as %s, not %s: adopt takes what BIRD "
			       "exports (drop --state %s=...; change it afterwards with set)",
			       cs->name, have, want, cs->name);
			return;
		}
		it->source = ADOPT_FROM_BIRD;
		it->mode = it->bird_mode;
		it->prepend = it->bird_prepend;
		return;
	}
	if (assumed) {
		it->source = ADOPT_FROM_OPERATOR;
		it->mode = assumed->mode;
		it->prepend = assumed->prepend;
		return;
	}
	const char *what = foreign ? "BIRD exports it in a way routectl_export() does not"
			   : missing == (int)cs->n_prefixes ? "BIRD does not have it (its running "
							       "include predates the service?)"
			   : missing ? "BIRD has only part of it"
				     : "its prefixes disagree";
	refuse(e, count,
	       "service %s: %s (%s); say what it should be with --state "
	       "%s=announce|withdraw|prepend:N",
	       cs->name, what, it->bird_text, cs->name);
}

void adopt_plan_free(struct adopt_plan *plan)
{
	free(plan->items);
	memset(plan, 0, sizeof *plan);
}

int adopt_derive(const struct conf *c, const struct adopt_bird_view *v,
		 const struct adopt_assumption *assumptions, size_t n_assumptions, int force,
		 struct adopt_plan *plan, struct err *e)
{
	memset(plan, 0, sizeof *plan);
	int rc = check_assumptions(c, assumptions, n_assumptions, e);
	if (rc < 0)
		return rc;
	plan->items = calloc(c->n_services ? c->n_services : 1, sizeof *plan->items);
	if (!plan->items)
		return err_set(e, ERR_NOMEM, "adopt: out of memory");
	struct err r;
	err_clear(&r);
	unsigned refused = 0;
	stray_routes(c, v, force, plan, &r, &refused);
	for (size_t i = 0; i < c->n_services; i++) {
		const struct conf_service *cs = &c->services[i];
		derive_service(cs, v, find_assumption(assumptions, n_assumptions, cs->name),
			       &plan->items[i], &r, &refused);
	}
	plan->n = c->n_services;
	if (refused == 0)
		return 0;
	adopt_plan_free(plan);
	if (refused > ADOPT_REPORT_MAX)
		err_append(&r, ERR_REFUSED, "... and %u more", refused - ADOPT_REPORT_MAX);
	return err_set(e, ERR_REFUSED, "cannot adopt what BIRD exports now; nothing changed:\n%s",
		       r.msg);
}

struct state *adopt_state(const struct conf *c, const struct adopt_plan *plan,
			  uint64_t generation, const char *actor, const char *reason,
			  const char *change_id, time_t now)
{
	struct state *st = state_new(c, now);
	if (!st)
		return NULL;
	st->generation = generation;
	for (size_t i = 0; i < plan->n; i++) {
		struct svc_state *s = state_find(st, plan->items[i].service);
		if (!s || svc_state_set(s, plan->items[i].mode, plan->items[i].prepend, actor,
					reason, change_id, now) < 0) {
			state_free(st);
			return NULL;
		}
	}
	return st;
}

int adopt_parse_assumption(char *text, struct adopt_assumption *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	char *eq = strchr(text, '=');
	if (!eq || eq == text)
		return err_set(e, ERR_INVALID,
			       "--state \"%s\": write SERVICE=announce, SERVICE=withdraw or "
			       "SERVICE=prepend:N", text);
	*eq = '\0';
	const char *mode = eq + 1;
	out->service = text;
	if (strncmp(mode, "prepend:", 8) == 0) {
		char *end;
		errno = 0;
		long n = strtol(mode + 8, &end, 10);
		if (errno || end == mode + 8 || *end || n < PREPEND_MIN || n > PREPEND_MAX)
			return err_set(e, ERR_INVALID,
				       "--state %s=%s: prepend needs a count from %d to %d "
				       "(prepend:N)", text, mode, PREPEND_MIN, PREPEND_MAX);
		out->mode = MODE_PREPEND;
		out->prepend = (unsigned)n;
		return 0;
	}
	if (strcmp(mode, "announce") == 0)
		out->mode = MODE_ANNOUNCE;
	else if (strcmp(mode, "withdraw") == 0)
		out->mode = MODE_WITHDRAW;
	else
		return err_set(e, ERR_INVALID,
			       "--state %s=%s: the state is announce, withdraw or prepend:N",
			       text, mode);
	return 0;
}

/*
 * BIRD (the thin layer).
 */

static int cmp_export(const void *a, const void *b)
{
	return prefix_cmp(&((const struct bird_export *)a)->prefix,
			  &((const struct bird_export *)b)->prefix);
}

/* Appends the routes of one query to *all (sorted at the end). */
static int append(struct bird_export **all, size_t *n, struct bird_export *more, size_t m)
{
	if (m == 0) {
		free(more);
		return 0;
	}
	struct bird_export *p = realloc(*all, (*n + m) * sizeof *p);
	if (!p) {
		free(more);
		return -ERR_NOMEM;
	}
	memcpy(p + *n, more, m * sizeof *p);
	free(more);
	*all = p;
	*n += m;
	return 0;
}

void adopt_bird_view_free(struct adopt_bird_view *v)
{
	free(v->routes);
	free(v->accepted);
	memset(v, 0, sizeof *v);
}

int adopt_read_bird(struct bird_conn *b, int timeout_ms, struct adopt_bird_view *v,
		    struct err *e)
{
	memset(v, 0, sizeof *v);
	static const char *const from[] = { RENDER_STATIC_V4, RENDER_STATIC_V6 };
	for (size_t f = 0; f < 2; f++) {
		struct bird_export *x = NULL;
		size_t n = 0;
		int rc = bird_show_protocol_routes(b, from[f], timeout_ms, &x, &n, e);
		if (rc == 0 && append(&v->routes, &v->n_routes, x, n) < 0)
			rc = err_set(e, ERR_NOMEM, "adopt: out of memory");
		if (rc == 0) {
			rc = bird_show_through_function(b, from[f], RENDER_EXPORT_FUNCTION,
							timeout_ms, &x, &n, e);
			if (rc == 0 && append(&v->accepted, &v->n_accepted, x, n) < 0)
				rc = err_set(e, ERR_NOMEM, "adopt: out of memory");
		}
		if (rc < 0) {
			adopt_bird_view_free(v);
			if (rc == -ERR_INVALID)
				err_prefix(e, "BIRD's running config is not routectl's (no %s or "
					   "no %s())", from[f], RENDER_EXPORT_FUNCTION);
			return rc;
		}
	}
	if (v->n_routes > 1)
		qsort(v->routes, v->n_routes, sizeof *v->routes, cmp_export);
	if (v->n_accepted > 1)
		qsort(v->accepted, v->n_accepted, sizeof *v->accepted, cmp_export);
	return 0;
}
