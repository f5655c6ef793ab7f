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

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STEP_RETRY_MS 5000
#define RECONCILE_BACKOFF_MAX_S 300

void caller_resolve_name(struct caller *who)
{
	if (!who->has_uid)
		return;
	struct passwd pw, *res = NULL;
	char buf[16384];   /* getpwuid_r's ERANGE is far above any real entry */
	if (getpwuid_r(who->uid, &pw, buf, sizeof buf, &res) == 0 && res)
		snprintf(who->actor, sizeof who->actor, "%s (uid %u) via console%s%s", pw.pw_name,
			 (unsigned)who->uid, who->on_behalf_of[0] ? " for " : "",
			 who->on_behalf_of);
}

const char *change_kind_name(enum change_kind k)
{
	static const char *const names[] = { "drain", "undrain", "set" };
	return (unsigned)k < 3 ? names[k] : "change";
}

const int64_t apply_duration_bounds_ms[APPLY_DURATION_BUCKETS] = {
	5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
};

void apply_stats_record(struct apply_stats *st, enum apply_result r, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (r == APPLY_RESULT_OK)
		st->ok++;
	else if (r == APPLY_RESULT_PARTIAL)
		st->partial++;
	else
		st->failed++;
	size_t i = 0;
	while (i < APPLY_DURATION_BUCKETS && ms > apply_duration_bounds_ms[i])
		i++;
	st->bucket[i]++;
	st->count++;
	st->sum_ms += ms;
}

/* Every finished apply comes through here, so the statistics count exactly
 * what status shows as the last apply. */
static void set_last_apply(struct site *s, const char *trigger, enum apply_result result,
			   const char *change_id, const char *message, int64_t ms)
{
	apply_stats_record(&s->apply_stats, result, ms);
	s->last.have = 1;
	s->last.ok = result != APPLY_RESULT_FAILED;
	s->last.at = time(NULL);
	s->last.ms = ms;
	snprintf(s->last.trigger, sizeof s->last.trigger, "%s", trigger);
	snprintf(s->last.change_id, sizeof s->last.change_id, "%s", change_id ? change_id : "");
	/* status shows it on one line */
	apply_one_line(message ? message : "", s->last.message, sizeof s->last.message);
}

/* Keeps what a precheck found, for status (takes the peers over). */
static void keep_peer_findings(struct site *s, struct apply_peers *peers)
{
	apply_peers_free(&s->peers);
	s->peers = *peers;
	memset(peers, 0, sizeof *peers);
	s->have_peers = 1;
	s->peers_at = time(NULL);
	s->peers_seq++;
}

const char *safe_kind_name(enum safe_kind k)
{
	switch (k) {
	case SAFE_STATE_LOST: return "state-lost";
	case SAFE_STATE_UNUSABLE: return "state-unusable";
	case SAFE_NONE: break;
	}
	return "";
}

/* Sets the safe mode reason (printf) and kind, and logs it. */
static void enter_safe_mode(struct site *s, enum safe_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void enter_safe_mode(struct site *s, enum safe_kind kind, const char *fmt, ...)
{
	if (!s->safe_mode[0])  /* a SIGHUP that finds it lost again keeps the first time */
		s->safe_since = time(NULL);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->safe_mode, sizeof s->safe_mode, fmt, ap);
	va_end(ap);
	s->safe_kind = kind;
	s->first_start_unchecked = 0;
	log_error("SAFE MODE: %s", s->safe_mode);
}

/* ---- the first-start marker --------------------------------------------- */

/* The state directory's FIRST_START_MARKER: see site.h, first_start_unchecked. */
static void marker_path(const struct site *s, char *out, size_t size)
{
	snprintf(out, size, "%s/" FIRST_START_MARKER, s->conf->state_dir);
}

/* Written (durably) before the initial state of a first start. */
static int mark_first_start(struct site *s, struct err *e)
{
	char path[PATH_MAX];
	marker_path(s, path, sizeof path);
	static const char text[] =
		"routectld made a fresh state here at a first start and has not yet compared\n"
		"it with what BIRD exports. While this file exists, routectld compares first\n"
		"(and goes to safe mode if BIRD exports otherwise) before it applies anything.\n";
	return fs_write_atomic(path, text, sizeof text - 1, 0640, e);
}

/* The comparison is done: the flag and the marker go. A marker that cannot
 * be removed is logged; the next start then compares once more (with the
 * state it loads), which is harmless. */
static void first_start_checked(struct site *s)
{
	s->first_start_unchecked = 0;
	char path[PATH_MAX];
	marker_path(s, path, sizeof path);
	if (unlink(path) < 0) {
		if (errno != ENOENT)
			log_error("cannot remove %s: %s; the next start compares the state with "
				  "BIRD again", path, strerror(errno));
		return;
	}
	int fd = open(s->conf->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) < 0)
			log_warn("fsync %s: %s", s->conf->state_dir, strerror(errno));
		close(fd);
	}
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

/* First start or lost state: see store.h, "Lost state". Never creates a
 * fresh state (every service at its initial mode, usually announce) where
 * routectld has run before. */
