/* routectld: the running daemon of one site. One event loop, one thread.
 *
 * It owns the desired state, applies changes to BIRD (apply/), runs staged
 * drains, reconciles drift, and serves the command layer (api/commands.h)
 * over HTTP on the console socket (api/http.h). */
#ifndef ROUTECTL_DAEMON_H
#define ROUTECTL_DAEMON_H

#include "apply/apply.h"
#include "common/err.h"
#include "common/model.h"
#include "conf/conf.h"

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

struct daemon {
	char *conf_path;
	struct conf *conf;
	struct policy policy;
	char *tmpl;
	char state_path[PATH_MAX];
	struct state *state;          /* desired state; NULL only in safe mode */
	char safe_mode[ERR_MSG_MAX];  /* "" when not in safe mode: the reason */

	struct bird_conn *bird;
	char bird_error[ERR_MSG_MAX];
	int64_t next_connect_ms;
	int bird_logged_down;

	/* What the last precheck found about BIRD's BGP protocols (at connect,
	 * on reload, each reconcile and each change), for status. */
	struct apply_peers peers;
	int have_peers;
	time_t peers_at;

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
	int partial;              /* applied, but not at the peers named in partial_msg */
	char partial_msg[2048];
	int64_t apply_ms;
};

void change_result_free(struct change_result *r);

/* Validates, plans, applies, verifies, saves, confirms. On failure nothing
 * changed (desired state and include as before) and e says why. */
int daemon_change(struct daemon *d, const struct change_request *req,
		  const struct caller *who, struct change_result *res, struct err *e);

/* Reconcile once now: make BIRD and the include match the desired state.
 * force: apply in full without comparing first. Returns 0 in sync, 1
 * repaired, <0 failed. */
int daemon_reconcile(struct daemon *d, const char *why, int force);
/* Runs the staged steps that are due. */
void daemon_run_due_steps(struct daemon *d, time_t now);
/* (Re)connects to BIRD if needed; returns 1 if connected now. */
int daemon_bird_ready(struct daemon *d);

#endif
