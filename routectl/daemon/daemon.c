/* routectld: start-up, signals and the event loop. */
#include "daemon/daemon.h"

#include "api/audit.h"
#include "api/auth.h"
#include "api/commands.h"
#include "api/http.h"
#include "api/idempotency.h"
#include "api/metrics.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "conf/conf.h"
#include "daemon/worker.h"
#include "site/emergency.h"
#include "site/site.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

/* How long a stopping daemon keeps serving the answers of changes that
 * finished while it stopped. */
#define STOP_FLUSH_MS 1000

/* A TCP listener of the API beside the console. */
struct daemon_listener {
	char *address;
	unsigned port;
	const char *kind;          /* "primary", "out-of-band", "metrics" */
	bool out_of_band;
	char error[ERR_MSG_MAX];   /* why the last bind failed; "" when bound */
	int64_t retry_at_ms;       /* when to try binding again */
	unsigned failures;         /* binds failed in a row */
};

/* The command layer's continuation: the answer of a kept request. */
static void send_later(void *ctx, struct http_reply *r)
{
	http_pending_answer(ctx, r);
}

/* The HTTP transport's handler: the command layer. */
static int on_request(void *arg, const struct http_request *rq, struct http_pending *later,
		      struct http_reply *out)
{
	struct daemon *d = arg;
	struct command_reply_to to = { send_later, later };
	return commands_handle(d->commands, rq, &to, out);
}

/* The running config and the last reload, to status and /metrics. */
static void publish_reload(struct daemon *d)
{
	struct command_reload r = {
		.config_path = d->conf_path, .config_loaded_at = d->config_loaded_at,
		.at = d->reload_at, .ok = d->reload_ok, .error = d->reload_error,
		.warning = d->reload_warning,
	};
	commands_set_reload(d->commands, &r);
}

/* The API's parts besides the transport: tokens, the audit log and the
 * idempotency store, metrics, and the command layer over the worker. A
 * token file or group that does not load, or an audit log that does not
 * open, does not stop routectld (the console and reads keep working, so
 * that operators can see and fix it): TCP requests are then refused with
 * 401, and writes with 503 and the reason. */
static int start_api(struct daemon *d, const struct conf *c, struct err *e)
{
	struct err ae;
	d->auth = auth_new(c->token_file, c->console_admin_group, &ae);
	if (!d->auth) {
		log_error("api: %s; over TCP every request is refused (401) until it loads "
			  "(kill -HUP routectld)", ae.msg);
		d->auth = auth_new(NULL, c->console_admin_group, &ae);
		if (!d->auth)
			d->auth = auth_new(NULL, NULL, &ae);
		if (!d->auth)
			return err_set(e, ae.code, "%s", ae.msg);
	}
	d->oob_auth = auth_new(c->oob_token_file, NULL, &ae);
	if (!d->oob_auth) {
		log_error("api: out-of-band: %s; on the out-of-band addresses every request is "
			  "refused (401) until it loads (kill -HUP routectld)", ae.msg);
		d->oob_auth = auth_new(NULL, NULL, &ae);
		if (!d->oob_auth)
			return err_set(e, ae.code, "%s", ae.msg);
	}
	d->metrics = metrics_new();
	if (!d->metrics)
		return err_set(e, ERR_NOMEM, "out of memory");
	char idem_path[4096], audit_err[ERR_MSG_MAX] = "", idem_err[ERR_MSG_MAX] = "";
	snprintf(idem_path, sizeof idem_path, "%s/idempotency.jsonl", c->state_dir);
	/* The store is read (and compacted by rename) before the audit writer
	 * opens the same file for appending. */
	d->idem = idem_open(idem_path, time(NULL), &ae);
	if (!d->idem) {
		snprintf(idem_err, sizeof idem_err, "the idempotency store cannot be opened: %s",
			 ae.msg);
		log_error("api: %s; writes with an Idempotency-Key are refused (503)", idem_err);
	}
	d->audit = audit_open(c->audit_log, d->idem ? idem_path : NULL, &ae);
	if (!d->audit) {
		snprintf(audit_err, sizeof audit_err, "the audit log cannot be opened: %s", ae.msg);
		log_error("api: %s; every write is refused (503) until it opens", audit_err);
	}
	/* The backend (the BIRD worker) is set once the worker runs. */
	struct commands_deps deps = {
		.auth = d->auth, .oob_auth = d->oob_auth, .audit = d->audit, .idem = d->idem,
		.metrics = d->metrics, .write_rate_per_min = c->write_rate_per_min,
		.write_burst = c->write_burst,
	};
	d->commands = commands_new(&deps);
	if (!d->commands)
		return err_set(e, ERR_NOMEM, "out of memory");
	commands_set_audit(d->commands, d->audit, d->idem, audit_err, idem_err);
	commands_set_listeners(d->commands, d->listener_view, d->n_http ? d->n_http - 1 : 0);
	publish_reload(d);
	return 0;
}