static int load_state(struct site *s, struct err *e)
{
	struct state *st = NULL;
	struct err le;
	err_clear(&le);
	int dangling = 0;
	int rc = state_dir_check(s->conf->state_dir, &dangling, &le);
	if (rc == 0) {
		rc = state_load(s->state_path, &st, &le);
		dangling = rc == -ERR_INVALID && state_is_dangling_link(s->state_path);
	}
	if (rc == -ERR_NOTFOUND) {
		struct state_evidence ev;
		if (state_find_evidence(s->conf, &ev, e) < 0)
			return -(int)e->code;
		if (ev.found) {
			enter_safe_mode(s, SAFE_STATE_LOST,
					"the desired state is lost: %s, but routectld has run at "
					"this site before: %s. routectld does not start over with "
					"a fresh state, leaves BIRD as it is and refuses changes. "
					"Restore the state file and send SIGHUP, or take what BIRD "
					"exports now as the desired state: routectl adopt %s "
					"--reason TEXT",
					le.msg, ev.what, s->conf->site);
			return 0;
		}
		rc = fs_mkdirs(s->conf->state_dir, 0750, e);
		if (rc < 0)
			return rc;
		st = state_new(s->conf, time(NULL));
		if (!st)
			return err_set(e, ERR_NOMEM, "out of memory");
		/* The marker first: a restart that finds the state file then
		 * still compares with BIRD before applying it. */
		rc = mark_first_start(s, e);
		if (rc == 0)
			rc = state_save(s->state_path, st, e);
		if (rc < 0) {
			state_free(st);
			return rc;
		}
		log_info("first start at site %s: no state file at %s and no include at %s; "
			 "created the state with every service at its initial state",
			 s->conf->site, s->state_path, s->conf->include_path);
		s->first_start_unchecked = 1;
	} else if (rc < 0 && dangling) {
		enter_safe_mode(s, SAFE_STATE_LOST,
				"the desired state is lost: %s. routectld leaves BIRD as it is "
				"and refuses changes. Mount or restore the state and send "
				"SIGHUP, or take what BIRD exports now as the desired state: "
				"routectl adopt %s --reason TEXT",
				le.msg, s->conf->site);
		return 0;
	} else if (rc < 0) {
		enter_safe_mode(s, SAFE_STATE_UNUSABLE,
				"state file does not load: %s. routectld does not touch BIRD and "
				"refuses changes until the file is fixed (then SIGHUP or restart), "
				"or what BIRD exports now is adopted with routectl adopt %s "
				"--force --reason TEXT",
				le.msg, s->conf->site);
		return 0;
	} else if (strcmp(st->site, s->conf->site) != 0) {
		enter_safe_mode(s, SAFE_STATE_UNUSABLE,
				"state file %s is for site '%s' but the config is for site '%s'. "
				"routectld does not touch BIRD and refuses changes until this is "
				"fixed",
				s->state_path, st->site, s->conf->site);
		state_free(st);
		return 0;
	} else {
		/* The generation never goes backwards: a state file older than
		 * what BIRD was last given (a restored backup, or a routectld
		 * killed between writing the include and saving) continues from
		 * the include's generation. */
		struct state_evidence ev;
		int save = state_sync_services(st, s->conf, time(NULL)) > 0;
		if (save)
			log_info("state: services brought in line with the config");
		if (state_find_evidence(s->conf, &ev, &le) == 0 && ev.has_header &&
		    strcmp(ev.site, s->conf->site) == 0 && ev.generation > st->generation) {
			log_warn("state: %s has generation %" PRIu64 ", older than %s; continuing "
				 "from generation %" PRIu64, s->state_path, st->generation,
				 ev.what, ev.generation);
			st->generation = ev.generation;
			save = 1;
		}
		rc = save ? state_save(s->state_path, st, e) : 0;
		if (rc < 0) {
			state_free(st);
			return rc;
		}
		/* A first start whose state was never compared with BIRD (a
		 * restart before BIRD was reached): compare before applying. */
		char mp[PATH_MAX];
		struct stat sb;
		marker_path(s, mp, sizeof mp);
		if (lstat(mp, &sb) == 0) {
			if (!s->first_start_unchecked)
				log_info("state: %s is there: the state of a first start was not "
					 "yet compared with BIRD; comparing before applying anything",
					 mp);
			s->first_start_unchecked = 1;
		} else {
			s->first_start_unchecked = 0;
		}
	}
	s->safe_mode[0] = '\0';
	s->safe_kind = SAFE_NONE;
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

int site_open_config(struct site *s, const char *conf_path, struct err *e)
{
	memset(s, 0, sizeof *s);
	s->conf_path = strdup(conf_path);
	if (!s->conf_path)
		return err_set(e, ERR_NOMEM, "out of memory");
	return site_load_config(conf_path, &s->conf, &s->policy, &s->tmpl, e);
}

int site_open(struct site *s, const char *conf_path, struct err *e)
{
	int rc = site_open_config(s, conf_path, e);
	return rc < 0 ? rc : site_open_state(s, e);
}

int site_open_state(struct site *s, struct err *e)
{
	int rc;
	snprintf(s->state_path, sizeof s->state_path, "%s/state.json", s->conf->state_dir);
	fs_clean_stale_temps(s->conf->include_path, s->conf->state_dir);  /* left by a crash */
	/* The state directory is made only at a first start (load_state):
	 * one that is missing may be a file system that did not mount. */
	rc = load_state(s, e);
	if (rc < 0)
		return rc;
	if (!s->safe_mode[0]) {
		/* An include that is not a regular file (a FIFO, a directory)
		 * is refused at once by the reader; start anyway, so that the
		 * console says why: every apply fails with that reason and BIRD
		 * is left alone until it is fixed. */
		struct err ie;
		err_clear(&ie);
		rc = ensure_include(s, &ie);
		if (rc == -ERR_INVALID)
			log_error("%s; routectld leaves BIRD alone until it is fixed", ie.msg);
		else if (rc < 0)
			return err_set(e, ie.code, "%s", ie.msg);
	}
	s->next_reconcile_ms = now_ms() + (int64_t)s->conf->reconcile_interval_s * 1000;
	return 0;
}

void site_close(struct site *s)
{
	apply_peers_free(&s->peers);
	auto_changes_free(&s->autos);
	state_free(s->state);
	conf_free(s->conf);
	free(s->tmpl);
	free(s->conf_path);
	memset(s, 0, sizeof *s);
}

/* A setting only a restart can change: named with both values. */
static int same_or_restart(const char *setting, const char *running, const char *fresh,
			   const char *path, struct err *e)
{
	if (strcmp(running, fresh) == 0)
		return 0;
	return err_set(e, ERR_INVALID,
		       "reload of %s: keeping the running config: %s changed from '%s' to '%s': "
		       "it can change only with a restart of routectld",
		       path, setting, running, fresh);
}

int site_reload_load(const struct site *s, struct site_config *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	if (site_load_config(s->conf_path, &out->conf, &out->policy, &out->tmpl, e) < 0)
		return err_prefix(e, "reload of %s: keeping the running config", s->conf_path);
	const struct conf *c = out->conf;
	int rc = same_or_restart("site", s->conf->site, c->site, s->conf_path, e);
	if (rc == 0)
		rc = same_or_restart("console/socket", s->conf->console_socket, c->console_socket,
				     s->conf_path, e);
	if (rc == 0)
		rc = same_or_restart("state-dir", s->conf->state_dir, c->state_dir, s->conf_path,
				     e);
	if (rc < 0)
		site_config_free(out);
	return rc;
}

void site_reload_swap(struct site *s, struct site_config *c, int *bird_socket_changed)
{
	*bird_socket_changed = strcmp(c->conf->bird_socket, s->conf->bird_socket) != 0;
	struct site_config old = { s->conf, s->policy, s->tmpl };
	s->conf = c->conf;
	s->policy = c->policy;
	s->tmpl = c->tmpl;
	*c = old;
	struct err le;
	if (load_state(s, &le) < 0)
		log_error("reload: state: %s", le.msg);
}

void site_config_free(struct site_config *c)
{
	conf_free(c->conf);
	free(c->tmpl);
	memset(c, 0, sizeof *c);
}

int site_reload(struct site *s, int *bird_socket_changed, struct err *e)
{
	struct site_config c;
	*bird_socket_changed = 0;
	int rc = site_reload_load(s, &c, e);
	if (rc < 0)
		return rc;
	site_reload_swap(s, &c, bird_socket_changed);
	site_config_free(&c);
	return 0;
}

/* ---- lost state ------------------------------------------------------------ */

/* Keeps whatever is at the state file's path under another name before the
 * adopted state is saved over it: a hard link for a file, FIFO or link (the
 * save's rename then only drops the name state.json), a rename for a
 * directory (which a rename could not replace). *moved says which, for
 * put_back. */
static int set_aside(const char *path, char *aside, size_t size, int *moved, struct err *e)
{
	aside[0] = '\0';
	*moved = 0;
	struct stat sb;
	if (lstat(path, &sb) < 0)
		return errno == ENOENT || errno == ENOTDIR
			       ? 0
			       : err_set(e, ERR_IO, "%s: cannot look at it: %s", path,
					 strerror(errno));
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tm);
	/* Never over an earlier one: a name that is free (link() and, for a
	 * directory, the lstat check make sure). */
	int rc = -1;
	for (unsigned i = 0; i < 100; i++) {
		int n = i ? snprintf(aside, size, "%s.refused-%s.%u", path, when, i)
			  : snprintf(aside, size, "%s.refused-%s", path, when);
		if (n >= (int)size)
			return err_set(e, ERR_INVALID, "%s: path too long", path);
		struct stat ab;
		if (lstat(aside, &ab) == 0)
			continue;
		rc = S_ISDIR(sb.st_mode) ? rename(path, aside) : link(path, aside);
		if (rc == 0 || errno != EEXIST)
			break;
	}
	if (rc < 0) {
		int saved = errno;
		aside[0] = '\0';
		return err_set(e, ERR_IO, "cannot keep %s as %s.refused-%s: %s", path, path, when,
			       strerror(saved));
	}
	*moved = S_ISDIR(sb.st_mode);
	return 0;
}

static void put_back(const char *path, const char *aside, int moved)
{
	if (!aside[0])
		return;
	if (moved) {
		if (rename(aside, path) < 0)
			log_error("cannot put %s back as %s: %s", aside, path, strerror(errno));
	} else if (unlink(aside) < 0) {
		log_warn("cannot remove %s: %s", aside, strerror(errno));
	}
}

/* Right after a first start (a fresh state, no include found), the first
 * time BIRD is live: if BIRD already runs routectl's routes and exports them
 * otherwise than the fresh state says, an earlier state was lost with its
 * include; enter safe mode (state lost) instead of applying, and keep the
 * fresh state file aside so that a restart does not load it. Returns 0 to go
 * on (BIRD agrees, or runs no routectl include), 1 when the site is now in
 * safe mode, <0 when BIRD could not be asked (e says why; the check is made
 * again on the next use of BIRD). */
