/* The site controller: the desired state of one site and everything that
 * changes it. Changes asked by operators (drain, undrain, set), the staged
 * steps that follow a drain or undrain, and the reconciler that repairs
 * drift between BIRD and the desired state.
 *
 * It has no sockets, no event loop and no threads: every function runs to
 * its end in the caller's thread and is handed the BIRD connection to work
 * with (a struct bird_conn from bird/, which may be NULL or dead: then the
 * functions that need BIRD fail with -ERR_CONNECT and change nothing). So
 * routectld's BIRD worker, the tests and the CLI's emergency mode can all
 * drive it. A caller that shares a struct site between threads serializes
 * the calls itself; routectld gives it to one thread only.
 *
 * What BIRD does is in apply/ (precheck, plan, configure timeout, verify,
 * confirm); this module decides what to apply and keeps the state file. */
#ifndef ROUTECTL_SITE_H
#define ROUTECTL_SITE_H

#include "apply/apply.h"
#include "common/err.h"
#include "common/model.h"
#include "conf/conf.h"
#include "site/adopt.h"
#include "site/guards.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct bird_conn;
struct state;

/* Who asked for a change: identity and transport. */
struct caller {
	char actor[256];      /* "alice (uid 1000) via console", "bot via https from ::1" */
	/* The human a bot acts for (the API's X-Actor header), "" when none:
	 * part of actor (" for alice"), and kept apart in the audit log. */
	char on_behalf_of[128];
	/* A console caller's uid (peer credentials), when known: its user name
	 * is looked up off the event loop (see caller_resolve_name), as a
	 * name service can be slow. */
	int has_uid;
	uid_t uid;
};

/* Puts the user name of who->uid into who->actor ("alice (uid 1000) via
 * console", then " for BOB" when on_behalf_of is set), if who has a uid
 * and the name service knows it; else leaves the actor as it is ("uid 1000
 * via console"). May wait on the name
 * service (getpwuid_r(3): NSS, possibly LDAP): never call it on an event
 * loop. */
void caller_resolve_name(struct caller *who);

struct last_apply {
	int have;
	int ok;
	time_t at;
	char change_id[17];
	char message[ERR_MSG_MAX];
	int64_t ms;
	char trigger[32];     /* "drain", "reconcile", "staged", ... */
};

/* How an apply ended: in effect everywhere, in effect but not at every peer
 * (struct change_result, partial), or not in effect. */
enum apply_result { APPLY_RESULT_OK, APPLY_RESULT_PARTIAL, APPLY_RESULT_FAILED };

/* Upper bounds (ms) of the finite buckets of the apply duration histogram:
 * 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 s. Fixed, so
 * that series of different daemons and versions can be summed. */
#define APPLY_DURATION_BUCKETS 12
extern const int64_t apply_duration_bounds_ms[APPLY_DURATION_BUCKETS];

/* Every apply that was tried, for /metrics: operator changes, adopt,
 * staged steps and the reconciler's repairs; not dry runs. Only counts:
 * copied as a whole to readers. */
struct apply_stats {
	unsigned long long ok, partial, failed;   /* by result */
	/* bucket[i]: applies that took more than bound i-1 and at most bound
	 * i (apply_duration_bounds_ms); bucket[APPLY_DURATION_BUCKETS]: longer
	 * than the last bound. Not cumulative (the renderer sums them). */
	unsigned long long bucket[APPLY_DURATION_BUCKETS + 1];
	unsigned long long count;  /* ok + partial + failed */
	int64_t sum_ms;            /* total duration */
};

/* Counts one apply with its result and duration in ms (apply_report's
 * ms_total; a negative one counts as 0). */
void apply_stats_record(struct apply_stats *st, enum apply_result r, int64_t ms);

enum change_kind { CHANGE_DRAIN, CHANGE_UNDRAIN, CHANGE_SET };

/* "drain", "undrain", "set". */
const char *change_kind_name(enum change_kind k);

