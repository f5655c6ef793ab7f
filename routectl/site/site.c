/* The site controller: desired state, changes, staged steps, reconcile. */
#include "site/site.h"

#include "apply/apply.h"
#include "bird/bird.h"
#include "common/diff.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "render/render.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP_RETRY_MS 5000
#define RECONCILE_BACKOFF_MAX_S 300

const char *change_kind_name(enum change_kind k)
{
	static const char *const names[] = { "drain", "undrain", "set" };
	return (unsigned)k < 3 ? names[k] : "change";
}

static void set_last_apply(struct site *s, const char *trigger, int ok, const char *change_id,
			   const char *message, int64_t ms)
{
	s->last.have = 1;
	s->last.ok = ok;
	s->last.at = time(NULL);
	s->last.ms = ms;
	snprintf(s->last.trigger, sizeof s->last.trigger, "%s", trigger);
	snprintf(s->last.change_id, sizeof s->last.change_id, "%s", change_id ? change_id : "");
	snprintf(s->last.message, sizeof s->last.message, "%s", message ? message : "");
}

/* ---- start-up and reload ------------------------------------------------ */

int site_load_config(const char *path, struct conf **c, struct policy *p, char **tmpl,
		     struct err *e)
{
	int rc = conf_load(path, c, e);
	if (rc < 0)
		return rc;
	rc = policy_load((*c)->policy_path, p, e);
	if (rc == 0)
		rc = render_load_template(*c, tmpl, e);
	if (rc < 0) {
		conf_free(*c);
		*c = NULL;
	}
	return rc;
}

static int load_state(struct site *s, struct err *e)
{
	struct state *st = NULL;
	struct err le;
	int rc = state_load(s->state_path, &st, &le);
	if (rc == -ERR_NOTFOUND) {
		st = state_new(s->conf, time(NULL));
		if (!st)
			return err_set(e, ERR_NOMEM, "out of memory");
		rc = state_save(s->state_path, st, e);
		if (rc < 0) {
			state_free(st);
			return rc;
		}
		log_info("no state file at %s: created one with every service at its "
			 "initial state", s->state_path);
	} else if (rc < 0) {
		snprintf(s->safe_mode, sizeof s->safe_mode,
			 "state file does not load: %s. routectld does not touch BIRD and "
			 "refuses changes until the file is fixed (then SIGHUP or restart)",
			 le.msg);
		log_error("SAFE MODE: %s", s->safe_mode);
		return 0;
	} else if (strcmp(st->site, s->conf->site) != 0) {
		snprintf(s->safe_mode, sizeof s->safe_mode,
			 "state file %s is for site '%s' but the config is for site '%s'. "
			 "routectld does not touch BIRD and refuses changes until this is fixed",
			 s->state_path, st->site, s->conf->site);
		log_error("SAFE MODE: %s", s->safe_mode);
		state_free(st);
		return 0;
	} else if (state_sync_services(st, s->conf, time(NULL)) > 0) {
		rc = state_save(s->state_path, st, e);
		if (rc < 0) {
			state_free(st);
			return rc;
		}
		log_info("state: services brought in line with the config");
	}
	s->safe_mode[0] = '\0';
	state_free(s->state);
	s->state = st;
	return 0;
}

/* BIRD cannot start without the include its config names: write it when it
 * is missing. An existing file that differs is left to the reconciler, which
 * applies it with the full check/verify/confirm sequence. */
static int ensure_include(struct site *s, struct err *e)
{
	struct buf cand = { 0 };
	char *current = NULL;
	int rc = apply_plan(s->conf, s->state, s->tmpl, &cand, &current, e);
	if (rc == 0 && !current) {
		rc = fs_write_atomic(s->conf->include_path, cand.p, cand.len, 0644, e);
		if (rc == 0)
			log_info("wrote %s (it did not exist)", s->conf->include_path);
	}
	free(current);
	buf_free(&cand);
	return rc;
}

