/* routectl -f FLEET: one command on many routers at once. status asks every
 * router of the fleet; drain, undrain and set go to every router of the
 * site named (or of every site, with the site ALL), as one change: one
 * change id, made here, on every router (the API's change_id), so that
 * confirm CHANGE_ID, which goes to every router of the fleet (or of
 * --site), confirms it everywhere. The calls are
 * fleet_call's (fleet/fleet.h: in parallel, the out-of-band endpoint when
 * the primary cannot be connected to); each router's answer is checked by
 * decode.c like a single router's, and output_fleet (output.h) renders the
 * whole. */
#ifndef ROUTECTL_CLI_FANOUT_H
#define ROUTECTL_CLI_FANOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/args.h"
#include "cli/decode.h"
#include "fleet/fleet.h"

struct err;

/* The fleet document when -f is not given. */
#define CLI_FLEET_ENV "ROUTECTL_FLEET"
/* drain/undrain/set SITE: this instead of a site name means every site of
 * the fleet (not a valid site name, so it never means one). */
#define CLI_FLEET_ALL_SITES "ALL"

/* One router's part. */
struct fanout_router {
	const struct fleet_reply *reply;   /* what came back (or why nothing did) */
	struct cli_result res;             /* the answer checked, or the failure */
	char url[2100];                    /* the endpoint that answered, else the primary */
};

struct fanout_result {
	const struct fleet *fleet;
	const struct cli_request *req;
	struct fleet_replies replies;
	struct fanout_router *routers;     /* in fleet document order */
	size_t n_routers;
	/* drain, undrain, set (not a dry run): the id of the change on every
	 * router; "" otherwise */
	char change_id[17];
	/* status: the answers summed up per site and service */
	bool has_view;
	struct fleet_view view;
};

/* Whether the command can act on a fleet (status, drain, undrain, set,
 * confirm); if
 * not, e says so (the caller exits with CLI_EXIT_USAGE). */
int fanout_check_command(const struct cli_request *req, struct err *e);

/* Runs req on the fleet f: status on every router, a change on every router
 * of req->site (or of every site for CLI_FLEET_ALL_SITES; each router's body
 * then names its own site) with one fresh change id (out->change_id; not
 * for a dry run), a confirm on every router (or those of req->site), with
 * req->timeout_s per router. Fills out (free
 * with fanout_result_free) and returns 0 whatever the routers said; returns
 * -ERR_NOTFOUND when f has no site req->site (nothing was sent),
 * -ERR_INVALID / -ERR_NOMEM when the request cannot be built. Needs
 * curl_global_init. */
int fanout_execute(const struct fleet *f, const struct cli_request *req,
		   struct fanout_result *out, struct err *e);
void fanout_result_free(struct fanout_result *r);

/* What fanout_execute does once the replies are in: takes them over (out
 * frees them; *replies is emptied) and checks each router's answer. Public
 * so that tests can feed it answers. 0 or -ERR_NOMEM. */
int fanout_from_replies(const struct fleet *f, const struct cli_request *req,
			struct fleet_replies *replies, struct fanout_result *out, struct err *e);

/* The exit code, as for one router: CLI_EXIT_UNKNOWN when any change may or
 * may not have been applied, else CLI_EXIT_FAILED when any router refused,
 * failed or could not be asked, else CLI_EXIT_OK. A confirm: CLI_EXIT_OK
 * when every router that had the change pending confirmed it (a router
 * that does not know it, confirmed it before, or where later changes
 * replaced it is fine) and at least one router knew the change (an id
 * that no router knows is a mistake, not a success); CLI_EXIT_FAILED when
 * a router was too late (the deadline passed), refused otherwise or could
 * not be asked; CLI_EXIT_UNKNOWN when a confirm went out and no answer
 * came. */
enum cli_exit fanout_exit(const struct fanout_result *r);

/* What a router's answer to confirm came to. */
enum fanout_confirm {
	FCONFIRM_CONFIRMED,     /* 2xx: confirmed now */
	FCONFIRM_ALREADY,       /* 409, outcome "confirmed": confirmed before */
	FCONFIRM_NOT_PENDING,   /* 404: no change of that id waits there */
	FCONFIRM_SUPERSEDED,    /* 409, "superseded": later changes replaced it there */
	FCONFIRM_LATE,          /* 409, "late", "reverted" or "kept": its deadline passed */
	FCONFIRM_REFUSED,       /* any other error answer (401, 403, other site, safe mode) */
	FCONFIRM_UNREACHABLE,   /* nothing was sent */
	FCONFIRM_UNKNOWN,       /* sent, and no usable answer */
};

/* The outcome of one router's part of a confirm; "confirmed",
 * "already-confirmed", "not-pending", "superseded", "late", "refused",
 * "unreachable", "unknown" (fanout_confirm_name). */
enum fanout_confirm fanout_confirm_outcome(const struct fanout_router *fr);
const char *fanout_confirm_name(enum fanout_confirm c);

/* For drain/undrain/set: whether the routers of site did not end up alike
 * (one applied, another refused or failed or did not answer, or their
 * resulting states differ). Writes one line saying how into why. */
bool fanout_site_disagrees(const struct fanout_result *r, const char *site, char *why,
			   size_t size);

#endif