/* A change asked by an operator. The strings belong to the caller. */
struct change_request {
	enum change_kind kind;
	const char *site;
	const char **services;    /* NULL/0: all (drain/undrain) */
	size_t n_services;
	enum svc_mode mode;       /* CHANGE_SET */
	unsigned prepend;         /* CHANGE_SET with MODE_PREPEND */
	const char *reason;
	int now;                  /* skip the stages */
	int dry_run;
	int force;                /* pass the guards (site/guards.h); the result says
				     which it overrode. Whether the caller may is
				     the caller's to check (the API: admin only). */
	/* "" : site_change makes a fresh one. Else the caller's choice (the
	 * API's change_id: one change across the routers of a fleet): 16
	 * lowercase hex digits (change_id_valid) that name no other change
	 * here (state_names_change), or the change is refused. */
	char change_id[17];
	/* Commit-confirm: 0, or revert unless site_confirm comes within this
	 * many seconds (1..CONFIRM_WITHIN_MAX_S). */
	unsigned confirm_within_s;
};

/* The longest confirm deadline: a day. A change that nobody confirms for
 * longer was not meant to be reverted. */
#define CONFIRM_WITHIN_MAX_S 86400u

/* One service's move, for the reply. */
struct change_item {
	char service[64];
	enum svc_mode from_mode, to_mode;
	unsigned from_prepend, to_prepend;
	int has_next;
	enum svc_mode next_mode;
	unsigned next_prepend;
	time_t next_at;
};

struct change_result {
	struct change_item *items;
	size_t n_items;
	char change_id[17];
	char *diff;               /* dry run: unified diff of the include */
	int applied;
	int partial;              /* applied, but not at the peers named in partial_msg
				     (apply.h, "Peers that ignore or alter") */
	char partial_msg[2048];
	/* applied: what this change's precheck found (a copy; freed by
	 * change_result_free) */
	struct apply_peers peers;
	int have_peers;
	int64_t apply_ms;
	/* Every guard's verdict (guards.judged 0 when the change was refused
	 * before they were judged: bad request, safe mode). Kept when the
	 * guards refuse the change, so that the refusal can show them. */
	struct guard_report guards;
	/* With confirm_within_s: the deadline (0 when nothing changed, so
	 * there is nothing to confirm). */
	time_t confirm_deadline;
};

void change_result_free(struct change_result *r);

/* A confirmation of a change made with confirm_within_s. The strings
 * belong to the caller. */
struct confirm_request {
	const char *change_id;
	const char *site;         /* NULL: this site */
	const char *reason;       /* may be NULL */
};

struct confirm_result {
	char change_id[65];
	time_t deadline;          /* the deadline it met */
	/* The services whose revert was called off: from is the mode it would
	 * have gone back to, to the mode it keeps (its next step, if any). */
	struct change_item *items;
	size_t n_items;
	/* Refused (-ERR_REFUSED) because the wait for the confirmation is
	 * over: how it ended, confirm_outcome_name's words or "late" (the
	 * deadline passed and the revert is still to run), and when (for
	 * "late": the deadline); "" when not refused so. */
	char ended[16];
	time_t ended_at;
};

void confirm_result_free(struct confirm_result *r);

/* Safe mode: the site leaves BIRD alone and refuses changes. The kind tells
 * what adopt may do about it (store.h, "Lost state"). */
enum safe_kind {
	SAFE_NONE = 0,
	SAFE_STATE_LOST,      /* state file or directory gone where routectld ran
				 before: `adopt` takes BIRD's exports */
	SAFE_STATE_UNUSABLE,  /* a state file that does not load (corrupt, other
				 site, not a regular file): `adopt --force` */
};

/* "state-lost", "state-unusable"; "" for SAFE_NONE (status's safe_mode.kind). */
const char *safe_kind_name(enum safe_kind k);

/* Adopt: in safe mode after the state was lost, take what BIRD exports now
 * as the desired state (site/adopt.h says how it is derived). The strings
 * belong to the caller. */
