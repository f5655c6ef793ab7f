/* routectld's BIRD worker (see worker.h for why a thread). */
#include "daemon/worker.h"

#include "api/auth.h"
#include "bird/bird.h"
#include "fleet/fleetview.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "site/emergency.h"
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define CONNECT_RETRY_MIN_MS 250
#define CONNECT_RETRY_MAX_MS 30000
#define WAKE_WINDOW_MS 3000
#define WAKE_EVERY_MS 2
/* More changes than this waiting is a client gone wrong: refuse. */
#define QUEUE_MAX 64

enum wjob_kind { WJOB_CHANGE, WJOB_RELOAD };

struct wjob {
	enum wjob_kind kind;
	struct command_job *cj;
	/* WJOB_RELOAD */
	worker_reload_fn reload_done;
	void *reload_arg;
	struct worker_reload_result reload;
	struct wjob *next;
};

/* The published view: everything reads need, copied; owned by the worker,
 * read by the loop, both under mu. */
struct view {
	char *site;
	char *bird_socket;
	struct command_service *services;
	char ***listed;               /* per service: its listed prefix texts */
	size_t n_services;
	/* The site's state: in safe mode the last known one (command_view's
	 * last_known), never handed out as the desired state. */
	struct state *state;
	char safe_mode[ERR_MSG_MAX];
	enum safe_kind safe_kind;
	time_t safe_since;
	int bird_connected;
	char bird_version[32];
	char bird_error[ERR_MSG_MAX];
	struct last_apply last;
	struct apply_stats apply_stats;
	unsigned long repairs;
	struct apply_peers peers;     /* a copy of the site's last precheck findings */
	int have_peers;
	time_t peers_at;
	int in_flight;
	char in_flight_id[17];
	char in_flight_kind[32];
	time_t in_flight_since;
};

struct worker {
	pthread_t thread;
	int started;
	pthread_mutex_t mu;           /* guards the queues, stop and the view */
	struct wjob *queue, **queue_tail;
	size_t queued;
	struct wjob *done, **done_tail;
	int stop;
	int wake_fd;                  /* loop -> worker: a job or stop */
	int done_fd;                  /* worker -> loop: finished jobs */
	struct view view;
	/* Emergency commands adopted and not yet taken by the loop (for the
	 * audit log); under mu. */
	struct emergency_journal adopted;
	/* Changes the site made on its own and not yet taken by the loop (for
	 * the audit log); under mu. */
	struct auto_changes autos;

	/* The worker thread's own (no lock). */
	struct site site;
	/* The config routectld started with, kept after the first good
	 * reload: what the listeners and the console socket were made from. */
	struct site_config start_conf;
	struct bird_conn *bird;
	char bird_error[ERR_MSG_MAX];
	int bird_err_code;            /* code of the last logged failure, 0: up */
	int64_t next_connect_ms;
	int64_t connect_delay_ms;
	int64_t wake_until_ms;
	int64_t next_wake_ms;
	const struct state *published_state;
	enum safe_kind published_safe_kind;
	char published_safe_mode[ERR_MSG_MAX];
	char published_last_id[17];
	int64_t published_last_ms;
	unsigned long published_repairs;
	unsigned long long published_applies;
	unsigned long published_peers_seq;
	char emergency_error[ERR_MSG_MAX];   /* the last adoption failure logged */
};

/* ---- the view ---------------------------------------------------------- */

static void view_free_services(struct command_service *svcs, char ***listed, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (listed && listed[i]) {
			for (size_t k = 0; listed[i][k]; k++)
				free(listed[i][k]);
			free(listed[i]);
		}
		if (svcs)
			free((char *)svcs[i].name);
	}
	free(svcs);
	free(listed);
}

/* Copies the services of the config (names, counts, short prefix lists)
 * into the view: at start and after a reload. */