int site_open(struct site *s, const char *conf_path, struct err *e)
{
	memset(s, 0, sizeof *s);
	s->conf_path = strdup(conf_path);
	if (!s->conf_path)
		return err_set(e, ERR_NOMEM, "out of memory");
	int rc = site_load_config(conf_path, &s->conf, &s->policy, &s->tmpl, e);
	if (rc < 0)
		return rc;
	rc = fs_mkdirs(s->conf->state_dir, 0750, e);
	if (rc < 0)
		return rc;
	snprintf(s->state_path, sizeof s->state_path, "%s/state.json", s->conf->state_dir);
	fs_clean_stale_temps(s->conf->include_path, s->conf->state_dir);  /* left by a crash */
	rc = load_state(s, e);
	if (rc < 0)
		return rc;
	if (!s->safe_mode[0]) {
		rc = ensure_include(s, e);
		if (rc < 0)
			return rc;
	}
	s->next_reconcile_ms = now_ms() + (int64_t)s->conf->reconcile_interval_s * 1000;
	return 0;
}

void site_close(struct site *s)
{
	state_free(s->state);
	conf_free(s->conf);
	free(s->tmpl);
	free(s->conf_path);
	memset(s, 0, sizeof *s);
}

int site_reload(struct site *s, int *bird_socket_changed, struct err *e)
{
	struct conf *c = NULL;
	struct policy p;
	char *tmpl = NULL;
	*bird_socket_changed = 0;
	if (site_load_config(s->conf_path, &c, &p, &tmpl, e) < 0)
		return err_prefix(e, "reload: keeping the running config");
	if (strcmp(c->site, s->conf->site) != 0 ||
	    strcmp(c->console_socket, s->conf->console_socket) != 0 ||
	    strcmp(c->state_dir, s->conf->state_dir) != 0) {
		conf_free(c);
		free(tmpl);
		return err_set(e, ERR_INVALID,
			       "reload: site, console socket and state-dir cannot change on "
			       "reload (restart routectld); keeping the running config");
	}
	*bird_socket_changed = strcmp(c->bird_socket, s->conf->bird_socket) != 0;
	conf_free(s->conf);
	free(s->tmpl);
	s->conf = c;
	s->policy = p;
	s->tmpl = tmpl;
	struct err le;
	if (load_state(s, &le) < 0)
		log_error("reload: state: %s", le.msg);
	return 0;
}

/* ---- changes -------------------------------------------------------------- */

struct save_ctx {
	struct site *s;
	const struct state *st;
};

static int save_state_cb(void *arg, struct err *e)
{
	struct save_ctx *sc = arg;
	int rc = state_save(sc->s->state_path, sc->st, e);
	if (rc < 0)
		err_prefix(e, "cannot save the desired state, so the change is undone");
	return rc;
}

/* Applies new as the desired state; on success it replaces s->state, else
 * new is the caller's to free. service: the one service it changes, NULL
 * for several (for the log record's SERVICE field). */
static int commit_state(struct site *s, struct bird_conn *b, struct state *new,
			const char *trigger, const char *change_id, const char *service,
			int64_t *ms, struct err *e)
{
	struct apply_report r;
	struct save_ctx sc = { s, new };
	struct log_fields lf = { LOG_MSGID_CHANGE, change_id, s->conf->site, service };
	int rc = apply_state(b, s->conf, new, s->tmpl, 0, save_state_cb, &sc, &r, e);
	if (rc == 0 && !r.changed)
		rc = save_state_cb(&sc, e);    /* only provenance or next steps changed */
	if (ms)
		*ms = r.ms_total;
	if (rc < 0) {
		set_last_apply(s, trigger, 0, change_id, e->msg, r.ms_total);
		log_record(LOG_LVL_ERROR, &lf, "%s %s failed: %s", trigger, change_id, e->msg);
		return rc;
	}
	log_record(LOG_LVL_INFO, &lf,
		   "%s %s applied in %lld ms (render %lld, check %lld, configure %lld, "
		   "verify %lld in %u rounds, confirm %lld)",
		   trigger, change_id, (long long)r.ms_total, (long long)r.ms_render,
		   (long long)r.ms_check, (long long)r.ms_configure, (long long)r.ms_verify,
		   r.verify_rounds, (long long)r.ms_confirm);
	set_last_apply(s, trigger, 1, change_id,
		       r.confirm_failed ? "applied, but configure confirm failed" : "applied",
		       r.ms_total);
	state_free(s->state);
	s->state = new;
	if (r.changed)
		s->bird_changed = 1;
	return 0;
}

