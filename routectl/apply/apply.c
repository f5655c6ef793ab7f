#include "apply/apply.h"

#include "bird/bird.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "conf/conf.h"
#include "render/render.h"
#include "store/store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INCLUDE_MAX (256u << 20)
#define VERIFY_REPORT_MAX 5       /* mismatches named in one message */
#define VERIFY_POLL_MS 2          /* between verify rounds */

int apply_plan(const struct conf *c, const struct state *st, const char *tmpl,
	       struct buf *out, char **current, struct err *e)
{
	*current = NULL;
	int rc = render_include(c, st, tmpl, out, e);
	if (rc < 0)
		return rc;
	struct err readerr;
	rc = fs_read_file(c->include_path, INCLUDE_MAX, current, NULL, &readerr);
	if (rc == -ERR_NOTFOUND)
		return 0;
	if (rc < 0) {
		*e = readerr;
		return rc;
	}
	return 0;
}

/* What BIRD should export for one prefix. */
struct expect {
	const struct prefix *prefix;
	const char *service;
	enum svc_mode mode;
	unsigned prepend;
};

static int expect_cmp(const void *a, const void *b)
{
	return prefix_cmp(((const struct expect *)a)->prefix, ((const struct expect *)b)->prefix);
}

/* Expectations of one family, sorted like bird_show_export's output. */
static struct expect *expectations(const struct conf *c, const struct state *st, int family,
				   size_t *n, struct err *e)
{
	size_t total = 0;
	for (size_t i = 0; i < c->n_services; i++)
		for (size_t j = 0; j < c->services[i].n_prefixes; j++)
			total += c->services[i].prefixes[j].family == family;
	struct expect *x = calloc(total ? total : 1, sizeof *x);
	if (!x) {
		err_set(e, ERR_NOMEM, "verify: out of memory");
		return NULL;
	}
	size_t k = 0;
	for (size_t i = 0; i < c->n_services; i++) {
		const struct conf_service *cs = &c->services[i];
		const struct svc_state *ss = NULL;
		for (size_t s = 0; s < st->n; s++)
			if (strcmp(st->svcs[s].name, cs->name) == 0)
				ss = &st->svcs[s];
		for (size_t j = 0; j < cs->n_prefixes; j++) {
			if (cs->prefixes[j].family != family)
				continue;
			x[k].prefix = &cs->prefixes[j];
			x[k].service = cs->name;
			/* A service the state lacks is rendered as announce. */
			x[k].mode = ss ? ss->mode : MODE_ANNOUNCE;
			x[k].prepend = ss ? ss->prepend : 0;
			k++;
		}
	}
	qsort(x, total, sizeof *x, expect_cmp);
	*n = total;
	return x;
}

static void describe_expect(const struct expect *x, char *out, size_t size)
{
	if (x->mode == MODE_WITHDRAW)
		snprintf(out, size, "withdrawn");
	else if (x->mode == MODE_PREPEND)
		snprintf(out, size, "exported with %u prepends", x->prepend);
	else
		snprintf(out, size, "exported without prepends");
}

/* The sentinel routes of the generated include (routectl/render/render.h
 * defines them where the renderer puts them into the include); the export
 * function always rejects them, so a peer that exports one does not call it. */
static const char *const static_of[2] = { RENDER_STATIC_V4, RENDER_STATIC_V6 };
static const char *const sentinel_of[2] = { RENDER_SENTINEL_V4, RENDER_SENTINEL_V6 };

static int is_sentinel(const struct prefix *p)
{
	return strcmp(p->text, RENDER_SENTINEL_V4) == 0 || strcmp(p->text, RENDER_SENTINEL_V6) == 0;
}

void apply_one_line(const char *msg, char *out, size_t size)
{
	size_t o = 0;
	if (size == 0)
		return;
	for (const unsigned char *p = (const unsigned char *)(msg ? msg : ""); *p && o + 1 < size;
	     p++) {
		if (*p == '\n' || *p == '\r') {
			while (p[1] == '\n' || p[1] == '\r' || p[1] == ' ' || p[1] == '\t')
				p++;
			if (o + 3 >= size)
				break;
			if (p[1] == '\0')
				break;
			out[o++] = ';';
			out[o++] = ' ';
		} else {
			out[o++] = (*p < 0x20 || *p == 0x7f) ? ' ' : (char)*p;
		}
	}
	out[o] = '\0';
}

/*
 * Precheck
 */

void apply_peers_free(struct apply_peers *p)
{
	if (!p)
		return;
	free(p->v);
	memset(p, 0, sizeof *p);
}

int apply_peers_copy(struct apply_peers *dst, const struct apply_peers *src)
{
	*dst = *src;
	dst->v = NULL;
	if (src->n == 0)
		return 0;
	dst->v = malloc(src->n * sizeof *dst->v);
	if (!dst->v) {
		memset(dst, 0, sizeof *dst);
		return -ERR_NOMEM;
	}
	memcpy(dst->v, src->v, src->n * sizeof *dst->v);
	return 0;
}