static void publish_conf(struct worker *w)
{
	const struct conf *c = w->site.conf;
	struct command_service *svcs = calloc(c->n_services + 1, sizeof *svcs);
	char ***listed = calloc(c->n_services + 1, sizeof *listed);
	char *site = strdup(c->site), *sock = strdup(c->bird_socket);
	int ok = svcs && listed && site && sock;
	for (size_t i = 0; ok && i < c->n_services; i++) {
		const struct conf_service *cs = &c->services[i];
		svcs[i].name = strdup(cs->name);
		ok = svcs[i].name != NULL;
		for (size_t k = 0; k < cs->n_prefixes; k++) {
			if (cs->prefixes[k].family == 4)
				svcs[i].n_ipv4++;
			else
				svcs[i].n_ipv6++;
		}
		if (!ok || cs->n_prefixes > COMMAND_PREFIXES_LISTED)
			continue;
		listed[i] = calloc(cs->n_prefixes + 1, sizeof **listed);
		ok = listed[i] != NULL;
		for (size_t k = 0; ok && k < cs->n_prefixes; k++)
			ok = (listed[i][k] = strdup(cs->prefixes[k].text)) != NULL;
		svcs[i].listed = (const char *const *)listed[i];
	}
	if (!ok) {
		log_error("out of memory: status keeps showing the previous config");
		view_free_services(svcs, listed, c->n_services);
		free(site);
		free(sock);
		return;
	}
	pthread_mutex_lock(&w->mu);
	struct command_service *old_svcs = w->view.services;
	char ***old_listed = w->view.listed;
	size_t old_n = w->view.n_services;
	char *old_site = w->view.site, *old_sock = w->view.bird_socket;
	w->view.services = svcs;
	w->view.listed = listed;
	w->view.n_services = c->n_services;
	w->view.site = site;
	w->view.bird_socket = sock;
	pthread_mutex_unlock(&w->mu);
	view_free_services(old_svcs, old_listed, old_n);
	free(old_site);
	free(old_sock);
}

/* Copies the desired state, last apply, apply statistics and BIRD's state
 * into the view when they changed. */
static void publish_state(struct worker *w, int force)
{
	struct site *s = &w->site;
	int64_t last_ms = s->last.have ? (int64_t)s->last.at * 1000 + s->last.ms : 0;
	int changed = force || s->state != w->published_state ||
		      s->safe_kind != w->published_safe_kind ||
		      strcmp(s->safe_mode, w->published_safe_mode) != 0 ||
		      strcmp(s->last.change_id, w->published_last_id) != 0 ||
		      last_ms != w->published_last_ms || s->repairs != w->published_repairs ||
		      s->apply_stats.count != w->published_applies ||
		      s->peers_seq != w->published_peers_seq;
	if (!changed)
		return;
	struct state *dup = s->state ? state_dup(s->state) : NULL;
	if (s->state && !dup) {
		log_error("out of memory: status keeps showing the previous state");
		return;
	}
	struct apply_peers peers = { 0 };
	int peers_ok = apply_peers_copy(&peers, &s->peers) == 0;
	if (!peers_ok)
		log_error("out of memory: status keeps showing the previous peer findings");
	pthread_mutex_lock(&w->mu);
	struct state *old = w->view.state;
	w->view.state = dup;
	if (peers_ok) {
		struct apply_peers swap = w->view.peers;
		w->view.peers = peers;
		peers = swap;
		w->view.have_peers = s->have_peers;
		w->view.peers_at = s->peers_at;
	}
	snprintf(w->view.safe_mode, sizeof w->view.safe_mode, "%s", s->safe_mode);
	w->view.safe_kind = s->safe_kind;
	w->view.safe_since = s->safe_since;
	w->view.last = s->last;
	w->view.apply_stats = s->apply_stats;
	w->view.repairs = s->repairs;
	pthread_mutex_unlock(&w->mu);
	state_free(old);
	apply_peers_free(&peers);
	if (peers_ok)
		w->published_peers_seq = s->peers_seq;
	w->published_state = s->state;
	w->published_safe_kind = s->safe_kind;
	snprintf(w->published_safe_mode, sizeof w->published_safe_mode, "%s", s->safe_mode);
	snprintf(w->published_last_id, sizeof w->published_last_id, "%s", s->last.change_id);
	w->published_last_ms = last_ms;
	w->published_repairs = s->repairs;
	w->published_applies = s->apply_stats.count;
}

static void publish_bird(struct worker *w)
{
	int up = w->bird && bird_alive(w->bird);
	pthread_mutex_lock(&w->mu);
	w->view.bird_connected = up;
	snprintf(w->view.bird_version, sizeof w->view.bird_version, "%s",
		 up ? bird_version(w->bird) : "");
	snprintf(w->view.bird_error, sizeof w->view.bird_error, "%s", up ? "" : w->bird_error);
	pthread_mutex_unlock(&w->mu);
}

static void publish_in_flight(struct worker *w, const char *kind, const char *change_id)
{
	pthread_mutex_lock(&w->mu);
	w->view.in_flight = kind != NULL;
	snprintf(w->view.in_flight_kind, sizeof w->view.in_flight_kind, "%s", kind ? kind : "");
	snprintf(w->view.in_flight_id, sizeof w->view.in_flight_id, "%s",
		 change_id ? change_id : "");
	w->view.in_flight_since = time(NULL);
	pthread_mutex_unlock(&w->mu);
}