static int check_first_start(struct site *s, struct bird_conn *b, struct err *e)
{
	struct adopt_bird_view view;
	err_clear(e);
	int rc = adopt_read_bird(b, (int)s->conf->bird_timeout_ms, &view, e);
	if (rc == -ERR_INVALID || rc == -ERR_NOTFOUND) {
		/* BIRD runs no routectl include (yet), or its routectl_v4/v6
		 * is not running: nothing exported to lose. */
		first_start_checked(s);
		err_clear(e);
		return 0;
	}
	if (rc < 0) {
		err_prefix(e, "first start: cannot compare BIRD's exports with the fresh state "
			      "(asking again before anything is applied)");
		log_warn("%s", e->msg);
		return rc;
	}
	struct adopt_plan plan;
	char differs[1024] = "";
	size_t used = 0;
	struct err de;
	err_clear(&de);
	rc = adopt_derive(s->conf, &view, NULL, 0, 0, &plan, &de);
	size_t n_routes = view.n_routes;
	adopt_bird_view_free(&view);
	if (rc == -ERR_NOMEM)
		return err_set(e, ERR_NOMEM, "first start: out of memory");
	if (rc == 0) {
		for (size_t i = 0; i < plan.n; i++) {
			const struct adopt_item *it = &plan.items[i];
			const struct svc_state *cur = state_find(s->state, it->service);
			if (cur && cur->mode == it->mode && cur->prepend == it->prepend)
				continue;
			if (used < sizeof differs)
				used += (size_t)snprintf(differs + used, sizeof differs - used,
							 "%s%s %s", used ? ", " : "", it->service,
							 it->bird_text);
		}
		adopt_plan_free(&plan);
	} else if (n_routes > 0) {
		/* The reasons, without adopt's "cannot adopt" heading. */
		const char *why = strchr(de.msg, '\n');
		snprintf(differs, sizeof differs, "%s", why ? why + 1 : de.msg);
		/* One line: the reason goes into the log and status. */
		for (char *c = differs; *c; c++)
			if (*c == '\n')
				*c = ';';
	}
	if (!differs[0]) {
		first_start_checked(s);
		return 0;
	}
	/* Keep the fresh state aside: on a restart, the include written at
	 * this first start is then the evidence, and the state is lost again
	 * rather than applied. */
	char aside[PATH_MAX];
	int moved = 0;
	struct err se;
	if (set_aside(s->state_path, aside, sizeof aside, &moved, &se) == 0 && aside[0])
		unlink(s->state_path);
	else if (!aside[0])
		snprintf(aside, sizeof aside, "nothing");
	/* With the fresh state gone, the include is the evidence; while it
	 * is still there, the marker keeps a restart from applying it. */
	struct stat sb;
	if (lstat(s->state_path, &sb) < 0 && errno == ENOENT)
		first_start_checked(s);
	enter_safe_mode(s, SAFE_STATE_LOST,
			"first start (no state file, no include), but BIRD already runs "
			"routectl's routes and exports them otherwise than a fresh state "
			"would: %s. An earlier state was lost with its include; routectld "
			"does not apply the fresh state (kept as %s), leaves BIRD as it is and "
			"refuses changes. Restore the state file and send SIGHUP, or take what "
			"BIRD exports now as the desired state: routectl adopt %s --reason TEXT",
			differs, aside, s->conf->site);
	/* The fresh state is nobody's intent: status shows no state rather
	 * than that one. */
	state_free(s->state);
	s->state = NULL;
	return 1;
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

/* Whether going from old to new takes announcements away anywhere: a
 * withdraw, a prepend where there was none, or more prepends. */
static int takes_away(const struct state *old, const struct state *new)
{
	for (size_t i = 0; i < new->n; i++) {
		const struct svc_state *n = &new->svcs[i];
		const struct svc_state *o = NULL;
		for (size_t k = 0; old && k < old->n && !o; k++)
			if (strcmp(old->svcs[k].name, n->name) == 0)
				o = &old->svcs[k];
		enum svc_mode om = o ? o->mode : MODE_ANNOUNCE;
		unsigned op = o ? o->prepend : 0;
		if (n->mode == MODE_WITHDRAW && om != MODE_WITHDRAW)
			return 1;
		if (n->mode == MODE_PREPEND &&
		    (om == MODE_ANNOUNCE || (om == MODE_PREPEND && n->prepend > op)))
			return 1;
	}
	return 0;
}

/* Where a change's partial outcome goes (both may be NULL). */
struct partial_out {
	int *partial;
	char *msg;
	size_t size;
};

/* Applies new as the desired state; on success it replaces s->state. On
 * failure new is the caller's to free, unless s->state == new after the
 * call: BIRD undid the change before the confirm after the state file had
 * it (apply_report.committed), so it is the desired state now and the
 * reconciler applies it again. service: the one service it changes, NULL
 * for several (for the log record's SERVICE field). po (may be NULL) gets
 * whether the change took effect only in part, and where not. */
static int commit_state(struct site *s, struct bird_conn *b, struct state *new,
			const char *trigger, const char *change_id, const char *service,
			int64_t *ms, const struct partial_out *po, struct err *e)
{
	struct apply_report r;
	struct save_ctx sc = { s, new };
	struct log_fields lf = { LOG_MSGID_CHANGE, change_id, s->conf->site, service };
	/* After a first start, BIRD is compared with the fresh state before
	 * anything is applied: it may show that the state was lost. */
	if (s->first_start_unchecked && b && bird_alive(b)) {
		int fc = check_first_start(s, b, e);
		if (fc < 0)
			return fc;
		if (fc > 0)
			return err_set(e, ERR_UNAVAILABLE, "routectld is in safe mode: %s",
				       s->safe_mode);
	}
	struct apply_opts o = {
		.takes_away = takes_away(s->state, new),
		.commit = save_state_cb,
		.commit_arg = &sc,
	};
	o.refuse_unlisted = o.takes_away && s->policy.refuse_drain_unlisted;
	int rc = apply_state(b, s->conf, new, s->tmpl, &o, &r, e);
	if (r.peers.v)
		keep_peer_findings(s, &r.peers);
	if (rc == 0 && !r.changed)
		rc = save_state_cb(&sc, e);    /* only provenance or next steps changed */
	if (ms)
		*ms = r.ms_total;
	if (rc < 0) {
		set_last_apply(s, trigger, APPLY_RESULT_FAILED, change_id, e->msg, r.ms_total);
		char line[ERR_MSG_MAX];
		apply_one_line(e->msg, line, sizeof line);
		log_record(LOG_LVL_ERROR, &lf, "%s %s failed: %s", trigger, change_id, line);
		if (r.committed) {
			/* The state file has the new state (BIRD undid it before
			 * the confirm, or the confirm got no answer): it is the
			 * desired state now, and the reconciler applies it again,
			 * at once rather than after reconcile-interval (an hour by
			 * default), which would leave a saved drain not in effect
			 * that long. */
			state_free(s->state);
			s->state = new;
			s->bird_changed = 1;
			s->next_reconcile_ms = now_ms();
		}
		apply_report_free(&r);
		return rc;
	}
	log_record(LOG_LVL_INFO, &lf,
		   "%s %s applied%s in %lld ms (render %lld, precheck %lld, configure %lld, "
		   "verify %lld in %u rounds, confirm %lld)%s%s",
		   trigger, change_id, r.partial ? " IN PART" : "", (long long)r.ms_total,
		   (long long)r.ms_render, (long long)r.ms_precheck, (long long)r.ms_configure,
		   (long long)r.ms_verify, r.verify_rounds, (long long)r.ms_confirm,
		   r.partial ? ": " : "", r.partial ? r.partial_text : "");
	char msg[2200];
	if (r.partial)
		snprintf(msg, sizeof msg, "applied in part: %s", r.partial_text);
	else if (r.reapplied)
		snprintf(msg, sizeof msg, "applied (BIRD had undone the first attempt before "
					  "the confirm; applied again)");
	else
		snprintf(msg, sizeof msg, "applied");
	set_last_apply(s, trigger, r.partial ? APPLY_RESULT_PARTIAL : APPLY_RESULT_OK, change_id,
		       msg, r.ms_total);
	if (po && po->partial)
		*po->partial = r.partial;
	if (po && po->msg)
		snprintf(po->msg, po->size, "%s", r.partial ? r.partial_text : "");
	state_free(s->state);
	s->state = new;
	if (r.changed)
		s->bird_changed = 1;
	apply_report_free(&r);
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
	apply_peers_free(&r->peers);
	memset(r, 0, sizeof *r);
}

/* The unified diff of the include that applying new would write. */
static int include_diff(struct site *site, const struct state *new, char **out, struct err *e)
{
	struct buf cand = { 0 }, diff = { 0 };
	char *current = NULL;
	int rc = apply_plan(site->conf, new, site->tmpl, &cand, &current, e);
	if (rc == 0 && diff_unified(current ? current : "", cand.p, site->conf->include_path,
				    site->conf->include_path, &diff) < 0)
		rc = err_set(e, ERR_NOMEM, "out of memory");
	if (rc == 0)
		*out = buf_steal(&diff);
	buf_free(&diff);
	buf_free(&cand);
	free(current);
	return rc;
}

/* Judges every guard for the items of res (guards.h) into res->guards:
 * each service's move to where the change ends (its staged steps
 * included), the flap budget from the state's recent changes, and the
 * guards across sites from the fleet view when the change takes
 * announcements away. Returns 0, or -ERR_POLICY (e: every refusal). */
static int judge_guards(struct site *s, const struct change_request *req,
			struct change_result *res, time_t now, struct err *e)
{
	struct guard_report *r = &res->guards;
	memset(r, 0, sizeof *r);
	if (res->n_items == 0) {
		guards_skip_all(r, "nothing changes");
		return 0;
	}
	struct guard_move *moves = calloc(res->n_items, sizeof *moves);
	time_t **recent = calloc(res->n_items, sizeof *recent);
	int rc = moves && recent ? 0 : err_set(e, ERR_NOMEM, "out of memory");
	int takes = 0;
	for (size_t i = 0; rc == 0 && i < res->n_items; i++) {
		const struct change_item *it = &res->items[i];
		struct guard_move *m = &moves[i];
		m->service = it->service;
		m->from_mode = it->from_mode;
		m->from_prepend = it->from_prepend;
		m->to_mode = it->has_next ? it->next_mode : it->to_mode;
		m->to_prepend = it->has_next ? it->next_prepend : it->to_prepend;
		/* a staged step on the way may take away more than the end */
		takes = takes ||
			guard_takes_away(m->from_mode, m->from_prepend, m->to_mode, m->to_prepend) ||
			guard_takes_away(it->from_mode, it->from_prepend, it->to_mode,
					 it->to_prepend);
		const struct svc_state *cur = state_find(s->state, it->service);
		if (!cur || cur->n_recent == 0)
			continue;
		recent[i] = malloc(cur->n_recent * sizeof **recent);
		if (!recent[i]) {
			rc = err_set(e, ERR_NOMEM, "out of memory");
			break;
		}
		for (size_t k = 0; k < cur->n_recent; k++)
			recent[i][k] = cur->recent[k].at;
		m->recent = recent[i];
		m->n_recent = cur->n_recent;
	}
	int stand_alone = takes && !s->fleet_view && s->policy.stand_alone;
	if (rc == 0 && stand_alone) {
		guards_skip_all(r, "no fleet document, and the policy lets this routectld "
				   "stand alone (guards/without-fleet)");
	} else if (rc == 0) {
		/* Without a change that takes announcements away the other
		 * sites are not asked: guards_judge_fleet skips those guards. */
		struct guard_view view = { 0 };
		struct err ve;
		err_clear(&ve);
		int have_view = !takes;
		if (takes && !s->fleet_view)
			snprintf(ve.msg, sizeof ve.msg,
				 "no fleet document is configured (config fleet-file), so "
				 "routectld cannot ask the other sites");
		else if (takes)
			have_view = s->fleet_view(s->fleet_arg, s->conf->site,
						  s->policy.ask_timeout_ms, &view, &ve) == 0;
		guards_judge_fleet(&s->policy, s->conf->site, moves, res->n_items,
				   have_view ? &view : NULL, ve.msg, req->force, r);
		guard_view_free(&view);
	}
	if (rc == 0) {
		guards_judge_flap(&s->policy, s->conf->site, moves, res->n_items, now, req->force,
				  r);
		rc = guards_refused(r, e);
	}
	for (size_t i = 0; recent && i < res->n_items; i++)
		free(recent[i]);
	free(recent);
	free(moves);
	return rc;
}

/* Counts the change against the flap budget of every service it changes. */
static int note_recent(struct site *s, struct state *new, const struct change_result *res,
		       time_t now, struct err *e)
{
	for (size_t i = 0; i < res->n_items; i++) {
		struct svc_state *ns = state_find(new, res->items[i].service);
		if (ns && svc_recent_add(ns, res->change_id, now,
					 now - (time_t)s->policy.flap_window_s,
					 s->policy.flap_changes) < 0)
			return err_set(e, ERR_NOMEM, "out of memory");
	}
	return 0;
}

/* One log line for a change that passed guards only by force. */
static void log_override(const struct site *s, const struct change_request *req,
			 const struct caller *who, const struct change_result *res)
{
	char what[2048] = "";
	size_t used = 0;
	for (size_t i = 0; i < GUARD_COUNT && used < sizeof what; i++)
		if (res->guards.g[i].verdict == GUARD_OVERRIDDEN)
			used += (size_t)snprintf(what + used, sizeof what - used, "%s%s (%s)",
						 used ? "; " : "", guard_name((enum guard_id)i),
						 res->guards.g[i].message);
	struct log_fields lf = { LOG_MSGID_CHANGE, res->change_id, s->conf->site, NULL };
	log_record(LOG_LVL_WARN, &lf, "%s %s by %s overrides guards by force: %s; reason: %s",
		   change_kind_name(req->kind), res->change_id, who->actor, what, req->reason);
}

static int blank(const char *str)
{
	for (; str && *str; str++)
		if (*str != ' ' && *str != '\t' && *str != '\n' && *str != '\r')
			return 0;
	return 1;
}

/* ---- commit-confirm: the bookkeeping ------------------------------------------ */

/* Whether any service of st still waits for change_id's confirmation. */
static int confirm_pending(const struct state *st, const char *change_id)
{
	for (size_t i = 0; st && i < st->n; i++)
		if (st->svcs[i].has_confirm &&
		    strcmp(st->svcs[i].confirm_change_id, change_id) == 0)
			return 1;
	return 0;
}

/* Notes, in new, every confirmation that old waited for and new no longer
 * does, as ended with outcome at now; their ids go to ids (", "-separated,
 * size bytes) for the log. */
static void note_ended_confirms(const struct state *old, struct state *new,
				enum confirm_outcome outcome, time_t now, char *ids, size_t size)
{
	size_t used = strlen(ids);
	for (size_t i = 0; old && i < old->n; i++) {
		const struct svc_state *o = &old->svcs[i];
		if (!o->has_confirm || confirm_pending(new, o->confirm_change_id))
			continue;
		/* once per id (several services may have waited for it) */
		const struct confirm_end *ce = state_find_confirm_end(new, o->confirm_change_id);
		if (ce && ce->at == now)
			continue;
		state_note_confirm_end(new, o->confirm_change_id, outcome, now);
		if (used < size)
			used += (size_t)snprintf(ids + used, size - used, "%s%s", used ? ", " : "",
						 o->confirm_change_id);
	}
}

/* Starts the wait for a confirmation on one service that a change moved. */
static void confirm_start(struct svc_state *ns, const struct change_item *it,
			  const char *change_id, time_t deadline)
{
	ns->has_confirm = 1;
	snprintf(ns->confirm_change_id, sizeof ns->confirm_change_id, "%s", change_id);
	ns->confirm_deadline = deadline;
	ns->revert_mode = it->from_mode;
	ns->revert_prepend = it->from_mode == MODE_PREPEND ? it->from_prepend : 0;
}

int site_change(struct site *s, struct bird_conn *b, const struct change_request *req,
		const struct caller *who, struct change_result *res, struct err *e)
{
	memset(res, 0, sizeof *res);
	if (s->safe_mode[0])
		return err_set(e, ERR_UNAVAILABLE, "routectld is in safe mode: %s", s->safe_mode);
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
	if (req->confirm_within_s > CONFIRM_WITHIN_MAX_S)
		return err_set(e, ERR_INVALID,
			       "confirm within %u s is longer than the longest deadline, %u s "
			       "(a day)", req->confirm_within_s, CONFIRM_WITHIN_MAX_S);
	int rc = svc_names_valid(s, req, e);
	if (rc < 0)
		return rc;
	/* A change id the caller chose (one change on every router of a
	 * fleet) must be new here: a confirm of it would also confirm the
	 * change that has it already. */
	if (req->change_id[0] && state_names_change(s->state, req->change_id))
		return err_set(e, ERR_REFUSED,
			       "change id %s already names another change at site '%s': a "
			       "change takes a new id (routectl history shows that one)",
			       req->change_id, s->conf->site);

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
		if (req->confirm_within_s) {
			res->confirm_deadline = now + (time_t)req->confirm_within_s;
			confirm_start(ns, &it, res->change_id, res->confirm_deadline);
		}
	}
	/* A later change of a service supersedes the revert it waited for. */
	char superseded[1024] = "";
	note_ended_confirms(s->state, new, CONFIRM_SUPERSEDED, now, superseded,
			    sizeof superseded);
	new->generation = s->state->generation + 1;
	rc = judge_guards(s, req, res, now, e);
	if (rc < 0 && !req->dry_run) {
		/* Refused by a guard: the verdicts stay for the answer. */
		struct log_fields lf = { LOG_MSGID_CHANGE, res->change_id, s->conf->site, NULL };
		char line[ERR_MSG_MAX];
		apply_one_line(e->msg, line, sizeof line);
		log_record(LOG_LVL_INFO, &lf, "%s by %s refused: %s", change_kind_name(req->kind),
			   who->actor, line);
		struct guard_report kept = res->guards;
		state_free(new);
		change_result_free(res);
		res->guards = kept;
		return rc;
	}
	if (req->dry_run) {
		err_clear(e);
		rc = include_diff(s, new, &res->diff, e);
		state_free(new);
	} else if (res->n_items == 0) {
		state_free(new);
	} else if ((rc = note_recent(s, new, res, now, e)) < 0) {
		state_free(new);
	} else {
		if (guards_overridden(&res->guards))
			log_override(s, req, who, res);
		struct partial_out po = { &res->partial, res->partial_msg,
					  sizeof res->partial_msg };
		rc = commit_state(s, b, new, change_kind_name(req->kind), res->change_id,
				  res->n_items == 1 ? res->items[0].service : NULL,
				  &res->apply_ms, &po, e);
		if (rc < 0 && s->state != new)
			state_free(new);
		else if (rc == 0)
			res->applied = 1;
		if (rc == 0 && superseded[0]) {
			struct log_fields lf = { LOG_MSGID_CHANGE, res->change_id, s->conf->site,
						 NULL };
			log_record(LOG_LVL_WARN, &lf,
				   "change %s supersedes the pending revert of %s: no service "
				   "waits for that confirmation any more", res->change_id,
				   superseded);
		}
		if (rc == 0 && res->confirm_deadline) {
			char when[32];
			time_format_utc(res->confirm_deadline, when, sizeof when);
			struct log_fields lf = { LOG_MSGID_CHANGE, res->change_id, s->conf->site,
						 NULL };
			log_record(LOG_LVL_INFO, &lf,
				   "change %s reverts by itself at %s unless confirmed "
				   "(routectl confirm %s)", res->change_id, when, res->change_id);
		}
		if (rc == 0 && s->have_peers &&
		    apply_peers_copy(&res->peers, &s->peers) == 0)
			res->have_peers = 1;
	}
	if (rc < 0)
		change_result_free(res);
	return rc;
}

