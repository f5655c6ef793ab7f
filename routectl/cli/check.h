/* routectl check: the state of one routectld (-s) or of a fleet (-f) judged
 * for monitoring, as one Nagios-style line
 *
 *   ROUTECTL OK|WARNING|CRITICAL|UNKNOWN - SUMMARY | PERFDATA
 *
 * and an exit code that follows the Nagios plugin API (0 OK, 1 WARNING,
 * 2 CRITICAL, 3 UNKNOWN), not the CLI's usual codes (cli/args.h).
 *
 * The judgement is a pure function of the routers' status views
 * (cli/decode.h): nothing here talks to a daemon, so that tests can feed it
 * hand-made answers. What counts:
 *   CRITICAL  a service announced from no site (with a fleet: from no router
 *             of any site that answered; with one router: from this router,
 *             which cannot see the others, so there it is only WARNING),
 *             a daemon in safe mode, BIRD not connected;
 *   UNKNOWN   a router (or the single daemon) could not be asked, or its
 *             answer is not a usable status; it outranks WARNING, and
 *             CRITICAL outranks it (what is known to be broken is said);
 *   WARNING   a service withdrawn or prepended at a site (drained), a change
 *             waiting for its confirmation, a BGP peer whose export filter
 *             has a problem (e.g. ignores routectl), the last apply failed,
 *             an API listener (primary or out-of-band) is not bound;
 *   OK        none of these.
 * The summary names every problem, the worst first. */
#ifndef ROUTECTL_CLI_CHECK_H
#define ROUTECTL_CLI_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/decode.h"
#include "cli/fanout.h"

struct buf;

/* The exit codes of the Nagios plugin API. */
enum check_code {
	CHECK_OK = 0,
	CHECK_WARNING = 1,
	CHECK_CRITICAL = 2,
	CHECK_UNKNOWN = 3,
};

/* One router as the check sees it. */
struct check_router {
	const char *name;            /* router name (fleet) or socket path (-s) */
	const char *site;            /* the fleet's site; NULL with -s (the status says) */
	const struct view_status *status;   /* NULL: could not be asked */
	const char *error;           /* why not, when status is NULL */
};

struct check_input {
	bool fleet;                  /* -f: "announced from no site" is judged
					across every router; -s: one router */
	const struct check_router *routers;
	size_t n_routers;
};

/* The counts of the perfdata. States are counted per (site, service), with
 * the most drained state among the site's routers that answered. */
struct check_counts {
	size_t services;             /* distinct services */
	size_t announced, prepended, withdrawn, unknown;
	size_t sites;                /* sites that answered */
	size_t unreachable;          /* routers that could not be asked */
	size_t pending_confirms;     /* changes waiting for a confirmation */
};

#define CHECK_SUMMARY_MAX 1024

struct check_result {
	enum check_code code;
	struct check_counts counts;
	/* "web announced from no site; ash-r1: BIRD not connected (...)"; the
	 * worst problems first, at most CHECK_SUMMARY_MAX - 1 bytes (cut with
	 * "..."), no control characters and no '|'; on OK a short account. */
	char summary[CHECK_SUMMARY_MAX];
};

/* Judges in and fills out. Returns 0, or -ERR_NOMEM (out then says
 * UNKNOWN). */
int check_judge(const struct check_input *in, struct check_result *out);

/* out becomes UNKNOWN with why (e.g. the fleet document does not load) as
 * its summary and no counts. */
void check_unknown(struct check_result *out, const char *why);

/* The line: "ROUTECTL WARNING - SUMMARY | services=2 announced=1 ..."
 * with a final newline, appended to b. 0 or -ERR_NOMEM. */
int check_format(struct buf *b, const struct check_result *r);

/* "OK", "WARNING", "CRITICAL", "UNKNOWN". */
const char *check_code_name(enum check_code c);

/* Judges the answer of one routectld to GET /v1/status (-s): a status, or
 * an error that makes the check UNKNOWN. name stands for the daemon (its
 * socket). */
int check_from_result(const struct cli_result *res, const char *name, struct check_result *out);

/* Judges the answers of a fleet to GET /v1/status (-f; cli/fanout.h). A
 * router whose answer is not a status of the site the fleet document gives
 * it could not be asked. */
int check_from_fanout(const struct fanout_result *r, struct check_result *out);

#endif