struct adopt_request {
	const char *site;
	const char *reason;
	const struct adopt_assumption *assumptions; /* services BIRD cannot tell */
	size_t n_assumptions;
	int force;      /* also over a state file that does not load, and over
			   routes in BIRD that are in no service */
	int dry_run;
	char change_id[17];       /* "" : site_adopt makes a fresh one */
};

struct adopt_result {
	struct adopt_plan plan;
	char change_id[17];
	uint64_t generation;      /* of the adopted state */
	char evidence[1024];      /* where the generation was continued from */
	char set_aside[PATH_MAX]; /* what was at the state file's path, kept there */
	char *diff;               /* dry run: unified diff of the include */
	int applied;
	int partial;              /* as in struct change_result */
	char partial_msg[2048];
	int64_t apply_ms;
};

void adopt_result_free(struct adopt_result *r);

struct site;

/*
 * Automatic changes. What routectld changes on its own (site_run_due: the
 * staged steps that follow a staged drain or undrain, the revert of a change
 * not confirmed by its deadline, and a revert the guards kept from taking
 * announcements away) is kept as records in struct site, for the caller to
 * take (site_take_auto_changes) and write where operators look (routectld:
 * its audit log). One record per automatic change and change it follows
 * from: one step that moves the services of two drains is two records with
 * the same change_id.
 *
 * Failures are recorded once per streak: the first failed attempt of a kind
 * (step, revert) gets a record with result failed and the error; the
 * attempts that follow every STEP_RETRY (5 s) and fail too get none (each is
 * in the log), and the attempt that then succeeds says in failed_attempts
 * how many failed before it. A streak ends when an attempt succeeds or
 * nothing of its kind is due any more (a later change superseded it).
 */
enum auto_kind { AUTO_STAGED_STEP, AUTO_CONFIRM_REVERT, AUTO_REVERT_KEPT };

/* "staged-step", "confirm-revert", "confirm-revert-kept" (the audit
 * record's action). */
const char *auto_kind_name(enum auto_kind k);

struct auto_service {
	char name[64];
	enum svc_mode from_mode, to_mode;     /* to: the mode asked (kept: the
						 mode it stays in) */
	unsigned from_prepend, to_prepend;
};

struct auto_change {
	enum auto_kind kind;
	int64_t epoch_ms;          /* wall clock, when it was tried */
	char change_id[17];        /* the change routectld made (or tried) */
	char follows[65];          /* the change it follows from: the staged drain
				      or undrain, the change not confirmed */
	char follows_actor[256];   /* who asked for that change */
	char reason[1024];         /* why: the followed change's reason (step),
				      or why it reverts or keeps */
	struct auto_service *svcs;
	size_t n_svcs;
	enum apply_result result;  /* kept: OK once the state is saved, and
				      the guard's refusal in error */
	enum err_code error_code;  /* ERR_OK when none */
	char error[ERR_MSG_MAX];   /* "" when none: what went wrong, or the
				      guard that kept the service */
	unsigned failed_attempts;  /* attempts of this kind that failed right
				      before this one (its streak) */
};

/* The records not yet taken; at most AUTO_CHANGES_MAX (beyond, a record is
 * logged as not taken and dropped: nobody takes them). */
#define AUTO_CHANGES_MAX 256
struct auto_changes {
	struct auto_change *recs;
	size_t n;
};

void auto_changes_free(struct auto_changes *a);

/* Moves the records kept in s to the end of *out (which may hold records
 * already; zeroed for a first call). Returns how many were moved; on
 * ENOMEM they stay in s (-ERR_NOMEM). */
int site_take_auto_changes(struct site *s, struct auto_changes *out);

/* In the state directory while the state of a first start has not been
 * compared with what BIRD exports (struct site, first_start_unchecked). */
#define FIRST_START_MARKER "first-start-unchecked"

