/* The libyang context with routectl's YANG modules (built into the binary,
 * see embedded.h) loaded and implemented. */
#ifndef ROUTECTL_YANGCTX_H
#define ROUTECTL_YANGCTX_H

struct ly_ctx;
struct err;

/* Creates a context with routectl-config, routectl-state and routectl-policy
 * (and the ietf types they import). Free with ly_ctx_destroy(ctx). */
int yangctx_new(struct ly_ctx **out, struct err *e);

/* Collects every error libyang recorded in ctx into e, one line each, as
 * "PATH: MESSAGE", each prefixed with what ("config FILE"). Returns -ERR_INVALID. */
int yangctx_errors(struct ly_ctx *ctx, const char *what, struct err *e);

#endif
