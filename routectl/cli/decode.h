/* The daemon's JSON answers checked and turned into the views that output.c
 * renders, and the result of a command (an answer, a refusal, or a local
 * failure that says why) with its exit code.
 *
 * Everything the daemon sends is untrusted: a view is only filled from a
 * body that has the documented shape, else the call fails with a message
 * that names the field. Strings in a view point into the response's JSON
 * and live as long as the response. */
#ifndef ROUTECTL_CLI_DECODE_H
#define ROUTECTL_CLI_DECODE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "cli/args.h"
#include "common/model.h"

struct err;

struct view_step {              /* a pending stage: "then withdraw at ..." */
	enum svc_mode mode;
	unsigned prepend;
	const char *at;
	bool has_in_s;              /* status: seconds from now to the stage */
	long long in_s;
};

/* A change that reverts by itself unless confirmed (commit-confirm). */
struct view_confirm_wait {
	const char *change_id;
	const char *deadline;
	bool has_in_s;
	long long in_s;             /* seconds from now to the deadline */
	bool has_revert;            /* per service: what it goes back to */
	enum svc_mode revert_mode;
	unsigned revert_prepend;
	const char **services;      /* status's pending_confirms: the services */
	size_t n_services;
};

struct view_service {
	const char *name;
	const char **prefixes;      /* IPv4 then IPv6, as the daemon lists them */
	size_t n_listed;            /* entries in prefixes (the daemon lists the
				       prefixes of small services only) */
	size_t n_prefixes;          /* how many the service has */
	bool known;                 /* false: state "unknown" (no state loaded) */
	bool last_known;            /* unknown, and mode to change_id are the
				       state routectld held before the state was
				       lost (status's "last_known"), not the
				       desired state */
	enum svc_mode mode;
	unsigned prepend;
	const char *since, *actor, *reason, *change_id;   /* may be NULL */
	bool has_next;
	struct view_step next;
	bool has_confirm;           /* waits for the confirmation of a change */
	struct view_confirm_wait confirm;
};

/* One BGP protocol of BIRD as routectld's last check found it (status's
 * bird.peers). */
struct view_peer {
	const char *name;
	bool listed, up;            /* listed in bird/bgp-protocol; BIRD says up */
	bool v4, v6;                /* families it has channels for */
	char problems[160];         /* "ignores-routectl-export, ..."; "" if none */
	const char *message;        /* one line saying what is wrong; may be NULL */
};

/* A TCP listener of routectld's API (status api.listeners). */
struct view_listener {
	const char *address, *kind, *transport;
	long long port;
	bool bound;
	const char *error;              /* why not bound; may be NULL */
};

struct view_status {
	const char *site;
	long long generation;
	const char *safe_mode_reason;   /* NULL when not in safe mode */
	/* Safe mode after a loss: the services' last known states are those
	 * of this generation, held until this time (safe_mode.last_known). */
	bool has_last_known;
	long long last_known_generation;
	const char *last_known_until;   /* may be NULL */
	bool bird_connected;
	const char *bird_socket, *bird_version, *bird_error;   /* may be NULL */
	bool has_last_apply;
	const char *last_result;         /* "ok" or "failed" */
	const char *last_at, *last_change_id, *last_message;  /* may be NULL */
	const char *last_trigger;        /* "drain", "reconcile", ...; may be NULL */
	bool has_last_ms;
	double last_ms;
	bool has_repairs;
	long long repairs;               /* drift repairs since the daemon started */
	/* The change routectld is applying right now (the states shown are
	 * those from before it). */
	bool has_in_flight;
	const char *in_flight_kind, *in_flight_change_id, *in_flight_since;  /* may be NULL */
	struct view_service *services;
	size_t n_services;
	/* What routectld last found about BIRD's BGP protocols (bird.peers);
	 * has_peers false when it has not checked yet (or an older routectld). */
	bool has_peers;
	struct view_peer *peers;
	size_t n_peers;
	const char *peers_checked_at;    /* may be NULL */
	bool no_sentinel_v4, no_sentinel_v6;  /* peer filters could not be checked */
	/* Changes that revert by themselves unless confirmed (status's
	 * pending_confirms; none from an older routectld). */
	struct view_confirm_wait *pending;
	size_t n_pending;
	/* The running config and the last reload (status's reload; has_reload
	 * false from an older routectld). reload_ok false: the last SIGHUP
	 * found the new config bad and the one loaded at config_loaded_at
	 * still runs. */
	bool has_reload;
	bool reload_ok;
	const char *config_path, *config_loaded_at;   /* may be NULL */
	const char *reload_at, *reload_error;         /* may be NULL */
	const char *reload_warning;                   /* may be NULL */
	/* routectld's TCP listeners, bound or not (api.listeners; none from an
	 * older routectld). */
	struct view_listener *listeners;
	size_t n_listeners;
};

struct view_change_item {
	const char *service;
	bool from_unknown;          /* adopt: BIRD exports no single state ("from": null) */
	enum svc_mode from_mode, to_mode;
	unsigned from_prepend, to_prepend;
	bool has_next;
	struct view_step next;
};