/* ---- adopt ------------------------------------------------------------------ */

void adopt_result_free(struct adopt_result *r)
{
	adopt_plan_free(&r->plan);
	free(r->diff);
	memset(r, 0, sizeof *r);
}

int site_adopt(struct site *s, struct bird_conn *b, const struct adopt_request *req,
	       const struct caller *who, struct adopt_result *res, struct err *e)
{
	memset(res, 0, sizeof *res);
	if (!req->site || strcmp(req->site, s->conf->site) != 0)
		return err_set(e, ERR_REFUSED,
			       "this routectld serves site '%s', not '%s': talk to the "
			       "routectld of site '%s'",
			       s->conf->site, req->site ? req->site : "", req->site ? req->site : "");
	if (!s->safe_mode[0])
		return err_set(e, ERR_REFUSED,
			       "routectld is not in safe mode: the desired state of site '%s' is "
			       "loaded (generation %" PRIu64 "); adopt is only for a lost state. "
			       "Change it with set, drain or undrain",
			       s->conf->site, s->state ? s->state->generation : 0);
	if (s->safe_kind != SAFE_STATE_LOST && !req->force)
		return err_set(e, ERR_REFUSED,
			       "routectld is in safe mode, but not for a lost state: %s. Adopting "
			       "replaces that state file with what BIRD exports now (the file is "
			       "kept beside it); add --force if that is what you want",
			       s->safe_mode);
	if (blank(req->reason))
		return err_set(e, ERR_INVALID,
			       "a reason is required: say why (it is kept with the state)");

	struct state_evidence ev;
	int rc = state_find_evidence(s->conf, &ev, e);
	if (rc < 0)
		return rc;
	if (ev.has_header && strcmp(ev.site, s->conf->site) != 0)
		return err_set(e, ERR_REFUSED,
			       "%s was generated for site '%s', but this routectld serves site "
			       "'%s': BIRD may run another site's include; not adopting it",
			       s->conf->include_path, ev.site, s->conf->site);
	if (!b || !bird_alive(b))
		return err_set(e, ERR_CONNECT,
			       "cannot read what BIRD exports: BIRD at %s is not connected; "
			       "nothing changed",
			       s->conf->bird_socket);
	struct adopt_bird_view view;
	rc = adopt_read_bird(b, (int)s->conf->bird_timeout_ms, &view, e);
	if (rc < 0)
		return err_prefix(e, "cannot read what BIRD exports; nothing changed");
	rc = adopt_derive(s->conf, &view, req->assumptions, req->n_assumptions, req->force,
			  &res->plan, e);
	adopt_bird_view_free(&view);
	if (rc < 0)
		return rc;

	/* The generation never goes backwards: continue from what the include
	 * says BIRD was given last, or from the state in memory. */
	uint64_t last = ev.has_header ? ev.generation : 0;
	if (s->state && s->state->generation > last)
		last = s->state->generation;
	res->generation = last + 1;
	snprintf(res->evidence, sizeof res->evidence, "%s",
		 ev.found ? ev.what : "no include on disk");
	if (req->change_id[0])
		memcpy(res->change_id, req->change_id, sizeof res->change_id);
	else
		change_id_new(res->change_id);

	struct state *new = adopt_state(s->conf, &res->plan, res->generation, who->actor,
					req->reason, res->change_id, time(NULL));
	if (!new) {
		adopt_result_free(res);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	if (req->dry_run) {
		rc = include_diff(s, new, &res->diff, e);
		state_free(new);
		if (rc < 0)
			adopt_result_free(res);
		return rc;
	}
	int moved = 0;
	rc = fs_mkdirs(s->conf->state_dir, 0750, e);
	if (rc == 0)
		rc = set_aside(s->state_path, res->set_aside, sizeof res->set_aside, &moved, e);
	struct partial_out po = { &res->partial, res->partial_msg, sizeof res->partial_msg };
	if (rc == 0)
		rc = commit_state(s, b, new, "adopt", res->change_id, NULL, &res->apply_ms, &po,
				  e);
	if (rc < 0 && s->state == new) {
		/* BIRD undid it after the state file had it: the adopted state
		 * is the desired state, and the reconciler applies it again. */
		s->safe_mode[0] = '\0';
		s->safe_kind = SAFE_NONE;
		first_start_checked(s);
		adopt_result_free(res);
		return rc;
	}
	if (rc < 0) {
		/* Still in safe mode, with what was there before. */
		put_back(s->state_path, res->set_aside, moved);
		state_free(new);
		adopt_result_free(res);
		return rc;
	}
	s->safe_mode[0] = '\0';
	s->safe_kind = SAFE_NONE;
	first_start_checked(s);
	res->applied = 1;
	char summary[1024] = "";
	size_t used = 0;
	for (size_t i = 0; i < res->plan.n && used < sizeof summary; i++) {
		const struct adopt_item *it = &res->plan.items[i];
		char mode[32];
		if (it->mode == MODE_PREPEND)
			snprintf(mode, sizeof mode, "prepend %u", it->prepend);
		else
			snprintf(mode, sizeof mode, "%s", svc_mode_name(it->mode));
		used += (size_t)snprintf(summary + used, sizeof summary - used, "%s%s %s (%s)",
					 i ? ", " : "", it->service, mode,
					 it->source == ADOPT_FROM_BIRD ? "from BIRD" : "as told");
	}
	struct log_fields lf = { LOG_MSGID_CHANGE, res->change_id, s->conf->site, NULL };
	log_record(LOG_LVL_WARN, &lf,
		   "adopt %s by %s: what BIRD exports is the desired state again, generation "
		   "%" PRIu64 " (continued from %s): %s; reason: %s%s%s%s%s",
		   res->change_id, who->actor, res->generation, res->evidence, summary,
		   req->reason, res->set_aside[0] ? "; kept the old entry as " : "",
		   res->set_aside, res->plan.warnings[0] ? "; " : "", res->plan.warnings);
	return 0;
}

/* ---- automatic changes -------------------------------------------------------- */

const char *auto_kind_name(enum auto_kind k)
{
	switch (k) {
	case AUTO_STAGED_STEP:
		return "staged-step";
	case AUTO_CONFIRM_REVERT:
		return "confirm-revert";
	case AUTO_REVERT_KEPT:
		return "confirm-revert-kept";
	}
	return "?";
}

void auto_changes_free(struct auto_changes *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->recs[i].svcs);
	free(a->recs);
	memset(a, 0, sizeof *a);
}

