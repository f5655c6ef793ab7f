/* Adopt: take what BIRD exports right now as the desired state.
 *
 * After the state file is lost (store.h, "Lost state") routectld is in safe
 * mode and leaves BIRD alone. BIRD still runs the last include routectld
 * applied, so what its running routectl_export() does to each service's
 * routes is the last desired state that took effect. `routectl adopt` reads
 * it back and makes it the desired state again, attributed to the operator
 * with a reason and a new change id, the generation continued from the
 * include's header.
 *
 * Source: BIRD's running routectl_export() over the routes of routectl_v4
 * and routectl_v6 (`show route protocol routectl_vN filter {
 * routectl_export(); accept; } all`), not the peers' exports. It is the
 * function every correctly configured peer calls, so it is what routectld
 * last applied; it answers whatever BGP sessions are up; and a peer whose
 * own filter adds prepends or ignores routectl (which verify reports) would
 * otherwise be taken for routectld's intent. `show route protocol
 * routectl_vN all` without the filter lists the routes BIRD has, so that a
 * withdrawn prefix (rejected by the function) is told from one that BIRD's
 * running include does not have at all.
 *
 * Per prefix: rejected = withdraw; accepted with an empty AS path =
 * announce; accepted with a path of N copies of one AS (1..10) = prepend N;
 * anything else (another path, a path BIRD cut short) was not made by
 * routectl_export() and is refused. Per service: every prefix in the same
 * mode gives that mode. A service whose prefixes disagree, or that BIRD does
 * not have (in full or in part: a service added to the config since BIRD's
 * include was written), is refused and named unless the operator says what
 * it should be (an assumption); an assumption for a service BIRD exports in
 * one clear mode must agree with it (adopt takes BIRD's word; `set` changes
 * it afterwards). A route of routectl_v4/v6 that is in no service of the
 * config (other than the sentinels, RENDER_SENTINEL_V4/V6) means BIRD runs
 * an include made for another config: refused unless forced, since applying
 * the adopted state would withdraw it.
 *
 * adopt_derive and adopt_state are pure (no sockets, no files): unit tests
 * drive them with made-up exports. adopt_read_bird is the thin layer that
 * asks BIRD. */
#ifndef ROUTECTL_SITE_ADOPT_H
#define ROUTECTL_SITE_ADOPT_H

#include "common/model.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct bird_conn;
struct bird_export;
struct conf;
struct err;
struct state;

/* What BIRD shows, both families together. */
struct adopt_bird_view {
	struct bird_export *routes;    /* every route of routectl_v4 and routectl_v6 */
	size_t n_routes;
	struct bird_export *accepted;  /* those routectl_export() accepts, with the
					  AS path it leaves */
	size_t n_accepted;
};

/* The operator's word for a service that BIRD cannot tell. */
struct adopt_assumption {
	const char *service;
	enum svc_mode mode;
	unsigned prepend;              /* 1..10 with MODE_PREPEND */
};

enum adopt_source {
	ADOPT_FROM_BIRD,               /* BIRD exports it in this mode now */
	ADOPT_FROM_OPERATOR,           /* an assumption; BIRD will be changed to it */
};

struct adopt_item {
	char service[64];
	enum adopt_source source;
	enum svc_mode mode;            /* adopted */
	unsigned prepend;
	/* What BIRD does now: one mode for the whole service (bird_clear), or a
	 * description ("192.0.2.0/24 missing from BIRD, 2001:db8:1::/48
	 * announce"). */
	int bird_clear;
	enum svc_mode bird_mode;
	unsigned bird_prepend;
	char bird_text[256];
};

struct adopt_plan {
	struct adopt_item *items;      /* one per configured service, config order */
	size_t n;
	char warnings[1024];           /* forced over: routes in no service */
};

/* Derives each configured service's mode from BIRD's view (see above).
 * assumptions may be NULL when n_assumptions is 0. force: adopt although
 * BIRD has routes that belong to no service of the config (they are named in
 * plan->warnings). Returns 0 with plan filled (free with adopt_plan_free), or
 * -ERR_REFUSED with one line per service or route that cannot be adopted,
 * each naming it and saying what to do; -ERR_INVALID for an assumption that
 * names no configured service, names one twice, or has a bad prepend;
 * -ERR_NOMEM. */
int adopt_derive(const struct conf *c, const struct adopt_bird_view *v,
		 const struct adopt_assumption *assumptions, size_t n_assumptions, int force,
		 struct adopt_plan *plan, struct err *e);
void adopt_plan_free(struct adopt_plan *plan);

/* The desired state of a plan: site c->site, the given generation, every
 * service in its adopted mode with actor, reason, change_id and since = now,
 * no staged steps. NULL when out of memory. */
struct state *adopt_state(const struct conf *c, const struct adopt_plan *plan,
			  uint64_t generation, const char *actor, const char *reason,
			  const char *change_id, time_t now);

/* Asks BIRD (blocking, each command within timeout_ms) for the routes of
 * routectl_v4 and routectl_v6, unfiltered and through its running
 * routectl_export(). Returns 0 with v filled (free with
 * adopt_bird_view_free), or BIRD's error: -ERR_INVALID when BIRD's running
 * config lacks those protocols or that function (its include is not
 * routectl's: said so in e), -ERR_CONNECT/-ERR_TIMEOUT/-ERR_PROTOCOL as
 * bird_command. */
int adopt_read_bird(struct bird_conn *b, int timeout_ms, struct adopt_bird_view *v,
		    struct err *e);
void adopt_bird_view_free(struct adopt_bird_view *v);

/* Parses an assumption "SERVICE=announce", "SERVICE=withdraw" or
 * "SERVICE=prepend:N" (the CLI's --state); service points into text (up to
 * the '=' which is replaced by a NUL). Returns 0 or -ERR_INVALID naming what
 * is wrong. */
int adopt_parse_assumption(char *text, struct adopt_assumption *out, struct err *e);

#endif
