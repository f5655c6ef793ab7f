/* Who is calling and what they may do: bearer tokens over TCP, peer
 * credentials on the console, and the role each route needs.
 *
 * Roles (conf/tokens.h): viewer reads; operator also drains, undrains and
 * sets; admin may do everything (adopt, and guard overrides). On the
 * console, root, the uid routectld runs as, and members of the configured
 * admin group (console/admin-group; the peer's primary or a supplementary
 * group) are admin; every other local user is a viewer. */
#ifndef ROUTECTL_AUTH_H
#define ROUTECTL_AUTH_H

#include "conf/tokens.h"

#include <stddef.h>
#include <sys/types.h>

struct err;
struct http_request;

struct auth;

/* token_file may be NULL (then every TCP request is unauthenticated);
 * admin_group may be NULL. The group name is resolved here (getgrnam_r:
 * may wait on the name service; call at start and on reload, never per
 * request). Fails with a message naming the file or the group. */
struct auth *auth_new(const char *token_file, const char *admin_group, struct err *e);
void auth_free(struct auth *a);

/* Re-reads the token file and the group (SIGHUP). On failure the old tokens
 * (and the old group) stay in force and e says why. Not concurrent with
 * auth_identify: call it from the thread that serves requests (the event
 * loop, which reads signals through a signalfd). */
int auth_reload(struct auth *a, const char *token_file, const char *admin_group,
		struct err *e);

/* Puts the tokens and the group of fresh (from auth_new, made wherever the
 * file could be read, e.g. off the event loop) in force in a, and frees
 * fresh: the swap half of a reload that was validated as a whole. Same
 * thread rule as auth_reload. */
void auth_replace(struct auth *a, struct auth *fresh);

/* Why a request has no role. */
enum auth_fail {
	AUTH_OK = 0,
	AUTH_MISSING,      /* no Authorization header (401) */
	AUTH_MALFORMED,    /* not "Bearer <secret>" (401) */
	AUTH_INVALID,      /* no such token (401) */
};

/* "missing", "malformed", "invalid". */
const char *auth_fail_name(enum auth_fail f);

/* The identity of a request. */
struct principal {
	enum role role;
	char name[TOKEN_NAME_MAX + 1];   /* token name or local user ("uid 1000"); "" when
					    role is ROLE_NONE */
	enum auth_fail fail;             /* when role is ROLE_NONE */
};

/* Authenticates rq: on the console from its peer credentials (none read:
 * AUTH_MISSING), on TCP (HTTP_TCP, HTTP_TLS) from "Authorization: Bearer
 * SECRET" against the token file: the scheme in any case and one or more
 * spaces (RFC 9110, section 11.4), the secret a token68 (RFC 6750, section
 * 2.1). No header is AUTH_MISSING; another scheme, no secret, or the header
 * sent twice AUTH_MALFORMED; a secret of no token AUTH_INVALID. Never
 * blocks (no name service, no file). */
void auth_identify(const struct auth *a, const struct http_request *rq, struct principal *p);

#endif
