#include "render.h"

#include "common/buf.h"
#include "common/embedded.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/model.h"
#include "common/timeutil.h"
#include "conf/conf.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A template is a hand-written file; anything larger is a mistake. */
#define TEMPLATE_MAX (1024 * 1024)
/* Free text from users (reason, actor) is cut in comments: the audit log
 * keeps the whole of it, the BIRD file only needs a reminder. */
#define COMMENT_TEXT_MAX 200
#define NAME_TEXT_MAX 100

enum piece {
	PIECE_SITE,
	PIECE_LOCAL_AS,
	PIECE_GENERATION,
	PIECE_ATTRIBUTE_DEFINITIONS,
	PIECE_SERVICE_STATES,
	PIECE_STATIC_ROUTES_V4,
	PIECE_STATIC_ROUTES_V6,
	PIECE_EXPORT_BODY,
	PIECE__COUNT
};

static const char *const piece_names[PIECE__COUNT] = {
	[PIECE_SITE] = "site",
	[PIECE_LOCAL_AS] = "local_as",
	[PIECE_GENERATION] = "generation",
	[PIECE_ATTRIBUTE_DEFINITIONS] = "attribute_definitions",
	[PIECE_SERVICE_STATES] = "service_states",
	[PIECE_STATIC_ROUTES_V4] = "static_routes_v4",
	[PIECE_STATIC_ROUTES_V6] = "static_routes_v6",
	[PIECE_EXPORT_BODY] = "export_body",
};

#define KNOWN_PLACEHOLDERS \
	"site, local_as, generation, attribute_definitions, service_states, " \
	"static_routes_v4, static_routes_v6, export_body"

/* Placeholders of the templates from before the state moved into a route
 * attribute. A template that still uses them would render an export function
 * that ignores the state, so it is refused with what to do instead. */
static const struct {
	const char *name;
	const char *instead;
} retired_placeholders[] = {
	{ "export_cases",
	  "the export function no longer changes with the state: write {{export_body}} "
	  "inside routectl_export(), and {{attribute_definitions}} and {{service_states}} "
	  "before the static protocols" },
	{ "prefix_sets",
	  "the per-service prefix sets are gone (the state travels as the route attribute "
	  RENDER_ATTRIBUTE "): remove the line" },
};

struct render_ctx {
	const struct conf *c;
	const struct svc_state **svc;  /* the state of each config service */
	uint64_t generation;
	struct buf pieces[PIECE__COUNT];
	int built[PIECE__COUNT];
};

/* ---- text that comes from users ---------------------------------------- */

/* Length of the valid UTF-8 sequence at u and its code point; 0 if invalid
 * (overlong, surrogate, beyond U+10FFFF, truncated). */