struct site {
	char *conf_path;
	struct conf *conf;
	struct policy policy;
	char *tmpl;
	char state_path[PATH_MAX];
	/* The desired state; NULL only in safe mode. In safe mode entered by a
	 * SIGHUP that found the state lost, it is still the state routectld
	 * held until then (the last known, not the desired state: status shows
	 * it as such, adopt continues its generation). */
	struct state *state;
	char safe_mode[ERR_MSG_MAX];  /* "" when not in safe mode: the reason */
	enum safe_kind safe_kind;     /* why, for adopt (see store.h, "Lost state") */
	time_t safe_since;            /* wall clock: when safe mode was entered
					 (kept while it lasts) */
	/* A fresh state made at a first start and not yet compared with what
	 * BIRD exports: the first use of a live BIRD connection compares first
	 * (site_reconcile, and any apply), and goes to safe mode "state-lost"
	 * instead of applying when BIRD already exports routectl's routes
	 * otherwise (state and include wiped together). Persisted as the
	 * state directory's FIRST_START_MARKER, written before the initial
	 * state and removed once the comparison is done (either way, or by
	 * adopt): a routectld restarted before it ever reached BIRD compares
	 * too. A crash later (in a first drain, say) leaves no marker, so it
	 * is never taken for a lost state. */
	int first_start_unchecked;

	/* What the last precheck found about BIRD's BGP protocols (each
	 * reconcile, including the one at connect and after a reload, and each
	 * change), for status; have_peers is 0 until the first one. */
	struct apply_peers peers;
	int have_peers;
	time_t peers_at;
	unsigned long peers_seq;      /* counts the findings kept, for publishers */

	struct last_apply last;
	struct apply_stats apply_stats;  /* every apply recorded in last, counted */
	unsigned long repairs;        /* drift repaired by the reconciler */
	int64_t next_reconcile_ms;    /* monotonic */
	unsigned reconcile_failures;  /* failed repairs in a row, for the backoff */
	int64_t step_retry_ms;        /* staged steps wait until then after a failure */
	/* Set (never cleared here) when an apply changed what BIRD runs: BIRD
	 * 2.0.12 sends the tail of a large update burst only when its I/O loop
	 * next wakes (shared BIRD facts, "Propagation speed"), so the caller
	 * keeps sending it cheap commands for a while, then clears this. */
	int bird_changed;

	/* The view of the other sites for the guards across sites (guards.h):
	 * set by the owner (routectld: from the fleet document); NULL when
	 * there is no fleet, and then a change that takes announcements away
	 * is refused unless forced. Called from site_change only, and only
	 * for a change that takes announcements away (its staged steps
	 * included). */
	guard_view_fn fleet_view;
	void *fleet_arg;

	/* What site_run_due changed on its own, for site_take_auto_changes
	 * ("Automatic changes" above), and the failed attempts in a row of
	 * the steps and of the reverts (failure streaks). */
	struct auto_changes autos;
	unsigned step_failures, revert_failures;
};

/* Loads config (conf_load), policy and template: the three things a site
 * runs on. On failure nothing is returned and e names the file and reason. */
int site_load_config(const char *path, struct conf **c, struct policy *p, char **tmpl,
		     struct err *e);

/* Loads config, policy, template and the state file, and writes the include
 * BIRD needs to start when it is missing. The state file is created (and the
 * state directory with it) only at a first start: no state file and no
 * include at bird/include. A state file or directory that is missing where
 * routectld has run before (the include is there), a dangling symbolic link,
 * a file that is not a regular file, does not load or is another site's is
 * not an error: the site is in safe mode (s->safe_mode says why and what to
 * do, s->safe_kind which kind; store.h, "Lost state") and leaves BIRD alone.
 * A state file older than the include continues from the include's
 * generation. An include that is not a regular file is logged, not fatal
 * (every apply then fails saying why). Errors (bad config, state directory
 * not writable at a first start) leave s empty for site_close. */
