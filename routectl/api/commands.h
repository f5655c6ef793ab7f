/* The command layer: one JSON request in, one JSON reply out. The console
 * (Unix socket) and, later, the TCP API serve the same commands.
 *
 * It knows neither the transport nor the process that runs it: reads are
 * answered from a view that the backend lends (struct command_view), and
 * changes are handed to the backend as jobs that it runs wherever it likes
 * (routectld: its BIRD worker) and hands back with command_job_done(). The
 * reply then goes out through the transport's continuation. */
#ifndef ROUTECTL_COMMANDS_H
#define ROUTECTL_COMMANDS_H

#include "common/err.h"
#include "site/site.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define COMMAND_BODY_MAX (64u * 1024)
/* A service with at most this many prefixes has them listed in status;
 * above, status gives the counts only (a status of a 50,000-prefix site
 * stays small and fast: it is what operators poll during an incident). */
#define COMMAND_PREFIXES_LISTED 64

struct state;

/* One configured service as status shows it. */
struct command_service {
	const char *name;
	size_t n_ipv4, n_ipv6;
	/* IPv4 then IPv6 prefix texts when n_ipv4 + n_ipv6 <=
	 * COMMAND_PREFIXES_LISTED, else NULL. */
	const char *const *listed;
};

/* What reads see: the daemon's current view, consistent for one call. */
struct command_view {
	const char *site;
	const char *bird_socket;
	const struct command_service *services;  /* in config order */
	size_t n_services;
	const struct state *state;   /* desired state; NULL in safe mode */
	const char *safe_mode;       /* "" or why */
	enum safe_kind safe_kind;    /* SAFE_NONE when not in safe mode */
	/* In safe mode only: the state routectld held until it found the state
	 * lost (a SIGHUP after the file was deleted), shown as "last known",
	 * never as the desired state; NULL when there was none (safe mode from
	 * the start). last_known_at: when the loss was found (wall clock). */
	const struct state *last_known;
	time_t last_known_at;
	int bird_connected;
	const char *bird_version;    /* when connected */
	const char *bird_error;      /* "" or why BIRD is not connected */
	const struct last_apply *last;
	const struct apply_stats *apply_stats;   /* every apply so far, for /metrics */
	unsigned long repairs;
	/* What the last check of BIRD's BGP protocols found (apply_precheck);
	 * NULL until the first one. */
	const struct apply_peers *peers;
	time_t peers_at;
	/* The change being applied now, if any. */
	int in_flight;
	const char *in_flight_change_id;
	const char *in_flight_kind;  /* "drain", "reconcile", "staged", ... */
	time_t in_flight_since;
};

struct http_request;
struct http_reply;
struct auth;
struct audit;
struct idem;
struct metrics;

/* Where a deferred reply goes: send(ctx, reply) with r->body taken. */
struct command_reply_to {
	void (*send)(void *ctx, struct http_reply *r);
	void *ctx;
};

/* What a job asks the backend to run. */
enum command_job_kind {
	COMMAND_JOB_CHANGE,   /* site_change(req) into res */
	COMMAND_JOB_ADOPT,    /* site_adopt(adopt) into adopt_res */
	COMMAND_JOB_CONFIRM,  /* site_confirm(confirm) into confirm_res */
};

/* A change handed to the backend. The backend reads kind, the request of
 * that kind and who, runs it where BIRD is (site_change or site_adopt),
 * fills rc, err and the result of that kind, and returns the job with
 * command_job_done() in the thread that serves requests. */
struct command_job {
	enum command_job_kind kind;
	struct change_request req;
	struct adopt_request adopt;
	struct caller who;
	int rc;
	struct err err;
	struct change_result res;
	struct adopt_result adopt_res;
	struct confirm_request confirm;
	struct confirm_result confirm_res;
	void *priv;           /* the command layer's own */
};

struct command_backend {
	void *arg;
	/* Calls fn(view, fn_arg) with the current view; the view is valid only
	 * during the call. Must not block for long (no BIRD). */
	void (*with_view)(void *arg, void (*fn)(const struct command_view *v, void *fn_arg),
			  void *fn_arg);
	/* Takes the job (0) or refuses it (<0, e says why, job still the
	 * caller's). A taken job comes back through command_job_done(). */
	int (*submit)(void *arg, struct command_job *job, struct err *e);
};

/* What the command layer works with; it owns none of it. */
struct commands_deps {
	struct command_backend backend;
	struct auth *auth;            /* who is calling (api/auth.h) */
	/* Who is calling on an out-of-band listener (http_request.out_of_band):
	 * tokens of their own; NULL: every request there is 401. */
	struct auth *oob_auth;
	struct audit *audit;          /* the audit log (api/audit.h) */
	struct idem *idem;            /* Idempotency-Key answers (api/idempotency.h) */
	struct metrics *metrics;      /* counters for /metrics (api/metrics.h) */
	unsigned write_rate_per_min;  /* per token: writes refill at this rate */
	unsigned write_burst;         /* per token: writes at once */
};

/* A TCP listener of the API as status shows it (api.listeners): whether
 * it is bound, and why not. */