static void log_listening(const struct daemon_listener *l, enum http_transport t, bool retried)
{
	char where[128];
	snprintf(where, sizeof where, strchr(l->address, ':') ? "[%s]:%u" : "%s:%u", l->address,
		 l->port);
	if (retried)
		log_warn("api: listening on %s (%s, %s) now, after %u failed binds", where,
			 http_transport_name(t), l->kind, l->failures);
	else if (l->out_of_band)
		log_info("api: listening on %s (%s, out-of-band)", where, http_transport_name(t));
	else
		log_info("api: listening on %s (%s%s)", where, http_transport_name(t),
			 strcmp(l->kind, "metrics") == 0 ? ", metrics only" : "");
}

/* Tries to bind listener i (http[1 + i]); logs what came of it: the first
 * failure and every change of its reason, an out-of-band one as an error
 * that says what it costs, and the bind that finally works. */
static void bind_listener(struct daemon *d, size_t i, int64_t now)
{
	struct daemon_listener *l = &d->listeners[i];
	struct command_listener *v = &d->listener_view[i];
	struct http_server *s = d->http[1 + i];
	struct err e;
	if (http_server_bind(s, &e) == 0) {
		log_listening(l, strcmp(v->transport, "https") == 0 ? HTTP_TLS : HTTP_TCP,
			      l->failures > 0);
		l->error[0] = '\0';
		l->failures = 0;
		v->bound = true;
		return;
	}
	l->failures++;
	l->retry_at_ms = now + DAEMON_LISTEN_RETRY_MS;
	v->bound = false;
	if (strcmp(l->error, e.msg) == 0)
		return;
	snprintf(l->error, sizeof l->error, "%s", e.msg);
	if (l->out_of_band)
		log_error("%s; the OUT-OF-BAND listener is DOWN: evacuation over the management "
			  "network does not work until it binds (routectld runs and tries again "
			  "every %u s)", e.msg, DAEMON_LISTEN_RETRY_MS / 1000);
	else
		log_error("%s; routectld runs without this %s listener (the console%s keeps "
			  "working) and tries again every %u s", e.msg, l->kind,
			  d->n_http > 2 ? " and the other listeners" : "",
			  DAEMON_LISTEN_RETRY_MS / 1000);
}

/* Starts the console (its failure stops routectld: it is how a second
 * routectld on the same console is refused), then one server per api/listen
 * and api/out-of-band/listen entry. A TCP listener that cannot be set up
 * (an unusable TLS file, bad limits) stops routectld too; one that cannot
 * be bound does not (bind_listener). */