static size_t utf8_seq(const unsigned char *u, uint32_t *cp)
{
	size_t len;
	uint32_t v, min;
	if (u[0] >= 0xc2 && u[0] <= 0xdf)
		len = 2, v = u[0] & 0x1f, min = 0x80;
	else if (u[0] >= 0xe0 && u[0] <= 0xef)
		len = 3, v = u[0] & 0x0f, min = 0x800;
	else if (u[0] >= 0xf0 && u[0] <= 0xf4)
		len = 4, v = u[0] & 0x07, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((u[i] & 0xc0) != 0x80)  /* also stops at the NUL */
			return 0;
		v = (v << 6) | (u[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

/* Characters that would make a comment read differently from what BIRD
 * parses: C1 controls (U+0085 is a line break to some editors), line and
 * paragraph separators, bidirectional overrides ("trojan source"). */
static int misleading_cp(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	       cp == 0xfeff;
}

/* Appends s so that it cannot leave the '#' comment it is written into: a
 * BIRD '#' comment runs to the end of the line, so no control character
 * (newline above all) gets through. "/ *" and "* /" are split too, so the text
 * stays inert even inside a block comment. Cut at max bytes of input. */
static int put_comment_text(struct buf *b, const char *s, size_t max)
{
	if (!s || !*s)
		return buf_puts(b, "-");
	const unsigned char *u = (const unsigned char *)s;
	size_t used = 0;
	int rc = 0;
	while (*u && rc == 0) {
		if (used >= max) {
			rc = buf_puts(b, "...");
			break;
		}
		unsigned char ch = *u;
		if (ch < 0x80) {
			char c = (char)ch;
			if (ch < 0x20 || ch == 0x7f)
				c = (ch == '\n' || ch == '\r' || ch == '\t') ? ' ' : '?';
			rc = buf_append(b, &c, 1);
			if (rc == 0 && ((ch == '*' && u[1] == '/') || (ch == '/' && u[1] == '*')))
				rc = buf_puts(b, " ");
			u++;
			used++;
			continue;
		}
		uint32_t cp;
		size_t len = utf8_seq(u, &cp);
		if (len == 0 || misleading_cp(cp)) {
			rc = buf_puts(b, "?");
			len = len ? len : 1;
		} else {
			rc = buf_append(b, u, len);
		}
		u += len;
		used += len;
	}
	return rc;
}

/* The site as a bare word: safe in a comment and in a BIRD string. */
static int put_word(struct buf *b, const char *s)
{
	if (!s || !*s)
		return buf_puts(b, "-");
	for (size_t i = 0; s[i] && i < NAME_TEXT_MAX; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			c = '_';
		if (buf_append(b, &c, 1) < 0)
			return -ERR_NOMEM;
	}
	return 0;
}

/* ---- the generated pieces ---------------------------------------------- */

static size_t count_family(const struct conf_service *s, int family)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n_prefixes; i++)
		n += s->prefixes[i].family == family;
	return n;
}

unsigned render_attr_value(enum svc_mode mode, unsigned prepend)
{
	switch (mode) {
	case MODE_ANNOUNCE:
		return RENDER_ATTR_ANNOUNCE;
	case MODE_PREPEND:
		return prepend;
	case MODE_WITHDRAW:
		break;
	}
	return RENDER_ATTR_WITHDRAW;
}

static int put_service_comment(struct buf *b, const struct conf_service *s,
			       const struct svc_state *ss)
{
	char when[32];
	int rc = buf_puts(b, "# ");
	rc = rc ?: put_comment_text(b, s->name, NAME_TEXT_MAX);
	rc = rc ?: buf_printf(b, ": %s", svc_mode_name(ss->mode));
	if (ss->mode == MODE_PREPEND)
		rc = rc ?: buf_printf(b, " %u", ss->prepend);
	time_format_utc(ss->since, when, sizeof when);
	rc = rc ?: buf_printf(b, "\n#   since %s by ", when);
	rc = rc ?: put_comment_text(b, ss->actor, COMMENT_TEXT_MAX);
	rc = rc ?: buf_puts(b, ", change ");
	rc = rc ?: put_comment_text(b, ss->change_id, NAME_TEXT_MAX);
	rc = rc ?: buf_puts(b, "\n#   reason: ");
	rc = rc ?: put_comment_text(b, ss->reason, COMMENT_TEXT_MAX);
	rc = rc ?: buf_puts(b, "\n");
	if (ss->has_next) {
		time_format_utc(ss->next_at, when, sizeof when);
		rc = rc ?: buf_printf(b, "#   next: %s", svc_mode_name(ss->next_mode));
		if (ss->next_mode == MODE_PREPEND)
			rc = rc ?: buf_printf(b, " %u", ss->next_prepend);
		rc = rc ?: buf_printf(b, " at %s\n", when);
	}
	return rc;
}

/* The symbol that holds service i's value of RENDER_ATTRIBUTE. BIRD symbols
 * cannot hold '-', so it is numbered (config order) and a comment names it. */
#define SERVICE_SYMBOL "routectl_s%zu"

/* Per service, a comment with its state and where it came from, and the
 * value of the attribute for its routes:
 *     define routectl_s3 = 1000;
 * A change of state changes these lines only; BIRD compares the static
 * routes' command blocks with the constant's value, so it re-exports the
 * service's routes and no others. */
static int build_service_states(const struct render_ctx *ctx, struct buf *b)
{
	const struct conf *c = ctx->c;
	int rc = 0;
	for (size_t i = 0; i < c->n_services && rc == 0; i++) {
		const struct svc_state *ss = ctx->svc[i];
		rc = put_service_comment(b, &c->services[i], ss);
		rc = rc ?: buf_printf(b, "define " SERVICE_SYMBOL " = %u;\n", i,
				      render_attr_value(ss->mode, ss->prepend));
	}
	return rc;
}

/* "route P blackhole { routectl_state = routectl_sI; };" without printf:
 * a site has up to 250,000 of them. */
static int put_route(struct buf *b, const char *prefix, const char *value)
{
	int rc = buf_puts(b, "route ");
	rc = rc ?: buf_puts(b, prefix);
	rc = rc ?: buf_puts(b, " blackhole { " RENDER_ATTRIBUTE " = ");
	rc = rc ?: buf_puts(b, value);
	return rc ?: buf_puts(b, "; };\n");
}

/* The sentinel first, then per service (in config order) its name and its
 * routes of this family, each taking the service's value. */
static int build_static_routes(const struct render_ctx *ctx, int family, struct buf *b)
{
	const struct conf *c = ctx->c;
	char value[32];
	snprintf(value, sizeof value, "%u", RENDER_ATTR_SENTINEL);
	int rc = buf_puts(b, "# Sentinel: routectl_export() always rejects it. A peer that exports it\n"
			     "# does not call routectl_export() in its export filter.\n");
	rc = rc ?: put_route(b, family == 4 ? RENDER_SENTINEL_V4 : RENDER_SENTINEL_V6, value);
	for (size_t i = 0; i < c->n_services && rc == 0; i++) {
		const struct conf_service *s = &c->services[i];
		if (count_family(s, family) == 0)
			continue;
		snprintf(value, sizeof value, SERVICE_SYMBOL, i);
		rc = buf_puts(b, "# ");
		rc = rc ?: put_comment_text(b, s->name, NAME_TEXT_MAX);
		rc = rc ?: buf_puts(b, "\n");
		for (size_t k = 0; k < s->n_prefixes && rc == 0; k++)
			if (s->prefixes[k].family == family)
				rc = put_route(b, s->prefixes[k].text, value);
	}
	return rc;
}

static int build_attribute_definitions(struct buf *b)
{
	return buf_puts(b, "attribute int " RENDER_ATTRIBUTE ";\n");
}

/* The body of routectl_export(): the same bytes for every state of a
 * config. BIRD 2 filters have no loops, hence the chain of tests. */
static int build_export_body(const struct render_ctx *ctx, struct buf *b)
{
	int rc = buf_printf(b,
		"# " RENDER_ATTRIBUTE " of each static route: %u announce, %d..%d prepend the\n"
		"# local AS that many times, %u withdraw, %u sentinel. A route without\n"
		"# it, or with any other value, is not exported.\n"
		"if ! defined(" RENDER_ATTRIBUTE ") then reject;\n"
		"if " RENDER_ATTRIBUTE " > %d then reject;\n",
		RENDER_ATTR_ANNOUNCE, PREPEND_MIN, PREPEND_MAX, RENDER_ATTR_WITHDRAW,
		RENDER_ATTR_SENTINEL, PREPEND_MAX);
	for (int n = PREPEND_MIN; n <= PREPEND_MAX && rc == 0; n++)
		rc = buf_printf(b, "if " RENDER_ATTRIBUTE " >= %d then bgp_path.prepend(%" PRIu32 ");\n",
				n, ctx->c->local_as);
	return rc;
}

static int piece_get(struct render_ctx *ctx, enum piece p, const struct buf **out)
{
	struct buf *b = &ctx->pieces[p];
	int rc = 0;
	if (!ctx->built[p]) {
		switch (p) {
		case PIECE_SITE:
			rc = put_word(b, ctx->c->site);
			break;
		case PIECE_LOCAL_AS:
			rc = buf_printf(b, "%" PRIu32, ctx->c->local_as);
			break;
		case PIECE_GENERATION:
			rc = buf_printf(b, "%" PRIu64, ctx->generation);
			break;
		case PIECE_STATIC_ROUTES_V4:
			rc = build_static_routes(ctx, 4, b);
			break;
		case PIECE_STATIC_ROUTES_V6:
			rc = build_static_routes(ctx, 6, b);
			break;
		case PIECE_ATTRIBUTE_DEFINITIONS:
			rc = build_attribute_definitions(b);
			break;
		case PIECE_SERVICE_STATES:
			rc = build_service_states(ctx, b);
			break;
		case PIECE_EXPORT_BODY:
			rc = build_export_body(ctx, b);
			break;
		case PIECE__COUNT:
			break;
		}
		/* An empty piece still needs a string to point at. */
		rc = rc ?: buf_append(b, "", 0);
		if (rc < 0)
			return rc;
		ctx->built[p] = 1;
	}
	*out = b;
	return 0;
}

/* ---- the template ------------------------------------------------------ */

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* at points to "{{" within a line that ends at end. Sets *p and *after (just
 * past "}}"). Spaces inside the braces are allowed: "{{ site }}". */
static int parse_placeholder(const char *at, const char *end, unsigned lineno,
			     enum piece *p, const char **after, unsigned *seen, struct err *e)
{
	const char *name = at + 2;
	const char *close = memmem(name, (size_t)(end - name), "}}", 2);
	if (!close)
		return err_set(e, ERR_INVALID,
			       "template line %u: '{{' is not closed by '}}' on the same line "
			       "(a literal '{{' cannot appear in a template; write '{ {')",
			       lineno);
	const char *nend = close;
	while (name < nend && is_blank(*name))
		name++;
	while (nend > name && is_blank(nend[-1]))
		nend--;
	size_t len = (size_t)(nend - name);
	for (int i = 0; i < PIECE__COUNT; i++) {
		if (strlen(piece_names[i]) == len && memcmp(piece_names[i], name, len) == 0) {
			*p = (enum piece)i;
			*after = close + 2;
			*seen |= 1u << i;
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof retired_placeholders / sizeof retired_placeholders[0]; i++)
		if (strlen(retired_placeholders[i].name) == len &&
		    memcmp(retired_placeholders[i].name, name, len) == 0)
			return err_set(e, ERR_INVALID,
				       "template line %u: placeholder '{{%s}}' is no longer rendered: %s "
				       "(see bird-templates/README.md)",
				       lineno, retired_placeholders[i].name,
				       retired_placeholders[i].instead);
	return err_set(e, ERR_INVALID,
		       "template line %u: unknown placeholder '{{%.*s}}' (known: " KNOWN_PLACEHOLDERS ")",
		       lineno, len > 64 ? 64 : (int)len, name);
}

/* A placeholder alone on its line stands for whole lines: each line of the
 * piece gets the placeholder's indentation, and an empty piece removes the
 * line, so the template decides the layout. */
static int put_indented(struct buf *out, const char *indent, size_t indent_len,
			const struct buf *piece)
{
	const char *s = piece->p, *end = piece->p + piece->len;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end;
		if (le > s && (buf_append(out, indent, indent_len) < 0 ||
			       buf_append(out, s, (size_t)(le - s)) < 0))
			return -ERR_NOMEM;
		if (buf_append(out, "\n", 1) < 0)
			return -ERR_NOMEM;
		s = nl ? nl + 1 : end;
	}
	return 0;
}

/* Expands one line [p, end); nl says whether a newline followed it. With
 * ctx NULL only checks the placeholders. */
static int expand_line(struct render_ctx *ctx, const char *p, const char *end, int nl,
		       unsigned lineno, struct buf *out, unsigned *seen, struct err *e)
{
	enum piece pc;
	const char *after;
	const struct buf *piece;
	int rc;

	const char *q = p;
	while (q < end && is_blank(*q))
		q++;
	if (end - q >= 2 && q[0] == '{' && q[1] == '{') {
		if ((rc = parse_placeholder(q, end, lineno, &pc, &after, seen, e)) < 0)
			return rc;
		const char *r = after;
		while (r < end && is_blank(*r))
			r++;
		if (r == end) {
			if (!ctx)
				return 0;
			if ((rc = piece_get(ctx, pc, &piece)) < 0)
				return rc;
			return put_indented(out, p, (size_t)(q - p), piece);
		}
	}

	const char *s = p;
	while (s < end) {
		const char *o = memmem(s, (size_t)(end - s), "{{", 2);
		const char *lit_end = o ? o : end;
		if (ctx && buf_append(out, s, (size_t)(lit_end - s)) < 0)
			return -ERR_NOMEM;
		if (!o)
			break;
		if ((rc = parse_placeholder(o, end, lineno, &pc, &after, seen, e)) < 0)
			return rc;
		if (ctx) {
			if ((rc = piece_get(ctx, pc, &piece)) < 0)
				return rc;
			size_t len = piece->len;
			/* Inline, a piece of whole lines drops its last newline:
			 * the template line supplies one. */
			if (len && piece->p[len - 1] == '\n')
				len--;
			if (buf_append(out, piece->p, len) < 0)
				return -ERR_NOMEM;
		}
		s = after;
	}
	if (ctx && nl && buf_append(out, "\n", 1) < 0)
		return -ERR_NOMEM;
	return 0;
}

/* Sets *seen to the mask (1 << piece) of the placeholders tmpl uses. */
static int expand_template(struct render_ctx *ctx, const char *tmpl, struct buf *out,
			   unsigned *seen, struct err *e)
{
	unsigned lineno = 1;
	*seen = 0;
	const char *p = tmpl;
	while (*p) {
		const char *eol = strchr(p, '\n');
		const char *end = eol ? eol : p + strlen(p);
		int rc = expand_line(ctx, p, end, eol != NULL, lineno, out, seen, e);
		if (rc < 0)
			return rc;
		p = eol ? eol + 1 : end;
		lineno++;
	}
	return 0;
}

/* ---- checks of the inputs ---------------------------------------------- */

/* Prefix texts go into the BIRD file verbatim; a struct filled by hand
 * must not smuggle anything else in. */
static int prefix_text_ok(const struct prefix *px)
{
	size_t n = strnlen(px->text, sizeof px->text);
	if (n == 0 || n == sizeof px->text || !strchr(px->text, '/'))
		return 0;
	return strspn(px->text, px->family == 4 ? "0123456789./" :
			"0123456789abcdefABCDEF:./") == n;
}

static const struct svc_state *state_lookup(const struct state *st, const char *name)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->svcs[i].name && strcmp(st->svcs[i].name, name) == 0)
			return &st->svcs[i];
	return NULL;
}

