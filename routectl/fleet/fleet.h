/* The fleet: every site and, per site, the routers whose routectld keeps its
 * announcements (the fleet document, YANG module routectl-fleet,
 * api/routectl-fleet.yang), and the calls that reach them all at once over
 * their HTTP API (libcurl multi).
 *
 * Used by the CLI (routectl -f FLEET) to act on the whole fleet, and by
 * routectld to judge guards that span sites (fleet_view): every call here
 * blocks until its answers are in or its deadline passed, so routectld
 * makes them from a worker thread, never from its event loop. Nothing here
 * keeps global state; libcurl's global init is reference counted (and
 * thread-safe in the libcurl of Debian 12, 7.88).
 *
 * A fleet is immutable once loaded: a reload loads a new one and swaps. */
#ifndef ROUTECTL_FLEET_H
#define ROUTECTL_FLEET_H

#include <stdbool.h>
#include <stddef.h>

#include "common/model.h"

struct err;

/* The largest fleet document read (a fleet of a few thousand routers). */
#define FLEET_MAX_FILE_SIZE (4u << 20)
/* The longest token taken from a file or the environment. */
#define FLEET_TOKEN_MAX 1024
/* Answers larger than this are not read (a status of the largest site
 * routectl is built for is a few MiB: large services come with counts). */
#define FLEET_MAX_RESPONSE (16u << 20)
/* Connecting to an endpoint (TCP, and TLS's handshake) takes at most
 * FLEET_CONNECT_TIMEOUT_MS: a router that does not answer SYNs is not
 * waited for until the deadline. When an out-of-band URL is there to fall
 * back to, connecting to the primary takes at most
 * FLEET_PRIMARY_CONNECT_TIMEOUT_MS, and at most FLEET_PRIMARY_CONNECT_SHARE
 * percent of the deadline, so that a primary path that is down (a chat-ops
 * network that drops packets) costs an evacuation 1.5 s, not the deadline:
 * enough for a handshake across a continent, and a refused connection
 * falls back at once. A read (GET, HEAD) also falls back when the primary
 * does not answer within FLEET_PRIMARY_CONNECT_SHARE percent of the time
 * left: asking twice changes nothing. */
#define FLEET_CONNECT_TIMEOUT_MS 3000
#define FLEET_PRIMARY_CONNECT_TIMEOUT_MS 1500
#define FLEET_PRIMARY_CONNECT_SHARE 50

/* Where a router's bearer token was looked for, and what was found. */
struct fleet_token {
	bool from_env;          /* an environment variable, else a file */
	char *ref;              /* the variable's name or the file's path */
	char *secret;           /* the token; NULL when it could not be had */
	char *error;            /* why not ("the environment variable X is not set");
				   NULL when secret is set */
};

struct fleet_router {
	char *name;
	const char *site;       /* its site's name (points into struct fleet_site) */
	char *api_url;          /* primary endpoint, as written (no trailing '/') */
	char *oob_url;          /* out-of-band endpoint, or NULL */
	struct fleet_token token;      /* for api_url, and for oob_url without oob_token */
	bool has_oob_token;
	struct fleet_token oob_token;  /* for oob_url, when has_oob_token */
};

struct fleet_site {
	char *name;
	struct fleet_router *routers;   /* in document order */
	size_t n_routers;
};

struct fleet {
	char *source;                   /* the file name (or name given to fleet_parse) */
	struct fleet_site *sites;       /* in document order */
	size_t n_sites;
};

/* Reads and validates the fleet document at path (at most
 * FLEET_MAX_FILE_SIZE bytes) against routectl-fleet with libyang, and
 * resolves every token reference: the environment variable's value, or the
 * first line of the file (trailing white space and CR removed). A token that
 * cannot be had (variable unset or empty, file missing, unreadable or with an
 * empty first line) does not fail the load: that router's token.error says
 * why, naming the router and where it was looked for, and every call to it
 * fails with that message without sending anything, so that one missing
 * token does not keep an operator from the rest of the fleet.
 * fleet_check_tokens() turns those into an error.
 *
 * Errors: -ERR_NOTFOUND / -ERR_IO / -ERR_INVALID from reading the file (the
 * message names it); -ERR_INVALID with one line per problem of the document
 * ("fleet FILE: PATH: REASON"), as conf_load does. */