static void with_view(void *arg, void (*fn)(const struct command_view *v, void *fn_arg),
		      void *fn_arg)
{
	struct worker *w = arg;
	pthread_mutex_lock(&w->mu);
	const struct view *pv = &w->view;
	struct command_view v = {
		.site = pv->site ? pv->site : "",
		.bird_socket = pv->bird_socket ? pv->bird_socket : "",
		.services = pv->services,
		.n_services = pv->n_services,
		.state = pv->safe_mode[0] ? NULL : pv->state,
		.safe_mode = pv->safe_mode,
		.safe_kind = pv->safe_kind,
		.last_known = pv->safe_mode[0] ? pv->state : NULL,
		.last_known_at = pv->safe_since,
		.bird_connected = pv->bird_connected,
		.bird_version = pv->bird_version,
		.bird_error = pv->bird_error,
		.last = &pv->last,
		.apply_stats = &pv->apply_stats,
		.repairs = pv->repairs,
		.peers = pv->have_peers ? &pv->peers : NULL,
		.peers_at = pv->peers_at,
		.in_flight = pv->in_flight,
		.in_flight_change_id = pv->in_flight_id,
		.in_flight_kind = pv->in_flight_kind,
		.in_flight_since = pv->in_flight_since,
	};
	fn(&v, fn_arg);
	pthread_mutex_unlock(&w->mu);
}

/* ---- the BIRD connection ------------------------------------------------- */

static void bird_down(struct worker *w, int code, const char *why)
{
	/* One line per change of state: from up, or a new kind of failure. */
	if (w->bird_err_code != code) {
		struct log_fields lf = { LOG_MSGID_BIRD_STATE, NULL, w->site.conf->site, NULL };
		log_record(LOG_LVL_WARN, &lf,
			   "BIRD at %s is not reachable: %s (retrying, backing off up to %d s)",
			   w->site.conf->bird_socket, why, CONNECT_RETRY_MAX_MS / 1000);
		w->bird_err_code = code;
	}
	apply_one_line(why, w->bird_error, sizeof w->bird_error);   /* status: one line */
	w->next_connect_ms = now_ms() + w->connect_delay_ms;
	w->connect_delay_ms *= 2;
	if (w->connect_delay_ms > CONNECT_RETRY_MAX_MS)
		w->connect_delay_ms = CONNECT_RETRY_MAX_MS;
	publish_bird(w);
}

/* Drops a connection that died (or must be dropped); the next attempt
 * comes after the first backoff step. */
static void bird_disconnect(struct worker *w, const char *why)
{
	if (!w->bird)
		return;
	struct log_fields lf = { LOG_MSGID_BIRD_STATE, NULL, w->site.conf->site, NULL };
	log_record(LOG_LVL_WARN, &lf, "BIRD connection lost (%s); reconnecting", why);
	bird_close(w->bird);
	w->bird = NULL;
	w->bird_err_code = ERR_CONNECT;   /* logged just now */
	w->connect_delay_ms = CONNECT_RETRY_MIN_MS;
	apply_one_line(why, w->bird_error, sizeof w->bird_error);
	w->next_connect_ms = now_ms() + w->connect_delay_ms;
	publish_bird(w);
}

/* After any use of the connection: a dead one is dropped. */
static void check_bird(struct worker *w, const char *why)
{
	if (w->bird && !bird_alive(w->bird))
		bird_disconnect(w, why);
}

static void bird_connect(struct worker *w)
{
	struct err e;
	struct bird_conn *b = NULL;
	if (bird_open(w->site.conf->bird_socket, (int)w->site.conf->bird_timeout_ms, &b, &e) < 0) {
		bird_down(w, (int)e.code, e.msg);
		return;
	}
	w->bird = b;
	w->bird_error[0] = '\0';
	w->bird_err_code = 0;
	w->connect_delay_ms = CONNECT_RETRY_MIN_MS;
	struct log_fields lf = { LOG_MSGID_BIRD_STATE, NULL, w->site.conf->site, NULL };
	log_record(LOG_LVL_INFO, &lf, "connected to BIRD %s at %s", bird_version(b),
		   w->site.conf->bird_socket);
	publish_bird(w);
	/* Apply in full, whatever the comparison says: a routectld that died
	 * between `configure timeout` and `configure confirm` left BIRD with an
	 * undo pending, which would bring back a state nobody wants; a fresh
	 * configure and confirm cancels it. */
	if (!w->site.safe_mode[0]) {
		publish_in_flight(w, "reconcile", NULL);
		site_reconcile(&w->site, w->bird, "BIRD connection established", 1);
		publish_in_flight(w, NULL, NULL);
		check_bird(w, w->site.last.message);
		publish_state(w, 0);
	}
}

/* ---- the emergency journal ------------------------------------------------- */

/* Moves the records of from to the end of to; from is emptied. On ENOMEM
 * the records stay in from (and are logged by the caller as lost). */