int site_take_auto_changes(struct site *s, struct auto_changes *out)
{
	size_t n = s->autos.n;
	if (n == 0)
		return 0;
	struct auto_change *r = realloc(out->recs, (out->n + n) * sizeof *r);
	if (!r)
		return -ERR_NOMEM;
	memcpy(r + out->n, s->autos.recs, n * sizeof *r);
	out->recs = r;
	out->n += n;
	free(s->autos.recs);
	memset(&s->autos, 0, sizeof s->autos);
	return (int)n;
}

static int64_t epoch_ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The record of kind for the change it follows in a (one per followed
 * change), made when missing; the strings are copied, as the state they
 * come from may be freed before the record is kept. NULL on ENOMEM. */
static struct auto_change *auto_for(struct auto_changes *a, enum auto_kind kind,
				    const char *change_id, const struct svc_state *cur,
				    const char *follows, const char *reason)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->recs[i].kind == kind && strcmp(a->recs[i].follows, follows) == 0)
			return &a->recs[i];
	struct auto_change *r = realloc(a->recs, (a->n + 1) * sizeof *r);
	if (!r)
		return NULL;
	a->recs = r;
	r = &a->recs[a->n++];
	memset(r, 0, sizeof *r);
	r->kind = kind;
	r->epoch_ms = epoch_ms_now();
	snprintf(r->change_id, sizeof r->change_id, "%s", change_id);
	snprintf(r->follows, sizeof r->follows, "%s", follows);
	snprintf(r->follows_actor, sizeof r->follows_actor, "%s", cur->actor ? cur->actor : "");
	snprintf(r->reason, sizeof r->reason, "%s", reason);
	return r;
}

