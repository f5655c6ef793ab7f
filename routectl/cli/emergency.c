/* routectl emergency (see emergency.h). */
#include "cli/emergency.h"

#include "apply/apply.h"
#include "bird/bird.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/timeutil.h"
#include "conf/conf.h"
#include "fleet/fleetview.h"
#include "site/adopt.h"
#include "site/emergency.h"
#include "site/site.h"
#include "store/store.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* How long a run waits for a routectld that is adopting the journal. */
#define JOURNAL_WAIT_MS 5000
/* How long a run waits for another emergency command on the same site to
 * end: its guards ask the other sites, BIRD answers within its timeouts,
 * and it keeps BIRD awake WAKE_WINDOW_MS after. */
#define PEER_WAIT_MS 60000
/* After an apply that changed what BIRD runs, BIRD is woken this often for
 * this long, as routectld's worker does (worker.h): BIRD 2.0.12 sends the
 * tail of a large update burst only when its I/O loop next wakes (shared
 * BIRD facts, "Propagation speed"), up to 3 s later otherwise. */
#define WAKE_WINDOW_MS 3000
#define WAKE_EVERY_MS 2

/* Whether something accepts connections on routectld's console socket. */
static int console_answers(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		return 0;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(fd);
	return ok;
}

/* Whether the site lock is held by another `routectl emergency` (its
 * lock file names the program), with its PID. */
static int emergency_holds_lock(const struct conf *c, long *pid)
{
	char prog[40];
	return site_lock_holder(c->state_dir, pid, prog, sizeof prog) == 0 &&
	       strcmp(prog, "routectl") == 0;
}

/* Whether routectld runs for the site of c: its lock is held (why says by
 * whom) or its console answers. Another emergency command that holds the
 * lock is not routectld: with wait_ms, this one waits for it (errf says
 * so), so that two commands never change the site at once, each from the
 * state it read; without, or when it still holds the lock, returns 2 and
 * why names it. With the lock free, *lock_fd holds it for this run (-1
 * when the state directory does not exist). Returns 1 running, 0 not, 2
 * another emergency command runs, <0 when the lock cannot be looked at (e
 * says why). */
static int routectld_runs(const struct conf *c, int wait_ms, FILE *errf, int *lock_fd,
			  char *why, size_t size, struct err *e)
{
	*lock_fd = -1;
	why[0] = '\0';
	struct err le;
	long other = 0;
	int rc = site_lock_take(c->state_dir, 0, lock_fd, &le);
	if (rc == -ERR_BUSY && wait_ms > 0 && emergency_holds_lock(c, &other)) {
		fprintf(errf, "routectl: emergency: another routectl emergency (process %ld) is "
			"changing site %s; waiting up to %d s for it to end\n", other, c->site,
			wait_ms / 1000);
		rc = site_lock_take(c->state_dir, wait_ms, lock_fd, &le);
	}
	if (rc == -ERR_BUSY && emergency_holds_lock(c, &other)) {
		snprintf(why, size, "another routectl emergency (process %ld) is changing site %s "
			 "now (%s)", other, c->site, le.msg);
		return 2;
	}
	if (rc == -ERR_BUSY) {
		snprintf(why, size, "%s", le.msg);
		return 1;
	}
	if (rc < 0 && rc != -ERR_NOTFOUND)
		return err_set(e, le.code, "%s", le.msg);
	if (console_answers(c->console_socket)) {
		snprintf(why, size, "its console %s answers", c->console_socket);
		return 1;
	}
	return 0;
}

/* "emergency: alice (uid 1000) on router1"; run by root through sudo,
 * "emergency: root (uid 0, sudo by alice) on router1". Taken before the
 * command becomes routectld's user (become_state_owner). */
static void emergency_actor(struct caller *who)
{
	memset(who, 0, sizeof *who);
	uid_t uid = getuid();
	char host[256] = "?";
	if (gethostname(host, sizeof host) < 0)
		snprintf(host, sizeof host, "?");
	host[sizeof host - 1] = '\0';
	struct passwd pw, *res = NULL;
	char buf[4096], via[96] = "";
	const char *user = getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res
				   ? res->pw_name : NULL;
	const char *sudo = getenv("SUDO_USER");
	if (uid == 0 && sudo && sudo[0])
		snprintf(via, sizeof via, ", sudo by %.64s", sudo);
	if (user)
		snprintf(who->actor, sizeof who->actor, "emergency: %.64s (uid %u%s) on %.128s", user,
			 (unsigned)uid, via, host);
	else
		snprintf(who->actor, sizeof who->actor, "emergency: uid %u%s on %.128s",
			 (unsigned)uid, via, host);
	who->has_uid = 1;
	who->uid = uid;
}