struct view_change {
	const char *site;
	bool dry_run;
	const char *change_id;           /* may be NULL */
	struct view_change_item *items;
	size_t n_items;
	const char *diff;                /* may be NULL */
	bool has_apply;
	const char *apply_result;
	const char *apply_message;   /* "partial": the peers it did not reach */
	bool has_apply_ms;
	double apply_ms;
	/* Borrowed from the answer, may be NULL: every guard's verdict
	 * ([{name, verdict, message}]) and the guards a forced change
	 * overrode ([{guard, message}] or null). */
	json_t *guards;
	json_t *override;
	const char *confirm_deadline;    /* made with --confirm-within; may be NULL */
};

/* The answer to confirm: the change stays. */
struct view_confirmed {
	const char *change_id;
	const char *deadline;            /* the deadline it met; may be NULL */
	struct view_change_item *items;  /* from: the revert called off, to: the state */
	size_t n_items;
};

/* One audit record of history's answer (api/audit.h lists the members). */
struct view_audit_record {
	const char *time, *action, *result;           /* always there */
	const char *actor, *on_behalf_of, *site;      /* may be NULL */
	const char *change_id, *reason;               /* may be NULL */
	const char **services;
	size_t n_services;
	bool dry_run;
	/* A change routectld made on its own (a staged step, a confirm
	 * revert): the change it follows and who asked for that; NULL for
	 * others. before and after: objects service -> {"state","prepend"}
	 * (borrowed from the answer), or NULL. */
	const char *follows_change_id, *follows_actor;
	json_t *before, *after;
	long long failed_attempts;
};

struct view_history {
	struct view_audit_record *records;   /* newest first */
	size_t n_records;
	long long skipped;    /* lines of the log that could not be read */
};

enum result_kind {
	RESULT_NONE = 0,
	RESULT_STATUS,      /* 2xx to status */
	RESULT_CHANGE,      /* 2xx to drain/undrain/set */
	RESULT_HISTORY,     /* 2xx to history */
	RESULT_CONFIRMED,   /* 2xx to confirm */
	RESULT_API_ERROR,   /* the daemon answered with an error document */
	RESULT_LOCAL_ERROR, /* no usable answer: unreachable, timeout, bad body */
};

/* What a command produced; output.c renders it as text or JSON. */
struct cli_result {
	enum cli_cmd cmd;
	const char *cmd_name;
	enum result_kind kind;
	long http_status;          /* 0 when there was no answer */
	json_t *body;              /* the daemon's JSON, owned; NULL without one */
	struct view_status status;
	struct view_change change;
	struct view_history history;
	struct view_confirmed confirmed;
	/* RESULT_API_ERROR: code and message from the daemon (point into body);
	 * RESULT_LOCAL_ERROR: local_code/local_msg. */
	const char *error_code;
	const char *error_message;
	/* A confirm refused because the wait is over (error.outcome, from a
	 * routectld that says it): "confirmed", "reverted", "superseded",
	 * "kept" or "late"; NULL otherwise. */
	const char *error_outcome;
	const char *local_code;
	char local_msg[4096];
	/* A change (not a dry run) reached routectld, or may have, and no usable
	 * answer came back: it may or may not have been applied. local_code is
	 * then "outcome-unknown" and the exit code CLI_EXIT_UNKNOWN. */
	bool outcome_unknown;
};

/* Builds res from an HTTP status and a raw body (what cli_execute does once
 * the answer is in; public so that tests can feed it bodies). */
void cli_result_from_response(const struct cli_request *req, long http_status,
			      const char *body, size_t len, struct cli_result *res);

/* Checks a body and fills a view; returns 0 or -ERR_PROTOCOL with a message
 * naming the field (e.g. "services[1].state: unknown state \"x\""). */
int cli_parse_status(json_t *body, struct view_status *v, struct err *e);
int cli_parse_change(json_t *body, struct view_change *v, struct err *e);
/* {"history": [record, ...], "skipped": N}: e.g. "history[2].time is missing". */
int cli_parse_history(json_t *body, struct view_history *v, struct err *e);
/* {"change_id", "deadline", "services": [{"service", "state", "prepend",
 * "revert_to_cancelled"}]}. */
int cli_parse_confirmed(json_t *body, struct view_confirmed *v, struct err *e);

void cli_result_free(struct cli_result *res);

/* CLI_EXIT_OK when the daemon did what was asked, CLI_EXIT_UNKNOWN when a
 * change was sent and no answer tells what became of it, else
 * CLI_EXIT_FAILED. */
enum cli_exit cli_result_exit(const struct cli_result *res);

/* Starts an empty result of req (the command and its name). */
void cli_result_init(const struct cli_request *req, struct cli_result *res);

/* Makes res a RESULT_LOCAL_ERROR with code (e.g. "connect", "protocol") and
 * the formatted message. */
void cli_result_local_error(struct cli_result *res, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A change was sent (or may have been) and no usable answer says what became
 * of it: res becomes the "outcome-unknown" local error ("outcome unknown: the
 * drain (change id ID) may or may not have been applied: WHAT; run `routectl
 * status` ..."), with outcome_unknown set. change_id may be NULL. */
void cli_result_unknown_outcome(const struct cli_request *req, struct cli_result *res,
				const char *change_id, const char *what);

#endif