/* Adds cur's move to to_mode/to_prepend to the record of kind for the
 * change it follows. Returns that record, or NULL on ENOMEM. */
static struct auto_change *auto_note(struct auto_changes *a, enum auto_kind kind,
				     const char *change_id, const struct svc_state *cur,
				     const char *follows, const char *reason, enum svc_mode to_mode,
				     unsigned to_prepend)
{
	struct auto_change *r = auto_for(a, kind, change_id, cur, follows, reason);
	if (!r)
		return NULL;
	struct auto_service *v = realloc(r->svcs, (r->n_svcs + 1) * sizeof *v);
	if (!v)
		return NULL;
	r->svcs = v;
	v = &r->svcs[r->n_svcs++];
	memset(v, 0, sizeof *v);
	snprintf(v->name, sizeof v->name, "%s", cur->name);
	v->from_mode = cur->mode;
	v->from_prepend = cur->prepend;
	v->to_mode = to_mode;
	v->to_prepend = to_prepend;
	return r;
}

/* Ends an attempt of the automatic changes in *pending (all of one
 * attempt): they take the result of the apply (rc, e, partial) and are
 * kept for site_take_auto_changes, except a failed attempt that continues
 * a failure streak (*failures > 0: its first failure has a record). A kept
 * revert's error is the guard that kept it, unless the attempt failed.
 * *pending is emptied. */
static void auto_finish(struct site *s, struct auto_changes *pending, unsigned *failures,
			int rc, const struct err *e, int partial)
{
	unsigned before = *failures;
	*failures = rc < 0 ? before + 1 : 0;
	if (rc < 0 && before > 0) {
		auto_changes_free(pending);
		return;
	}
	for (size_t i = 0; i < pending->n; i++) {
		struct auto_change *r = &pending->recs[i];
		r->failed_attempts = before;
		if (rc < 0) {
			r->result = APPLY_RESULT_FAILED;
			r->error_code = e->code;
			snprintf(r->error, sizeof r->error, "%s", e->msg);
		} else {
			r->result = partial ? APPLY_RESULT_PARTIAL : APPLY_RESULT_OK;
		}
	}
	size_t room = AUTO_CHANGES_MAX > s->autos.n ? AUTO_CHANGES_MAX - s->autos.n : 0;
	size_t take = pending->n < room ? pending->n : room;
	struct auto_change *r = take ? realloc(s->autos.recs,
					       (s->autos.n + take) * sizeof *r) : NULL;
	int oom = take && !r;
	if (oom)
		take = 0;
	for (size_t i = take; i < pending->n; i++) {
		const struct auto_change *lost = &pending->recs[i];
		struct log_fields lf = { LOG_MSGID_CHANGE, lost->change_id, s->conf->site, NULL };
		log_record(LOG_LVL_ERROR, &lf,
			   "the record of %s %s (after change %s) is dropped, so routectld's "
			   "audit log will not have it: %s",
			   auto_kind_name(lost->kind), lost->change_id, lost->follows,
			   oom ? "out of memory" : "too many records not yet taken");
		free(lost->svcs);
	}
	if (take) {
		memcpy(r + s->autos.n, pending->recs, take * sizeof *r);
		s->autos.recs = r;
		s->autos.n += take;
	}
	free(pending->recs);
	memset(pending, 0, sizeof *pending);
}

/* ---- staged steps ----------------------------------------------------------- */

static void run_due_steps(struct site *s, struct bird_conn *b, time_t now)
{
	if (s->safe_mode[0] || !s->state || now_ms() < s->step_retry_ms)
		return;
	struct state *new = NULL;
	struct auto_changes pending = { 0 };
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
					     change_id, now) < 0 ||
		    auto_note(&pending, AUTO_STAGED_STEP, change_id, cur,
			      cur->change_id ? cur->change_id : "", cur->reason ? cur->reason : "",
			      cur->next_mode, cur->next_prepend) == NULL) {
			free(reason);
			state_free(new);
			auto_changes_free(&pending);
			return;
		}
		free(reason);
		/* A step is part of the change that planned it: it still waits
		 * for that change's confirmation, and goes back to the mode
		 * before that change if none comes. */
		ns->has_confirm = cur->has_confirm;
		memcpy(ns->confirm_change_id, cur->confirm_change_id, sizeof ns->confirm_change_id);
		ns->confirm_deadline = cur->confirm_deadline;
		ns->revert_mode = cur->revert_mode;
		ns->revert_prepend = cur->revert_prepend;
		service = cur->name;
		n_steps++;
		log_info("staged step: %s %s -> %s", cur->name, svc_mode_name(cur->mode),
			 svc_mode_name(cur->next_mode));
	}
	if (!new) {
		s->step_failures = 0;    /* nothing due: a failure streak ended */
		return;
	}
	new->generation = s->state->generation + 1;
	/* service points into s->state, which commit_state frees on success:
	 * keep a copy for the log record. */
	char svc_name[128];
	snprintf(svc_name, sizeof svc_name, "%s", service ? service : "");
	struct err e;
	err_clear(&e);
	int partial = 0;
	struct partial_out po = { &partial, NULL, 0 };
	int rc = commit_state(s, b, new, "staged", change_id, n_steps == 1 ? svc_name : NULL,
			      NULL, &po, &e);
	if (rc < 0) {
		if (s->state != new)
			state_free(new);
		s->step_retry_ms = now_ms() + STEP_RETRY_MS;
	}
	auto_finish(s, &pending, &s->step_failures, rc, &e, partial);
}

/* Whether reverting the due services of new (their moves in moves[0..n))
 * may take announcements away: the guards across sites judge it like a
 * change, never forced (a revert nobody confirmed must not take a service
 * off the internet). Returns 0 when the reverts may go ahead, or
 * -ERR_POLICY with e naming the guard that refused. */
static int judge_revert(struct site *s, const struct guard_move *moves, size_t n, struct err *e)
{
	int takes = 0;
	for (size_t i = 0; i < n; i++)
		takes = takes || guard_takes_away(moves[i].from_mode, moves[i].from_prepend,
						  moves[i].to_mode, moves[i].to_prepend);
	if (!takes || (!s->fleet_view && s->policy.stand_alone))
		return 0;
	struct guard_report r;
	memset(&r, 0, sizeof r);
	struct guard_view view = { 0 };
	struct err ve;
	err_clear(&ve);
	int have_view = 0;
	if (!s->fleet_view)
		snprintf(ve.msg, sizeof ve.msg,
			 "no fleet document is configured (config fleet-file), so routectld "
			 "cannot ask the other sites");
	else
		have_view = s->fleet_view(s->fleet_arg, s->conf->site, s->policy.ask_timeout_ms,
					  &view, &ve) == 0;
	guards_judge_fleet(&s->policy, s->conf->site, moves, n, have_view ? &view : NULL, ve.msg,
			   0, &r);
	guard_view_free(&view);
	return guards_refused(&r, e);
}