static int svc_names_valid(const struct site *site, const struct change_request *req,
			   struct err *e)
{
	for (size_t i = 0; i < req->n_services; i++) {
		if (conf_find_service(site->conf, req->services[i]))
			continue;
		char names[1024] = "";
		size_t used = 0;
		for (size_t k = 0; k < site->conf->n_services && used < sizeof names; k++)
			used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
						 k ? ", " : "", site->conf->services[k].name);
		return err_set(e, ERR_NOTFOUND, "no service '%s' at site '%s' (services: %s)",
			       req->services[i], site->conf->site, names);
	}
	return 0;
}

static int wanted(const struct change_request *req, const char *name)
{
	if (req->n_services == 0)
		return 1;
	for (size_t i = 0; i < req->n_services; i++)
		if (strcmp(req->services[i], name) == 0)
			return 1;
	return 0;
}

/* Where one service goes for a request: its new mode now, and the step after. */
static void plan_service(const struct site *site, const struct change_request *req,
			 const struct svc_state *s, time_t now, struct change_item *it)
{
	snprintf(it->service, sizeof it->service, "%s", s->name);
	it->from_mode = s->mode;
	it->from_prepend = s->prepend;
	it->to_mode = s->mode;
	it->to_prepend = s->prepend;
	it->has_next = 0;
	it->next_mode = MODE_ANNOUNCE;
	it->next_prepend = 0;
	it->next_at = 0;
	switch (req->kind) {
	case CHANGE_SET:
		it->to_mode = req->mode;
		it->to_prepend = req->mode == MODE_PREPEND ? req->prepend : 0;
		break;
	case CHANGE_DRAIN:
		if (req->now || s->mode == MODE_WITHDRAW) {
			it->to_mode = MODE_WITHDRAW;
			it->to_prepend = 0;
			break;
		}
		if (s->mode == MODE_ANNOUNCE) {
			it->to_mode = MODE_PREPEND;
			it->to_prepend = site->policy.drain_prepend;
		}
		it->has_next = 1;
		it->next_mode = MODE_WITHDRAW;
		it->next_at = now + site->policy.drain_wait_s;
		break;
	case CHANGE_UNDRAIN:
		if (req->now || s->mode == MODE_ANNOUNCE) {
			it->to_mode = MODE_ANNOUNCE;
			it->to_prepend = 0;
			break;
		}
		if (s->mode == MODE_WITHDRAW) {
			it->to_mode = MODE_PREPEND;
			it->to_prepend = site->policy.undrain_prepend;
		}
		it->has_next = 1;
		it->next_mode = MODE_ANNOUNCE;
		it->next_at = now + site->policy.undrain_wait_s;
		break;
	}
}

static int item_changes(const struct change_item *it, const struct svc_state *s)
{
	if (it->to_mode != s->mode || it->to_prepend != s->prepend)
		return 1;
	if (it->has_next != s->has_next)
		return 1;
	return it->has_next && it->next_mode != s->next_mode;
}

void change_result_free(struct change_result *r)
{
	free(r->items);
	free(r->diff);
	memset(r, 0, sizeof *r);
}

static int dry_run_diff(struct site *site, const struct state *new, struct change_result *res,
			struct err *e)
{
	struct buf cand = { 0 }, diff = { 0 };
	char *current = NULL;
	int rc = apply_plan(site->conf, new, site->tmpl, &cand, &current, e);
	if (rc == 0 && diff_unified(current ? current : "", cand.p, site->conf->include_path,
				    site->conf->include_path, &diff) < 0)
		rc = err_set(e, ERR_NOMEM, "out of memory");
	if (rc == 0)
		res->diff = buf_steal(&diff);
	buf_free(&diff);
	buf_free(&cand);
	free(current);
	return rc;
}

static int blank(const char *str)
{
	for (; str && *str; str++)
		if (*str != ' ' && *str != '\t' && *str != '\n' && *str != '\r')
			return 0;
	return 1;
}

