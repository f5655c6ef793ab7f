/* routectld: the process of one site. Start-up, signals (signalfd), and one
 * event loop where the HTTP listeners (the console, and one per api/listen
 * address of the config), the BIRD worker's eventfd and the timers (systemd
 * watchdog) register.
 *
 * The loop never waits on BIRD or on a client: reads (status, healthz,
 * readyz) are answered from the worker's published view, also while a
 * change is in flight; a change's request is suspended (libmicrohttpd's
 * suspend/resume) while the BIRD worker (worker.h) applies it, and resumed
 * when the result comes back. The site controller (site/) runs only in the
 * worker. */
#ifndef ROUTECTL_DAEMON_H
#define ROUTECTL_DAEMON_H

#include "common/err.h"

#include <time.h>

struct worker;
struct http_server;
struct auth;
struct audit;
struct idem;
struct metrics;
struct commands;
struct command_listener;
struct daemon_listener;

struct daemon {
	struct worker *worker;
	struct commands *commands;    /* the API's command layer (api/commands.h) */
	struct auth *auth;
	struct auth *oob_auth;        /* tokens of the out-of-band listeners */
	struct audit *audit;          /* NULL when the audit log did not open */
	struct idem *idem;            /* NULL when the idempotency store did not open */
	struct metrics *metrics;
	/* The running config and the last reload (SIGHUP), for status,
	 * /metrics and systemd's STATUS= */
	char *conf_path;
	time_t config_loaded_at;      /* start, or the last good reload */
	time_t reload_at;             /* the last reload; 0: none */
	int reload_ok;                /* 1 when there was none */
	char reload_error[ERR_MSG_MAX];
	char reload_warning[ERR_MSG_MAX];   /* settings kept until a restart */
	struct http_server **http;    /* [0] the console, then api/listen in config order,
					 then api/out-of-band/listen */
	size_t n_http;
	/* What status shows of http[1..]: bound or not and why; an unbound one
	 * is bound again every DAEMON_LISTEN_RETRY_MS from the loop. */
	struct daemon_listener *listeners;
	struct command_listener *listener_view;
	char *site;
	char *console_socket;
	int signal_fd;
	int lock_fd;                  /* the site lock (site/emergency.h), for life */
	int stop;
};

/* How often a TCP listener that could not bind is tried again. */
#define DAEMON_LISTEN_RETRY_MS 5000

/* Takes the site lock (waiting up to 30 s for a `routectl emergency` that
 * holds it), loads config, policy, template and state (site_open), adopts
 * the emergency journal (audited once the API is up), binds the console
 * and the api/listen and api/out-of-band addresses, starts the BIRD worker.
 * Errors that make starting pointless (bad config, an unusable TLS file,
 * the console cannot be bound: e.g. another routectld serves it) are
 * returned. A TCP address that cannot be bound (in use, not on this host)
 * is not: routectld runs without it, logs it (an out-of-band one loudly),
 * shows it in status (api.listeners) and binds it as soon as it can, so
 * that the primary listeners failing never takes the console or the
 * out-of-band path down, nor the reverse. A state file that does not load
 * is not an error either: the daemon starts in safe mode. */
int daemon_init(struct daemon *d, const char *conf_path, struct err *e);
/* Runs until SIGTERM/SIGINT. SIGHUP reloads config, policy, template and
 * the token file the new config names, validated as a whole in the worker
 * before anything is swapped (worker_reload; a reload that fails keeps all
 * of the running config and says why in the log, status and /metrics),
 * leaves safe mode if the state file loads now, and reopens the audit log
 * (logrotate). Built with libsystemd it tells systemd (sd_notify,
 * Type=notify) READY=1 once, STATUS= whenever safe mode starts, ends or
 * changes its reason or a reload fails or succeeds again, WATCHDOG=1 at
 * half of WatchdogSec= and STOPPING=1. */
int daemon_run(struct daemon *d);
void daemon_free(struct daemon *d);

#endif