/* Puts back every service whose change was not confirmed by its deadline
 * (site.h, "Commit-confirm"), in one change. A revert that takes
 * announcements away is judged by the guards across sites first; when
 * they refuse, those services keep the state the change gave them (the
 * wait ends as "kept", and the log says why), and the others revert.
 * Returns 1 when it applied, 0 when nothing was due, <0 when the apply
 * failed (retried after STEP_RETRY_MS, like a step). */
static int run_due_reverts(struct site *s, struct bird_conn *b, time_t now)
{
	if (s->safe_mode[0] || !s->state || now_ms() < s->step_retry_ms)
		return 0;
	/* The moves of the due reverts, for the guards. */
	struct guard_move *moves = calloc(s->state->n ? s->state->n : 1, sizeof *moves);
	if (!moves)
		return -ERR_NOMEM;
	size_t n_moves = 0;
	for (size_t i = 0; i < s->state->n; i++) {
		const struct svc_state *cur = &s->state->svcs[i];
		if (cur->has_confirm && cur->confirm_deadline <= now)
			moves[n_moves++] = (struct guard_move){ cur->name, cur->mode, cur->revert_mode,
								cur->prepend, cur->revert_prepend,
								NULL, 0 };
	}
	struct err ge;
	err_clear(&ge);
	int keep_takers = n_moves && judge_revert(s, moves, n_moves, &ge) < 0;
	free(moves);
	struct state *new = NULL;
	struct auto_changes pending = { 0 };
	char change_id[17], ids[1024] = "", summary[2048] = "";
	size_t used_ids = 0, used_sum = 0, n = 0;
	const char *service = NULL;
	for (size_t i = 0; i < s->state->n; i++) {
		const struct svc_state *cur = &s->state->svcs[i];
		if (!cur->has_confirm || cur->confirm_deadline > now)
			continue;
		if (!new) {
			new = state_dup(s->state);
			if (!new)
				return -ERR_NOMEM;
			change_id_new(change_id);
		}
		struct svc_state *ns = &new->svcs[i];
		char deadline[32];
		time_format_utc(cur->confirm_deadline, deadline, sizeof deadline);
		if (keep_takers && guard_takes_away(cur->mode, cur->prepend, cur->revert_mode,
						    cur->revert_prepend)) {
			/* Safety first: the service stays as the change left it. */
			char line[ERR_MSG_MAX], why[1024];
			apply_one_line(ge.msg, line, sizeof line);
			snprintf(why, sizeof why,
				 "change %s was not confirmed by %s, but going back to the state "
				 "before it would take announcements away and a guard refuses it: "
				 "the service stays as the change left it", cur->confirm_change_id,
				 deadline);
			struct auto_change *kr = auto_note(&pending, AUTO_REVERT_KEPT, change_id, cur,
							   cur->confirm_change_id, why, cur->mode,
							   cur->prepend);
			if (!kr) {
				state_free(new);
				auto_changes_free(&pending);
				return -ERR_NOMEM;
			}
			kr->error_code = ge.code;
			snprintf(kr->error, sizeof kr->error, "%s", line);
			struct log_fields kf = { LOG_MSGID_CHANGE, cur->confirm_change_id,
						 s->conf->site, cur->name };
			log_record(LOG_LVL_ERROR, &kf,
				   "confirm deadline of %s passed, but %s stays %s: reverting it to "
				   "%s is refused (%s)", cur->confirm_change_id, cur->name,
				   svc_mode_name(cur->mode), svc_mode_name(cur->revert_mode), line);
			ns->has_confirm = 0;
			state_note_confirm_end(new, cur->confirm_change_id, CONFIRM_KEPT, now);
			continue;
		}
		char actor[160], reason[4096], why[256];
		snprintf(actor, sizeof actor, "routectld (confirm deadline of %s passed)",
			 cur->confirm_change_id);
		snprintf(reason, sizeof reason,
			 "change %s was not confirmed by %s: back to the state before it "
			 "(it was asked by %s: %.2048s)",
			 cur->confirm_change_id, deadline, cur->actor, cur->reason);
		snprintf(why, sizeof why,
			 "change %s was not confirmed by %s: back to the state before it",
			 cur->confirm_change_id, deadline);
		/* noted before svc_state_set, which frees what cur's twin in new
		 * holds (cur itself is s->state's, and stays) */
		if (auto_note(&pending, AUTO_CONFIRM_REVERT, change_id, cur, cur->confirm_change_id,
			      why, cur->revert_mode, cur->revert_prepend) == NULL ||
		    svc_state_set(ns, cur->revert_mode, cur->revert_prepend, actor, reason,
				  change_id, now) < 0) {
			state_free(new);
			auto_changes_free(&pending);
			return -ERR_NOMEM;
		}
		if (!strstr(ids, cur->confirm_change_id) && used_ids < sizeof ids)
			used_ids += (size_t)snprintf(ids + used_ids, sizeof ids - used_ids, "%s%s",
						     used_ids ? ", " : "", cur->confirm_change_id);
		if (used_sum < sizeof summary)
			used_sum += (size_t)snprintf(summary + used_sum, sizeof summary - used_sum,
						     "%s%s %s -> %s", used_sum ? ", " : "",
						     cur->name, svc_mode_name(cur->mode),
						     svc_mode_name(cur->revert_mode));
		service = cur->name;
		n++;
	}
	if (!new) {
		s->revert_failures = 0;    /* nothing due: a failure streak ended */
		return 0;
	}
	char ended[1024] = "";
	note_ended_confirms(s->state, new, CONFIRM_REVERTED, now, ended, sizeof ended);
	new->generation = s->state->generation + 1;
	char svc_name[128];
	snprintf(svc_name, sizeof svc_name, "%s", service ? service : "");
	struct err e;
	err_clear(&e);
	int partial = 0;
	struct partial_out po = { &partial, NULL, 0 };
	int rc = commit_state(s, b, new, n ? "confirm-revert" : "confirm-kept", change_id,
			      n == 1 ? svc_name : NULL, NULL, &po, &e);
	auto_finish(s, &pending, &s->revert_failures, rc, &e, partial);
	struct log_fields lf = { LOG_MSGID_CHANGE, change_id, s->conf->site,
				 n == 1 ? svc_name : NULL };
	if (rc < 0) {
		if (s->state != new)
			state_free(new);
		s->step_retry_ms = now_ms() + STEP_RETRY_MS;
		log_record(LOG_LVL_ERROR, &lf,
			   "confirm deadline of %s passed, but the revert (change %s: %s) "
			   "failed; trying again in %d s", ids, change_id, summary,
			   STEP_RETRY_MS / 1000);
		return rc;
	}
	if (n)
		log_record(LOG_LVL_WARN, &lf,
			   "confirm deadline of %s passed without a confirm: reverted as change "
			   "%s by routectld: %s", ids, change_id, summary);
	return 1;
}

/* ---- commit-confirm: the confirm ---------------------------------------------- */

void confirm_result_free(struct confirm_result *r)
{
	free(r->items);
	memset(r, 0, sizeof *r);
}