static int start_listeners(struct daemon *d, const struct conf *c, struct err *e)
{
	size_t n_tcp = c->n_listen + c->n_oob_listen;
	d->http = calloc(1 + n_tcp, sizeof *d->http);
	d->listeners = calloc(n_tcp + 1, sizeof *d->listeners);
	d->listener_view = calloc(n_tcp + 1, sizeof *d->listener_view);
	if (!d->http || !d->listeners || !d->listener_view)
		return err_set(e, ERR_NOMEM, "out of memory");
	struct http_listen console = {
		.transport = HTTP_CONSOLE, .path = c->console_socket, .mode = c->console_mode,
	};
	d->http[0] = http_server_start(&console, on_request, d, e);
	if (!d->http[0])
		return -(int)e->code;
	d->n_http = 1;
	int64_t now = now_ms();
	for (size_t i = 0; i < n_tcp; i++) {
		bool oob = i >= c->n_listen;
		const struct conf_listen *cl = oob ? &c->oob_listen[i - c->n_listen] : &c->listen[i];
		struct http_listen l = {
			.transport = cl->tls_cert ? HTTP_TLS : HTTP_TCP,
			.address = cl->address,
			.port = cl->port,
			.tls_cert = cl->tls_cert,
			.tls_key = cl->tls_key,
			.metrics_only = cl->metrics_only,
			.out_of_band = oob,
			.max_connections = oob ? c->oob_max_connections : c->max_connections,
			.max_per_address = oob ? c->oob_max_per_address : c->max_per_address,
		};
		d->http[d->n_http] = http_server_new(&l, on_request, d, e);
		if (!d->http[d->n_http])
			return -(int)e->code;
		d->n_http++;
		struct daemon_listener *dl = &d->listeners[i];
		dl->address = strdup(cl->address);
		if (!dl->address)
			return err_set(e, ERR_NOMEM, "out of memory");
		dl->port = cl->port;
		dl->out_of_band = oob;
		dl->kind = oob ? "out-of-band" : cl->metrics_only ? "metrics" : "primary";
		d->listener_view[i] = (struct command_listener){
			.address = dl->address, .port = dl->port, .kind = dl->kind,
			.transport = http_transport_name(l.transport), .bound = false,
			.error = dl->error,
		};
		bind_listener(d, i, now);
	}
	return 0;
}

/* The site lock (site/emergency.h), before the state is read: a second
 * routectld, or a `routectl emergency` that runs now, holds it. An
 * emergency command ends within seconds, so routectld waits for it, up to
 * SITE_LOCK_WAIT_MS. A state directory that does not exist yet (a first
 * start makes it in site_open) is locked after site_open. */
#define SITE_LOCK_WAIT_MS 30000

static int take_site_lock(struct daemon *d, const char *state_dir, struct err *e)
{
	struct err le;
	int rc = site_lock_take(state_dir, 0, &d->lock_fd, &le);
	if (rc == -ERR_BUSY) {
		log_warn("%s (a routectl emergency command, or another routectld for this site); "
			 "waiting up to %d s for it", le.msg, SITE_LOCK_WAIT_MS / 1000);
		rc = site_lock_take(state_dir, SITE_LOCK_WAIT_MS, &d->lock_fd, &le);
	}
	if (rc == -ERR_NOTFOUND)
		return 0;
	if (rc < 0)
		return err_set(e, le.code, "%s; routectld does not start beside it", le.msg);
	return 0;
}

/* Binds again the listeners whose retry time has come. */
static void retry_listeners(struct daemon *d)
{
	int64_t now = now_ms();
	for (size_t i = 0; i + 1 < d->n_http; i++)
		if (!d->listener_view[i].bound && now >= d->listeners[i].retry_at_ms)
			bind_listener(d, i, now);
}

/* Milliseconds until the next listener is due to be bound again, or -1. */
static int64_t next_listener_retry_ms(const struct daemon *d)
{
	int64_t next = -1, now = now_ms();
	for (size_t i = 0; i + 1 < d->n_http; i++) {
		if (d->listener_view[i].bound)
			continue;
		int64_t left = d->listeners[i].retry_at_ms - now;
		if (left < 0)
			left = 0;
		if (next < 0 || left < next)
			next = left;
	}
	return next;
}

