/* Adopt what BIRD exports as the desired state, after the state was lost:
 * the daemon's side (safe mode, evidence, BIRD connection, apply). The
 * derivation is in site/adopt.c. */
#include "daemon/daemon.h"
#include "daemon/internal.h"

#include "apply/apply.h"
#include "bird/bird.h"
#include "common/diff.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "store/store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void adopt_result_free(struct adopt_result *r)
{
	adopt_plan_free(&r->plan);
	free(r->diff);
	memset(r, 0, sizeof *r);
}

static int blank(const char *s)
{
	for (; s && *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return 0;
	return 1;
}

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
		return errno == ENOENT || errno == ENOTDIR ? 0
		       : err_set(e, ERR_IO, "%s: cannot look at it: %s", path, strerror(errno));
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
	if (moved)
		rename(aside, path);
	else
		unlink(aside);
}

/* The diff of the include that adopting would write. */
static int include_diff(struct daemon *d, const struct state *new, char **out, struct err *e)
{
	struct buf cand = { 0 }, diff = { 0 };
	char *current = NULL;
	int rc = apply_plan(d->conf, new, d->tmpl, &cand, &current, e);
	if (rc == 0 && diff_unified(current ? current : "", cand.p, d->conf->include_path,
				    d->conf->include_path, &diff) < 0)
		rc = err_set(e, ERR_NOMEM, "out of memory");
	if (rc == 0)
		*out = buf_steal(&diff);
	buf_free(&diff);
	buf_free(&cand);
	free(current);
	return rc;
}

int daemon_adopt(struct daemon *d, const struct adopt_request *req, const struct caller *who,
		 struct adopt_result *res, struct err *e)
{
	memset(res, 0, sizeof *res);
	if (!d->safe_mode[0])
		return err_set(e, ERR_REFUSED,
			       "routectld is not in safe mode: the desired state of site '%s' is "
			       "loaded (generation %" PRIu64 "); adopt is only for a lost state. "
			       "Change it with set, drain or undrain",
			       d->conf->site, d->state ? d->state->generation : 0);
	if (d->safe_kind != SAFE_STATE_LOST && !req->force)
		return err_set(e, ERR_REFUSED,
			       "routectld is in safe mode, but not for a lost state: %s. Adopting "
			       "replaces that state file with what BIRD exports now (the file is "
			       "kept beside it); add --force if that is what you want",
			       d->safe_mode);
	if (blank(req->reason))
		return err_set(e, ERR_INVALID,
			       "a reason is required: say why (it is kept with the state)");

	struct state_evidence ev;
	int rc = state_find_evidence(d->conf, &ev, e);
	if (rc < 0)
		return rc;
	if (ev.has_header && strcmp(ev.site, d->conf->site) != 0)
		return err_set(e, ERR_REFUSED,
			       "%s was generated for site '%s', but this routectld serves site "
			       "'%s': BIRD may run another site's include; not adopting it",
			       d->conf->include_path, ev.site, d->conf->site);

	if (!daemon_bird_ready(d))
		return err_set(e, ERR_CONNECT,
			       "cannot read what BIRD exports: BIRD at %s is not connected (%s); "
			       "nothing changed",
			       d->conf->bird_socket, d->bird_error[0] ? d->bird_error : "unknown");
	struct adopt_bird_view view;
	rc = adopt_read_bird(d->bird, (int)d->conf->bird_timeout_ms, &view, e);
	if (rc < 0) {
		if (!bird_alive(d->bird))
			bird_disconnect(d, e->msg);
		return err_prefix(e, "cannot read what BIRD exports; nothing changed");
	}
	rc = adopt_derive(d->conf, &view, req->assumptions, req->n_assumptions, req->force,
			  &res->plan, e);
	adopt_bird_view_free(&view);
	if (rc < 0)
		return rc;

	/* The generation never goes backwards: continue from what the include
	 * says BIRD was given last, or from the state in memory. */
	uint64_t last = ev.has_header ? ev.generation : 0;
	if (d->state && d->state->generation > last)
		last = d->state->generation;
	res->generation = last + 1;
	snprintf(res->evidence, sizeof res->evidence, "%s",
		 ev.found ? ev.what : "no include on disk");
	change_id_new(res->change_id);