int site_open(struct site *s, const char *conf_path, struct err *e);
/* site_open in its two halves, for a caller that takes the site lock
 * (site/emergency.h) between them, once it knows the state directory and
 * before the state is read: site_open_config loads config, policy and
 * template (site_load_config) into s and touches nothing on disk;
 * site_open_state does the rest of site_open. After a failure of either,
 * site_close(s). */
int site_open_config(struct site *s, const char *conf_path, struct err *e);
int site_open_state(struct site *s, struct err *e);
void site_close(struct site *s);

/* SIGHUP: loads a new config, policy and template and swaps them in only if
 * valid and if site, console socket and state directory are unchanged;
 * then reloads the state file with site_open's decisions (leaving safe mode
 * if it loads now; a state file deleted under a running routectld is safe
 * mode "state-lost", never a fresh state).
 * *bird_socket_changed tells the caller to reconnect, and the caller
 * reconciles (site_reconcile). Returns 0, or <0 with the running config kept
 * and e saying why. */
int site_reload(struct site *s, int *bird_socket_changed, struct err *e);

/* What a site runs on besides its state: a config with its policy and
 * template, loaded and valid. */
struct site_config {
	struct conf *conf;
	struct policy policy;
	char *tmpl;
};

/* site_reload in two halves, so that a caller can validate more (routectld:
 * the token file the new config names) before anything is swapped.
 * site_reload_load loads the config at s->conf_path with its policy and
 * template (site_load_config) and refuses one that changes the site, the
 * console socket or the state directory (-ERR_INVALID, naming the setting,
 * its running and its new value, and that a restart is needed); s is only
 * read. On failure *out is empty and e names the file and the field. */
int site_reload_load(const struct site *s, struct site_config *out, struct err *e);
/* Swaps *c (from site_reload_load) in, and leaves the config it replaced in
 * *c for the caller to free or keep; then reloads the state file as
 * site_reload does (a state file that does not load is safe mode, logged,
 * not a failure of the reload). */
void site_reload_swap(struct site *s, struct site_config *c, int *bird_socket_changed);
void site_config_free(struct site_config *c);

/* Validates, plans, prechecks BIRD's protocols, applies, verifies, saves,
 * confirms (apply_state, with apply_opts.takes_away for a withdraw or a
 * prepend and refuse_unlisted from the policy's unlisted-exporter). On
 * success res->partial tells whether the change took effect only in part
 * (misconfigured or unlisted peers named in res->partial_msg; apply.h says
 * the rule). On failure nothing changed (desired state and include as
 * before) and e says why: -ERR_UNAVAILABLE (safe mode), -ERR_REFUSED (wrong
 * site, a blocking precheck finding), -ERR_POLICY (refused by the policy or
 * a guard: last-site, max-drained-sites, unreachable, flap-budget, see
 * guards.h; req->force passes the guards and res->guards says which were
 * overridden),
 * -ERR_INVALID (no reason, bad prepend), -ERR_REFUSED (req->change_id
 * names another change here), -ERR_NOTFOUND
 * (unknown service), -ERR_CONNECT (b is NULL or dead), or apply's errors
 * with BIRD's words; except when BIRD undid the change before the confirm
 * after the state file had it: then the new state is the desired state
 * (the reconciler applies it again) and e says so. The precheck's findings
 * are kept in s->peers. A dry run fills res->diff and res->guards (every
 * verdict, refused ones included) and succeeds. An applied change counts
 * against the flap budget of each service it changes (kept in the state
 * file); staged steps do not. */
int site_change(struct site *s, struct bird_conn *b, const struct change_request *req,
		const struct caller *who, struct change_result *res, struct err *e);

/*
 * Commit-confirm. A change made with confirm_within_s records, per service
 * it moves, the deadline and the mode before it (store.h, svc_state:
 * has_confirm) in the state file, so that the deadline survives a restart
 * of routectld (BIRD's own configure timeout would not: routectld confirms
 * BIRD's configure at once, and a BIRD timer dies with a BIRD restart).
 * The staged steps that follow the change keep it; a later change of the
 * service drops it (that service keeps the later change). When the deadline
 * passes, site_run_due puts every such service back to its mode before the
 * change, as a new change whose actor is "routectld (confirm deadline of ID
 * passed)", with a log record at level warning and an automatic change
 * record (site_take_auto_changes; routectld writes it to the audit log as
 * action "confirm-revert", or "confirm-revert-kept" when a guard kept the
 * service as the change left it). Without BIRD the
 * revert waits for it, like a staged step, and runs as soon as BIRD is
 * connected (after a restart: at once when the deadline passed meanwhile).
 */

