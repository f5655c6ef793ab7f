/* routectld: start-up, reload, the BIRD connection and the event loop. */
#include "daemon/daemon.h"
#include "daemon/internal.h"

#include "api/http.h"
#include "apply/apply.h"
#include "bird/bird.h"
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
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#define CONNECT_RETRY_MS 250
/* BIRD 2 sends the rest of a large BGP update burst only when its I/O loop
 * wakes; every command on its socket wakes it. After an apply, keep waking
 * it for about its idle poll period so the peers get everything at once. */
#define WAKE_WINDOW_MS 3000
#define RECONCILE_BACKOFF_MAX_S 300
#define WAKE_EVERY_MS 2

void set_last_apply(struct daemon *d, const char *trigger, int ok, const char *change_id,
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

void start_wake_window(struct daemon *d)
{
	d->wake_until_ms = now_ms() + WAKE_WINDOW_MS;
	d->next_wake_ms = now_ms();
}

void bird_disconnect(struct daemon *d, const char *why)
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
	fs_clean_stale_temps(d->conf->include_path, d->conf->state_dir);  /* left by a crash */
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