static void peer_problem(struct apply_peers *ps, struct apply_peer *p, unsigned problem,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void peer_problem(struct apply_peers *ps, struct apply_peer *p, unsigned problem,
			 const char *fmt, ...)
{
	p->problems |= problem;
	ps->problems |= problem;
	size_t used = strlen(p->text);
	if (used && used + 2 < sizeof p->text) {
		memcpy(p->text + used, "; ", 3);
		used += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->text + used, sizeof p->text - used, fmt, ap);
	va_end(ap);
}

/* Errors that mean "this query cannot tell", not "BIRD is in trouble". */
static int query_skippable(int rc)
{
	return rc == -ERR_NOTFOUND || rc == -ERR_INVALID;
}

static void bgp_names(const struct bird_protocol *v, size_t n, char *out, size_t size)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && o + 1 < size; i++) {
		if (strcmp(v[i].proto, "BGP") != 0)
			continue;
		int k = snprintf(out + o, size - o, "%s%s", o ? ", " : "", v[i].name);
		if (k < 0 || (size_t)k >= size - o)
			break;
		o += (size_t)k;
	}
	if (o == 0)
		snprintf(out, size, "none");
}

/* The first prefix of family f (4 or 6) that st announces or prepends, or
 * NULL when it withdraws them all. */
static const char *announced_prefix(const struct conf *c, const struct state *st, int f)
{
	for (size_t i = 0; i < c->n_services; i++) {
		const struct conf_service *cs = &c->services[i];
		const struct svc_state *ss = NULL;
		for (size_t k = 0; k < st->n && !ss; k++)
			if (strcmp(st->svcs[k].name, cs->name) == 0)
				ss = &st->svcs[k];
		if (ss && ss->mode == MODE_WITHDRAW)
			continue;
		for (size_t j = 0; j < cs->n_prefixes; j++)
			if (cs->prefixes[j].family == f)
				return cs->prefixes[j].text;
	}
	return NULL;
}