int fleet_load(const char *path, struct fleet **out, struct err *e);
/* Same from a string; name stands for the file in messages. */
int fleet_parse(const char *json, const char *name, struct fleet **out, struct err *e);
void fleet_free(struct fleet *f);

/* 0 when every token of f could be had, else -ERR_NOTFOUND with one line per
 * token that could not ("router ash-r1: token: the file /x does not exist"). */
int fleet_check_tokens(const struct fleet *f, struct err *e);

const struct fleet_site *fleet_find_site(const struct fleet *f, const char *name);

/* Which routers a call goes to. */
enum fleet_scope {
	FLEET_ALL,          /* every router of every site */
	FLEET_SITE,         /* the routers of one site */
	FLEET_EXCEPT_SITE,  /* every router of every other site */
};

struct fleet_select {
	enum fleet_scope scope;
	const char *site;   /* FLEET_SITE, FLEET_EXCEPT_SITE */
};

/* Which endpoint of each router a call uses. */
enum fleet_via {
	FLEET_VIA_AUTO = 0,   /* api-url, then oob-url when the first cannot be
				 connected to */
	FLEET_VIA_PRIMARY,    /* api-url only */
	FLEET_VIA_OOB,        /* oob-url only; a router without one is an error
				 (nothing is sent to it) */
};

/* "auto", "primary", "oob". */
const char *fleet_via_name(enum fleet_via v);

/* Bounds of one call; zeroes mean the defaults. */
struct fleet_call_opts {
	enum fleet_via via;           /* default FLEET_VIA_AUTO */
	unsigned timeout_ms;          /* per router, fallback included; default 10 s */
	size_t max_response;          /* default FLEET_MAX_RESPONSE */
	const char *const *headers;   /* extra request headers ("Name: value"),
					 NULL-terminated; may be NULL */
	bool site_per_router;         /* body is a JSON object; each router gets it
					 with member "site" set to its own site
					 (one change on routers of several sites) */
};

/* What one router said (or why it said nothing). */
struct fleet_reply {
	const struct fleet_router *router;
	long status;            /* HTTP status; 0 when no answer came */
	char *body;             /* the answer's body, NUL-terminated; NULL without one */
	size_t body_len;
	const char *endpoint;   /* "primary" or "oob": who answered; NULL when none did */
	char error[512];        /* "" when an answer came; else what went wrong, naming
				   the URL(s) */
	char primary_error[256];   /* why the primary was passed over for the
				      out-of-band endpoint; "" if it was not */
	bool maybe_applied;     /* a write (not GET/HEAD) reached routectld, or may
				   have, and no answer came: it may or may not
				   have been applied */
	double ms;              /* from the start of the call to the answer or failure */
};

struct fleet_replies {
	struct fleet_reply *v;  /* in fleet document order */
	size_t n;
};

