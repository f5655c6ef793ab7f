/* Changes asked through the command layer, and the staged steps that follow
 * a drain or undrain. */
#include "daemon/daemon.h"
#include "daemon/internal.h"

#include "apply/apply.h"
#include "bird/bird.h"
#include "common/diff.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP_RETRY_MS 5000

struct save_ctx {
	struct daemon *d;
	const struct state *st;
};

static int save_state_cb(void *arg, struct err *e)
{
	struct save_ctx *s = arg;
	int rc = state_save(s->d->state_path, s->st, e);
	if (rc < 0)
		err_prefix(e, "cannot save the desired state, so the change is undone");
	return rc;
}

/* Applies new as the desired state; on success it replaces d->state. */
int commit_state(struct daemon *d, struct state *new, const char *trigger,
			const char *change_id, int64_t *ms, struct err *e)
{
	struct apply_report r;
	struct save_ctx sc = { d, new };
	daemon_bird_ready(d);
	/* Connecting may have found that the state was lost (first start next
	 * to a BIRD that exports otherwise): then nothing is applied. */
	if (d->safe_mode[0])
		return err_set(e, ERR_REFUSED, "routectld is in safe mode: %s", d->safe_mode);
	int rc = apply_state(d->bird, d->conf, new, d->tmpl, 0, save_state_cb, &sc, &r, e);
	if (rc == 0 && !r.changed)
		rc = save_state_cb(&sc, e);    /* only provenance or next steps changed */
	if (ms)
		*ms = r.ms_total;
	if (rc < 0) {
		if (rc == -ERR_CONNECT || (d->bird && !bird_alive(d->bird)))
			bird_disconnect(d, e->msg);
		set_last_apply(d, trigger, 0, change_id, e->msg, r.ms_total);
		log_error("%s %s failed: %s", trigger, change_id, e->msg);
		return rc;
	}
	log_info("%s %s applied in %lld ms (render %lld, check %lld, configure %lld, "
		 "verify %lld in %u rounds, confirm %lld)",
		 trigger, change_id, (long long)r.ms_total, (long long)r.ms_render,
		 (long long)r.ms_check, (long long)r.ms_configure, (long long)r.ms_verify,
		 r.verify_rounds, (long long)r.ms_confirm);
	set_last_apply(d, trigger, 1, change_id,
		       r.confirm_failed ? "applied, but configure confirm failed" : "applied",
		       r.ms_total);
	state_free(d->state);
	d->state = new;
	if (r.changed)
		start_wake_window(d);
	return 0;
}