int apply_precheck(struct bird_conn *b, const struct conf *c, const struct state *st,
		   int timeout_ms, struct apply_peers *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	struct bird_protocol *protos = NULL;
	size_t np = 0;
	int rc = bird_show_protocols_all(b, timeout_ms, &protos, &np, e);
	if (rc < 0)
		return rc;
	out->v = calloc(c->n_bgp_protocols + np + 1, sizeof *out->v);
	if (!out->v) {
		free(protos);
		return err_set(e, ERR_NOMEM, "out of memory checking BIRD's protocols");
	}
	char names[512];
	bgp_names(protos, np, names, sizeof names);
	for (size_t i = 0; i < c->n_bgp_protocols; i++) {
		struct apply_peer *p = &out->v[out->n++];
		snprintf(p->name, sizeof p->name, "%s", c->bgp_protocols[i]);
		p->listed = 1;
		const struct bird_protocol *bp = NULL;
		for (size_t k = 0; k < np && !bp; k++)
			if (strcmp(protos[k].name, c->bgp_protocols[i]) == 0)
				bp = &protos[k];
		if (!bp) {
			peer_problem(out, p, PEER_MISSING,
				     "listed in bird/bgp-protocol, but BIRD's running config has no "
				     "protocol '%s' (its BGP protocols: %s)", p->name, names);
			continue;
		}
		if (strcmp(bp->proto, "BGP") != 0) {
			peer_problem(out, p, PEER_NOT_BGP,
				     "listed in bird/bgp-protocol, but '%s' is a %s protocol in BIRD, "
				     "not BGP (its BGP protocols: %s)", p->name, bp->proto, names);
			continue;
		}
		const struct bird_channel *ch4 = bird_protocol_channel(bp, 4);
		const struct bird_channel *ch6 = bird_protocol_channel(bp, 6);
		p->up = strcmp(bp->state, "up") == 0;
		p->has_v4 = ch4 != NULL;
		p->has_v6 = ch6 != NULL;
		p->v4_up = p->up && ch4 && strcmp(ch4->state, "UP") == 0;
		p->v6_up = p->up && ch6 && strcmp(ch6->state, "UP") == 0;
		if (bp->has_local_as && bp->local_as != c->local_as)
			peer_problem(out, p, PEER_LOCAL_AS,
				     "BIRD's Local AS of '%s' is %u, but the config's local-as is %u: "
				     "a prepend would put AS %u behind BIRD's own %u; make them equal",
				     p->name, bp->local_as, c->local_as, c->local_as, bp->local_as);
	}

	int have_sentinel[2] = { 0, 0 };
	for (int f = 0; f < 2; f++) {
		struct err qe;
		rc = bird_prefix_present(b, sentinel_of[f], static_of[f], timeout_ms,
					 &have_sentinel[f], &qe);
		if (rc < 0 && !query_skippable(rc)) {
			*e = qe;
			goto fail;
		}
	}
	out->no_sentinel_v4 = !have_sentinel[0];
	out->no_sentinel_v6 = !have_sentinel[1];
	/* A peer that exports a sentinel ignores routectl_export() only if the
	 * running function rejects it: a function that accepts it (an include
	 * edited by hand, a template without the export cases) is the
	 * function's fault, which verify finds and rolls back. */
	int judge[2] = { 0, 0 };
	for (int f = 0; f < 2; f++) {
		if (!have_sentinel[f])
			continue;
		int accepts = 0;
		struct err qe;
		rc = bird_prefix_through_function(b, sentinel_of[f], static_of[f],
						  RENDER_EXPORT_FUNCTION, timeout_ms, &accepts, &qe);
		if (rc < 0 && !query_skippable(rc)) {
			*e = qe;
			goto fail;
		}
		judge[f] = rc == 0 && !accepts;
	}

	for (size_t i = 0; i < c->n_bgp_protocols; i++) {
		struct apply_peer *p = &out->v[i];
		if (p->problems & (PEER_MISSING | PEER_NOT_BGP) || !p->up)
			continue;
		for (int f = 0; f < 2; f++) {
			if (!judge[f] || !(f ? p->v6_up : p->v4_up))
				continue;
			int exported = 0;
			struct err qe;
			rc = bird_prefix_exported(b, sentinel_of[f], p->name, timeout_ms, &exported,
						  &qe);
			if (rc < 0 && !query_skippable(rc)) {
				*e = qe;
				goto fail;
			}
			if (rc == 0 && exported && !(p->problems & PEER_IGNORES))
				peer_problem(out, p, PEER_IGNORES,
					     "exports the sentinel route %s, which routectl_export() "
					     "always rejects: the export filter of '%s' does not call "
					     "routectl_export(), so it announces routectl's prefixes "
					     "whatever their state", sentinel_of[f], p->name);
		}
	}

	for (size_t k = 0; k < np; k++) {
		const struct bird_protocol *bp = &protos[k];
		if (strcmp(bp->proto, "BGP") != 0 || strcmp(bp->state, "up") != 0)
			continue;
		int listed = 0;
		for (size_t i = 0; i < c->n_bgp_protocols; i++)
			listed |= strcmp(c->bgp_protocols[i], bp->name) == 0;
		if (listed)
			continue;
		unsigned long total = 0;
		const char *seen = NULL;
		for (int f = 0; f < 2 && !seen; f++) {
			const struct bird_channel *ch = bird_protocol_channel(bp, f ? 6 : 4);
			if (!ch || strcmp(ch->state, "UP") != 0)
				continue;
			struct err qe;
			if (!st) {
				unsigned long n = 0;
				rc = bird_export_count(b, bp->name, static_of[f], timeout_ms, &n, &qe);
				if (rc < 0 && !query_skippable(rc)) {
					*e = qe;
					goto fail;
				}
				if (rc == 0)
					total += n;
				continue;
			}
			/* Two one-prefix questions rather than running every route
			 * through its filter (a router may have many sessions): the
			 * sentinel, which only a filter that ignores routectl_export()
			 * exports, and one prefix the state announces. */
			const char *probe[2] = { have_sentinel[f] ? sentinel_of[f] : NULL,
						 announced_prefix(c, st, f ? 6 : 4) };
			for (int k = 0; k < 2 && !seen; k++) {
				if (!probe[k])
					continue;
				int exported = 0;
				rc = bird_prefix_exported(b, probe[k], bp->name, timeout_ms, &exported,
							  &qe);
				if (rc < 0 && !query_skippable(rc)) {
					*e = qe;
					goto fail;
				}
				if (rc == 0 && exported)
					seen = probe[k];
			}
		}
		if (total == 0 && !seen)
			continue;
		struct apply_peer *p = &out->v[out->n++];
		snprintf(p->name, sizeof p->name, "%s", bp->name);
		p->up = 1;
		p->has_v4 = p->v4_up = bird_protocol_channel(bp, 4) != NULL;
		p->has_v6 = p->v6_up = bird_protocol_channel(bp, 6) != NULL;
		p->exported = seen ? 1 : total;
		char what[96];
		if (seen)
			snprintf(what, sizeof what, "routectl's routes (%s)", seen);
		else
			snprintf(what, sizeof what, "%lu of routectl's routes", total);
		peer_problem(out, p, PEER_UNLISTED,
			     "not in bird/bgp-protocol, but exports %s: routectld cannot verify "
			     "what it announces (list it in bird/bgp-protocol, or keep routectl's "
			     "routes out of its export filter)", what);
	}
	free(protos);
	return 0;
fail:
	free(protos);
	apply_peers_free(out);
	return rc;
}

/* Counts again what the unlisted exporters export (after a change). */
static int recount_unlisted(struct bird_conn *b, struct apply_peers *ps, int timeout_ms,
			    struct err *e)
{
	for (size_t i = 0; i < ps->n; i++) {
		struct apply_peer *p = &ps->v[i];
		if (!(p->problems & PEER_UNLISTED))
			continue;
		unsigned long total = 0;
		for (int f = 0; f < 2; f++) {
			if (!(f ? p->v6_up : p->v4_up))
				continue;
			unsigned long n = 0;
			int rc = bird_export_count(b, p->name, static_of[f], timeout_ms, &n, e);
			if (rc < 0 && !query_skippable(rc))
				return rc;
			total += rc == 0 ? n : 0;
		}
		p->exported = total;
	}
	return 0;
}