static int conf_has_service(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->n_services; i++)
		if (strcmp(c->services[i].name, name) == 0)
			return 1;
	return 0;
}

static int check_inputs(const struct conf *c, const struct state *st,
			const struct svc_state **svc, struct err *e)
{
	if (c->site && st->site && strcmp(c->site, st->site) != 0)
		return err_set(e, ERR_INVALID, "the state is for site '%s' but the config for site '%s'",
			       st->site, c->site);
	for (size_t i = 0; i < st->n; i++)
		if (!st->svcs[i].name || !conf_has_service(c, st->svcs[i].name))
			return err_set(e, ERR_INVALID,
				       "the state names service '%s' that the config lacks",
				       st->svcs[i].name ? st->svcs[i].name : "(null)");
	for (size_t i = 0; i < c->n_services; i++) {
		const struct conf_service *s = &c->services[i];
		if (!s->name)
			return err_set(e, ERR_INVALID, "config service %zu has no name", i);
		const struct svc_state *ss = state_lookup(st, s->name);
		if (!ss)
			return err_set(e, ERR_INVALID,
				       "service '%s' has no state (the state must be synced with the config first)",
				       s->name);
		switch (ss->mode) {
		case MODE_ANNOUNCE:
		case MODE_WITHDRAW:
			break;
		case MODE_PREPEND:
			if (ss->prepend < PREPEND_MIN || ss->prepend > PREPEND_MAX)
				return err_set(e, ERR_INVALID,
					       "service '%s': prepend count %u is outside %d..%d",
					       s->name, ss->prepend, PREPEND_MIN, PREPEND_MAX);
			if (c->local_as == 0)
				return err_set(e, ERR_INVALID,
					       "service '%s' is prepended but the config has no local AS",
					       s->name);
			break;
		default:
			return err_set(e, ERR_INVALID, "service '%s': unknown mode %d",
				       s->name, (int)ss->mode);
		}
		for (size_t k = 0; k < s->n_prefixes; k++) {
			const struct prefix *px = &s->prefixes[k];
			if ((px->family != 4 && px->family != 6) || !prefix_text_ok(px))
				return err_set(e, ERR_INVALID,
					       "service '%s': prefix %zu is not a canonical IPv4 or IPv6 prefix",
					       s->name, k);
			if (strcmp(px->text, px->family == 4 ? RENDER_SENTINEL_V4 : RENDER_SENTINEL_V6) == 0)
				return err_set(e, ERR_INVALID,
					       "service '%s': prefix %s is routectl's sentinel route, which "
					       "is never exported; use another prefix",
					       s->name, px->text);
		}
		svc[i] = ss;
	}
	return 0;
}

