/* routectld: start-up, signals and the event loop. */
#include "daemon/daemon.h"

#include "api/commands.h"
#include "api/http.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "conf/conf.h"
#include "daemon/worker.h"
#include "site/site.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

/* How long a stopping daemon keeps serving the answers of changes that
 * finished while it stopped. */
#define STOP_FLUSH_MS 1000

/* The command layer's continuation: the answer of a kept request. */
static void send_later(void *ctx, int status, char *body)
{
	struct http_reply r = { .status = status, .body = body };
	http_pending_answer(ctx, &r);
}

/* The caller as the command layer knows it: on the console its uid (the
 * user name is looked up off the event loop, see caller_resolve_name). */
static void caller_of(const struct http_request *rq, struct caller *who)
{
	memset(who, 0, sizeof *who);
	if (rq->transport == HTTP_CONSOLE && rq->has_cred) {
		who->has_uid = 1;
		who->uid = rq->uid;
		snprintf(who->actor, sizeof who->actor, "uid %u via console", (unsigned)rq->uid);
	} else {
		snprintf(who->actor, sizeof who->actor, "%s via %s", rq->remote,
			 http_transport_name(rq->transport));
	}
}

/* Over TCP no request carries a checked identity (bearer tokens are not
 * read yet), so only the unauthenticated probes are served there:
 * /healthz and /readyz. Everything else is refused, as the config's
 * api/token-file says of a daemon without tokens. */
static int tcp_refusal(const struct http_request *rq, struct http_reply *out)
{
	if (strcmp(rq->method, "GET") == 0 &&
	    (strcmp(rq->path, "/healthz") == 0 || strcmp(rq->path, "/readyz") == 0))
		return 0;
	char msg[400];
	json_t *j;
	if (rq->metrics_only) {
		snprintf(msg, sizeof msg, "%.200s: this address serves /metrics, /healthz and "
			 "/readyz only", rq->path);
		out->status = 404;
		j = json_pack("{s:{s:s,s:s}}", "error", "code", "notfound", "message", msg);
	} else {
		snprintf(msg, sizeof msg, "%.200s over %s needs a bearer token, and this routectld "
			 "checks none: use the console", rq->path,
			 http_transport_name(rq->transport));
		out->status = 401;
		j = json_pack("{s:{s:s,s:s}}", "error", "code", "unauthorized", "message", msg);
	}
	out->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return 1;
}

/* The HTTP transport's handler: the command layer over the worker. */
static int on_request(void *arg, const struct http_request *rq, struct http_pending *later,
		      struct http_reply *out)
{
	struct daemon *d = arg;
	if (rq->transport != HTTP_CONSOLE && tcp_refusal(rq, out))
		return 1;
	struct caller who;
	caller_of(rq, &who);
	struct command_backend b;
	worker_backend(d->worker, &b);
	struct command_reply_to to = { send_later, later };
	int status = 500;
	char *body = NULL;
	int done = commands_handle(&b, &who, rq->method, rq->path, rq->body, rq->body_len, &to,
				   &status, &body);
	if (done) {
		out->status = status;
		out->body = body;
	}
	return done;
}

/* Starts the console, then one server per api/listen entry; logs one line
 * per listener. */
static int start_listeners(struct daemon *d, const struct conf *c, struct err *e)
{
	d->http = calloc(1 + c->n_listen, sizeof *d->http);
	if (!d->http)
		return err_set(e, ERR_NOMEM, "out of memory");
	struct http_listen console = {
		.transport = HTTP_CONSOLE, .path = c->console_socket, .mode = c->console_mode,
	};
	d->http[0] = http_server_start(&console, on_request, d, e);
	if (!d->http[0])
		return -(int)e->code;
	d->n_http = 1;
	for (size_t i = 0; i < c->n_listen; i++) {
		const struct conf_listen *cl = &c->listen[i];
		struct http_listen l = {
			.transport = cl->tls_cert ? HTTP_TLS : HTTP_TCP,
			.address = cl->address,
			.port = cl->port,
			.tls_cert = cl->tls_cert,
			.tls_key = cl->tls_key,
			.metrics_only = cl->metrics_only,
			.max_connections = c->max_connections,
			.max_per_address = c->max_per_address,
		};
		d->http[d->n_http] = http_server_start(&l, on_request, d, e);
		if (!d->http[d->n_http])
			return -(int)e->code;
		d->n_http++;
		log_info(strchr(cl->address, ':') ? "api: listening on [%s]:%u (%s%s)"
						  : "api: listening on %s:%u (%s%s)",
			 cl->address, cl->port, http_transport_name(l.transport),
			 cl->metrics_only ? ", metrics only" : "");
	}
	return 0;
}