int apply_peers_blocking(const struct apply_peers *p, struct err *e)
{
	if (!(p->problems & PEER_BLOCKING))
		return 0;
	err_set(e, ERR_REFUSED, "BIRD's protocols do not match the config:");
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].problems & PEER_BLOCKING)
			err_append(e, ERR_REFUSED, "%s: %s", p->v[i].name, p->v[i].text);
	return -ERR_REFUSED;
}

size_t apply_peers_partial(const struct apply_peers *p, int takes_away, char *out, size_t size)
{
	size_t named = 0, o = 0;
	if (size)
		out[0] = '\0';
	for (size_t i = 0; p && i < p->n; i++) {
		const struct apply_peer *pp = &p->v[i];
		int bad = (pp->listed && (pp->problems & PEER_MISCONFIGURED) && pp->mismatches) ||
			  (takes_away && (pp->problems & PEER_UNLISTED) && pp->exported);
		if (!bad)
			continue;
		named++;
		if (o + 1 >= size)
			continue;
		int k;
		if (pp->listed)
			k = snprintf(out + o, size - o, "%s%s does not export what was asked "
				     "(%u prefixes): %s", o ? "; " : "", pp->name, pp->mismatches,
				     pp->text);
		else
			k = snprintf(out + o, size - o, "%sunlisted %s still exports %lu of "
				     "routectl's routes", o ? "; " : "", pp->name, pp->exported);
		if (k < 0 || (size_t)k >= size - o)
			o = size - 1;
		else
			o += (size_t)k;
	}
	return named;
}

/*
 * Verify
 */

/* Walks the sorted expectations and the sorted exports side by side; appends
 * at most VERIFY_REPORT_MAX lines to e (*reported counts them) and returns
 * the number of mismatches. A sentinel in got sets *sentinel and is not a
 * mismatch of its own (the peer is reported as ignoring routectl). */
static unsigned compare_exports(const struct conf *c, const char *to, const struct expect *x,
				size_t nx, const struct bird_export *got, size_t ngot,
				int *sentinel, unsigned *reported, struct err *e)
{
	size_t i = 0, j = 0;
	unsigned mismatches = 0;
	char want[64];
	while (i < nx || j < ngot) {
		int cmp = i == nx ? 1 : j == ngot ? -1 : prefix_cmp(x[i].prefix, &got[j].prefix);
		const char *problem = NULL;
		char detail[192] = "";
		if (cmp < 0) {
			if (x[i].mode != MODE_WITHDRAW) {
				describe_expect(&x[i], want, sizeof want);
				snprintf(detail, sizeof detail, "expected %s, not exported", want);
				problem = detail;
			}
		} else if (cmp > 0) {
			if (is_sentinel(&got[j].prefix)) {
				*sentinel = 1;
			} else {
				if (*reported < VERIFY_REPORT_MAX) {
					err_append(e, ERR_VERIFY,
						   "%s to %s: exported but belongs to no service "
						   "(stale include?)", got[j].prefix.text, to);
					(*reported)++;
				}
				mismatches++;
			}
			j++;
			continue;
		} else {
			unsigned want_len = x[i].mode == MODE_PREPEND ? x[i].prepend : 0;
			if (x[i].mode == MODE_WITHDRAW) {
				snprintf(detail, sizeof detail,
					 "expected withdrawn, exported with AS path length %u",
					 got[j].path_len);
				problem = detail;
			} else if (got[j].path_len != want_len || got[j].first_asn_run != want_len) {
				describe_expect(&x[i], want, sizeof want);
				snprintf(detail, sizeof detail,
					 "expected %s, exported with AS path length %u", want,
					 got[j].path_len);
				problem = detail;
			} else if (want_len > 0 && got[j].first_asn != c->local_as) {
				snprintf(detail, sizeof detail,
					 "expected %u prepends of AS %u (local-as), exported with "
					 "AS %u prepended", want_len, c->local_as, got[j].first_asn);
				problem = detail;
			}
		}
		if (problem) {
			if (*reported < VERIFY_REPORT_MAX) {
				err_append(e, ERR_VERIFY, "%s %s to %s: %s", x[i].service,
					   x[i].prefix->text, to, problem);
				(*reported)++;
			}
			mismatches++;
		}
		if (cmp <= 0)
			i++;
		if (cmp >= 0)
			j++;
	}
	return mismatches;
}

struct verify_ctx {
	struct expect *x[2];   /* IPv4, IPv6 */
	size_t n[2];
};

static void verify_ctx_free(struct verify_ctx *v)
{
	free(v->x[0]);
	free(v->x[1]);
}