/* Files the command writes (state file, include, journal, locks) must be
 * routectld's own: a state file routectld cannot read puts it in safe mode.
 * So the command runs as the owner of the state directory (the user
 * routectld runs as): root becomes that user, with its groups and the
 * group of BIRD's control socket (what the unit's SupplementaryGroups=
 * gives routectld), under routectld's umask; another user is refused.
 * Returns 0 or -ERR_REFUSED/-ERR_IO with e saying what to do. */
static int become_state_owner(const struct conf *c, struct err *e)
{
	struct stat sb;
	if (stat(c->state_dir, &sb) < 0)
		return 0;   /* a first start, or a state directory that is lost: site_open decides */
	uid_t me = geteuid();
	umask(0007);
	if (sb.st_uid == me)
		return 0;
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwuid_r(sb.st_uid, &pw, buf, sizeof buf, &res) != 0 || !res)
		return err_set(e, ERR_REFUSED,
			       "the state directory %s belongs to uid %u, which has no user name",
			       c->state_dir, (unsigned)sb.st_uid);
	if (me != 0)
		return err_set(e, ERR_REFUSED,
			       "run it as the user routectld runs as, the owner of %s (sudo -u %s "
			       "routectl emergency ..., or as root): files written as uid %u would "
			       "keep routectld from reading its state",
			       c->state_dir, pw.pw_name, (unsigned)me);
	gid_t groups[64];
	int n = (int)(sizeof groups / sizeof groups[0]) - 1;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
		n = (int)(sizeof groups / sizeof groups[0]) - 1;
	struct stat bs;
	if (stat(c->bird_socket, &bs) == 0)
		groups[n++] = bs.st_gid;
	if (setgroups((size_t)n, groups) < 0 || setgid(pw.pw_gid) < 0 || setuid(pw.pw_uid) < 0)
		return err_set(e, ERR_IO, "cannot become %s, the owner of %s: %s", pw.pw_name,
			       c->state_dir, strerror(errno));
	return 0;
}

/* The fleet-view hook of the site (site.h): the config's fleet document,
 * asked live, as routectld asks it, once per command: the dry run that
 * judges the guards before the intent is written asks, and the change
 * itself judges the same view (a copy), so that it cannot be refused by a
 * view the operator did not see, and the other sites are asked once. */
struct fleet_once {
	const struct site *s;
	int asked;
	int rc;
	struct err err;
	struct guard_view view;
};

static int view_copy(const struct guard_view *from, struct guard_view *to, struct err *e)
{
	memset(to, 0, sizeof *to);
	to->sites = calloc(from->n_sites + 1, sizeof *to->sites);
	if (!to->sites)
		return err_set(e, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < from->n_sites; i++) {
		const struct guard_view_site *f = &from->sites[i];
		struct guard_view_site *t = &to->sites[i];
		*t = *f;
		t->services = calloc(f->n_services + 1, sizeof *t->services);
		if (!t->services) {
			t->n_services = 0;
			to->n_sites = i + 1;
			guard_view_free(to);
			return err_set(e, ERR_NOMEM, "out of memory");
		}
		memcpy(t->services, f->services, f->n_services * sizeof *t->services);
	}
	to->n_sites = from->n_sites;
	return 0;
}

static int ask_fleet(void *arg, const char *except_site, unsigned timeout_ms,
		     struct guard_view *out, struct err *e)
{
	struct fleet_once *f = arg;
	if (!f->asked) {
		err_clear(&f->err);
		f->rc = fleetview_ask(f->s->conf->fleet_path, except_site, timeout_ms, &f->view,
				      &f->err);
		f->asked = 1;
	}
	if (f->rc < 0)
		return err_set(e, f->err.code, "%s", f->err.msg);
	return view_copy(&f->view, out, e);
}

/* A refusal by the controller before anything changed: the guards, the
 * policy, a wrong request, safe mode. Other failures tried to apply. */
static int refused_before_apply(int rc)
{
	return rc == -ERR_POLICY || rc == -ERR_INVALID || rc == -ERR_NOTFOUND ||
	       rc == -ERR_REFUSED || rc == -ERR_UNAVAILABLE;
}

/* The intent of the command: every service it names (or all), asked mode
 * and the desired mode before. */
