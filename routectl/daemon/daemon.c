#include "daemon/daemon.h"

#include "api/http.h"
#include "apply/apply.h"
#include "bird/bird.h"
#include "common/diff.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "render/render.h"
#include "store/store.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#define CONNECT_RETRY_MS 250
#define STEP_RETRY_MS 5000
/* BIRD 2 sends the rest of a large BGP update burst only when its I/O loop
 * wakes; every command on its socket wakes it. After an apply, keep waking
 * it for about its idle poll period so the peers get everything at once. */
#define WAKE_WINDOW_MS 3000
#define RECONCILE_BACKOFF_MAX_S 300
#define WAKE_EVERY_MS 2

static void set_last_apply(struct daemon *d, const char *trigger, int ok, const char *change_id,
			   const char *message, int64_t ms)
{
	d->last.have = 1;
	d->last.ok = ok;
	d->last.at = time(NULL);
	d->last.ms = ms;
	snprintf(d->last.trigger, sizeof d->last.trigger, "%s", trigger);
	snprintf(d->last.change_id, sizeof d->last.change_id, "%s", change_id ? change_id : "");
	snprintf(d->last.message, sizeof d->last.message, "%s", message ? message : "");
}

static void start_wake_window(struct daemon *d)
{
	d->wake_until_ms = now_ms() + WAKE_WINDOW_MS;
	d->next_wake_ms = now_ms();
}

static void bird_disconnect(struct daemon *d, const char *why)
{
	if (d->bird) {
		log_warn("BIRD connection lost (%s); reconnecting", why);
		bird_close(d->bird);
		d->bird = NULL;
	}
	snprintf(d->bird_error, sizeof d->bird_error, "%s", why);
	d->next_connect_ms = now_ms() + CONNECT_RETRY_MS;
}

int daemon_bird_ready(struct daemon *d)
{
	if (d->bird && bird_alive(d->bird))
		return 1;
	if (d->bird)
		bird_disconnect(d, d->bird_error[0] ? d->bird_error : "connection closed");
	if (now_ms() < d->next_connect_ms)
		return 0;
	struct err e;
	struct bird_conn *b = NULL;
	if (bird_open(d->conf->bird_socket, (int)d->conf->bird_timeout_ms, &b, &e) < 0) {
		if (!d->bird_logged_down)
			log_warn("BIRD: %s (retrying every %d ms)", e.msg, CONNECT_RETRY_MS);
		d->bird_logged_down = 1;
		snprintf(d->bird_error, sizeof d->bird_error, "%s", e.msg);
		d->next_connect_ms = now_ms() + CONNECT_RETRY_MS;
		return 0;
	}
	d->bird = b;
	d->bird_error[0] = '\0';
	d->bird_logged_down = 0;
	log_info("connected to BIRD %s at %s", bird_version(b), d->conf->bird_socket);
	/* Apply in full, whatever the comparison says: a routectld that died
	 * between `configure timeout` and `configure confirm` left BIRD with an
	 * undo pending, which would bring back a state nobody wants; a fresh
	 * configure and confirm cancels it. */
	daemon_reconcile(d, "BIRD connection established", 1);
	return d->bird != NULL;
}

static int load_state(struct daemon *d, struct err *e)
{
	struct state *st = NULL;
	struct err le;
	int rc = state_load(d->state_path, &st, &le);
	if (rc == -ERR_NOTFOUND) {
		st = state_new(d->conf, time(NULL));
		if (!st)
			return err_set(e, ERR_NOMEM, "out of memory");
		rc = state_save(d->state_path, st, e);
		if (rc < 0) {
			state_free(st);
			return rc;
		}
		log_info("no state file at %s: created one with every service at its "
			 "initial state", d->state_path);
	} else if (rc < 0) {
		snprintf(d->safe_mode, sizeof d->safe_mode,
			 "state file does not load: %s. routectld does not touch BIRD and "
			 "refuses changes until the file is fixed (then SIGHUP or restart)",
			 le.msg);
		log_error("SAFE MODE: %s", d->safe_mode);
		return 0;
	} else if (strcmp(st->site, d->conf->site) != 0) {
		snprintf(d->safe_mode, sizeof d->safe_mode,
			 "state file %s is for site '%s' but the config is for site '%s'. "
			 "routectld does not touch BIRD and refuses changes until this is fixed",
			 d->state_path, st->site, d->conf->site);
		log_error("SAFE MODE: %s", d->safe_mode);
		state_free(st);
		return 0;
	} else if (state_sync_services(st, d->conf, time(NULL)) > 0) {
		rc = state_save(d->state_path, st, e);
		if (rc < 0) {
			state_free(st);
			return rc;
		}
		log_info("state: services brought in line with the config");
	}
	d->safe_mode[0] = '\0';
	state_free(d->state);
	d->state = st;
	return 0;
}

/* BIRD cannot start without the include its config names: write it when it
 * is missing. An existing file that differs is left to the reconciler, which
 * applies it with the full check/verify/confirm sequence. */