/* The static routes refer to the attribute and to the services' values: a
 * template that has them must define both, before them. BIRD would say
 * "unknown symbol" at the first route; this names the placeholder. */
static int check_template_pieces(unsigned seen, struct err *e)
{
	unsigned routes = (1u << PIECE_STATIC_ROUTES_V4) | (1u << PIECE_STATIC_ROUTES_V6);
	static const enum piece needed[] = { PIECE_ATTRIBUTE_DEFINITIONS, PIECE_SERVICE_STATES };
	if (!(seen & routes))
		return 0;
	for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
		if (!(seen & (1u << needed[i])))
			return err_set(e, ERR_INVALID,
				       "the template uses {{%s}} but not {{%s}}, which defines what "
				       "the routes refer to; put it before the static protocols "
				       "(see bird-templates/README.md)",
				       piece_names[seen & (1u << PIECE_STATIC_ROUTES_V4) ?
							   PIECE_STATIC_ROUTES_V4 : PIECE_STATIC_ROUTES_V6],
				       piece_names[needed[i]]);
	return 0;
}

/* ---- public ------------------------------------------------------------ */

int render_load_template(const struct conf *c, char **out, struct err *e)
{
	char *text;
	if (c && c->template_path) {
		int rc = fs_read_file(c->template_path, TEMPLATE_MAX, &text, NULL, e);
		if (rc < 0)
			return err_prefix(e, "template");
		/* Catch a bad placeholder when the file is loaded, with its name. */
		unsigned seen;
		rc = expand_template(NULL, text, NULL, &seen, e);
		if (rc == 0)
			rc = check_template_pieces(seen, e);
		if (rc < 0) {
			free(text);
			return err_prefix(e, "%s", c->template_path);
		}
	} else {
		const struct embedded_file *f = embedded_find("routectl.conf.tmpl");
		if (!f || f->len == 0)
			return err_set(e, ERR_NOTFOUND, "the built-in template routectl.conf.tmpl is missing");
		text = strdup(f->data);
		if (!text)
			return err_set(e, ERR_NOMEM, "out of memory");
	}
	*out = text;
	return 0;
}

int render_include(const struct conf *c, const struct state *st, const char *tmpl,
		   struct buf *out, struct err *e)
{
	if (!c || !st || !tmpl)
		return err_set(e, ERR_INVALID, "render: no config, state or template");
	struct render_ctx ctx = { .c = c, .generation = st->generation };
	ctx.svc = calloc(c->n_services ? c->n_services : 1, sizeof *ctx.svc);
	if (!ctx.svc)
		return err_set(e, ERR_NOMEM, "out of memory");
	size_t old_len = out->len;
	int rc = check_inputs(c, st, ctx.svc, e);
	if (rc == 0) {
		unsigned seen;
		rc = expand_template(&ctx, tmpl, out, &seen, e);
		if (rc == -ERR_NOMEM)
			err_set(e, ERR_NOMEM, "out of memory while rendering");
	}
	if (rc < 0 && out->p) {
		out->len = old_len;
		out->p[old_len] = '\0';
	}
	for (int i = 0; i < PIECE__COUNT; i++)
		buf_free(&ctx.pieces[i]);
	free(ctx.svc);
	return rc;
}
