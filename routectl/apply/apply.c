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

/* Walks the sorted expectations and the sorted exports side by side. */
static int compare_exports(const char *proto, const struct expect *x, size_t nx,
			   const struct bird_export *got, size_t ngot, unsigned *mismatches,
			   struct err *e)
{
	size_t i = 0, j = 0;
	char want[64];
	while (i < nx || j < ngot) {
		int c = i == nx ? 1 : j == ngot ? -1 : prefix_cmp(x[i].prefix, &got[j].prefix);
		const char *problem = NULL;
		char detail[128] = "";
		if (c < 0) {
			if (x[i].mode != MODE_WITHDRAW) {
				describe_expect(&x[i], want, sizeof want);
				snprintf(detail, sizeof detail, "expected %s, not exported", want);
				problem = detail;
			}
		} else if (c > 0) {
			snprintf(detail, sizeof detail,
				 "%s to %s: exported but belongs to no service (stale include?)",
				 got[j].prefix.text, proto);
			if (*mismatches < VERIFY_REPORT_MAX)
				err_append(e, ERR_VERIFY, "%s", detail);
			(*mismatches)++;
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
					 "expected %s, exported with AS path length %u",
					 want, got[j].path_len);
				problem = detail;
			}
		}
		if (problem) {
			if (*mismatches < VERIFY_REPORT_MAX)
				err_append(e, ERR_VERIFY, "%s %s to %s: %s", x[i].service,
					   x[i].prefix->text, proto, problem);
			(*mismatches)++;
		}
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	return 0;
}

/* The configured BGP protocols that are up; the others are skipped. */
static int protocols_up(struct bird_conn *b, const struct conf *c, int timeout_ms,
			int *up, struct err *e)
{
	struct bird_protocol *protos = NULL;
	size_t n = 0;
	int rc = bird_show_protocols(b, timeout_ms, &protos, &n, e);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < c->n_bgp_protocols; i++) {
		up[i] = -1;
		for (size_t k = 0; k < n; k++)
			if (strcmp(protos[k].name, c->bgp_protocols[i]) == 0)
				up[i] = strcmp(protos[k].state, "up") == 0;
		if (up[i] < 0) {
			free(protos);
			return err_set(e, ERR_VERIFY,
				       "BGP protocol '%s' (config bird/bgp-protocol) is not "
				       "defined in BIRD's running config",
				       c->bgp_protocols[i]);
		}
	}
	free(protos);
	return 0;
}

struct verify_ctx {
	struct expect *x[2];   /* IPv4, IPv6 */
	size_t n[2];
	int *up;
};

static void verify_ctx_free(struct verify_ctx *v)
{
	free(v->x[0]);
	free(v->x[1]);
	free(v->up);
}

static int verify_ctx_init(struct verify_ctx *v, struct bird_conn *b, const struct conf *c,
			   const struct state *st, int timeout_ms, struct err *e)
{
	memset(v, 0, sizeof *v);
	v->x[0] = expectations(c, st, 4, &v->n[0], e);
	v->x[1] = expectations(c, st, 6, &v->n[1], e);
	v->up = calloc(c->n_bgp_protocols + 1, sizeof *v->up);
	if (!v->x[0] || !v->x[1] || !v->up) {
		verify_ctx_free(v);
		return err_set(e, ERR_NOMEM, "verify: out of memory");
	}
	int rc = protocols_up(b, c, timeout_ms, v->up, e);
	if (rc < 0)
		verify_ctx_free(v);
	return rc;
}

static int verify_round(struct verify_ctx *v, struct bird_conn *b, const struct conf *c,
			int timeout_ms, struct err *e)
{
	static const char *const from[2] = { RENDER_STATIC_V4, RENDER_STATIC_V6 };
	unsigned mismatches = 0, checked = 0;
	err_clear(e);
	/* With no configured BGP protocol up, ask BIRD what its running export
	 * function does to the routes (p == n_bgp_protocols); a peer's
	 * exports are the stronger proof when there is one. */
	for (size_t p = 0; p <= c->n_bgp_protocols; p++) {
		int through_function = p == c->n_bgp_protocols;
		if (through_function ? checked > 0 : !v->up[p])
			continue;
		const char *to = through_function ? RENDER_EXPORT_FUNCTION "()" : c->bgp_protocols[p];
		checked++;
		for (int f = 0; f < 2; f++) {
			if (v->n[f] == 0)
				continue;
			struct bird_export *got = NULL;
			size_t ngot = 0;
			struct err be;
			int rc = through_function
					 ? bird_show_through_function(b, from[f], RENDER_EXPORT_FUNCTION,
								      timeout_ms, &got, &ngot, &be)
					 : bird_show_export(b, to, from[f], timeout_ms, &got, &ngot, &be);
			if (rc == -ERR_NOTFOUND && !through_function) {
				/* Went down since protocols_up(): it exports nothing now. */
				v->up[p] = 0;
				checked--;
				break;
			}
			if (rc < 0) {
				*e = be;
				return rc;
			}
			compare_exports(to, v->x[f], v->n[f], got, ngot, &mismatches, e);
			free(got);
		}
	}
	if (mismatches == 0)
		return 0;
	if (mismatches > VERIFY_REPORT_MAX)
		err_append(e, ERR_VERIFY, "... and %u more", mismatches - VERIFY_REPORT_MAX);
	return err_prefix(e, "BIRD does not export what was asked (%u mismatches)", mismatches);
}