int site_change(struct site *s, struct bird_conn *b, const struct change_request *req,
		const struct caller *who, struct change_result *res, struct err *e)
{
	memset(res, 0, sizeof *res);
	if (s->safe_mode[0])
		return err_set(e, ERR_REFUSED, "routectld is in safe mode: %s", s->safe_mode);
	if (!req->site || strcmp(req->site, s->conf->site) != 0)
		return err_set(e, ERR_REFUSED,
			       "this routectld serves site '%s', not '%s': talk to the "
			       "routectld of site '%s'",
			       s->conf->site, req->site ? req->site : "", req->site ? req->site : "");
	if (blank(req->reason))
		return err_set(e, ERR_INVALID,
			       "a reason is required: say why (it is kept with the state)");
	if (req->kind == CHANGE_SET && req->mode == MODE_PREPEND &&
	    (req->prepend < PREPEND_MIN || req->prepend > PREPEND_MAX))
		return err_set(e, ERR_INVALID, "prepend must be %d..%d, not %u", PREPEND_MIN,
			       PREPEND_MAX, req->prepend);
	if (req->kind == CHANGE_SET && req->n_services != 1)
		return err_set(e, ERR_INVALID, "set takes exactly one service");
	int rc = svc_names_valid(s, req, e);
	if (rc < 0)
		return rc;

	time_t now = time(NULL);
	struct state *new = state_dup(s->state);
	res->items = calloc(s->state->n + 1, sizeof *res->items);
	if (!new || !res->items) {
		state_free(new);
		change_result_free(res);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	if (req->change_id[0])
		memcpy(res->change_id, req->change_id, sizeof res->change_id);
	else
		change_id_new(res->change_id);
	for (size_t i = 0; i < new->n; i++) {
		struct svc_state *ns = &new->svcs[i];
		if (!wanted(req, ns->name))
			continue;
		struct change_item it;
		plan_service(s, req, ns, now, &it);
		if (!item_changes(&it, ns))
			continue;
		res->items[res->n_items++] = it;
		if (svc_state_set(ns, it.to_mode, it.to_prepend, who->actor, req->reason,
				  res->change_id, now) < 0) {
			state_free(new);
			change_result_free(res);
			return err_set(e, ERR_NOMEM, "out of memory");
		}
		ns->has_next = it.has_next;
		ns->next_mode = it.next_mode;
		ns->next_prepend = it.next_prepend;
		ns->next_at = it.next_at;
	}
	new->generation = s->state->generation + 1;
	if (req->dry_run) {
		rc = dry_run_diff(s, new, res, e);
		state_free(new);
	} else if (res->n_items == 0) {
		state_free(new);
	} else {
		rc = commit_state(s, b, new, change_kind_name(req->kind), res->change_id,
				  res->n_items == 1 ? res->items[0].service : NULL,
				  &res->apply_ms, e);
		if (rc < 0)
			state_free(new);
		else
			res->applied = 1;
	}
	if (rc < 0)
		change_result_free(res);
	return rc;
}

/* ---- staged steps ----------------------------------------------------------- */

static void run_due_steps(struct site *s, struct bird_conn *b, time_t now)
{
	if (s->safe_mode[0] || !s->state || now_ms() < s->step_retry_ms)
		return;
	struct state *new = NULL;
	char change_id[17];
	const char *service = NULL;
	size_t n_steps = 0;
	for (size_t i = 0; i < s->state->n; i++) {
		const struct svc_state *cur = &s->state->svcs[i];
		if (!cur->has_next || cur->next_at > now)
			continue;
		if (!new) {
			new = state_dup(s->state);
			if (!new)
				return;
			change_id_new(change_id);
		}
		struct svc_state *ns = &new->svcs[i];
		char actor[1024];
		snprintf(actor, sizeof actor, "routectld (staged, asked by %s)", cur->actor);
		char *reason = strdup(cur->reason);
		if (!reason || svc_state_set(ns, cur->next_mode, cur->next_prepend, actor, reason,
					     change_id, now) < 0) {
			free(reason);
			state_free(new);
			return;
		}
		free(reason);
		service = cur->name;
		n_steps++;
		log_info("staged step: %s %s -> %s", cur->name, svc_mode_name(cur->mode),
			 svc_mode_name(cur->next_mode));
	}
	if (!new)
		return;
	new->generation = s->state->generation + 1;
	/* service points into s->state, which commit_state frees on success:
	 * keep a copy for the log record. */
	char svc_name[128];
	snprintf(svc_name, sizeof svc_name, "%s", service ? service : "");
	struct err e;
	if (commit_state(s, b, new, "staged", change_id, n_steps == 1 ? svc_name : NULL, NULL,
			 &e) < 0) {
		state_free(new);
		s->step_retry_ms = now_ms() + STEP_RETRY_MS;
	}
}

static int64_t next_step_ms(const struct site *s)
{
	int64_t best = INT64_MAX;
	if (!s->state || s->safe_mode[0])
		return best;
	time_t now = time(NULL);
	int64_t mono = now_ms();
	for (size_t i = 0; i < s->state->n; i++) {
		const struct svc_state *cur = &s->state->svcs[i];
		if (!cur->has_next)
			continue;
		int64_t in = cur->next_at <= now ? 0 : (int64_t)(cur->next_at - now) * 1000;
		if (mono + in < best)
			best = mono + in;
	}
	if (best < s->step_retry_ms)
		best = s->step_retry_ms;
	return best;
}

/* ---- reconcile -------------------------------------------------------------- */

int site_reconcile(struct site *s, struct bird_conn *b, const char *why, int force)
{
	if (s->safe_mode[0] || !s->state || !b || !bird_alive(b))
		return 0;
	char drift[ERR_MSG_MAX] = "";
	struct err e;
	int rc;
	if (!force) {
		struct buf cand = { 0 };
		char *current = NULL;
		rc = apply_plan(s->conf, s->state, s->tmpl, &cand, &current, &e);
		int file_drift = rc == 0 && (!current || strcmp(current, cand.p) != 0);
		free(current);
		buf_free(&cand);
		if (rc < 0) {
			log_error("reconcile (%s): %s", why, e.msg);
			return rc;
		}
		if (file_drift) {
			snprintf(drift, sizeof drift,
				 "%s differs from the desired state (edited by hand?)",
				 s->conf->include_path);
		} else {
			rc = verify_exports(b, s->conf, s->state, (int)s->conf->bird_timeout_ms, &e);
			if (rc == 0) {
				log_debug("reconcile (%s): in sync", why);
				return 0;
			}
			if (rc != -ERR_VERIFY) {
				log_error("reconcile (%s): %s", why, e.msg);
				return rc;
			}
			snprintf(drift, sizeof drift, "%s", e.msg);
		}
	}
	if (force)
		log_info("reconcile (%s): applying the desired state", why);
	else
		log_warn("reconcile (%s): drift: %s; repairing", why, drift);
	struct apply_report r;
	char change_id[17];
	change_id_new(change_id);
	struct log_fields lf = { LOG_MSGID_CHANGE, change_id, s->conf->site, NULL };
	rc = apply_state(b, s->conf, s->state, s->tmpl, 1, NULL, NULL, &r, &e);
	if (!force || r.changed)
		s->repairs++;
	if (rc < 0) {
		log_record(LOG_LVL_ERROR, &lf, "reconcile (%s): repair failed: %s", why, e.msg);
		set_last_apply(s, "reconcile", 0, change_id, e.msg, r.ms_total);
		return rc;
	}
	log_record(LOG_LVL_INFO, &lf, "reconcile (%s): %s in %lld ms", why,
		   force ? "applied" : "repaired", (long long)r.ms_total);
	set_last_apply(s, "reconcile", 1, change_id,
		       force ? "applied the desired state" : "repaired drift", r.ms_total);
	s->bird_changed = 1;
	return 1;
}

void site_run_due(struct site *s, struct bird_conn *b, int64_t now)
{
	if (now >= s->next_reconcile_ms) {
		/* A repair that keeps failing (each may spend verify-timeout)
		 * backs off, doubling up to RECONCILE_BACKOFF_MAX_S. */
		int64_t every = (int64_t)s->conf->reconcile_interval_s * 1000;
		if (site_reconcile(s, b, "timer", 0) < 0) {
			for (unsigned i = 0; i < s->reconcile_failures && i < 16; i++)
				every *= 2;
			if (every > RECONCILE_BACKOFF_MAX_S * 1000)
				every = RECONCILE_BACKOFF_MAX_S * 1000;
			s->reconcile_failures++;
		} else {
			s->reconcile_failures = 0;
		}
		s->next_reconcile_ms = now_ms() + every;
	}
	/* Without BIRD a step can only fail (and log it): it waits for the
	 * connection, which applies the desired state in full first. */
	if (b && bird_alive(b))
		run_due_steps(s, b, time(NULL));
}

int64_t site_next_due_ms(const struct site *s, const struct bird_conn *b)
{
	int64_t step = b && bird_alive(b) ? next_step_ms(s) : INT64_MAX;
	return step < s->next_reconcile_ms ? step : s->next_reconcile_ms;
}