static int build_intent(const struct site *s, const struct cli_request *req,
			const char *id, const char *actor, struct emergency_record *r,
			struct err *e)
{
	memset(r, 0, sizeof *r);
	snprintf(r->id, sizeof r->id, "%s", id);
	snprintf(r->action, sizeof r->action, "%s",
		 req->emergency == CLI_EMERGENCY_DRAIN ? "drain" : "undrain");
	r->actor = (char *)actor;
	r->reason = (char *)req->reason;
	r->force = req->force;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	r->epoch_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	r->svcs = calloc(s->conf->n_services + 1, sizeof *r->svcs);
	if (!r->svcs)
		return err_set(e, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < s->conf->n_services; i++) {
		const char *name = s->conf->services[i].name;
		int want = req->n_services == 0;
		for (size_t k = 0; k < req->n_services && !want; k++)
			want = strcmp(req->services[k], name) == 0;
		if (!want)
			continue;
		struct emergency_service *es = &r->svcs[r->n_svcs++];
		snprintf(es->name, sizeof es->name, "%s", name);
		es->mode = req->emergency == CLI_EMERGENCY_DRAIN ? MODE_WITHDRAW : MODE_ANNOUNCE;
		const struct svc_state *cur = s->state ? state_find(s->state, name) : NULL;
		if (cur) {
			es->has_before = 1;
			es->before_mode = cur->mode;
			es->before_prepend = cur->prepend;
		}
	}
	return 0;
}

static int unknown_services(const struct conf *c, const struct cli_request *req,
			    struct err *e)
{
	for (size_t i = 0; i < req->n_services; i++) {
		if (conf_find_service(c, req->services[i]))
			continue;
		struct buf names = { 0 };
		for (size_t k = 0; k < c->n_services; k++)
			buf_printf(&names, "%s%s", k ? ", " : "", c->services[k].name);
		int rc = err_set(e, ERR_NOTFOUND, "no service '%s' at site '%s' (services: %s)",
				 req->services[i], c->site, names.p ? names.p : "");
		buf_free(&names);
		return rc;
	}
	return 0;
}

static void print_items(FILE *out, const struct change_result *res)
{
	for (size_t i = 0; i < res->n_items; i++) {
		const struct change_item *it = &res->items[i];
		fprintf(out, "  %-16s %s", it->service, svc_mode_name(it->from_mode));
		if (it->from_mode == MODE_PREPEND)
			fprintf(out, " %u", it->from_prepend);
		fprintf(out, " -> %s\n", svc_mode_name(it->to_mode));
	}
}

/* Keeps BIRD's I/O loop awake for WAKE_WINDOW_MS with cheap commands, so
 * that the upstream gets the whole change now. */