static int journal_append(struct emergency_journal *to, struct emergency_journal *from)
{
	if (from->n == 0)
		return 0;
	struct emergency_record *r = realloc(to->recs, (to->n + from->n) * sizeof *r);
	if (!r)
		return -ERR_NOMEM;
	memcpy(r + to->n, from->recs, from->n * sizeof *r);
	to->recs = r;
	to->n += from->n;
	to->skipped += from->skipped;
	free(from->recs);
	memset(from, 0, sizeof *from);
	return 0;
}

/* What poll_emergency leaves the worker free to do. */
enum emergency_hold {
	HOLD_NONE,        /* no journal, or adopted */
	HOLD_ALL,         /* an emergency command is writing it: nothing at all */
	HOLD_AUTOMATIC,   /* it cannot be adopted: no reconcile, step or revert
			     (they would undo the emergency change as drift);
			     operators' changes still run */
};

/* Adopts a journal that `routectl emergency` left (site/emergency.h), one
 * stat(2) when there is none; the adopted commands go to the loop for the
 * audit log. Says what the worker may do meanwhile: an emergency change
 * is never reverted as drift. In safe mode nothing is applied anyway. */
static enum emergency_hold poll_emergency(struct worker *w)
{
	struct emergency_journal j;
	char aside[PATH_MAX];
	struct err e;
	err_clear(&e);
	int rc = site_emergency_adopt(&w->site, &j, aside, sizeof aside, &e);
	if (rc == -ERR_BUSY)
		return HOLD_ALL;
	if (rc < 0) {
		/* once per reason: it is retried every tick */
		if (strcmp(e.msg, w->emergency_error) != 0)
			log_error("%s; until it is adopted routectld reconciles nothing on its own",
				  e.msg);
		snprintf(w->emergency_error, sizeof w->emergency_error, "%s", e.msg);
		if (!w->bird) {
			/* status and check say why BIRD is left alone, not
			 * "not connected yet" */
			char why[ERR_MSG_MAX];
			snprintf(why, sizeof why, "not connected: routectld connects and reconciles "
				 "only once the emergency journal is adopted: %.3000s", e.msg);
			apply_one_line(why, w->bird_error, sizeof w->bird_error);
			publish_bird(w);
		}
		return HOLD_AUTOMATIC;
	}
	w->emergency_error[0] = '\0';
	if (rc == 0)
		return HOLD_NONE;
	publish_state(w, 0);
	pthread_mutex_lock(&w->mu);
	int arc = journal_append(&w->adopted, &j);
	pthread_mutex_unlock(&w->mu);
	if (arc < 0)
		log_error("out of memory: %zu adopted emergency command(s) are not in the audit "
			  "log (the log above names them)", j.n);
	emergency_journal_free(&j);
	uint64_t one = 1;
	if (write(w->done_fd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_error("worker: cannot signal the event loop: %s", strerror(errno));
	return HOLD_NONE;
}

int worker_take_emergency(struct worker *w, struct emergency_journal *out)
{
	pthread_mutex_lock(&w->mu);
	*out = w->adopted;
	memset(&w->adopted, 0, sizeof w->adopted);
	pthread_mutex_unlock(&w->mu);
	return out->n > 0;
}

/* ---- automatic changes ------------------------------------------------------ */

/* Hands what site_run_due changed on its own to the loop, for the audit
 * log (the worker never writes it: the loop's audit writer does). */
static void publish_auto_changes(struct worker *w)
{
	if (w->site.autos.n == 0)
		return;
	pthread_mutex_lock(&w->mu);
	int rc = site_take_auto_changes(&w->site, &w->autos);
	pthread_mutex_unlock(&w->mu);
	if (rc < 0) {
		/* kept in the site: tried again after the next run */
		log_error("out of memory: %zu automatic change record(s) wait for the audit log",
			  w->site.autos.n);
		return;
	}
	uint64_t one = 1;
	if (write(w->done_fd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_error("worker: cannot signal the event loop: %s", strerror(errno));
}

int worker_take_auto_changes(struct worker *w, struct auto_changes *out)
{
	pthread_mutex_lock(&w->mu);
	*out = w->autos;
	memset(&w->autos, 0, sizeof w->autos);
	pthread_mutex_unlock(&w->mu);
	return out->n > 0;
}

/* ---- jobs ------------------------------------------------------------------ */

static void finish(struct worker *w, struct wjob *j)
{
	pthread_mutex_lock(&w->mu);
	j->next = NULL;
	*w->done_tail = j;
	w->done_tail = &j->next;
	pthread_mutex_unlock(&w->mu);
	uint64_t one = 1;
	if (write(w->done_fd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_error("worker: cannot signal the event loop: %s", strerror(errno));
}

/* A change refused for want of a connection also says why there is none
 * (e.g. BIRD stopped answering, or its socket is missing). */
static void why_not_connected(struct worker *w, int rc, struct err *e)
{
	if (rc != -ERR_CONNECT || w->bird || !w->bird_error[0] ||
	    strstr(e->msg, w->bird_error))
		return;
	char what[ERR_MSG_MAX];
	snprintf(what, sizeof what, "%s", e->msg);
	err_set(e, ERR_CONNECT, "%.1500s: %.2000s", what, w->bird_error);
}

/* The site's fleet-view hook (site.h, fleet_view): the fleet document of
 * the running config, asked live. */
static int ask_fleet(void *arg, const char *except_site, unsigned timeout_ms,
		     struct guard_view *out, struct err *e)
{
	struct worker *w = arg;
	return fleetview_ask(w->site.conf->fleet_path, except_site, timeout_ms, out, e);
}

/* Sets the hook after a start or reload: NULL without a fleet document. */
static void set_fleet_hook(struct worker *w)
{
	w->site.fleet_view = w->site.conf && w->site.conf->fleet_path ? ask_fleet : NULL;
	w->site.fleet_arg = w;
}

static void run_change(struct worker *w, struct command_job *cj)
{
	err_clear(&cj->err);
	/* An operator's change is worth a connection attempt now, whatever
	 * the backoff says (BIRD may have come back since the last try). */
	if (!cj->req.dry_run && !w->bird && !w->site.safe_mode[0])
		bird_connect(w);
	if (!cj->req.change_id[0])
		change_id_new(cj->req.change_id);
	if (!cj->req.dry_run)
		publish_in_flight(w, change_kind_name(cj->req.kind), cj->req.change_id);
	caller_resolve_name(&cj->who);
	cj->rc = site_change(&w->site, w->bird, &cj->req, &cj->who, &cj->res, &cj->err);
	if (!cj->req.dry_run)
		publish_in_flight(w, NULL, NULL);
	why_not_connected(w, cj->rc, &cj->err);
	check_bird(w, cj->err.msg);
	publish_state(w, 0);
}

/* Adopt runs here like a change: it reads BIRD and may apply. In safe mode
 * the worker does not connect to BIRD by itself (it leaves BIRD alone), so
 * adopt connects first; connecting in safe mode applies nothing. */
static void run_adopt(struct worker *w, struct command_job *cj)
{
	err_clear(&cj->err);
	if (!w->bird && w->site.safe_mode[0])
		bird_connect(w);
	if (!cj->adopt.change_id[0])
		change_id_new(cj->adopt.change_id);
	if (!cj->adopt.dry_run)
		publish_in_flight(w, "adopt", cj->adopt.change_id);
	caller_resolve_name(&cj->who);
	cj->rc = site_adopt(&w->site, w->bird, &cj->adopt, &cj->who, &cj->adopt_res, &cj->err);
	if (!cj->adopt.dry_run)
		publish_in_flight(w, NULL, NULL);
	why_not_connected(w, cj->rc, &cj->err);
	check_bird(w, cj->err.msg);
	publish_state(w, 0);
}

/* A confirm only rewrites the state file: no BIRD needed. */
static void run_confirm(struct worker *w, struct command_job *cj)
{
	err_clear(&cj->err);
	caller_resolve_name(&cj->who);
	cj->rc = site_confirm(&w->site, &cj->confirm, &cj->who, &cj->confirm_res, &cj->err);
	publish_state(w, 0);
}

static void run_job(struct worker *w, struct command_job *cj)
{
	if (cj->kind == COMMAND_JOB_ADOPT)
		run_adopt(w, cj);
	else if (cj->kind == COMMAND_JOB_CONFIRM)
		run_confirm(w, cj);
	else
		run_change(w, cj);
}

/* Appends "NAME (running RUN, new NEW)" to a warning. */
static void restart_note(char *out, size_t size, const char *name, const char *run,
			 const char *fresh)
{
	size_t n = strlen(out);
	if (n < size)
		snprintf(out + n, size - n, "%s%s (running %s, new %s)", n ? "; " : "", name, run,
			 fresh);
}

static void note_uint(char *out, size_t size, const char *name, unsigned run, unsigned fresh)
{
	char a[16], b[16];
	if (run == fresh)
		return;
	snprintf(a, sizeof a, "%u", run);
	snprintf(b, sizeof b, "%u", fresh);
	restart_note(out, size, name, a, b);
}

static void listen_list_text(const struct conf_listen *list, size_t n_list, char *out,
			     size_t size)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n_list && n < size; i++) {
		const struct conf_listen *l = &list[i];
		n += (size_t)snprintf(out + n, size - n, "%s%s%s%s:%u%s%s", i ? "," : "",
				      strchr(l->address, ':') ? "[" : "", l->address,
				      strchr(l->address, ':') ? "]" : "", l->port,
				      l->tls_cert ? " tls" : "", l->metrics_only ? " metrics-only" : "");
	}
	if (!n_list)
		snprintf(out, size, "none");
}

/* What c changes of the settings the event loop made its listeners from
 * (the config routectld started with): named in out, "" when none. */
static void restart_only_changes(const struct conf *run, const struct conf *c, char *out,
				 size_t size)
{
	char a[1024], b[1024];
	out[0] = '\0';
	listen_list_text(run->listen, run->n_listen, a, sizeof a);
	listen_list_text(c->listen, c->n_listen, b, sizeof b);
	if (strcmp(a, b) != 0)
		restart_note(out, size, "api/listen", a, b);
	for (size_t i = 0; i < run->n_listen && i < c->n_listen; i++) {
		const char *rc = run->listen[i].tls_cert, *nc = c->listen[i].tls_cert;
		const char *rk = run->listen[i].tls_key, *nk = c->listen[i].tls_key;
		if ((rc && nc && strcmp(rc, nc) != 0) || (rk && nk && strcmp(rk, nk) != 0))
			restart_note(out, size, "api/listen tls-certificate/tls-key", rc, nc);
	}
	listen_list_text(run->oob_listen, run->n_oob_listen, a, sizeof a);
	listen_list_text(c->oob_listen, c->n_oob_listen, b, sizeof b);
	if (strcmp(a, b) != 0)
		restart_note(out, size, "api/out-of-band/listen", a, b);
	note_uint(out, size, "api/out-of-band/max-connections", run->oob_max_connections,
		  c->oob_max_connections);
	note_uint(out, size, "api/out-of-band/max-connections-per-address",
		  run->oob_max_per_address, c->oob_max_per_address);
	note_uint(out, size, "api/max-connections", run->max_connections, c->max_connections);
	note_uint(out, size, "api/max-connections-per-address", run->max_per_address,
		  c->max_per_address);
	if (run->console_mode != c->console_mode) {
		snprintf(a, sizeof a, "%04o", run->console_mode);
		snprintf(b, sizeof b, "%04o", c->console_mode);
		restart_note(out, size, "console/mode", a, b);
	}
	if (strcmp(run->audit_log, c->audit_log) != 0)
		restart_note(out, size, "api/audit-log", run->audit_log, c->audit_log);
	size_t n = strlen(out);
	if (n && n < size)
		snprintf(out + n, size - n, ": only a restart of routectld puts %s in force; the "
			 "running %s until then", strchr(out, ';') ? "these" : "this",
			 strchr(out, ';') ? "values stay" : "value stays");
}

/* Validates everything first (config, policy, template, token file), then
 * swaps: a reload is never half-applied. */
static void run_reload(struct worker *w, struct worker_reload_result *r)
{
	struct site_config fresh;
	struct err *e = &r->err;
	err_clear(e);
	r->ok = 0;
	int rc = site_reload_load(&w->site, &fresh, e);
	if (rc == 0) {
		const struct conf *c = fresh.conf;
		r->auth = auth_new(c->token_file, c->console_admin_group, e);
		if (r->auth) {
			r->oob_auth = auth_new(c->oob_token_file, NULL, e);
			if (!r->oob_auth)
				err_prefix(e, "api/out-of-band");
		}
		if (!r->auth || !r->oob_auth) {
			err_prefix(e, "reload of %s: keeping the running config", w->site.conf_path);
			auth_free(r->auth);
			r->auth = NULL;
			site_config_free(&fresh);
			rc = -1;
		}
	}
	r->at = time(NULL);
	if (rc < 0)
		return;   /* logged by the loop when it takes the result */
	const struct conf *run = w->start_conf.conf ? w->start_conf.conf : w->site.conf;
	restart_only_changes(run, fresh.conf, r->warning, sizeof r->warning);
	r->write_rate_per_min = fresh.conf->write_rate_per_min;
	r->write_burst = fresh.conf->write_burst;
	r->ok = 1;

	int socket_changed = 0;
	site_reload_swap(&w->site, &fresh, &socket_changed);
	/* fresh holds the config replaced: the first one stays, it is what the
	 * listeners were made from */
	if (!w->start_conf.conf)
		w->start_conf = fresh;
	else
		site_config_free(&fresh);
	set_fleet_hook(w);
	publish_conf(w);
	publish_state(w, 1);
	if (socket_changed) {
		bird_disconnect(w, "BIRD control socket changed by reload");
		w->next_connect_ms = 0;
	}
	publish_in_flight(w, "reconcile", NULL);
	site_reconcile(&w->site, w->bird, "reload", 0);
	publish_in_flight(w, NULL, NULL);
	check_bird(w, w->site.last.message);
	publish_state(w, 0);
}

/* Takes the next job, or NULL; *stop tells whether to stop. */
static struct wjob *next_job(struct worker *w, int *stop)
{
	pthread_mutex_lock(&w->mu);
	*stop = w->stop;
	struct wjob *j = *stop ? NULL : w->queue;
	if (j) {
		w->queue = j->next;
		if (!w->queue)
			w->queue_tail = &w->queue;
		w->queued--;
	}
	pthread_mutex_unlock(&w->mu);
	return j;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct site *s = &w->site;
	for (;;) {
		int stop = 0;
		struct wjob *j;
		enum emergency_hold hold = poll_emergency(w);
		int emergency_busy = hold == HOLD_ALL;
		while (!emergency_busy && (j = next_job(w, &stop)) != NULL) {
			if (j->kind == WJOB_CHANGE)
				run_job(w, j->cj);
			else
				run_reload(w, &j->reload);
			finish(w, j);
		}
		if (emergency_busy) {
			pthread_mutex_lock(&w->mu);
			stop = w->stop;
			pthread_mutex_unlock(&w->mu);
		}
		if (stop)
			break;
		int64_t now = now_ms();
		/* connecting reconciles in full: not while the journal waits */
		if (hold == HOLD_NONE && !s->safe_mode[0] && !w->bird && now >= w->next_connect_ms)
			bird_connect(w);
		if (hold == HOLD_NONE && now_ms() >= site_next_due_ms(s, w->bird)) {
			site_run_due(s, w->bird, now_ms());
			check_bird(w, s->last.message);
			publish_state(w, 0);
			publish_auto_changes(w);
		}
		if (s->bird_changed) {
			s->bird_changed = 0;
			w->wake_until_ms = now_ms() + WAKE_WINDOW_MS;
			w->next_wake_ms = now_ms();
		}
		now = now_ms();
		if (w->bird && now < w->wake_until_ms && now >= w->next_wake_ms) {
			struct err e;
			if (bird_wake(w->bird, (int)s->conf->bird_timeout_ms, &e) < 0)
				check_bird(w, e.msg);
			w->next_wake_ms = now_ms() + WAKE_EVERY_MS;
		}

		int64_t deadline = site_next_due_ms(s, w->bird);
		if (!w->bird && !s->safe_mode[0] && w->next_connect_ms < deadline)
			deadline = w->next_connect_ms;
		if (w->bird && now < w->wake_until_ms && w->next_wake_ms < deadline)
			deadline = w->next_wake_ms;
		int64_t timeout = deadline - now_ms();
		if (timeout < 0)
			timeout = 0;
		if (timeout > 1000)
			timeout = 1000;
		/* What is due waits for the journal: look again soon (adopt as
		 * soon as it is written), or every second while it cannot be
		 * adopted, without spinning on what is due. */
		if (hold != HOLD_NONE)
			timeout = hold == HOLD_ALL ? 50 : 1000;
		struct pollfd pfd[2] = {
			{ .fd = w->wake_fd, .events = POLLIN },
			{ .fd = w->bird ? bird_fd(w->bird) : -1, .events = POLLIN },
		};
		int n = poll(pfd, 2, (int)timeout);
		if (n < 0 && errno != EINTR) {
			log_error("worker: poll: %s", strerror(errno));
			continue;
		}
		if (n > 0 && pfd[0].revents) {
			uint64_t v;
			if (read(w->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
				log_error("worker: read: %s", strerror(errno));
		}
		if (n > 0 && w->bird && pfd[1].revents) {
			/* Readable while idle: an asynchronous message, or BIRD
			 * closed the socket. */
			struct err e;
			if (bird_read_idle(w->bird, &e) < 0)
				bird_disconnect(w, e.msg);
		}
	}
	/* Stopping: what is still queued is refused, and returned. */
	pthread_mutex_lock(&w->mu);
	struct wjob *rest = w->queue;
	w->queue = NULL;
	w->queue_tail = &w->queue;
	w->queued = 0;
	pthread_mutex_unlock(&w->mu);
	while (rest) {
		struct wjob *j = rest;
		rest = rest->next;
		if (j->kind == WJOB_CHANGE) {
			j->cj->rc = err_set(&j->cj->err, ERR_UNAVAILABLE,
					    "routectld is stopping; the change was not made");
			finish(w, j);
		} else {
			free(j);
		}
	}
	return NULL;
}

/* ---- the loop's side ---------------------------------------------------------- */

static int enqueue(struct worker *w, struct wjob *j, struct err *e)
{
	enum wjob_kind kind = j->kind;
	pthread_mutex_lock(&w->mu);
	if (w->stop || (kind == WJOB_CHANGE && w->queued >= QUEUE_MAX)) {
		int stopping = w->stop;
		pthread_mutex_unlock(&w->mu);
		free(j);
		return stopping ? err_set(e, ERR_UNAVAILABLE, "routectld is stopping; the change "
							  "was not made")
				: err_set(e, ERR_UNAVAILABLE,
					  "%d changes are already waiting for BIRD; the change "
					  "was not made, try again when they are done",
					  QUEUE_MAX);
	}
	*w->queue_tail = j;
	w->queue_tail = &j->next;
	w->queued++;
	pthread_mutex_unlock(&w->mu);
	uint64_t one = 1;
	if (write(w->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_error("cannot wake the BIRD worker: %s", strerror(errno));
	return 0;
}

static int submit(void *arg, struct command_job *job, struct err *e)
{
	struct wjob *j = calloc(1, sizeof *j);
	if (!j)
		return err_set(e, ERR_NOMEM, "out of memory");
	j->kind = WJOB_CHANGE;
	j->cj = job;
	return enqueue(arg, j, e);
}

void worker_backend(struct worker *w, struct command_backend *b)
{
	b->arg = w;
	b->with_view = with_view;
	b->submit = submit;
}

void worker_reload(struct worker *w, worker_reload_fn done, void *arg)
{
	struct err e;
	struct wjob *j = calloc(1, sizeof *j);
	if (!j) {
		log_error("reload: out of memory; the running config stays");
		return;
	}
	j->kind = WJOB_RELOAD;
	j->reload_done = done;
	j->reload_arg = arg;
	if (enqueue(w, j, &e) < 0)
		log_error("reload: %s", e.msg);
}

int worker_done_fd(const struct worker *w)
{
	return w->done_fd;
}

void worker_collect(struct worker *w)
{
	uint64_t v;
	if (read(w->done_fd, &v, sizeof v) < 0 && errno != EAGAIN)
		log_error("read from the BIRD worker: %s", strerror(errno));
	pthread_mutex_lock(&w->mu);
	struct wjob *list = w->done;
	w->done = NULL;
	w->done_tail = &w->done;
	pthread_mutex_unlock(&w->mu);
	while (list) {
		struct wjob *j = list;
		list = list->next;
		if (j->kind == WJOB_CHANGE) {
			command_job_done(j->cj);
		} else {
			if (j->reload_done)
				j->reload_done(j->reload_arg, &j->reload);
			auth_free(j->reload.auth);
			auth_free(j->reload.oob_auth);
		}
		free(j);
	}
}

struct worker *worker_start(struct site *s, struct err *e)
{
	struct worker *w = calloc(1, sizeof *w);
	if (!w) {
		err_set(e, ERR_NOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&w->mu, NULL);
	w->wake_fd = w->done_fd = -1;
	w->queue_tail = &w->queue;
	w->done_tail = &w->done;
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->wake_fd < 0 || w->done_fd < 0) {
		err_set(e, ERR_IO, "eventfd: %s", strerror(errno));
		worker_free(w);
		return NULL;
	}
	w->site = *s;
	set_fleet_hook(w);
	w->connect_delay_ms = CONNECT_RETRY_MIN_MS;
	w->bird_err_code = -1;   /* nothing logged yet */
	snprintf(w->bird_error, sizeof w->bird_error, "not connected yet");
	publish_conf(w);
	publish_state(w, 1);
	publish_bird(w);
	int rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc != 0) {
		err_set(e, ERR_IO, "cannot start the BIRD worker thread: %s", strerror(rc));
		memset(&w->site, 0, sizeof w->site);
		worker_free(w);
		return NULL;
	}
	w->started = 1;
	memset(s, 0, sizeof *s);
	return w;
}

void worker_stop(struct worker *w)
{
	if (!w || !w->started)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_mutex_unlock(&w->mu);
	uint64_t one = 1;
	if (write(w->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_error("cannot wake the BIRD worker: %s", strerror(errno));
	pthread_join(w->thread, NULL);
	w->started = 0;
	if (w->bird)
		bird_close(w->bird);
	w->bird = NULL;
}

void worker_free(struct worker *w)
{
	if (!w)
		return;
	worker_stop(w);
	site_close(&w->site);
	site_config_free(&w->start_conf);
	view_free_services(w->view.services, w->view.listed, w->view.n_services);
	free(w->view.site);
	free(w->view.bird_socket);
	state_free(w->view.state);
	apply_peers_free(&w->view.peers);
	emergency_journal_free(&w->adopted);
	auto_changes_free(&w->autos);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	if (w->done_fd >= 0)
		close(w->done_fd);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
