/* Renders the generated BIRD include from a template (bird-templates/) and
 * the desired state. Same config + state + template = same bytes. */
#ifndef ROUTECTL_RENDER_H
#define ROUTECTL_RENDER_H

#include "common/buf.h"

struct conf;
struct state;
struct err;

/* Names the generated file defines; the operator's bird.conf uses them. */
#define RENDER_STATIC_V4 "routectl_v4"
#define RENDER_STATIC_V6 "routectl_v6"
#define RENDER_EXPORT_FUNCTION "routectl_export"

/* The template to use: c->template_path if set, else the built-in copy of
 * bird-templates/routectl.conf.tmpl. Caller frees *out. */
int render_load_template(const struct conf *c, char **out, struct err *e);

/* Appends the include to out. A template with an unknown placeholder or a
 * state that names a service the config lacks is -ERR_INVALID. */
int render_include(const struct conf *c, const struct state *st, const char *tmpl,
		   struct buf *out, struct err *e);

#endif