static int verify_ctx_init(struct verify_ctx *v, const struct conf *c, const struct state *st,
			   struct err *e)
{
	memset(v, 0, sizeof *v);
	v->x[0] = expectations(c, st, 4, &v->n[0], e);
	v->x[1] = expectations(c, st, 6, &v->n[1], e);
	if (!v->x[0] || !v->x[1]) {
		verify_ctx_free(v);
		return -ERR_NOMEM;
	}
	return 0;
}

/* What routectl_export() makes of family f's routes, against the state:
 * the number of mismatches (lines in e), or BIRD's error. */
static int check_function(struct verify_ctx *v, struct bird_conn *b, const struct conf *c,
			  int f, int timeout_ms, unsigned *reported, struct err *e)
{
	struct bird_export *got = NULL;
	size_t ngot = 0;
	struct err be;
	int rc = bird_show_through_function(b, static_of[f], RENDER_EXPORT_FUNCTION, timeout_ms,
					    &got, &ngot, &be);
	if (rc < 0) {
		*e = be;
		return rc;
	}
	int sentinel = 0;
	unsigned m = compare_exports(c, RENDER_EXPORT_FUNCTION "()", v->x[f], v->n[f], got, ngot,
				     &sentinel, reported, e);
	free(got);
	if (sentinel) {
		if (*reported < VERIFY_REPORT_MAX) {
			err_append(e, ERR_VERIFY, "%s: BIRD's running routectl_export() accepts "
				   "the sentinel route %s (not the generated function?)",
				   RENDER_EXPORT_FUNCTION "()", sentinel_of[f]);
			(*reported)++;
		}
		m++;
	}
	return (int)m;
}