int daemon_init(struct daemon *d, const char *conf_path, struct err *e)
{
	memset(d, 0, sizeof *d);
	d->signal_fd = -1;
	d->lock_fd = -1;
	d->conf_path = strdup(conf_path);
	d->config_loaded_at = time(NULL);
	d->reload_ok = 1;
	if (!d->conf_path)
		return err_set(e, ERR_NOMEM, "out of memory");
	struct site s;
	int rc = site_open_config(&s, conf_path, e);
	if (rc == 0)
		rc = take_site_lock(d, s.conf->state_dir, e);
	if (rc == 0)
		rc = site_open_state(&s, e);
	if (rc < 0) {
		site_close(&s);
		return rc;
	}
	if (d->lock_fd < 0 && (rc = take_site_lock(d, s.conf->state_dir, e)) < 0) {
		site_close(&s);
		return rc;
	}
	/* What `routectl emergency` did while routectld was down becomes the
	 * desired state before anything is served or reconciled. */
	struct emergency_journal adopted = { 0 };
	char aside[PATH_MAX];
	struct err ae;
	err_clear(&ae);
	if (site_emergency_adopt(&s, &adopted, aside, sizeof aside, &ae) < 0 &&
	    ae.code != ERR_BUSY)
		log_error("%s", ae.msg);
	d->site = strdup(s.conf->site);
	d->console_socket = strdup(s.conf->console_socket);
	if (!d->site || !d->console_socket) {
		emergency_journal_free(&adopted);
		site_close(&s);
		return err_set(e, ERR_NOMEM, "out of memory");
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	/* Blocked before the worker starts, so that it inherits the mask and
	 * every signal comes through the loop's signalfd. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->signal_fd < 0) {
		emergency_journal_free(&adopted);
		site_close(&s);
		return err_set(e, ERR_IO, "signalfd: %s", strerror(errno));
	}

	/* The listeners are bound before the worker starts (a second
	 * routectld on the same console stops here, before touching BIRD);
	 * they serve nothing until the loop runs, by when the command layer
	 * is in place. */
	struct conf *conf = s.conf;
	rc = start_listeners(d, conf, e);
	if (rc < 0) {
		emergency_journal_free(&adopted);
		site_close(&s);
		return rc;
	}
	/* The API reads the config before worker_start takes it over. */
	rc = start_api(d, conf, e);
	if (rc < 0) {
		emergency_journal_free(&adopted);
		site_close(&s);
		return rc;
	}
	if (adopted.n)
		commands_audit_emergency(d->commands, d->site, &adopted);
	emergency_journal_free(&adopted);
	d->worker = worker_start(&s, e);
	if (!d->worker) {
		site_close(&s);
		return -(int)e->code;
	}
	struct command_backend backend;
	worker_backend(d->worker, &backend);
	commands_set_backend(d->commands, &backend);
	return 0;
}

/* What the worker did on its own (adopted emergency commands, staged
 * steps, confirm reverts) goes to the audit log through the command layer's
 * writer: the worker never writes it. */
static void audit_worker_own(struct daemon *d)
{
	struct emergency_journal ej;
	if (worker_take_emergency(d->worker, &ej)) {
		commands_audit_emergency(d->commands, d->site, &ej);
		emergency_journal_free(&ej);
	}
	struct auto_changes ac = { 0 };
	if (worker_take_auto_changes(d->worker, &ac))
		commands_audit_auto(d->commands, d->site, &ac);
	auto_changes_free(&ac);
}

void daemon_free(struct daemon *d)
{
	if (d->worker) {
		worker_stop(d->worker);
		worker_collect(d->worker);
		/* what it did last is queued before the audit writer stops */
		audit_worker_own(d);
	}
	/* Answers that came back while stopping go out before the listeners
	 * close. */
	int64_t until = now_ms() + STOP_FLUSH_MS;
	while (now_ms() < until) {
		size_t pending = 0;
		if (d->audit)
			audit_collect(d->audit);
		for (size_t i = 0; i < d->n_http; i++) {
			http_server_run(d->http[i]);
			pending += http_server_pending(d->http[i]);
		}
		if (pending == 0)
			break;
		poll(NULL, 0, 5);
	}
	/* The audit writer's last callbacks answer kept requests: before the
	 * listeners go. */
	if (d->audit)
		audit_close(d->audit);
	d->audit = NULL;
	for (size_t i = 0; i < d->n_http; i++) {
		http_server_run(d->http[i]);
		http_server_stop(d->http[i]);
	}
	free(d->http);
	for (size_t i = 0; d->listeners && i + 1 < d->n_http; i++)
		free(d->listeners[i].address);
	free(d->listeners);
	free(d->listener_view);
	worker_free(d->worker);
	commands_free(d->commands);
	idem_free(d->idem);
	metrics_free(d->metrics);
	auth_free(d->auth);
	auth_free(d->oob_auth);
	free(d->conf_path);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	if (d->lock_fd >= 0)
		close(d->lock_fd);   /* last: the state is no longer touched */
	free(d->site);
	free(d->console_socket);
	memset(d, 0, sizeof *d);
}

/* The worker's answer to a SIGHUP: when the whole new config was valid and
 * the site runs it, the API's part (the tokens and admin group of the new
 * config, the write rates) goes in force here, on the loop that serves
 * requests; else nothing changes and status says why. */
static void reload_done(void *arg, struct worker_reload_result *r)
{
	struct daemon *d = arg;
	d->reload_at = r->at;
	d->reload_ok = r->ok;
	if (r->ok) {
		auth_replace(d->auth, r->auth);
		r->auth = NULL;
		auth_replace(d->oob_auth, r->oob_auth);
		r->oob_auth = NULL;
		commands_set_rates(d->commands, r->write_rate_per_min, r->write_burst);
		d->config_loaded_at = r->at;
		d->reload_error[0] = '\0';
		snprintf(d->reload_warning, sizeof d->reload_warning, "%s", r->warning);
	} else {
		snprintf(d->reload_error, sizeof d->reload_error, "%s", r->err.msg);
	}
	publish_reload(d);
	/* Logged once the reload is whole (the site's part reconciled, the
	 * API's part in force), so that the log and status agree. */
	if (!r->ok) {
		log_error("%s", r->err.msg);
		return;
	}
	if (r->warning[0])
		log_warn("reload of %s: %s", d->conf_path, r->warning);
	log_info("reloaded %s", d->conf_path);
}

/* SIGHUP, the API's own part: the audit log is opened again by name
 * (logrotate moved it), whatever the config reload finds. */
static void reopen_audit(struct daemon *d)
{
	struct err e;
	if (d->audit && audit_reopen(d->audit, &e) < 0)
		log_error("api: %s; the audit log stays where it was", e.msg);
}

static void handle_signals(struct daemon *d)
{
	struct signalfd_siginfo si;
	while (read(d->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: reloading");
			worker_reload(d->worker, reload_done, d);
			reopen_audit(d);
		} else {
			log_info("signal %u: stopping", si.ssi_signo);
			d->stop = 1;
		}
	}
}

#ifdef HAVE_LIBSYSTEMD
/* STATUS= for systemctl status: whether the site is served or in safe mode
 * (and why). Read from the worker's published view, which the loop sees
 * within a second of a change. */
struct status_probe {
	char safe_mode[ERR_MSG_MAX];
};

static void probe_view(const struct command_view *v, void *arg)
{
	struct status_probe *p = arg;
	snprintf(p->safe_mode, sizeof p->safe_mode, "%s", v->safe_mode ? v->safe_mode : "");
}

/* Sends STATUS= (with READY=1 the first time) when safe mode started,
 * ended or changed its reason since *sent, or a reload failed or succeeded
 * since; ready: whether READY=1 was sent. */
static void notify_status(struct daemon *d, char *sent, size_t size, int *ready)
{
	struct command_backend b;
	struct status_probe p = { "" };
	worker_backend(d->worker, &b);
	b.with_view(b.arg, probe_view, &p);
	char key[ERR_MSG_MAX + 64];
	snprintf(key, sizeof key, "%d %lld %s", d->reload_ok, (long long)d->reload_at,
		 p.safe_mode);
	if (*ready && strcmp(key, sent) == 0)
		return;
	char reload[ERR_MSG_MAX + 128] = "", at[32], loaded[32];
	if (!d->reload_ok) {
		time_format_utc(d->reload_at, at, sizeof at);
		time_format_utc(d->config_loaded_at, loaded, sizeof loaded);
		snprintf(reload, sizeof reload, "; config reload at %s FAILED (running the config "
			 "loaded at %s): %s", at, loaded, d->reload_error);
	}
	/* "safe mode ended" only when the last STATUS= was in safe mode */
	const char *prev_safe = strchr(sent, ' ') ? strchr(strchr(sent, ' ') + 1, ' ') : NULL;
	int ended = *ready && prev_safe && prev_safe[1];
	if (p.safe_mode[0])
		sd_notifyf(0, "%sSTATUS=site %s: SAFE MODE (no changes are applied): %s%s",
			   *ready ? "" : "READY=1\n", d->site, p.safe_mode, reload);
	else
		sd_notifyf(0, "%sSTATUS=site %s: serving on %s%s%s", *ready ? "" : "READY=1\n",
			   d->site, d->console_socket, ended ? " (safe mode ended)" : "", reload);
	snprintf(sent, size, "%s", key);
	*ready = 1;
}
#endif

int daemon_run(struct daemon *d)
{
#ifdef HAVE_LIBSYSTEMD
	char status_sent[ERR_MSG_MAX + 64] = "";
	int ready = 0;
	notify_status(d, status_sent, sizeof status_sent, &ready);
	uint64_t watchdog_us = 0;
	int watchdog = sd_watchdog_enabled(0, &watchdog_us) > 0;
	int64_t next_watchdog_ms = 0;
#endif
	log_info("routectld for site %s: console %s", d->site, d->console_socket);
	/* the signalfd, the worker's eventfd, the audit writer's, then one per
	 * listener */
	enum { FIXED = 3 };
	struct pollfd *pfd = calloc(FIXED + d->n_http, sizeof *pfd);
	if (!pfd) {
		log_error("out of memory");
		return 1;
	}
	while (!d->stop) {
		int64_t timeout = 1000;
#ifdef HAVE_LIBSYSTEMD
		notify_status(d, status_sent, sizeof status_sent, &ready);
		/* Keep-alives come from the loop: a loop that hangs gets
		 * restarted by systemd, a busy worker does not. */
		int64_t now = now_ms();
		if (watchdog && now >= next_watchdog_ms) {
			sd_notify(0, "WATCHDOG=1");
			next_watchdog_ms = now + (int64_t)(watchdog_us / 2000);
		}
		if (watchdog && next_watchdog_ms - now < timeout)
			timeout = next_watchdog_ms - now;
#endif
		pfd[0] = (struct pollfd){ .fd = d->signal_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = worker_done_fd(d->worker), .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = d->audit ? audit_done_fd(d->audit) : -1,
					  .events = POLLIN };
		for (size_t i = 0; i < d->n_http; i++) {
			int http_ms = http_server_timeout_ms(d->http[i]);
			if (http_ms >= 0 && http_ms < timeout)
				timeout = http_ms;
			pfd[FIXED + i] = (struct pollfd){ .fd = http_server_fd(d->http[i]),
							  .events = POLLIN };
		}
		int64_t retry_ms = next_listener_retry_ms(d);
		if (retry_ms >= 0 && retry_ms < timeout)
			timeout = retry_ms;
		if (timeout < 0)
			timeout = 0;
		int n = poll(pfd, FIXED + d->n_http, (int)timeout);
		if (n < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			free(pfd);
			return 1;
		}
		if (n > 0 && pfd[0].revents)
			handle_signals(d);
		if (n > 0 && pfd[1].revents) {
			worker_collect(d->worker);   /* back from BIRD: audits the outcomes */
			audit_worker_own(d);
		}
		if (n > 0 && pfd[2].revents)
			audit_collect(d->audit);     /* on disk: hands over or answers */
		/* Every server runs each time: its timeouts are due, or its
		 * kept requests may have been answered just now. */
		for (size_t i = 0; i < d->n_http; i++)
			http_server_run(d->http[i]);
		retry_listeners(d);
	}
	free(pfd);
#ifdef HAVE_LIBSYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
	return 0;
}