static int ensure_include(struct daemon *d, struct err *e)
{
	struct buf cand = { 0 };
	char *current = NULL;
	int rc = apply_plan(d->conf, d->state, d->tmpl, &cand, &current, e);
	if (rc == 0 && !current) {
		rc = fs_write_atomic(d->conf->include_path, cand.p, cand.len, 0644, e);
		if (rc == 0)
			log_info("wrote %s (it did not exist)", d->conf->include_path);
	}
	free(current);
	buf_free(&cand);
	return rc;
}

static int load_config(const char *path, struct conf **c, struct policy *p, char **tmpl,
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

int daemon_init(struct daemon *d, const char *conf_path, struct err *e)
{
	memset(d, 0, sizeof *d);
	d->signal_fd = -1;
	d->conf_path = strdup(conf_path);
	if (!d->conf_path)
		return err_set(e, ERR_NOMEM, "out of memory");
	int rc = load_config(conf_path, &d->conf, &d->policy, &d->tmpl, e);
	if (rc < 0)
		return rc;
	rc = fs_mkdirs(d->conf->state_dir, 0750, e);
	if (rc < 0)
		return rc;
	snprintf(d->state_path, sizeof d->state_path, "%s/state.json", d->conf->state_dir);
	rc = load_state(d, e);
	if (rc < 0)
		return rc;
	if (!d->safe_mode[0]) {
		rc = ensure_include(d, e);
		if (rc < 0)
			return rc;
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->signal_fd < 0)
		return err_set(e, ERR_IO, "signalfd: %s", strerror(errno));

	d->http = http_server_start(d, d->conf->console_socket, d->conf->console_mode, e);
	if (!d->http)
		return -(int)e->code;
	d->next_reconcile_ms = now_ms() + (int64_t)d->conf->reconcile_interval_s * 1000;
	return 0;
}

void daemon_free(struct daemon *d)
{
	if (d->http)
		http_server_stop(d->http);
	if (d->bird)
		bird_close(d->bird);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	state_free(d->state);
	conf_free(d->conf);
	free(d->tmpl);
	free(d->conf_path);
	memset(d, 0, sizeof *d);
}

/* SIGHUP: load a new config and swap it in only if it is valid. */
static void daemon_reload(struct daemon *d)
{
	struct conf *c = NULL;
	struct policy p;
	char *tmpl = NULL;
	struct err e;
	if (load_config(d->conf_path, &c, &p, &tmpl, &e) < 0) {
		log_error("reload: keeping the running config: %s", e.msg);
		return;
	}
	if (strcmp(c->site, d->conf->site) != 0 ||
	    strcmp(c->console_socket, d->conf->console_socket) != 0 ||
	    strcmp(c->state_dir, d->conf->state_dir) != 0) {
		log_error("reload: site, console socket and state-dir cannot change on reload "
			  "(restart routectld); keeping the running config");
		conf_free(c);
		free(tmpl);
		return;
	}
	int socket_changed = strcmp(c->bird_socket, d->conf->bird_socket) != 0;
	conf_free(d->conf);
	free(d->tmpl);
	d->conf = c;
	d->policy = p;
	d->tmpl = tmpl;
	if (socket_changed && d->bird)
		bird_disconnect(d, "BIRD control socket changed by reload");
	if (load_state(d, &e) < 0)
		log_error("reload: state: %s", e.msg);
	log_info("reloaded %s", d->conf_path);
	daemon_reconcile(d, "reload", 0);
}

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
static int commit_state(struct daemon *d, struct state *new, const char *trigger,
			const char *change_id, int64_t *ms, struct err *e)
{
	struct apply_report r;
	struct save_ctx sc = { d, new };
	daemon_bird_ready(d);
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

static int64_t step_retry_ms;

void daemon_run_due_steps(struct daemon *d, time_t now)
{
	if (d->safe_mode[0] || !d->state || now_ms() < step_retry_ms)
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
		char actor[256];
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
		step_retry_ms = now_ms() + STEP_RETRY_MS;
	}
}

int daemon_reconcile(struct daemon *d, const char *why, int force)
{
	if (d->safe_mode[0] || !d->state || !d->bird || !bird_alive(d->bird))
		return 0;
	char drift[ERR_MSG_MAX] = "";
	struct err e;
	int rc;
	if (!force) {
		struct buf cand = { 0 };
		char *current = NULL;
		rc = apply_plan(d->conf, d->state, d->tmpl, &cand, &current, &e);
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
				 d->conf->include_path);
		} else {
			rc = verify_exports(d->bird, d->conf, d->state,
					    (int)d->conf->bird_timeout_ms, &e);
			if (rc == 0) {
				log_debug("reconcile (%s): in sync", why);
				return 0;
			}
			if (rc != -ERR_VERIFY) {
				log_error("reconcile (%s): %s", why, e.msg);
				if (!bird_alive(d->bird))
					bird_disconnect(d, e.msg);
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
	rc = apply_state(d->bird, d->conf, d->state, d->tmpl, 1, NULL, NULL, &r, &e);
	if (!force || r.changed)
		d->repairs++;
	if (rc < 0) {
		log_error("reconcile (%s): repair failed: %s", why, e.msg);
		set_last_apply(d, "reconcile", 0, change_id, e.msg, r.ms_total);
		if (!bird_alive(d->bird))
			bird_disconnect(d, e.msg);
		return rc;
	}
	log_info("reconcile (%s): %s in %lld ms", why, force ? "applied" : "repaired",
		 (long long)r.ms_total);
	set_last_apply(d, "reconcile", 1, change_id,
		       force ? "applied the desired state" : "repaired drift", r.ms_total);
	start_wake_window(d);
	return 1;
}

static int64_t earliest_step_ms(const struct daemon *d)
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
	if (best < step_retry_ms)
		best = step_retry_ms;
	return best;
}

static void handle_signals(struct daemon *d)
{
	struct signalfd_siginfo si;
	while (read(d->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: reloading");
			daemon_reload(d);
		} else {
			log_info("signal %u: stopping", si.ssi_signo);
			d->stop = 1;
		}
	}
}

/* Readable while idle: an asynchronous message, or BIRD closed the socket. */
static void check_bird_idle(struct daemon *d)
{
	struct err e;
	if (bird_read_idle(d->bird, &e) < 0)
		bird_disconnect(d, e.msg);
}

int daemon_run(struct daemon *d)
{
#ifdef HAVE_LIBSYSTEMD
	sd_notify(0, "READY=1");
	uint64_t watchdog_us = 0;
	int watchdog = sd_watchdog_enabled(0, &watchdog_us) > 0;
	int64_t next_watchdog_ms = 0;
#endif
	log_info("routectld for site %s: console %s%s", d->conf->site, d->conf->console_socket,
		 d->safe_mode[0] ? " (SAFE MODE)" : "");
	while (!d->stop) {
		int64_t now = now_ms();
		if (!d->safe_mode[0])
			daemon_bird_ready(d);
		if (now_ms() >= d->next_reconcile_ms) {
			/* A repair that keeps failing (each may spend verify-timeout)
			 * backs off, doubling up to RECONCILE_BACKOFF_MAX_S. */
			int64_t every = (int64_t)d->conf->reconcile_interval_s * 1000;
			if (daemon_reconcile(d, "timer", 0) < 0) {
				for (unsigned i = 0; i < d->reconcile_failures && i < 16; i++)
					every *= 2;
				if (every > RECONCILE_BACKOFF_MAX_S * 1000)
					every = RECONCILE_BACKOFF_MAX_S * 1000;
				d->reconcile_failures++;
			} else {
				d->reconcile_failures = 0;
			}
			d->next_reconcile_ms = now_ms() + every;
		}
		daemon_run_due_steps(d, time(NULL));
		now = now_ms();
		if (d->bird && now < d->wake_until_ms && now >= d->next_wake_ms) {
			struct err e;
			if (bird_wake(d->bird, (int)d->conf->bird_timeout_ms, &e) < 0)
				bird_disconnect(d, e.msg);
			d->next_wake_ms = now_ms() + WAKE_EVERY_MS;
		}
#ifdef HAVE_LIBSYSTEMD
		if (watchdog && now >= next_watchdog_ms) {
			sd_notify(0, "WATCHDOG=1");
			next_watchdog_ms = now + (int64_t)(watchdog_us / 2000);
		}
#endif

		int64_t deadline = d->next_reconcile_ms;
		int64_t step = earliest_step_ms(d);
		if (step < deadline)
			deadline = step;
		if (!d->bird && !d->safe_mode[0] && d->next_connect_ms < deadline)
			deadline = d->next_connect_ms;
		if (d->bird && now < d->wake_until_ms && d->next_wake_ms < deadline)
			deadline = d->next_wake_ms;
		int http_ms = http_server_timeout_ms(d->http);
		int64_t timeout = deadline - now_ms();
		if (timeout < 0)
			timeout = 0;
		if (http_ms >= 0 && http_ms < timeout)
			timeout = http_ms;
		if (timeout > 1000)
			timeout = 1000;

		struct pollfd pfd[3] = {
			{ .fd = d->signal_fd, .events = POLLIN },
			{ .fd = http_server_fd(d->http), .events = POLLIN },
			{ .fd = d->bird ? bird_fd(d->bird) : -1, .events = POLLIN },
		};
		int n = poll(pfd, 3, (int)timeout);
		if (n < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			return 1;
		}
		if (n <= 0) {
			http_server_run(d->http);
			continue;
		}
		if (pfd[0].revents)
			handle_signals(d);
		http_server_run(d->http);
		if (d->bird && pfd[2].revents)
			check_bird_idle(d);
	}
#ifdef HAVE_LIBSYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
	return 0;
}
