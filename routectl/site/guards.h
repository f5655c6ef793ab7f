/* Guards across sites and the flap budget: the decisions a change has to
 * pass before it is applied (DESIGN.md, "Safety"; policies/, guards and
 * flap-budget). Pure functions over what the caller hands in: the policy,
 * the moves of the change and a view of the other sites. No sockets, no
 * clock of their own (now is an argument), so the site controller, the
 * tests and a later backend of the view share them.
 *
 * The view of the other sites comes through a hook of struct site (site.h,
 * fleet_view): routectld's hook asks every router of the fleet document
 * live; a later backend (etcd) fills the same struct guard_view. */
#ifndef ROUTECTL_GUARDS_H
#define ROUTECTL_GUARDS_H

#include "common/model.h"
#include "conf/conf.h"

#include <stddef.h>
#include <time.h>

struct err;

/* ---- the view of the other sites ---------------------------------------- */

/* One service at another site. When its routers disagree, the view holds
 * the most drained of their states (withdraw before prepend before
 * announce): what a guard has to assume. A service a site does not list is
 * not announced there. */
struct guard_view_service {
	char name[64];
	enum svc_mode mode;
	unsigned prepend;
};

struct guard_view_site {
	char name[64];
	int reachable;          /* 0: its state could not be had (why says why) */
	char why[512];
	struct guard_view_service *services;
	size_t n_services;
};

/* Every other site of the fleet (not the one making the change). */
struct guard_view {
	struct guard_view_site *sites;
	size_t n_sites;
};

void guard_view_free(struct guard_view *v);

/* The hook that fills a view: every site but except_site, each asked
 * within timeout_ms (the policy's ask-timeout-ms). Returns 0 with *out
 * filled (unreachable sites marked in it), or <0 with e saying why no view
 * could be had at all (the fleet document does not load, say). May block
 * up to about timeout_ms: called from routectld's BIRD worker, never from
 * its event loop. */
typedef int (*guard_view_fn)(void *arg, const char *except_site, unsigned timeout_ms,
			     struct guard_view *out, struct err *e);

/* ---- verdicts ------------------------------------------------------------- */

enum guard_verdict { GUARD_PASS, GUARD_REFUSED, GUARD_OVERRIDDEN, GUARD_SKIPPED };

/* "pass", "refused", "overridden", "skipped" */
const char *guard_verdict_name(enum guard_verdict v);

/* The guards, in the order they are reported. */
enum guard_id {
	GUARD_LAST_SITE,        /* "last-site" */
	GUARD_MAX_DRAINED,      /* "max-drained-sites" */
	GUARD_UNREACHABLE,      /* "unreachable" */
	GUARD_FLAP_BUDGET,      /* "flap-budget" */
	GUARD_COUNT
};

const char *guard_name(enum guard_id id);

#define GUARD_MSG_MAX 1024

struct guard_outcome {
	enum guard_verdict verdict;
	char message[GUARD_MSG_MAX];   /* why, for people; "" only when judged == 0 */
};

/* Every guard's verdict for one change (g indexed by enum guard_id). */
struct guard_report {
	int judged;                    /* 0: no guard was evaluated (nothing filled) */
	struct guard_outcome g[GUARD_COUNT];
};

/* ---- the change, as the guards see it ---------------------------------------- */

/* One service the change moves. to_* is where the change ends, its staged
 * steps included (a staged drain is judged as the withdraw it leads to,
 * because its later steps are not judged again). recent: the times of the
 * service's recent changes at this site (for the flap budget), any order. */
struct guard_move {
	const char *service;
	enum svc_mode from_mode, to_mode;
	unsigned from_prepend, to_prepend;
	const time_t *recent;
	size_t n_recent;
};

/* 1 when going from (from, fp) to (to, tp) takes announcements away: a
 * withdraw where there was none, a prepend where there was none, or more
 * prepends (the same rule as the site controller's). */
int guard_takes_away(enum svc_mode from, unsigned fp, enum svc_mode to, unsigned tp);

/* Judges the guards across sites (last-site, max-drained-sites,
 * unreachable) for the moves of a change at site `site`:
 *  - view NULL: no view could be had (no_view_why says why: no fleet
 *    document, or the hook's error); unreachable is refused, the other
 *    two skipped;
 *  - last-site (when p->guard_last_site): refused when a service that the
 *    change takes away would be announced (announce or prepend) from no
 *    site: this one after the change and the reachable sites of the view;
 *    the message names the service and every site with its state;
 *  - max-drained-sites: refused when a service the change withdraws here
 *    would be withdrawn at more than p->max_drained_sites sites, this one
 *    included; the message names the service and the sites;
 *  - unreachable: refused when a site of the view is not reachable, naming
 *    it and why.
 * With force, what would be refused is GUARD_OVERRIDDEN (message kept).
 * Moves that take nothing away are not judged; when no move takes anything
 * away the three are skipped. Fills r->g for those three and sets
 * r->judged. */
void guards_judge_fleet(const struct policy *p, const char *site, const struct guard_move *moves,
			size_t n_moves, const struct guard_view *view, const char *no_view_why,
			int force, struct guard_report *r);

/* Judges the flap budget: a service that already changed p->flap_changes
 * times within the last p->flap_window_s seconds before now is refused
 * (overridden with force), with the time the hold-down ends (when the
 * oldest of those leaves the window), in UTC. Fills r->g[GUARD_FLAP_BUDGET]
 * and sets r->judged. */
void guards_judge_flap(const struct policy *p, const char *site, const struct guard_move *moves,
		       size_t n_moves, time_t now, int force, struct guard_report *r);

/* Marks every guard skipped with the same message ("nothing changes"). */
void guards_skip_all(struct guard_report *r, const char *why);

/* 0 when no guard of r is refused; else -ERR_POLICY with e holding every
 * refused guard's message, one per line, and how to override. */
int guards_refused(const struct guard_report *r, struct err *e);

/* 1 when some guard of r was overridden. */
int guards_overridden(const struct guard_report *r);

/* Keeps, in times[0..n), those within the window before now (later than
 * now - window_s) and of them at most keep, the most recent; sorted oldest
 * first. Returns how many are left. */
size_t guards_flap_prune(time_t *times, size_t n, time_t now, unsigned window_s, size_t keep);

#endif
