/* Renders the generated BIRD include from a template (bird-templates/) and
 * the desired state. Same config + state + template = same bytes.
 *
 * The state of each prefix travels as a custom route attribute
 * (RENDER_ATTRIBUTE, declared `attribute int ...;` at the top level of the
 * include) set in a command block of its static route:
 *     route 192.0.2.0/24 blackhole { routectl_state = 1000; };
 * and routectl_export() only reads that attribute. Its body depends on the
 * config (the local AS) and never on the state, so BIRD keeps the export
 * filters on `configure` and sends BGP updates only for the static routes
 * whose attribute changed (BIRD 2.0.12, measured: shared/BIRD.md, "Per-route
 * attributes keep the export function constant"). */
#ifndef ROUTECTL_RENDER_H
#define ROUTECTL_RENDER_H

#include "common/buf.h"
#include "common/model.h"

struct conf;
struct state;
struct err;

/* Names the generated file defines; the operator's bird.conf uses them. */
#define RENDER_STATIC_V4 "routectl_v4"
#define RENDER_STATIC_V6 "routectl_v6"
#define RENDER_EXPORT_FUNCTION "routectl_export"

/* The route attribute that carries the state, and its values. BIRD 2.0.12's
 * `int` attributes are unsigned 32-bit (a negative literal is a syntax
 * error); an attribute that is not set reads as undefined and compares as
 * if it matched nothing, so the function tests `defined()` first. */
#define RENDER_ATTRIBUTE "routectl_state"
#define RENDER_ATTR_ANNOUNCE 0u      /* exported as it is */
/* 1..PREPEND_MAX: the local AS prepended that many times */
#define RENDER_ATTR_WITHDRAW 1000u   /* rejected */
#define RENDER_ATTR_SENTINEL 1001u   /* rejected, always */

/* One sentinel static route per family, always in the include and always
 * rejected by routectl_export(): a peer whose export filter does not call
 * the function exports it, which shows before any change. Bogon ranges:
 * class E (RFC 1112) and the IPv6 discard prefix (RFC 6666). */
#define RENDER_SENTINEL_V4 "240.0.0.1/32"
#define RENDER_SENTINEL_V6 "100::1/128"

/* The template to use: c->template_path if set, else the built-in copy of
 * bird-templates/routectl.conf.tmpl. Caller frees *out. A template file that
 * is missing (-ERR_NOTFOUND), larger than 1 MiB, or uses an unknown or
 * retired placeholder (-ERR_INVALID) is refused; the message names the file,
 * the line and the placeholder. */
int render_load_template(const struct conf *c, char **out, struct err *e);

/* Appends the include to out (out is left as it was on error). A template
 * with an unknown or retired placeholder, a state that names a service the
 * config lacks, a config service without state, a prepend count outside
 * PREPEND_MIN..PREPEND_MAX, or a service prefix equal to a sentinel is
 * -ERR_INVALID with a message naming it. */
int render_include(const struct conf *c, const struct state *st, const char *tmpl,
		   struct buf *out, struct err *e);

/* The value of RENDER_ATTRIBUTE for a mode and prepend count (as rendered). */
unsigned render_attr_value(enum svc_mode mode, unsigned prepend);

#endif