static void first_line(const char *s, char *out, size_t size)
{
	size_t n = strcspn(s, "\n");
	if (n >= size)
		n = size - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* One comparison. -ERR_VERIFY leaves the mismatches in e, one per line,
 * without a heading (*mismatches counts them all); the callers say how long
 * they looked. */
static int verify_round(struct verify_ctx *v, struct bird_conn *b, const struct conf *c,
			struct apply_peers *peers, int timeout_ms, unsigned *mismatches,
			struct err *e)
{
	unsigned real = 0, reported = 0, checked = 0;
	int fn_ok[2] = { -1, -1 };   /* -1 not asked yet, 0 wrong, 1 right */
	err_clear(e);
	for (size_t i = 0; i < c->n_bgp_protocols && i < peers->n; i++) {
		struct apply_peer *p = &peers->v[i];
		p->mismatches = 0;
		if ((p->problems & PEER_BLOCKING) || !p->up)
			continue;
		for (int f = 0; f < 2; f++) {
			if (v->n[f] == 0 || !(f ? p->v6_up : p->v4_up))
				continue;
			struct bird_export *got = NULL;
			size_t ngot = 0;
			struct err pe;
			int rc = bird_show_export(b, p->name, static_of[f], timeout_ms, &got, &ngot,
						  &pe);
			if (rc == -ERR_NOTFOUND)
				continue;   /* went down since the precheck: exports nothing */
			if (rc < 0) {
				*e = pe;
				return rc;
			}
			checked++;
			err_clear(&pe);
			int sentinel = 0;
			unsigned rep = 0;
			unsigned m = compare_exports(c, p->name, v->x[f], v->n[f], got, ngot,
						     &sentinel, &rep, &pe);
			free(got);
			/* What the running routectl_export() does decides whose fault
			 * a difference is; asked once per family, and only when a peer
			 * differs or exports a sentinel. */
			if ((m > 0 || sentinel) && fn_ok[f] < 0) {
				struct err fe;
				unsigned frep = 0;
				err_clear(&fe);
				rc = check_function(v, b, c, f, timeout_ms, &frep, &fe);
				if (rc < 0) {
					*e = fe;
					return rc;
				}
				fn_ok[f] = rc == 0;
			}
			/* A sentinel at a peer proves that its filter ignores the
			 * function only while the function rejects the sentinel. */
			if (sentinel && fn_ok[f] == 1 && !(p->problems & PEER_IGNORES))
				peer_problem(peers, p, PEER_IGNORES,
					     "exports the sentinel route %s, which routectl_export() "
					     "always rejects: the export filter of '%s' does not call "
					     "routectl_export()", sentinel_of[f], p->name);
			if (fn_ok[f] == 0 && (p->problems & PEER_MISCONFIGURED)) {
				/* Found by the precheck on the running config; BIRD now
				 * runs a function that is itself wrong, so this peer's
				 * difference cannot be told from the function's. */
				p->problems &= ~(unsigned)PEER_MISCONFIGURED;
				p->text[0] = '\0';
				peers->problems = 0;
				for (size_t k = 0; k < peers->n; k++)
					peers->problems |= peers->v[k].problems;
			}
			if (m == 0)
				continue;
			if (!(p->problems & PEER_MISCONFIGURED)) {
				if (fn_ok[f]) {
					char ex[256];
					first_line(pe.msg, ex, sizeof ex);
					peer_problem(peers, p, PEER_ALTERS,
						     "exports routectl's routes other than "
						     "routectl_export() made them (its export filter "
						     "changes them after the call, e.g. its own "
						     "prepends): %s", ex);
				}
			}
			if (p->problems & PEER_MISCONFIGURED) {
				p->mismatches += m;
				continue;
			}
			real += m;
			if (reported < VERIFY_REPORT_MAX) {
				err_append(e, ERR_VERIFY, "%s", pe.msg);
				reported += rep;
			}
		}
	}
	if (checked == 0) {
		/* No listed peer is up: ask BIRD what its running export function
		 * does to the routes; a peer's exports are the stronger proof. */
		for (int f = 0; f < 2; f++) {
			if (v->n[f] == 0)
				continue;
			int rc = check_function(v, b, c, f, timeout_ms, &reported, e);
			if (rc < 0)
				return rc;
			real += (unsigned)rc;
		}
	}
	*mismatches = real;
	if (real == 0) {
		err_clear(e);
		return 0;
	}
	if (real > reported)
		err_append(e, ERR_VERIFY, "... and %u more", real - reported);
	e->code = ERR_VERIFY;
	return -ERR_VERIFY;
}

int verify_exports(struct bird_conn *b, const struct conf *c, const struct state *st,
		   struct apply_peers *peers, int timeout_ms, struct err *e)
{
	struct verify_ctx v;
	if (verify_ctx_init(&v, c, st, e) < 0)
		return err_set(e, ERR_NOMEM, "out of memory comparing BIRD's exports");
	unsigned m = 0;
	int rc = verify_round(&v, b, c, peers, timeout_ms, &m, e);
	if (rc == -ERR_VERIFY)
		err_prefix(e, "BIRD does not export what was asked (%u mismatches)", m);
	verify_ctx_free(&v);
	return rc;
}

int verify_until(struct bird_conn *b, const struct conf *c, const struct state *st,
		 struct apply_peers *peers, int timeout_ms, unsigned *rounds, struct err *e)
{
	struct verify_ctx v;
	int cmd_timeout = timeout_ms > 0 ? timeout_ms : 1000;
	if (verify_ctx_init(&v, c, st, e) < 0)
		return err_set(e, ERR_NOMEM, "out of memory comparing BIRD's exports");
	int64_t deadline = now_ms() + timeout_ms;
	unsigned n = 0, m = 0;
	int rc, busy_logged = 0;
	for (;;) {
		n++;
		rc = verify_round(&v, b, c, peers, cmd_timeout, &m, e);
		if (rc == -ERR_BUSY && !busy_logged) {
			log_info("verify: %s; asking again until the verify deadline", e->msg);
			busy_logged = 1;
		}
		/* A mismatch may still settle, and a busy BIRD answers later;
		 * any other error is final. */
		if ((rc != -ERR_VERIFY && rc != -ERR_BUSY) || now_ms() >= deadline)
			break;
		struct timespec ts = { 0, VERIFY_POLL_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (rc == -ERR_BUSY)
		err_prefix(e, "BIRD stayed busy reconfiguring for the whole verify-timeout-ms "
			   "(%d ms, %u rounds)", timeout_ms, n);
	else if (rc == -ERR_VERIFY)
		err_prefix(e, "BIRD did not export what was asked within verify-timeout-ms "
			   "(%d ms, %u rounds; %u mismatches)", timeout_ms, n, m);
	if (rounds)
		*rounds = n;
	verify_ctx_free(&v);
	return rc;
}

/* Puts the include back as it was before this apply. */
static int restore_include(const struct conf *c, const char *previous, struct err *e)
{
	if (previous)
		return fs_write_atomic(c->include_path, previous, strlen(previous), 0644, e);
	if (unlink(c->include_path) < 0 && errno != ENOENT)
		return err_set(e, ERR_IO, "%s: cannot remove: %s", c->include_path,
			       strerror(errno));
	return 0;
}

/* After a failure: restore the file, make BIRD undo if it took the candidate,
 * and add what happened to e. Returns the original failure code. */
static int roll_back(struct bird_conn *b, const struct conf *c, const char *previous,
		     int bird_took_it, struct apply_report *r, int rc, struct err *e)
{
	struct err re;
	if (restore_include(c, previous, &re) < 0) {
		err_append(e, ERR_IO, "and the previous include could not be restored: %s",
			   re.msg);
		log_error("apply: %s", re.msg);
	} else {
		r->restored = 1;
		err_append(e, e->code, "the previous include was put back");
	}
	if (bird_took_it && bird_alive(b)) {
		if (bird_configure_undo(b, (int)c->bird_timeout_ms, &re) < 0) {
			err_append(e, ERR_BIRD,
				   "and `configure undo` failed: %s (BIRD undoes by itself "
				   "within %u s)", re.msg, c->configure_timeout_s);
			log_error("apply: configure undo: %s", re.msg);
		} else {
			r->undone = 1;
			err_append(e, e->code, "BIRD went back to its previous config (configure undo)");
		}
	} else if (bird_took_it) {
		err_append(e, ERR_CONNECT,
			   "BIRD is unreachable, it undoes the change by itself within %u s",
			   c->configure_timeout_s);
	}
	return rc;
}

void apply_report_free(struct apply_report *r)
{
	if (r)
		apply_peers_free(&r->peers);
}

/* Says what happened when `configure timeout N` did not succeed, and where:
 * BIRD rejected routectl's include, or the operator's own config; BIRD did
 * not answer in time; BIRD went away. */
static void describe_configure_failure(struct bird_conn *b, const struct conf *c, int rc,
				       struct err *e)
{
	char cmd[48];
	snprintf(cmd, sizeof cmd, "configure timeout %u", c->configure_timeout_s);
	if (rc == -ERR_TIMEOUT) {
		err_prefix(e, "BIRD did not answer `%s` within command-timeout-ms (%u ms); it "
			   "may have taken the change", cmd, c->bird_timeout_ms);
		return;
	}
	if (rc == -ERR_CONNECT) {
		err_prefix(e, "BIRD went away during `%s` (stopped or crashed?)", cmd);
		return;
	}
	if (rc != -ERR_BIRD) {
		err_prefix(e, "`%s` failed", cmd);
		return;
	}
	const char *file = bird_error_file(b);
	if (!file[0])
		err_prefix(e, "BIRD refused `%s`", cmd);
	else if (strcmp(file, c->include_path) == 0)
		err_prefix(e, "BIRD rejected the generated include %s (its running config is "
			   "unchanged)", c->include_path);
	else if (strstr(e->msg, c->include_path))
		err_prefix(e, "BIRD could not use the generated include %s where %s includes it "
			   "(its running config is unchanged)", c->include_path, file);
	else
		err_prefix(e, "BIRD rejected its config because of an error in %s, which is not "
			   "routectl's include (%s): fix that file; BIRD's running config is "
			   "unchanged", file, c->include_path);
}

/* One `configure timeout` + verify; on failure rolls back and says why. */
static int configure_and_verify(struct bird_conn *b, const struct conf *c,
				const struct state *st, const char *previous,
				struct apply_report *r, struct err *e)
{
	int64_t t = now_ms();
	int rc = bird_configure_timeout(b, c->configure_timeout_s, (int)c->bird_timeout_ms, e);
	r->ms_configure += now_ms() - t;
	if (rc < 0) {
		describe_configure_failure(b, c, rc, e);
		/* A timeout leaves it unknown whether BIRD took it: undo to be sure. */
		return roll_back(b, c, previous, rc == -ERR_TIMEOUT, r, rc, e);
	}
	t = now_ms();
	unsigned rounds = 0;
	rc = verify_until(b, c, st, &r->peers, (int)c->verify_timeout_ms, &rounds, e);
	r->verify_rounds += rounds;
	r->ms_verify += now_ms() - t;
	if (rc < 0) {
		/* A mismatch or a busy BIRD says so already (and the error's
		 * code is "verify"): no heading that repeats it. */
		if (rc != -ERR_VERIFY && rc != -ERR_BUSY)
			err_prefix(e, "asking BIRD for its exports to verify the change failed");
		return roll_back(b, c, previous, 1, r, rc, e);
	}
	return 0;
}

/* The precheck, asked again while BIRD answers busy, within the verify
 * deadline. */
static int precheck_until(struct bird_conn *b, const struct conf *c, const struct state *st,
			  struct apply_report *r, struct err *e)
{
	int64_t deadline = now_ms() + c->verify_timeout_ms;
	for (;;) {
		int rc = apply_precheck(b, c, st, (int)c->bird_timeout_ms, &r->peers, e);
		if (rc != -ERR_BUSY || now_ms() >= deadline)
			return rc;
		log_info("precheck: %s; asking again", e->msg);
		struct timespec ts = { 0, 10 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

int apply_state(struct bird_conn *b, const struct conf *c, const struct state *st,
		const char *tmpl, const struct apply_opts *o, struct apply_report *r,
		struct err *e)
{
	static const struct apply_opts none = { 0 };
	if (!o)
		o = &none;
	memset(r, 0, sizeof *r);
	int64_t t0 = now_ms(), t;
	struct buf cand = { 0 };
	char *previous = NULL;
	int rc = apply_plan(c, st, tmpl, &cand, &previous, e);
	r->ms_render = now_ms() - t0;
	if (rc < 0)
		goto out;
	r->changed = !previous || strcmp(previous, cand.p) != 0;
	if (!r->changed && !o->force)
		goto out;
	if (!b || !bird_alive(b)) {
		rc = err_set(e, ERR_CONNECT, "BIRD is not connected (%s); nothing was changed",
			     c->bird_socket);
		goto out;
	}

	t = now_ms();
	rc = precheck_until(b, c, st, r, e);
	r->ms_precheck = now_ms() - t;
	if (rc < 0) {
		err_prefix(e, "checking BIRD's protocols before the change failed; nothing was "
			   "changed");
		goto out;
	}
	rc = apply_peers_blocking(&r->peers, e);
	if (rc < 0) {
		err_prefix(e, "refused before touching BIRD (nothing was changed)");
		goto out;
	}
	if (o->takes_away && o->refuse_unlisted && (r->peers.problems & PEER_UNLISTED)) {
		rc = err_set(e, ERR_POLICY, "refused before touching BIRD (policy "
			     "unlisted-exporter refuse-drain; nothing was changed):");
		for (size_t i = 0; i < r->peers.n; i++)
			if (r->peers.v[i].problems & PEER_UNLISTED)
				err_append(e, ERR_POLICY, "%s: %s", r->peers.v[i].name,
					   r->peers.v[i].text);
		goto out;
	}

	if (r->changed) {
		rc = fs_write_atomic(c->include_path, cand.p, cand.len, 0644, e);
		if (rc < 0)
			goto out;
	}

	for (int attempt = 0;; attempt++) {
		rc = configure_and_verify(b, c, st, previous, r, e);
		if (rc < 0) {
			if (attempt > 0)
				err_prefix(e, "BIRD had undone the change before routectld confirmed "
					   "it, and applying it again failed%s",
					   r->committed ? " (the desired state is saved; the "
							  "reconciler applies it again)" : "");
			goto out;
		}
		if (o->commit && !r->committed) {
			rc = o->commit(o->commit_arg, e);
			if (rc < 0) {
				rc = roll_back(b, c, previous, 1, r, rc, e);
				goto out;
			}
			r->committed = 1;
		}
		t = now_ms();
		rc = bird_configure_confirm(b, (int)c->bird_timeout_ms, e);
		r->ms_confirm += now_ms() - t;
		if (rc == 0)
			break;
		if (rc < 0) {
			/* Unknown whether BIRD keeps it: without a confirm it undoes
			 * the change after configure-timeout. The state is saved; the
			 * reconciler applies it again (at once when the connection
			 * comes back). Not "applied": say what is known. */
			err_prefix(e, "the change is saved and BIRD runs it for now, but `configure "
				   "confirm` failed, so BIRD undoes it within %u s unless the "
				   "reconciler applies it again first", c->configure_timeout_s);
			r->confirm_failed = 1;
			goto out;
		}
		/* 0019: nothing was pending. Our `configure timeout` timer fired
		 * first (routectld stalled past configure-timeout) and BIRD went
		 * back to its previous config, or another client ran `configure`
		 * (which cancels the timer and keeps what it read), `configure
		 * confirm` or `configure undo` meanwhile. Look instead of guessing:
		 * the change is in effect only if BIRD exports it. */
		r->bird_undid = 1;
		struct err ve;
		unsigned rounds = 0;
		t = now_ms();
		int vrc = verify_until(b, c, st, &r->peers, (int)c->verify_timeout_ms, &rounds, &ve);
		r->ms_verify += now_ms() - t;
		if (vrc == 0) {
			log_warn("apply: `configure confirm` answered 0019 Nothing to do, but BIRD "
				 "exports the change and has no undo pending (another client "
				 "reconfigured or confirmed meanwhile): it is in effect");
			rc = 0;
			break;
		}
		if (vrc != -ERR_VERIFY && vrc != -ERR_BUSY) {
			rc = vrc;
			*e = ve;
			err_prefix(e, "`configure confirm` answered 0019 Nothing to do and asking BIRD "
				   "what it exports failed; it is unknown whether the change is in "
				   "effect%s", r->committed ? " (the desired state is saved; the "
						  "reconciler applies it again)" : "");
			goto out;
		}
		if (attempt > 0) {
			char why[1024];
			apply_one_line(ve.msg, why, sizeof why);
			rc = err_set(e, ERR_BIRD,
				     "the change is NOT in effect: `configure confirm` answered 0019 "
				     "Nothing to do twice, and BIRD does not export the change (%s). "
				     "BIRD undid it: its configure-timeout of %u s ran out before the "
				     "confirm, or another client ran `configure undo`%s", why,
				     c->configure_timeout_s,
				     r->committed ? "; the desired state is saved and the "
						    "reconciler applies it again" : "");
			/* Once the state file has the change, the include on disk
			 * stays the change too: BIRD reads it at its next start or
			 * `configure`, and the old one would announce again what a
			 * saved drain took away. Without a saved state, the old
			 * include matches the caller's state: put it back. */
			if (!r->committed && restore_include(c, previous, &ve) == 0)
				r->restored = 1;
			goto out;
		}
		log_warn("apply: `configure confirm` answered 0019 Nothing to do and BIRD does "
			 "not export the change: BIRD undid it (configure-timeout of %u s ran out, "
			 "or another client's `configure undo`); applying it again",
			 c->configure_timeout_s);
		r->reapplied = 1;
	}
	{
		struct err ue;
		if (recount_unlisted(b, &r->peers, (int)c->bird_timeout_ms, &ue) < 0)
			log_warn("apply: counting the exports of unlisted protocols: %s", ue.msg);
	}
	r->partial = apply_peers_partial(&r->peers, o->takes_away, r->partial_text,
					 sizeof r->partial_text) > 0;
out:
	r->ms_total = now_ms() - t0;
	buf_free(&cand);
	free(previous);
	return rc;
}