int verify_exports(struct bird_conn *b, const struct conf *c, const struct state *st,
		   int timeout_ms, struct err *e)
{
	struct verify_ctx v;
	int rc = verify_ctx_init(&v, b, c, st, timeout_ms, e);
	if (rc < 0)
		return rc;
	rc = verify_round(&v, b, c, timeout_ms, e);
	verify_ctx_free(&v);
	return rc;
}

int verify_until(struct bird_conn *b, const struct conf *c, const struct state *st,
		 int timeout_ms, unsigned *rounds, struct err *e)
{
	struct verify_ctx v;
	int cmd_timeout = timeout_ms > 0 ? timeout_ms : 1000;
	int rc = verify_ctx_init(&v, b, c, st, cmd_timeout, e);
	if (rc < 0)
		return rc;
	int64_t deadline = now_ms() + timeout_ms;
	unsigned n = 0;
	for (;;) {
		n++;
		rc = verify_round(&v, b, c, cmd_timeout, e);
		/* Only a mismatch is worth another round; BIRD errors are final. */
		if (rc != -ERR_VERIFY || now_ms() >= deadline)
			break;
		struct timespec ts = { 0, VERIFY_POLL_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
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

int apply_state(struct bird_conn *b, const struct conf *c, const struct state *st,
		const char *tmpl, int force, apply_commit_fn commit, void *commit_arg,
		struct apply_report *r, struct err *e)
{
	memset(r, 0, sizeof *r);
	int64_t t0 = now_ms(), t;
	struct buf cand = { 0 };
	char *previous = NULL;
	int rc = apply_plan(c, st, tmpl, &cand, &previous, e);
	r->ms_render = now_ms() - t0;
	if (rc < 0)
		goto out;
	r->changed = !previous || strcmp(previous, cand.p) != 0;
	if (!r->changed && !force)
		goto out;
	if (!b || !bird_alive(b)) {
		rc = err_set(e, ERR_CONNECT, "BIRD is not connected (%s); nothing was changed",
			     c->bird_socket);
		goto out;
	}
	if (r->changed) {
		rc = fs_write_atomic(c->include_path, cand.p, cand.len, 0644, e);
		if (rc < 0)
			goto out;
	}

	t = now_ms();
	rc = bird_configure_check(b, (int)c->bird_timeout_ms, e);
	r->ms_check = now_ms() - t;
	if (rc < 0) {
		err_prefix(e, "BIRD rejected the generated include (configure check)");
		rc = roll_back(b, c, previous, 0, r, rc, e);
		goto out;
	}

	t = now_ms();
	rc = bird_configure_timeout(b, c->configure_timeout_s, (int)c->bird_timeout_ms, e);
	r->ms_configure = now_ms() - t;
	if (rc < 0) {
		err_prefix(e, "configure timeout %u", c->configure_timeout_s);
		/* A timeout leaves it unknown whether BIRD took it: undo to be sure. */
		rc = roll_back(b, c, previous, rc == -ERR_TIMEOUT, r, rc, e);
		goto out;
	}

	t = now_ms();
	rc = verify_until(b, c, st, (int)c->verify_timeout_ms, &r->verify_rounds, e);
	r->ms_verify = now_ms() - t;
	if (rc < 0) {
		err_prefix(e, "verify");
		rc = roll_back(b, c, previous, 1, r, rc, e);
		goto out;
	}

	if (commit) {
		rc = commit(commit_arg, e);
		if (rc < 0) {
			rc = roll_back(b, c, previous, 1, r, rc, e);
			goto out;
		}
	}

	t = now_ms();
	rc = bird_configure_confirm(b, (int)c->bird_timeout_ms, e);
	r->ms_confirm = now_ms() - t;
	if (rc < 0) {
		/* The state is saved already; BIRD will undo in configure-timeout
		 * seconds and the reconciler applies the saved state again. */
		err_prefix(e, "configure confirm");
		log_error("apply: %s; BIRD undoes it within %u s and the reconciler "
			  "applies the saved state again", e->msg, c->configure_timeout_s);
		r->confirm_failed = 1;
		rc = 0;
	}
out:
	r->ms_total = now_ms() - t0;
	buf_free(&cand);
	free(previous);
	return rc;
}