/* Sends METHOD PATH (e.g. "GET", "/v1/status"; path begins with '/' and is
 * appended to the endpoint's URL) with body (JSON, or NULL for none) to
 * every selected router at once, with "Authorization: Bearer TOKEN".
 *
 * Per router (opts->via FLEET_VIA_AUTO): the primary endpoint (api-url)
 * first; when it cannot be connected to (refused, unreachable, no name,
 * connect timeout, TLS handshake failure: nothing of the request was sent),
 * the out-of-band endpoint (oob-url) with its token. FLEET_VIA_PRIMARY uses
 * the api-url only, FLEET_VIA_OOB the oob-url only (a router without one
 * fails, with nothing sent, naming the router; never the primary instead).
 * An HTTP answer of any status, also an error, is an answer: it is never
 * sent again elsewhere, because the request may have done something there.
 * Every router has opts->timeout_ms in all; connecting takes at most
 * FLEET_CONNECT_TIMEOUT_MS, and with an oob-url to fall back to, connecting
 * to the primary at most FLEET_PRIMARY_CONNECT_TIMEOUT_MS and
 * FLEET_PRIMARY_CONNECT_SHARE percent of the deadline. Proxies from the
 * environment are not used (a drain goes to the router named, not through whatever
 * http_proxy says). Answers above opts->max_response are not read (an
 * error; for a write maybe_applied is set).
 *
 * Returns 0 with one reply per selected router in out (free with
 * fleet_replies_free), whatever each router said; -ERR_NOTFOUND when the
 * select names a site f does not have (FLEET_SITE) or no router is
 * selected, -ERR_INVALID for a bad method or path (or a body that is not a
 * JSON object with site_per_router), -ERR_NOMEM. */
int fleet_call(const struct fleet *f, struct fleet_select sel, const char *method,
	       const char *path, const char *body, const struct fleet_call_opts *opts,
	       struct fleet_replies *out, struct err *e);
void fleet_replies_free(struct fleet_replies *r);

/* ---- the fleet view: the other sites' states, asked live ---------------- */

/* A service at a site, as its routers' GET /v1/status said. */
struct fleet_view_service {
	char *name;
	bool known;             /* false: no router that answered has a state for it
				   ("unknown" in safe mode) */
	enum svc_mode mode;     /* when routers disagree: the most drained of their
				   states (withdraw before prepend N before announce,
				   the larger N first): what a guard must assume */
	unsigned prepend;
	bool disagree;          /* the routers that answered do not all have the
				   same state (or not all have the service) */
	bool has_next;          /* a staged step is pending (of the first router
				   that has one) */
	enum svc_mode next_mode;
	unsigned next_prepend;
	char *next_at;          /* RFC 3339 UTC, as routectld wrote it */
};

struct fleet_view_router {
	const struct fleet_router *router;
	bool answered;          /* a usable status came */
	const char *endpoint;   /* "primary", "oob", or NULL */
	char error[512];        /* when not answered: why */
};

struct fleet_view_site {
	const char *name;
	struct fleet_view_router *routers;
	size_t n_routers;
	size_t n_unreachable;   /* routers that gave no usable status */
	bool disagree;          /* some service's routers disagree */
	struct fleet_view_service *services;   /* sorted by name; from the routers
						  that answered */
	size_t n_services;
};

struct fleet_view {
	struct fleet_view_site *sites;   /* in fleet document order */
	size_t n_sites;
};

/* Asks GET /v1/status of every router of every site but except_site (NULL:
 * of every site) at once, within timeout_ms (0: the default of
 * fleet_call_opts), and sums the answers up per site and service.
 * A router that did not answer, answered with an error status, or whose
 * answer is not a status of the expected shape (or of another site than
 * the fleet document says) is unreachable, with the reason in its error.
 * Returns 0 (also when routers are unreachable: that is in the view) or
 * what fleet_call returns; free with fleet_view_free. */
int fleet_view(const struct fleet *f, const char *except_site, unsigned timeout_ms,
	       struct fleet_view *out, struct err *e);

/* Builds the view from the replies of a GET /v1/status (what fleet_view
 * does once the answers are in; public so that the CLI, which needs the
 * bodies too, asks once, and so that tests can feed it answers). Returns 0
 * or -ERR_NOMEM. */
int fleet_view_from_replies(const struct fleet *f, const struct fleet_replies *r,
			    struct fleet_view *out, struct err *e);
void fleet_view_free(struct fleet_view *v);

const struct fleet_view_site *fleet_view_find_site(const struct fleet_view *v,
						   const char *name);
const struct fleet_view_service *fleet_view_find_service(const struct fleet_view_site *s,
							 const char *name);

#endif