/* Confirms req->change_id: its pending reverts are dropped and the state
 * file saved (BIRD is not asked: what it exports does not change). Errors:
 * -ERR_NOTFOUND when no pending or recently ended confirmation has that id;
 * -ERR_REFUSED (a conflict) when its deadline passed (reverted, or to be
 * reverted once BIRD is connected), when it was confirmed already or later
 * changes superseded it, saying which (and res->ended says how it ended);
 * -ERR_UNAVAILABLE in safe mode;
 * -ERR_REFUSED for another site; -ERR_IO when the state cannot be saved
 * (nothing changed). */
int site_confirm(struct site *s, const struct confirm_request *req, const struct caller *who,
		 struct confirm_result *res, struct err *e);

/* Reconciles once now: first apply_precheck (findings kept in s->peers;
 * a blocking one, such as a listed protocol missing or another local AS,
 * leaves BIRD alone and returns -ERR_REFUSED), then the include on disk and
 * BIRD's exports (verify_exports) against the desired state, repairing
 * drift with a full apply. Mismatches only at peers that ignore or alter
 * routectl_export() are logged, not repaired (applying again cannot fix
 * them). force: apply without comparing first (used when the BIRD connection
 * comes up, which also cancels an undo a killed routectld left pending).
 * After a first start (s->first_start_unchecked) it first compares what
 * BIRD's running routectl_export() does with the fresh state, and enters
 * safe mode "state-lost" instead of applying when they differ.
 * Returns 0 in sync (or nothing to do: safe mode, no BIRD), 1 repaired, <0
 * failed (logged, and in s->last). */
int site_reconcile(struct site *s, struct bird_conn *b, const char *why, int force);

/* Adopt, in safe mode: refused (-ERR_REFUSED) when not in safe mode, for
 * another site, or in safe mode of kind SAFE_STATE_UNUSABLE unless
 * req->force (store.h, "Lost state"); -ERR_INVALID without a reason. Reads
 * BIRD's exports through its running routectl_export() (adopt_read_bird:
 * blocking BIRD commands, each within bird-timeout; b NULL or dead is
 * -ERR_CONNECT), derives each service's mode (adopt_derive), and applies
 * the result like any change (render, check, configure, verify, save,
 * confirm): BIRD's exports do not change for what came from BIRD, only the
 * include's header (the new generation). The generation continues from the
 * include's header (or the state in memory), +1; every service is
 * attributed to who with the reason and one new change id. Whatever was at
 * the state file's path is kept as state.json.refused-TIME. On success the
 * site leaves safe mode; on failure nothing changed (still in safe mode) and
 * e says why (BIRD's words, or each service that cannot be adopted and what
 * to do). A dry run reads BIRD and fills res->plan and res->diff only. */
int site_adopt(struct site *s, struct bird_conn *b, const struct adopt_request *req,
	       const struct caller *who, struct adopt_result *res, struct err *e);

/* Runs what is due at monotonic time now_ms: the reconcile timer (every
 * reconcile-interval; a repair that keeps failing backs off, doubling up to
 * 5 minutes) and, when b is a live connection, the reverts of unconfirmed
 * changes whose deadline passed, then the staged steps whose time has come
 * (both by the wall clock); without BIRD they wait for it. */
void site_run_due(struct site *s, struct bird_conn *b, int64_t now_ms);

/* When site_run_due next has something to do with b (monotonic ms). */
int64_t site_next_due_ms(const struct site *s, const struct bird_conn *b);

#endif
