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
	http_pending_answer(ctx, status, body);
}

/* The HTTP transport's handler: the command layer over the worker. */
static int on_request(void *arg, const struct http_request *rq, struct http_pending *later,
		      int *status, char **reply)
{
	struct daemon *d = arg;
	struct command_backend b;
	worker_backend(d->worker, &b);
	struct command_reply_to to = { send_later, later };
	return commands_handle(&b, rq->who, rq->method, rq->path, rq->body, rq->body_len, &to,
			       status, reply);
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
	unsigned mode = s.conf->console_mode;
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

	d->http = http_server_start(d->console_socket, mode, on_request, d, e);
	if (!d->http) {
		site_close(&s);
		return -(int)e->code;
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
	if (d->http) {
		/* Answers that came back while stopping go out before the
		 * listener closes. */
		int64_t until = now_ms() + STOP_FLUSH_MS;
		while (now_ms() < until) {
			http_server_run(d->http);
			if (http_server_pending(d->http) == 0)
				break;
			poll(NULL, 0, 5);
		}
		http_server_run(d->http);
		http_server_stop(d->http);
	}
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
		int http_ms = http_server_timeout_ms(d->http);
		if (http_ms >= 0 && http_ms < timeout)
			timeout = http_ms;
		if (timeout < 0)
			timeout = 0;

		struct pollfd pfd[3] = {
			{ .fd = d->signal_fd, .events = POLLIN },
			{ .fd = http_server_fd(d->http), .events = POLLIN },
			{ .fd = worker_done_fd(d->worker), .events = POLLIN },
		};
		int n = poll(pfd, 3, (int)timeout);
		if (n < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			return 1;
		}
		if (n > 0 && pfd[0].revents)
			handle_signals(d);
		if (n > 0 && pfd[2].revents)
			worker_collect(d->worker);   /* resumes the kept requests */
		http_server_run(d->http);
	}
#ifdef HAVE_LIBSYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
	return 0;
}