struct command_listener {
	const char *address;
	unsigned port;
	const char *kind;             /* "primary", "out-of-band" or "metrics" */
	const char *transport;        /* "http" or "https" */
	bool bound;
	const char *error;            /* why it is not bound; "" when bound */
};

struct commands;

struct commands *commands_new(const struct commands_deps *d);
/* The listeners status (and /metrics, routectl_api_listener_up) reports: n
 * entries at v, owned by the caller, read on every status (same thread), so
 * updated in place as they bind. */
void commands_set_listeners(struct commands *c, const struct command_listener *v, size_t n);
void commands_free(struct commands *c);
/* The audit log and idempotency store in use (may be NULL, with why: then
 * every write is refused with 503 and the reason, and history says it). */
void commands_set_audit(struct commands *c, struct audit *a, struct idem *idem,
			const char *audit_error, const char *idem_error);
/* The backend, when it exists only after commands_new (routectld starts
 * its BIRD worker after the API is set up); before any request. */
void commands_set_backend(struct commands *c, const struct command_backend *b);

/* Per token: writes refill at rate_per_min, at most burst at once; from
 * the next write on (a config reload). */
void commands_set_rates(struct commands *c, unsigned rate_per_min, unsigned burst);

/* The config routectld runs and how its last reload (SIGHUP) went, for
 * status ("reload") and /metrics. The strings are copied. */
struct command_reload {
	const char *config_path;
	time_t config_loaded_at;  /* the running config: at start or the last good reload */
	time_t at;                /* the last reload; 0: none since start */
	int ok;                   /* the last reload succeeded (1 when there was none) */
	const char *error;        /* !ok: why, naming the file and the field */
	/* "" or what the last good reload changed that takes effect only on a
	 * restart (the running value is kept) */
	const char *warning;
};
void commands_set_reload(struct commands *c, const struct command_reload *r);

/* Handles one request of the API (api/openapi.yaml):
 *  - routes: a path not served is 404, a method not served on it 405;
 *  - who: auth_identify (console: peer credentials; TCP: bearer token,
 *    against the out-of-band tokens for a request that came in on an
 *    out-of-band listener, else the primary ones),
 *    401 without a valid identity, 403 when the role is too low; /healthz
 *    and /readyz are open, and on a metrics-only listener so is /metrics
 *    (every other route is 404 there);
 *  - writes (drain, undrain, set, adopt, confirm) also: X-Actor (on whose behalf),
 *    Idempotency-Key (a retry returns the first answer), Content-Type
 *    (application/json when given, else 415), a per-token rate limit (429
 *    with Retry-After), the body (400 naming the field), then an audit record
 *    ("intent") on disk before the change goes to the backend (503 when it
 *    cannot be written: nothing is changed), and one ("outcome") on disk
 *    before the answer. A refused write is audited too.
 * Returns 1 when *out is the answer now, or 0 when the answer goes to
 * to->send later, from the thread that calls commands_handle,
 * command_job_done and audit_collect. */
int commands_handle(struct commands *c, const struct http_request *rq,
		    const struct command_reply_to *to, struct http_reply *out);

/* The backend is done with job: the outcome is audited, then the answer
 * goes out through the continuation, and the job is freed. */
void command_job_done(struct command_job *job);

struct emergency_journal;

/* Writes one audit record per command of an emergency journal that the
 * site adopted (site/emergency.h, site_emergency_adopt): action
 * "emergency-drain" or "emergency-undrain", transport "emergency", phase
 * "outcome", role "admin", remote "local", status 0, request_id and
 * change_id the command's id, actor and reason
 * the command's, result "ok" (applied), "failed", "refused" (not adopted)
 * or "unknown" (no outcome: the command was killed; adopted all the same),
 * before and after per service, "adopted" (whether it became the
 * desired state), force and override (the guards --force overrode). Queued to the audit writer; a record that cannot be
 * written is logged as such. Returns how many records were queued. */
size_t commands_audit_emergency(struct commands *c, const char *site,
				const struct emergency_journal *j);

struct auto_changes;

/* Writes one audit record per change the site made on its own (site.h,
 * "Automatic changes"): action "staged-step", "confirm-revert" or
 * "confirm-revert-kept", actor "routectld", transport "routectld", role
 * "admin", remote "local", phase "outcome", status 0, request_id and
 * change_id the automatic change's id, follows_change_id and
 * follows_actor the change it follows from and who asked for it, reason
 * why, before and after per service (for a failed one: what it tried),
 * result "ok", "partial", "failed" (error: what went wrong) or, for a kept
 * revert, "refused" (error: the guard that refused it; the service stays),
 * failed_attempts (the failures right before it, which have no record of
 * their own but the first). Queued to the audit writer; a record that
 * cannot be written is logged as such. Returns how many records were
 * queued. */
size_t commands_audit_auto(struct commands *c, const char *site, const struct auto_changes *a);

/* One route of the API, for the test that compares the routes served with
 * the OpenAPI document. path is a template: "/v1/services/{service}". */
struct command_route {
	const char *method;
	const char *path;
};
const struct command_route *commands_routes(size_t *n);

#endif
