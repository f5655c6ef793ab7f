/* routectld: the running daemon of one site. One event loop, one thread.
 *
 * It owns the desired state, applies changes to BIRD (apply/), runs staged
 * drains, reconciles drift, and serves the command layer (api/commands.h)
 * over HTTP on the console socket (api/http.h). */
#ifndef ROUTECTL_DAEMON_H
#define ROUTECTL_DAEMON_H

#include "common/err.h"
#include "common/model.h"
#include "conf/conf.h"
#include "site/adopt.h"

#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

struct bird_conn;
struct state;
struct http_server;

/* Who asked for a change: identity and transport. */
struct caller {
	char actor[128];      /* "alice (uid 1000) via console" */
};

struct last_apply {
	int have;
	int ok;
	time_t at;
	char change_id[17];
	char message[ERR_MSG_MAX];
	int64_t ms;
	char trigger[32];     /* "drain", "reconcile", "staged", ... */
};

/* Safe mode: routectld leaves BIRD alone and refuses changes. */
enum safe_kind {
	SAFE_NONE = 0,
	SAFE_STATE_LOST,      /* state file or directory gone where routectld ran
				 before: `adopt` takes BIRD's exports */
	SAFE_STATE_UNUSABLE,  /* a state file that does not load (corrupt, other
				 site, not a regular file): `adopt --force` */
};

struct daemon {
	char *conf_path;
	struct conf *conf;
	struct policy policy;
	char *tmpl;
	char state_path[PATH_MAX];
	struct state *state;          /* desired state; NULL only in safe mode */
	char safe_mode[ERR_MSG_MAX];  /* "" when not in safe mode: the reason */
	enum safe_kind safe_kind;     /* why, for adopt (see store.h, "Lost state") */
	int first_start_unchecked;    /* a fresh state not yet compared with BIRD */

	struct bird_conn *bird;
	char bird_error[ERR_MSG_MAX];
	int64_t next_connect_ms;
	int bird_logged_down;

	struct last_apply last;
	unsigned long repairs;        /* drift repaired by the reconciler */
	int64_t next_reconcile_ms;
	unsigned reconcile_failures;  /* failed repairs in a row, for the backoff */
	int64_t step_retry_ms;        /* staged steps wait until then after a failure */
	int64_t wake_until_ms;        /* keep waking BIRD until then (see BIRD.md) */
	int64_t next_wake_ms;

	struct http_server *http;
	int signal_fd;
	int stop;
};

/* Loads config, policy, template and state; binds the console. Errors that
 * make starting pointless (bad config, cannot bind) are returned; a state
 * file that does not load is not an error: the daemon starts in safe mode. */
int daemon_init(struct daemon *d, const char *conf_path, struct err *e);
/* Runs until SIGTERM/SIGINT. SIGHUP reloads config, policy and template
 * (and leaves safe mode if the state file loads now). */
int daemon_run(struct daemon *d);
void daemon_free(struct daemon *d);

/* A change asked through the command layer. */
enum change_kind { CHANGE_DRAIN, CHANGE_UNDRAIN, CHANGE_SET };

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
};

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
	int64_t apply_ms;
};

void change_result_free(struct change_result *r);

/* Validates, plans, applies, verifies, saves, confirms. On failure nothing
 * changed (desired state and include as before) and e says why. */
int daemon_change(struct daemon *d, const struct change_request *req,
		  const struct caller *who, struct change_result *res, struct err *e);

/* Adopt: in safe mode after the state was lost, take what BIRD exports now
 * as the desired state (site/adopt.h says how it is derived). */
struct adopt_request {
	const char *reason;
	const struct adopt_assumption *assumptions; /* services BIRD cannot tell */
	size_t n_assumptions;
	int force;      /* also over a state file that does not load, and over
			   routes in BIRD that are in no service */
	int dry_run;
};

struct adopt_result {
	struct adopt_plan plan;
	char change_id[17];
	uint64_t generation;      /* of the adopted state */
	char evidence[1024];      /* where the generation was continued from */
	char set_aside[PATH_MAX]; /* what was at the state file's path, kept there */
	char *diff;               /* dry run: unified diff of the include */
	int applied;
	int64_t apply_ms;
};

void adopt_result_free(struct adopt_result *r);

/* Refused (-ERR_REFUSED) when not in safe mode, or in safe mode for a state
 * file that does not load unless req->force (see store.h, "Lost state"). Reads
 * BIRD's exports through its running routectl_export(), derives each
 * service's mode, and applies the result like any change (render, check,
 * configure, verify, save, confirm): BIRD's exports do not change for what
 * came from BIRD, only the include's header (the new generation). The
 * generation continues from the include's header (or the state in memory),
 * +1. Whatever was at the state file's path is kept as
 * state.json.refused-TIME. On success routectld leaves safe mode. On failure
 * nothing changed and e says why (BIRD's words, or each service that cannot
 * be adopted and what to do). */
int daemon_adopt(struct daemon *d, const struct adopt_request *req, const struct caller *who,
		 struct adopt_result *res, struct err *e);

/* Reconcile once now: make BIRD and the include match the desired state.
 * force: apply in full without comparing first. Returns 0 in sync, 1
 * repaired, <0 failed. */
int daemon_reconcile(struct daemon *d, const char *why, int force);
/* Runs the staged steps that are due. */
void daemon_run_due_steps(struct daemon *d, time_t now);
/* (Re)connects to BIRD if needed; returns 1 if connected now. */
int daemon_bird_ready(struct daemon *d);

#endif