	struct state *new = adopt_state(d->conf, &res->plan, res->generation, who->actor,
					req->reason, res->change_id, time(NULL));
	if (!new) {
		adopt_result_free(res);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	if (req->dry_run) {
		rc = include_diff(d, new, &res->diff, e);
		state_free(new);
		if (rc < 0)
			adopt_result_free(res);
		return rc;
	}
	int moved = 0;
	rc = fs_mkdirs(d->conf->state_dir, 0750, e);
	if (rc == 0)
		rc = set_aside(d->state_path, res->set_aside, sizeof res->set_aside, &moved, e);
	/* Out of safe mode for the apply, with no desired state meanwhile: a
	 * reconnect inside commit_state then reconciles nothing old. */
	struct state *old = d->state;
	char *reason = NULL;
	enum safe_kind kind = d->safe_kind;
	if (rc == 0 && !(reason = strdup(d->safe_mode)))
		rc = err_set(e, ERR_NOMEM, "out of memory");
	if (rc == 0) {
		d->state = NULL;
		d->safe_mode[0] = '\0';
		d->safe_kind = SAFE_NONE;
		rc = commit_state(d, new, "adopt", res->change_id, &res->apply_ms, e);
		if (rc < 0) {
			d->state = old;
			snprintf(d->safe_mode, sizeof d->safe_mode, "%s", reason);
			d->safe_kind = kind;
		} else {
			state_free(old);
		}
	}
	free(reason);
	if (rc < 0) {
		put_back(d->state_path, res->set_aside, moved);
		state_free(new);
		adopt_result_free(res);
		return rc;
	}
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
	log_warn("adopt %s by %s: what BIRD exports is the desired state again, generation "
		 "%" PRIu64 " (continued from %s): %s; reason: %s%s%s%s%s",
		 res->change_id, who->actor, res->generation, res->evidence, summary, req->reason,
		 res->set_aside[0] ? "; kept the old entry as " : "", res->set_aside,
		 res->plan.warnings[0] ? "; " : "", res->plan.warnings);
	return 0;
}

int daemon_check_first_start(struct daemon *d)
{
	struct adopt_bird_view view;
	struct err e;
	err_clear(&e);
	int rc = adopt_read_bird(d->bird, (int)d->conf->bird_timeout_ms, &view, &e);
	if (rc == -ERR_INVALID || rc == -ERR_NOTFOUND) {
		/* BIRD runs no routectl include (yet), or its routectl_v4/v6
		 * is not running: nothing exported to lose. */
		d->first_start_unchecked = 0;
		return 0;
	}
	if (rc < 0) {
		log_warn("first start: cannot compare BIRD's exports with the fresh state (%s); "
			 "asking again on the next connection", e.msg);
		bird_disconnect(d, e.msg);
		return -1;
	}
	struct adopt_plan plan;
	char differs[1024] = "";
	size_t used = 0;
	rc = adopt_derive(d->conf, &view, NULL, 0, 0, &plan, &e);
	size_t n_routes = view.n_routes;
	adopt_bird_view_free(&view);
	if (rc == -ERR_NOMEM)
		return -1;
	if (rc == 0) {
		for (size_t i = 0; i < plan.n; i++) {
			const struct adopt_item *it = &plan.items[i];
			const struct svc_state *s = state_find(d->state, it->service);
			if (s && s->mode == it->mode && s->prepend == it->prepend)
				continue;
			if (used < sizeof differs)
				used += (size_t)snprintf(differs + used, sizeof differs - used,
							 "%s%s %s", used ? ", " : "", it->service,
							 it->bird_text);
		}
		adopt_plan_free(&plan);
	} else if (n_routes > 0) {
		/* The reasons, without adopt's "cannot adopt" heading. */
		const char *why = strchr(e.msg, '\n');
		snprintf(differs, sizeof differs, "%s", why ? why + 1 : e.msg);
		/* One line: the reason goes into the log and status. */
		for (char *c = differs; *c; c++)
			if (*c == '\n')
				*c = ';';
	}
	if (!differs[0]) {
		d->first_start_unchecked = 0;
		return 0;
	}
	/* Keep the fresh state aside: on a restart, the include written at
	 * this first start is then the evidence, and the state is lost again
	 * rather than applied. */
	char aside[PATH_MAX];
	int moved = 0;
	struct err se;
	if (set_aside(d->state_path, aside, sizeof aside, &moved, &se) == 0 && aside[0])
		unlink(d->state_path);
	enter_safe_mode(d, SAFE_STATE_LOST,
			"first start (no state file, no include), but BIRD already runs "
			"routectl's routes and exports them otherwise than a fresh state "
			"would: %s. An earlier state was lost with its include; routectld "
			"does not apply the fresh state (kept as %s), leaves BIRD as it is and "
			"refuses changes. Restore the state file and send SIGHUP, or take what "
			"BIRD exports now as the desired state: routectl adopt %s --reason TEXT",
			differs, aside[0] ? aside : "nothing", d->conf->site);
	/* The fresh state is nobody's intent: status shows no state rather
	 * than that one. */
	state_free(d->state);
	d->state = NULL;
	return -1;
}