static int svc_names_valid(const struct daemon *d, const struct change_request *req,
			   struct err *e)
{
	for (size_t i = 0; i < req->n_services; i++) {
		if (conf_find_service(d->conf, req->services[i]))
			continue;
		char names[1024] = "";
		size_t used = 0;
		for (size_t k = 0; k < d->conf->n_services && used < sizeof names; k++)
			used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
						 k ? ", " : "", d->conf->services[k].name);
		return err_set(e, ERR_NOTFOUND, "no service '%s' at site '%s' (services: %s)",
			       req->services[i], d->conf->site, names);
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
static void plan_service(const struct daemon *d, const struct change_request *req,
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
			it->to_prepend = d->policy.drain_prepend;
		}
		it->has_next = 1;
		it->next_mode = MODE_WITHDRAW;
		it->next_at = now + d->policy.drain_wait_s;
		break;
	case CHANGE_UNDRAIN:
		if (req->now || s->mode == MODE_ANNOUNCE) {
			it->to_mode = MODE_ANNOUNCE;
			it->to_prepend = 0;
			break;
		}
		if (s->mode == MODE_WITHDRAW) {
			it->to_mode = MODE_PREPEND;
			it->to_prepend = d->policy.undrain_prepend;
		}
		it->has_next = 1;
		it->next_mode = MODE_ANNOUNCE;
		it->next_at = now + d->policy.undrain_wait_s;
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

static int dry_run_diff(struct daemon *d, const struct state *new, struct change_result *res,
			struct err *e)
{
	struct buf cand = { 0 }, diff = { 0 };
	char *current = NULL;
	int rc = apply_plan(d->conf, new, d->tmpl, &cand, &current, e);
	if (rc == 0 && diff_unified(current ? current : "", cand.p, d->conf->include_path,
				    d->conf->include_path, &diff) < 0)
		rc = err_set(e, ERR_NOMEM, "out of memory");
	if (rc == 0)
		res->diff = buf_steal(&diff);
	buf_free(&diff);
	buf_free(&cand);
	free(current);
	return rc;
}

static int blank(const char *s)
{
	for (; s && *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return 0;
	return 1;
}

int daemon_change(struct daemon *d, const struct change_request *req,
		  const struct caller *who, struct change_result *res, struct err *e)
{
	memset(res, 0, sizeof *res);
	if (d->safe_mode[0])
		return err_set(e, ERR_REFUSED, "routectld is in safe mode: %s", d->safe_mode);
	if (!req->site || strcmp(req->site, d->conf->site) != 0)
		return err_set(e, ERR_REFUSED,
			       "this routectld serves site '%s', not '%s': talk to the "
			       "routectld of site '%s'",
			       d->conf->site, req->site ? req->site : "", req->site ? req->site : "");
	if (blank(req->reason))
		return err_set(e, ERR_INVALID,
			       "a reason is required: say why (it is kept with the state)");
	if (req->kind == CHANGE_SET && req->mode == MODE_PREPEND &&
	    (req->prepend < PREPEND_MIN || req->prepend > PREPEND_MAX))
		return err_set(e, ERR_INVALID, "prepend must be %d..%d, not %u", PREPEND_MIN,
			       PREPEND_MAX, req->prepend);
	if (req->kind == CHANGE_SET && req->n_services != 1)
		return err_set(e, ERR_INVALID, "set takes exactly one service");
	int rc = svc_names_valid(d, req, e);
	if (rc < 0)
		return rc;

	time_t now = time(NULL);
	struct state *new = state_dup(d->state);
	res->items = calloc(d->state->n + 1, sizeof *res->items);
	if (!new || !res->items) {
		state_free(new);
		change_result_free(res);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	change_id_new(res->change_id);
	for (size_t i = 0; i < new->n; i++) {
		struct svc_state *s = &new->svcs[i];
		if (!wanted(req, s->name))
			continue;
		struct change_item it;
		plan_service(d, req, s, now, &it);
		if (!item_changes(&it, s))
			continue;
		res->items[res->n_items++] = it;
		if (svc_state_set(s, it.to_mode, it.to_prepend, who->actor, req->reason,
				  res->change_id, now) < 0) {
			state_free(new);
			change_result_free(res);
			return err_set(e, ERR_NOMEM, "out of memory");
		}
		s->has_next = it.has_next;
		s->next_mode = it.next_mode;
		s->next_prepend = it.next_prepend;
		s->next_at = it.next_at;
	}
	new->generation = d->state->generation + 1;
	if (req->dry_run) {
		rc = dry_run_diff(d, new, res, e);
		state_free(new);
	} else if (res->n_items == 0) {
		state_free(new);
	} else {
		static const char *const trigger[] = { "drain", "undrain", "set" };
		rc = commit_state(d, new, trigger[req->kind], res->change_id, &res->apply_ms, e);
		if (rc < 0)
			state_free(new);
		else
			res->applied = 1;
	}
	if (rc < 0)
		change_result_free(res);
	return rc;
}

void daemon_run_due_steps(struct daemon *d, time_t now)
{
	if (d->safe_mode[0] || !d->state || now_ms() < d->step_retry_ms)
		return;
	struct state *new = NULL;
	char change_id[17];
	for (size_t i = 0; i < d->state->n; i++) {
		const struct svc_state *s = &d->state->svcs[i];
		if (!s->has_next || s->next_at > now)
			continue;
		if (!new) {
			new = state_dup(d->state);
			if (!new)
				return;
			change_id_new(change_id);
		}
		struct svc_state *ns = &new->svcs[i];
		char actor[1024];
		snprintf(actor, sizeof actor, "routectld (staged, asked by %s)", s->actor);
		char *reason = strdup(s->reason);
		if (!reason || svc_state_set(ns, s->next_mode, s->next_prepend, actor, reason,
					     change_id, now) < 0) {
			free(reason);
			state_free(new);
			return;
		}
		free(reason);
		log_info("staged step: %s %s -> %s", s->name, svc_mode_name(s->mode),
			 svc_mode_name(s->next_mode));
	}
	if (!new)
		return;
	new->generation = d->state->generation + 1;
	struct err e;
	if (commit_state(d, new, "staged", change_id, NULL, &e) < 0) {
		state_free(new);
		d->step_retry_ms = now_ms() + STEP_RETRY_MS;
	}
}

int64_t earliest_step_ms(const struct daemon *d)
{
	int64_t best = INT64_MAX;
	if (!d->state || d->safe_mode[0])
		return best;
	time_t now = time(NULL);
	for (size_t i = 0; i < d->state->n; i++) {
		const struct svc_state *s = &d->state->svcs[i];
		if (!s->has_next)
			continue;
		int64_t in = s->next_at <= now ? 0 : (int64_t)(s->next_at - now) * 1000;
		if (now_ms() + in < best)
			best = now_ms() + in;
	}
	if (best < d->step_retry_ms)
		best = d->step_retry_ms;
	return best;
}