int daemon_init(struct daemon *d, const char *conf_path, struct err *e)
{
	memset(d, 0, sizeof *d);
	d->signal_fd = -1;
	struct site s;
	int rc = site_open(&s, conf_path, e);
	if (rc < 0) {
		site_close(&s);
		return rc;
	}
	d->site = strdup(s.conf->site);
	d->console_socket = strdup(s.conf->console_socket);
	if (!d->site || !d->console_socket) {
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
		site_close(&s);
		return err_set(e, ERR_IO, "signalfd: %s", strerror(errno));
	}

	rc = start_listeners(d, s.conf, e);
	if (rc < 0) {
		site_close(&s);
		return rc;
	}
	d->worker = worker_start(&s, e);
	if (!d->worker) {
		site_close(&s);
		return -(int)e->code;
	}
	return 0;
}

void daemon_free(struct daemon *d)
{
	if (d->worker) {
		worker_stop(d->worker);
		worker_collect(d->worker);
	}
	/* Answers that came back while stopping go out before the listeners
	 * close. */
	int64_t until = now_ms() + STOP_FLUSH_MS;
	while (now_ms() < until) {
		size_t pending = 0;
		for (size_t i = 0; i < d->n_http; i++) {
			http_server_run(d->http[i]);
			pending += http_server_pending(d->http[i]);
		}
		if (pending == 0)
			break;
		poll(NULL, 0, 5);
	}
	for (size_t i = 0; i < d->n_http; i++) {
		http_server_run(d->http[i]);
		http_server_stop(d->http[i]);
	}
	free(d->http);
	worker_free(d->worker);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	free(d->site);
	free(d->console_socket);
	memset(d, 0, sizeof *d);
}

static void handle_signals(struct daemon *d)
{
	struct signalfd_siginfo si;
	while (read(d->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: reloading");
			worker_reload(d->worker);
		} else {
			log_info("signal %u: stopping", si.ssi_signo);
			d->stop = 1;
		}
	}
}

int daemon_run(struct daemon *d)
{
#ifdef HAVE_LIBSYSTEMD
	sd_notify(0, "READY=1");
	uint64_t watchdog_us = 0;
	int watchdog = sd_watchdog_enabled(0, &watchdog_us) > 0;
	int64_t next_watchdog_ms = 0;
#endif
	log_info("routectld for site %s: console %s", d->site, d->console_socket);
	/* the signalfd, the worker's eventfd, then one per listener */
	struct pollfd *pfd = calloc(2 + d->n_http, sizeof *pfd);
	if (!pfd) {
		log_error("out of memory");
		return 1;
	}
	while (!d->stop) {
		int64_t timeout = 1000;
#ifdef HAVE_LIBSYSTEMD
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
		for (size_t i = 0; i < d->n_http; i++) {
			int http_ms = http_server_timeout_ms(d->http[i]);
			if (http_ms >= 0 && http_ms < timeout)
				timeout = http_ms;
			pfd[2 + i] = (struct pollfd){ .fd = http_server_fd(d->http[i]),
						      .events = POLLIN };
		}
		if (timeout < 0)
			timeout = 0;
		int n = poll(pfd, 2 + d->n_http, (int)timeout);
		if (n < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			free(pfd);
			return 1;
		}
		if (n > 0 && pfd[0].revents)
			handle_signals(d);
		if (n > 0 && pfd[1].revents)
			worker_collect(d->worker);   /* resumes the kept requests */
		/* Every server runs each time: its timeouts are due, or its
		 * kept requests may have been answered just now. */
		for (size_t i = 0; i < d->n_http; i++)
			http_server_run(d->http[i]);
	}
	free(pfd);
#ifdef HAVE_LIBSYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
	return 0;
}