static void keep_bird_awake(struct bird_conn *b, int timeout_ms)
{
	int64_t until = now_ms() + WAKE_WINDOW_MS;
	struct err e;
	while (now_ms() < until && bird_alive(b)) {
		if (bird_wake(b, timeout_ms, &e) < 0)
			break;
		struct timespec ts = { 0, WAKE_EVERY_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static int run_change(const struct cli_request *req, FILE *out, FILE *errf)
{
	const char *verb = req->emergency == CLI_EMERGENCY_DRAIN ? "drain" : "undrain";
	struct site s;
	struct err e;
	err_clear(&e);
	if (site_open_config(&s, req->config_path, &e) < 0) {
		fprintf(errf, "routectl: emergency %s: %s\nNothing was changed.\n", verb, e.msg);
		site_close(&s);
		return CLI_EXIT_FAILED;
	}
	const struct conf *c = s.conf;
	struct caller who;
	emergency_actor(&who);
	if (become_state_owner(c, &e) < 0) {
		fprintf(errf, "routectl: emergency %s: %s\nNothing was changed.\n", verb, e.msg);
		site_close(&s);
		return CLI_EXIT_FAILED;
	}
	int lock_fd = -1;
	char why[ERR_MSG_MAX];
	int runs = routectld_runs(c, PEER_WAIT_MS, errf, &lock_fd, why, sizeof why, &e);
	if (runs < 0) {
		fprintf(errf, "routectl: emergency %s: %s\nNothing was changed.\n", verb, e.msg);
		site_close(&s);
		return CLI_EXIT_FAILED;
	}
	if (runs == 2) {
		fprintf(errf, "routectl: emergency %s: refused: %s; it did not end within %d s. "
			"See what it did with routectl emergency status, then run this again.\n"
			"Nothing was changed.\n", verb, why, PEER_WAIT_MS / 1000);
		site_close(&s);
		return CLI_EXIT_FAILED;
	}
	if (runs && !req->force) {
		fprintf(errf,
			"routectl: emergency %s: refused: routectld of site %s is running (%s).\n"
			"Use the normal path:\n"
			"  routectl -s %s %s %s --now --reason TEXT\n"
			"or from another host: routectl -f FLEET --via oob %s %s --now --reason TEXT\n"
			"(--force goes on beside the running routectld, which then adopts the "
			"emergency journal within a second.)\nNothing was changed.\n",
			verb, c->site, why, c->console_socket, verb, c->site, verb, c->site);
		if (lock_fd >= 0)
			close(lock_fd);
		site_close(&s);
		return CLI_EXIT_FAILED;
	}
	if (runs)
		fprintf(errf, "routectl: emergency %s: routectld of site %s is running (%s); going "
			"on because of --force: it adopts the journal record within a second and "
			"keeps this change\n", verb, c->site, why);

	int rc = site_open_state(&s, &e);
	if (rc == 0 && s.safe_mode[0])
		/* no desired state to change: what routectld would refuse too */
		rc = err_set(&e, ERR_UNAVAILABLE, "refused: the site is in safe mode: %s",
			     s.safe_mode);
	if (rc == 0)
		rc = unknown_services(s.conf, req, &e);
	if (rc < 0) {
		fprintf(errf, "routectl: emergency %s: %s\nNothing was changed.\n", verb, e.msg);
		site_close(&s);
		if (lock_fd >= 0)
			close(lock_fd);
		return CLI_EXIT_FAILED;
	}
	struct fleet_once fleet = { .s = &s };
	if (s.conf->fleet_path) {
		s.fleet_view = ask_fleet;
		s.fleet_arg = &fleet;
	}
	char id[17];
	change_id_new(id);
	struct change_request cr = {
		.kind = req->emergency == CLI_EMERGENCY_DRAIN ? CHANGE_DRAIN : CHANGE_UNDRAIN,
		.site = s.conf->site,
		.services = req->services,
		.n_services = req->n_services,
		.reason = req->reason,
		.now = 1,
		.force = req->force,
		.dry_run = 1,
	};
	memcpy(cr.change_id, id, sizeof cr.change_id);
	struct change_result res;
	/* The guards first, by a dry run, before the intent is written: a
	 * command they refuse, or one interrupted while the other sites are
	 * asked, leaves no intent for routectld to adopt. */
	struct err je;
	int refused = site_change(&s, NULL, &cr, &who, &res, &e);
	change_result_free(&res);
	struct emergency_record intent;
	struct emergency_writer w = { -1, -1, "" };
	rc = build_intent(&s, req, id, who.actor, &intent, &je);
	if (rc == 0)
		rc = emergency_writer_open(s.conf->state_dir, JOURNAL_WAIT_MS, &w, &je);
	if (rc == 0)
		rc = refused < 0 ? emergency_write_refused(&w, &intent, e.msg, &je)
				 : emergency_write_intent(&w, &intent, &je);
	free(intent.svcs);
	if (rc < 0 || refused < 0) {
		if (refused < 0)
			fprintf(errf, "routectl: emergency %s: refused: %s\n", verb, e.msg);
		if (rc < 0)
			fprintf(errf, "routectl: emergency %s: the emergency journal: %s\n", verb,
				je.msg);
		fprintf(errf, "Nothing was changed.\n");
		emergency_writer_close(&w);
		guard_view_free(&fleet.view);
		site_close(&s);
		if (lock_fd >= 0)
			close(lock_fd);
		return CLI_EXIT_FAILED;
	}

	int64_t start = now_ms();
	struct bird_conn *b = NULL;
	struct err be;
	err_clear(&be);
	if (bird_open(s.conf->bird_socket, (int)s.conf->bird_timeout_ms, &b, &be) < 0)
		b = NULL;
	cr.dry_run = 0;
	uint64_t gen_before = s.state ? s.state->generation : 0;
	rc = site_change(&s, b, &cr, &who, &res, &e);
	if (rc == -ERR_CONNECT && !b)
		err_set(&e, ERR_CONNECT, "%.1500s: %.2000s", e.msg, be.msg);
	int64_t ms = now_ms() - start;
	int committed = rc < 0 && s.state && s.state->generation != gen_before;
	enum emergency_result result = rc == 0 ? EMERGENCY_APPLIED
				       : committed || !refused_before_apply(rc) ? EMERGENCY_FAILED
				       : EMERGENCY_REFUSED;
	struct err oe;
	int orc = emergency_write_outcome(&w, id, result, rc < 0 ? e.msg : NULL,
					  s.state ? s.state->generation : 0, ms,
					  res.guards.judged ? &res.guards : NULL, &oe);
	emergency_writer_close(&w);

	if (rc == 0) {
		fprintf(out, "emergency %s of site %s: %s in %lld ms (change %s, generation %" PRIu64
			")\n", verb, s.conf->site,
			res.n_items == 0 ? "nothing to change" : res.partial ? "APPLIED IN PART"
									     : "applied",
			(long long)ms, id, s.state->generation);
		print_items(out, &res);
		if (res.partial)
			fprintf(out, "  not in effect at: %s\n", res.partial_msg);
		if (guards_overridden(&res.guards))
			fprintf(out, "  guards overridden by --force\n");
	} else if (result == EMERGENCY_REFUSED) {
		fprintf(errf, "routectl: emergency %s: refused: %s\nNothing was changed.\n", verb,
			e.msg);
	} else {
		fprintf(errf, "routectl: emergency %s: FAILED after %lld ms: %s\n", verb,
			(long long)ms, e.msg);
		fprintf(errf, "The journal keeps it as the operator's word: routectld makes it the "
			"desired state when it starts and applies it once it reaches BIRD.\n");
	}
	if (orc < 0)
		fprintf(errf, "routectl: emergency %s: the outcome is not in the journal (%s); "
			"routectld adopts the intent all the same\n", verb, oe.msg);
	struct stat jst;
	char jpath[4096];
	snprintf(jpath, sizeof jpath, "%s/%s", s.conf->state_dir, EMERGENCY_JOURNAL);
	if (result != EMERGENCY_REFUSED && lstat(jpath, &jst) == 0 &&
	    (uintmax_t)jst.st_size > EMERGENCY_JOURNAL_MAX)
		/* what routectld's reader refuses (site/emergency.h) */
		fprintf(errf, "routectl: emergency %s: WARNING: the journal %s is %jd bytes, more "
			"than the %u routectld adopts: routectld keeps the desired state this "
			"command saved, but leaves BIRD alone and audits nothing until the journal "
			"is read (routectl emergency status) and set aside\n", verb, jpath,
			(intmax_t)jst.st_size, EMERGENCY_JOURNAL_MAX);
	else if (result != EMERGENCY_REFUSED)
		fprintf(out, "journal: %s (routectld adopts it %s)\n", jpath,
			runs ? "within a second" : "when it starts");
	change_result_free(&res);
	if (b && s.bird_changed) {
		fflush(out);
		keep_bird_awake(b, (int)s.conf->bird_timeout_ms);
	}
	if (b)
		bird_close(b);
	guard_view_free(&fleet.view);
	site_close(&s);
	if (lock_fd >= 0)
		close(lock_fd);
	return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}

/* ---- status --------------------------------------------------------------------- */

static void status_state(FILE *out, const struct conf *c, const char *tmpl,
			 const struct state **stp, struct state **owned)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/state.json", c->state_dir);
	struct err e;
	*stp = NULL;
	if (state_load(path, owned, &e) < 0) {
		fprintf(out, "desired state: cannot load %s: %s\n", path, e.msg);
		return;
	}
	const struct state *st = *owned;
	*stp = st;
	fprintf(out, "desired state (%s, generation %" PRIu64 "):\n", path, st->generation);
	for (size_t i = 0; i < st->n; i++) {
		const struct svc_state *s = &st->svcs[i];
		char since[32];
		time_format_utc(s->since, since, sizeof since);
		fprintf(out, "  %-16s %s", s->name, svc_mode_name(s->mode));
		if (s->mode == MODE_PREPEND)
			fprintf(out, " %u", s->prepend);
		fprintf(out, "  since %s by %s: %s (change %s)\n", since, s->actor, s->reason,
			s->change_id);
	}
	struct buf cand = { 0 };
	char *current = NULL;
	if (apply_plan(c, st, tmpl, &cand, &current, &e) < 0)
		fprintf(out, "include %s: %s\n", c->include_path, e.msg);
	else if (!current)
		fprintf(out, "include %s: missing\n", c->include_path);
	else
		fprintf(out, "include %s: %s\n", c->include_path,
			strcmp(current, cand.p) == 0 ? "the render of the desired state"
						     : "DIFFERS from the render of the desired state");
	free(current);
	buf_free(&cand);
}

static void status_bird(FILE *out, const struct conf *c)
{
	struct bird_conn *b = NULL;
	struct err e;
	if (bird_open(c->bird_socket, (int)c->bird_timeout_ms, &b, &e) < 0) {
		fprintf(out, "BIRD at %s: not reachable: %s\n", c->bird_socket, e.msg);
		return;
	}
	fprintf(out, "BIRD %s at %s, what its routectl_export() does now:\n", bird_version(b),
		c->bird_socket);
	struct adopt_bird_view v = { 0 };
	struct adopt_plan plan = { 0 };
	if (adopt_read_bird(b, (int)c->bird_timeout_ms, &v, &e) < 0 ||
	    adopt_derive(c, &v, NULL, 0, 1, &plan, &e) < 0) {
		char line[ERR_MSG_MAX];
		apply_one_line(e.msg, line, sizeof line);
		fprintf(out, "  cannot tell: %s\n", line);
	} else {
		for (size_t i = 0; i < plan.n; i++) {
			const struct adopt_item *it = &plan.items[i];
			if (!it->bird_clear)
				fprintf(out, "  %-16s %s\n", it->service, it->bird_text);
			else if (it->bird_mode == MODE_PREPEND)
				fprintf(out, "  %-16s prepend %u\n", it->service, it->bird_prepend);
			else
				fprintf(out, "  %-16s %s\n", it->service, svc_mode_name(it->bird_mode));
		}
	}
	adopt_plan_free(&plan);
	adopt_bird_view_free(&v);
	bird_close(b);
}

static void status_journal(FILE *out, const struct conf *c)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", c->state_dir, EMERGENCY_JOURNAL);
	struct emergency_journal j;
	struct err e;
	int rc = emergency_journal_read(path, &j, &e);
	if (rc == -ERR_NOTFOUND) {
		fprintf(out, "emergency journal %s: none waiting to be adopted\n", path);
		return;
	}
	if (rc < 0) {
		fprintf(out, "emergency journal %s: %s\n", path, e.msg);
		return;
	}
	fprintf(out, "emergency journal %s: %zu command(s) not adopted by routectld yet%s\n",
		path, j.n, j.skipped ? " (and lines that are not whole records)" : "");
	for (size_t i = 0; i < j.n; i++) {
		const struct emergency_record *r = &j.recs[i];
		char when[32];
		time_format_utc((time_t)(r->epoch_ms / 1000), when, sizeof when);
		fprintf(out, "  %s %s %s by %s: %s; reason: %s\n", when, r->id, r->action, r->actor,
			emergency_result_name(r->result), r->reason);
		if (r->error)
			fprintf(out, "    error: %s\n", r->error);
	}
	emergency_journal_free(&j);
}

static int run_status(const struct cli_request *req, FILE *out, FILE *errf)
{
	struct conf *c = NULL;
	struct policy p;
	char *tmpl = NULL;
	struct err e;
	err_clear(&e);
	if (site_load_config(req->config_path, &c, &p, &tmpl, &e) < 0) {
		fprintf(errf, "routectl: emergency status: %s\n", e.msg);
		return CLI_EXIT_FAILED;
	}
	int lock_fd = -1;
	char why[ERR_MSG_MAX];
	int runs = routectld_runs(c, 0, NULL, &lock_fd, why, sizeof why, &e);
	if (lock_fd >= 0)
		close(lock_fd);   /* only looked: status changes nothing */
	fprintf(out, "site %s (config %s)\n", c->site, req->config_path);
	if (runs == 2)
		fprintf(out, "routectld: not running; %s\n", why);
	else if (runs > 0)
		fprintf(out, "routectld: RUNNING (%s): use the normal path\n", why);
	else if (runs == 0)
		fprintf(out, "routectld: not running\n");
	else
		fprintf(out, "routectld: cannot tell: %s\n", e.msg);
	const struct state *st = NULL;
	struct state *owned = NULL;
	status_state(out, c, tmpl, &st, &owned);
	status_bird(out, c);
	status_journal(out, c);
	state_free(owned);
	free(tmpl);
	conf_free(c);
	return CLI_EXIT_OK;
}

int cli_emergency(const struct cli_request *req, FILE *out, FILE *err)
{
	if (req->emergency == CLI_EMERGENCY_STATUS)
		return run_status(req, out, err);
	return run_change(req, out, err);
}