int site_confirm(struct site *s, const struct confirm_request *req, const struct caller *who,
		 struct confirm_result *res, struct err *e)
{
	memset(res, 0, sizeof *res);
	if (s->safe_mode[0])
		return err_set(e, ERR_UNAVAILABLE, "routectld is in safe mode: %s", s->safe_mode);
	if (req->site && strcmp(req->site, s->conf->site) != 0)
		return err_set(e, ERR_REFUSED,
			       "this routectld serves site '%s', not '%s': confirm at the "
			       "routectld of site '%s'", s->conf->site, req->site, req->site);
	const char *id = req->change_id ? req->change_id : "";
	snprintf(res->change_id, sizeof res->change_id, "%s", id);
	time_t now = time(NULL);
	const struct confirm_end *ce = state_find_confirm_end(s->state, id);
	if (!confirm_pending(s->state, id)) {
		if (!ce)
			return err_set(e, ERR_NOTFOUND,
				       "no change '%s' waits for a confirmation at site '%s' (never "
				       "made with a confirm deadline here, or ended long ago)",
				       id, s->conf->site);
		char at[32];
		time_format_utc(ce->at, at, sizeof at);
		const char *what = ce->outcome == CONFIRM_CONFIRMED
					   ? "it was confirmed already"
				   : ce->outcome == CONFIRM_REVERTED
					   ? "its confirm deadline passed and routectld reverted it"
					   : ce->outcome == CONFIRM_SUPERSEDED
					   ? "later changes replaced it on every service it moved"
					   : "its confirm deadline passed and routectld kept it (the "
					     "revert was refused)";
		snprintf(res->ended, sizeof res->ended, "%s", confirm_outcome_name(ce->outcome));
		res->ended_at = ce->at;
		return err_set(e, ERR_REFUSED,
			       "change %s no longer waits for a confirmation: %s (at %s)", id, what,
			       at);
	}
	res->items = calloc(s->state->n + 1, sizeof *res->items);
	struct state *new = res->items ? state_dup(s->state) : NULL;
	if (!new) {
		confirm_result_free(res);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < new->n; i++) {
		struct svc_state *ns = &new->svcs[i];
		if (!ns->has_confirm || strcmp(ns->confirm_change_id, id) != 0)
			continue;
		if (ns->confirm_deadline <= now) {
			char at[32];
			time_format_utc(ns->confirm_deadline, at, sizeof at);
			state_free(new);
			confirm_result_free(res);
			snprintf(res->ended, sizeof res->ended, "late");
			res->ended_at = ns->confirm_deadline;
			return err_set(e, ERR_REFUSED,
				       "too late: the confirm deadline of change %s passed at %s; "
				       "routectld reverts it (at once when BIRD is connected)",
				       id, at);
		}
		struct change_item *it = &res->items[res->n_items++];
		snprintf(it->service, sizeof it->service, "%s", ns->name);
		it->from_mode = ns->revert_mode;
		it->from_prepend = ns->revert_prepend;
		it->to_mode = ns->mode;
		it->to_prepend = ns->prepend;
		it->has_next = ns->has_next;
		it->next_mode = ns->next_mode;
		it->next_prepend = ns->next_prepend;
		it->next_at = ns->next_at;
		res->deadline = ns->confirm_deadline;
		ns->has_confirm = 0;
		ns->confirm_change_id[0] = '\0';
		ns->confirm_deadline = 0;
		ns->revert_mode = MODE_ANNOUNCE;
		ns->revert_prepend = 0;
	}
	state_note_confirm_end(new, id, CONFIRM_CONFIRMED, now);
	/* What BIRD exports does not change, so the generation does not
	 * either: the include stays as it is. */
	int rc = state_save(s->state_path, new, e);
	if (rc < 0) {
		state_free(new);
		confirm_result_free(res);
		return err_prefix(e, "the confirm of change %s was not kept", id);
	}
	state_free(s->state);
	s->state = new;
	char names[1024] = "";
	size_t used = 0;
	for (size_t i = 0; i < res->n_items && used < sizeof names; i++)
		used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
					 res->items[i].service);
	struct log_fields lf = { LOG_MSGID_CHANGE, id, s->conf->site,
				 res->n_items == 1 ? res->items[0].service : NULL };
	log_record(LOG_LVL_INFO, &lf, "change %s confirmed by %s (%s): it stays%s%s", id,
		   who->actor, names, req->reason && *req->reason ? "; reason: " : "",
		   req->reason ? req->reason : "");
	return 0;
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
		if (cur->has_next) {
			int64_t in = cur->next_at <= now ? 0 : (int64_t)(cur->next_at - now) * 1000;
			if (mono + in < best)
				best = mono + in;
		}
		if (cur->has_confirm) {
			int64_t in = cur->confirm_deadline <= now
					     ? 0 : (int64_t)(cur->confirm_deadline - now) * 1000;
			if (mono + in < best)
				best = mono + in;
		}
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
	/* After a first start, BIRD is compared with the fresh state before
	 * anything is applied (the site may be in safe mode after that). */
	if (s->first_start_unchecked) {
		rc = check_first_start(s, b, &e);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	/* Check BIRD's protocols first, at every reconcile: status shows what
	 * was found, and BIRD is not touched while the config and BIRD disagree
	 * on the protocols or the local AS. */
	struct apply_peers peers;
	rc = apply_precheck(b, s->conf, s->state, (int)s->conf->bird_timeout_ms, &peers, &e);
	if (rc < 0) {
		char line[ERR_MSG_MAX];
		apply_one_line(e.msg, line, sizeof line);
		log_error("reconcile (%s): checking BIRD's protocols: %s", why, line);
		return rc;
	}
	struct err be;
	if (apply_peers_blocking(&peers, &be) < 0) {
		char line[ERR_MSG_MAX];
		apply_one_line(be.msg, line, sizeof line);
		log_error("reconcile (%s): BIRD left alone: %s", why, line);
		keep_peer_findings(s, &peers);
		return -ERR_REFUSED;
	}
	if (!force) {
		struct buf cand = { 0 };
		char *current = NULL;
		rc = apply_plan(s->conf, s->state, s->tmpl, &cand, &current, &e);
		int file_drift = rc == 0 && (!current || strcmp(current, cand.p) != 0);
		free(current);
		buf_free(&cand);
		if (rc < 0) {
			log_error("reconcile (%s): %s", why, e.msg);
			keep_peer_findings(s, &peers);
			return rc;
		}
		if (file_drift) {
			snprintf(drift, sizeof drift,
				 "%s differs from the desired state (edited by hand?)",
				 s->conf->include_path);
		} else {
			rc = verify_exports(b, s->conf, s->state, &peers,
					    (int)s->conf->bird_timeout_ms, &e);
			if (rc == 0) {
				char partial[2048];
				if (apply_peers_partial(&peers, 1, partial, sizeof partial))
					log_warn("reconcile (%s): BIRD runs the desired state, but "
						 "not every peer exports it (applying again cannot "
						 "fix that): %s",
						 why, partial);
				else
					log_debug("reconcile (%s): in sync", why);
				keep_peer_findings(s, &peers);
				return 0;
			}
			keep_peer_findings(s, &peers);
			if (rc != -ERR_VERIFY) {
				char line[ERR_MSG_MAX];
				apply_one_line(e.msg, line, sizeof line);
				log_error("reconcile (%s): %s", why, line);
				return rc;
			}
			apply_one_line(e.msg, drift, sizeof drift);
		}
	}
	apply_peers_free(&peers);
	if (force)
		log_info("reconcile (%s): applying the desired state", why);
	else
		log_warn("reconcile (%s): drift: %s; repairing", why, drift);
	struct apply_report r;
	char change_id[17];
	change_id_new(change_id);
	struct log_fields lf = { LOG_MSGID_CHANGE, change_id, s->conf->site, NULL };
	struct apply_opts o = { .force = 1 };
	rc = apply_state(b, s->conf, s->state, s->tmpl, &o, &r, &e);
	if (r.peers.v)
		keep_peer_findings(s, &r.peers);
	if (!force || r.changed)
		s->repairs++;
	if (rc < 0) {
		char line[ERR_MSG_MAX];
		apply_one_line(e.msg, line, sizeof line);
		log_record(LOG_LVL_ERROR, &lf, "reconcile (%s): repair failed: %s", why, line);
		set_last_apply(s, "reconcile", APPLY_RESULT_FAILED, change_id, e.msg, r.ms_total);
		apply_report_free(&r);
		return rc;
	}
	log_record(LOG_LVL_INFO, &lf, "reconcile (%s): %s in %lld ms%s%s", why,
		   force ? "applied" : "repaired", (long long)r.ms_total,
		   r.partial ? "; in part: " : "", r.partial ? r.partial_text : "");
	apply_report_free(&r);
	set_last_apply(s, "reconcile", r.partial ? APPLY_RESULT_PARTIAL : APPLY_RESULT_OK, change_id,
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
	if (b && bird_alive(b)) {
		/* Reverts first: a revert drops the staged plan of the change
		 * it undoes. */
		run_due_reverts(s, b, time(NULL));
		run_due_steps(s, b, time(NULL));
	}
}

int64_t site_next_due_ms(const struct site *s, const struct bird_conn *b)
{
	int64_t step = b && bird_alive(b) ? next_step_ms(s) : INT64_MAX;
	return step < s->next_reconcile_ms ? step : s->next_reconcile_ms;
}
