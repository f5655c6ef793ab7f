#include "cli/args.h"

#include "common/buf.h"
#include "common/err.h"
#include "site/adopt.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* ---- options ---- */

enum opt_id {
	OPT_SOCKET,
	OPT_JSON,
	OPT_TIMEOUT,
	OPT_HELP,
	OPT_VERSION,
	OPT_SERVICE,
	OPT_REASON,
	OPT_NOW,
	OPT_DRY_RUN,
	OPT_STATE,
	OPT_FORCE,
	OPT_TOKEN_FILE,
	OPT_LIMIT,
	OPT_CONFIRM_WITHIN,
	OPT_FLEET,
	OPT_CONFIG,
	OPT_VIA,
	OPT_SITE,
	OPT__COUNT
};

#define OPTF(id) (1u << (id))
/* Accepted by every command, before or after it. */
#define OPTS_GLOBAL (OPTF(OPT_SOCKET) | OPTF(OPT_JSON) | OPTF(OPT_TIMEOUT) | \
		     OPTF(OPT_HELP) | OPTF(OPT_VERSION) | OPTF(OPT_FLEET) | OPTF(OPT_VIA))

struct cli_option {
	const char *long_name;
	char short_name;     /* 0: none */
	bool has_arg;
	enum opt_id id;
};

static const struct cli_option options[] = {
	{ "socket",  's', true,  OPT_SOCKET },
	{ "json",    0,   false, OPT_JSON },
	{ "timeout", 0,   true,  OPT_TIMEOUT },
	{ "help",    'h', false, OPT_HELP },
	{ "version", 0,   false, OPT_VERSION },
	{ "service", 0,   true,  OPT_SERVICE },
	{ "reason",  0,   true,  OPT_REASON },
	{ "now",     0,   false, OPT_NOW },
	{ "dry-run", 0,   false, OPT_DRY_RUN },
	{ "state",   0,   true,  OPT_STATE },
	{ "force",   0,   false, OPT_FORCE },
	{ "token-file", 0, true, OPT_TOKEN_FILE },
	{ "limit",   'n', true,  OPT_LIMIT },
	{ "confirm-within", 0, true, OPT_CONFIRM_WITHIN },
	{ "fleet",   'f', true,  OPT_FLEET },
	{ "config",  0,   true,  OPT_CONFIG },
	{ "via",     0,   true,  OPT_VIA },
	{ "site",    0,   true,  OPT_SITE },
};

/* ---- the command table ---- */

typedef int (*parse_fn)(struct cli_request *req, char **pos, size_t n, struct err *e);

struct cli_command {
	const char *name;
	enum cli_cmd cmd;
	const char *method;     /* NULL: handled locally */
	const char *path;
	unsigned opts;          /* options it takes besides the global ones */
	parse_fn parse;
	const char *usage;
};

static int parse_status(struct cli_request *req, char **pos, size_t n, struct err *e);
static int parse_drain(struct cli_request *req, char **pos, size_t n, struct err *e);
static int parse_set(struct cli_request *req, char **pos, size_t n, struct err *e);
static int parse_help(struct cli_request *req, char **pos, size_t n, struct err *e);
static int parse_adopt(struct cli_request *req, char **pos, size_t n, struct err *e);
static int parse_token(struct cli_request *req, char **pos, size_t n, struct err *e);
static int parse_history(struct cli_request *req, char **pos, size_t n, struct err *e);
static int parse_confirm(struct cli_request *req, char **pos, size_t n, struct err *e);
static int parse_emergency(struct cli_request *req, char **pos, size_t n, struct err *e);

static const struct cli_command commands[] = {
	{ "status", CMD_STATUS, "GET", "/v1/status", 0, parse_status,
	  "routectl [-s SOCKET | -f FLEET] [--json] [--timeout SECONDS] status\n"
	  "    Show the site's desired state per service, BIRD's connection and\n"
	  "    the last apply; with -f, every site x service of the fleet.\n" },
	{ "drain", CMD_DRAIN, "POST", "/v1/drain",
	  OPTF(OPT_SERVICE) | OPTF(OPT_REASON) | OPTF(OPT_NOW) | OPTF(OPT_DRY_RUN) |
	  OPTF(OPT_FORCE) | OPTF(OPT_CONFIRM_WITHIN),
	  parse_drain,
	  "routectl [-s SOCKET | -f FLEET] [--json] drain SITE [--service NAME]... --reason TEXT\n"
	  "         [--now] [--dry-run] [--force] [--confirm-within DURATION]\n"
	  "    Move the site's services (all, or the ones named) to withdraw, in\n"
	  "    stages (prepend, wait, withdraw) unless --now.\n" },
	{ "undrain", CMD_UNDRAIN, "POST", "/v1/undrain",
	  OPTF(OPT_SERVICE) | OPTF(OPT_REASON) | OPTF(OPT_NOW) | OPTF(OPT_DRY_RUN) |
	  OPTF(OPT_FORCE) | OPTF(OPT_CONFIRM_WITHIN),
	  parse_drain,
	  "routectl [-s SOCKET | -f FLEET] [--json] undrain SITE [--service NAME]... --reason TEXT\n"
	  "         [--now] [--dry-run] [--force] [--confirm-within DURATION]\n"
	  "    Bring the site's services (all, or the ones named) back to announce,\n"
	  "    in stages (prepend, wait, announce) unless --now.\n" },
	{ "set", CMD_SET, "POST", "/v1/set",
	  OPTF(OPT_REASON) | OPTF(OPT_DRY_RUN) | OPTF(OPT_FORCE) | OPTF(OPT_CONFIRM_WITHIN),
	  parse_set,
	  "routectl [-s SOCKET | -f FLEET] [--json] set SITE SERVICE announce|prepend N|withdraw\n"
	  "         --reason TEXT [--dry-run] [--force] [--confirm-within DURATION]\n"
	  "    Put one service at one site in a state at once (prepend N: 1..10).\n" },
	{ "adopt", CMD_ADOPT, "POST", "/v1/adopt",
	  OPTF(OPT_REASON) | OPTF(OPT_STATE) | OPTF(OPT_FORCE) | OPTF(OPT_DRY_RUN),
	  parse_adopt,
	  "routectl [-s SOCKET] [--json] adopt SITE --reason TEXT\n"
	  "         [--state SERVICE=announce|withdraw|prepend:N]... [--force] [--dry-run]\n"
	  "    In safe mode after the state file was lost: take what BIRD exports now\n"
	  "    as the desired state. --state says what a service BIRD cannot tell\n"
	  "    should be; --force also adopts over a state file that does not load.\n" },
	{ "token", CMD_TOKEN_NEW, NULL, NULL, OPTF(OPT_TOKEN_FILE), parse_token,
	  "routectl token new NAME viewer|operator|admin [--token-file PATH]\n"
	  "    Make a bearer token for the API over TCP, here, without routectld:\n"
	  "    print its secret once (the only line on stdout) and append its hash\n"
	  "    to the token file, which routectld reads at start and on SIGHUP.\n" },
	{ "history", CMD_HISTORY, "GET", "/v1/history", OPTF(OPT_SERVICE) | OPTF(OPT_LIMIT),
	  parse_history,
	  "routectl [-s SOCKET] [--json] history [--service NAME] [-n N]\n"
	  "    Show the audit trail of the site's changes, newest first: who, on whose\n"
	  "    behalf, what, the result and the reason (the last N, default 20).\n" },
	{ "confirm", CMD_CONFIRM, "POST", "/v1/changes/{change_id}/confirm",
	  OPTF(OPT_REASON) | OPTF(OPT_SITE), parse_confirm,
	  "routectl [-s SOCKET | -f FLEET] [--json] confirm CHANGE_ID [--reason TEXT]\n"
	  "         [--site SITE]\n"
	  "    Confirm a change made with --confirm-within, so that routectld does not\n"
	  "    revert it at its deadline (status lists the pending ones). With -f, at\n"
	  "    every router of the fleet (or of SITE) at once: a change made with -f\n"
	  "    has one id on every router it went to.\n" },
	{ "check", CMD_CHECK, "GET", "/v1/status", 0, parse_status,
	  "routectl [-s SOCKET | -f FLEET] [--timeout SECONDS] check\n"
	  "    For monitoring (Nagios, Icinga): print one line, ROUTECTL OK|WARNING|\n"
	  "    CRITICAL|UNKNOWN - what is wrong | perfdata, and exit with the Nagios\n"
	  "    plugin codes 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (not the exit\n"
	  "    status below; a wrong command line is 3 too). CRITICAL: a daemon in\n"
	  "    safe mode, BIRD not connected, or (with -f) a service announced from no\n"
	  "    site. WARNING: a service withdrawn or prepended at a site, a change\n"
	  "    waiting for its confirmation, a peer filter with a problem (e.g. one\n"
	  "    that ignores routectl), the last apply failed, an API listener (primary\n"
	  "    or out-of-band) not bound. UNKNOWN: routectld (or with -f, a router)\n"
	  "    cannot be asked, unless something is CRITICAL.\n"
	  "    With -s the check sees one router, which cannot know whether the other\n"
	  "    sites announce a service: a service withdrawn there is WARNING; use -f\n"
	  "    to tell a service announced from no site (CRITICAL).\n" },
	{ "emergency", CMD_EMERGENCY, NULL, NULL,
	  OPTF(OPT_SERVICE) | OPTF(OPT_REASON) | OPTF(OPT_FORCE) | OPTF(OPT_CONFIG),
	  parse_emergency,
	  "routectl emergency drain|undrain [--service NAME]... --reason TEXT [--config FILE]\n"
	  "         [--force]\n"
	  "routectl emergency status [--config FILE]\n"
	  "    On the router host when routectld is down: drain (withdraw) or undrain\n"
	  "    (announce) this site's services (all, or the ones named) at once, with\n"
	  "    routectld's config (default " CLI_DEFAULT_CONFIG ") and its\n"
	  "    renderer, apply and verify, and a journal record that routectld adopts\n"
	  "    when it starts. Refused while routectld runs (use the normal path);\n"
	  "    --force goes on anyway and overrides the guards. status: the desired\n"
	  "    state, the include, BIRD, and journal records not adopted yet.\n" },
	{ "help", CMD_HELP, NULL, NULL, 0, parse_help,
	  "routectl help [COMMAND] | --help | --version\n" },
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const char usage_tail[] =
	"\n"
	"Options:\n"
	"  -s, --socket SOCKET   routectld's console socket (default: $ROUTECTL_SOCKET,\n"
	"                        else " CLI_DEFAULT_SOCKET ")\n"
	"  --json                print the daemon's JSON answer\n"
	"  -f, --fleet FLEET     act on the fleet document FLEET (default: $ROUTECTL_FLEET):\n"
	"                        status of every router; drain, undrain and set on every\n"
	"                        router of SITE at once (SITE ALL: of every site), with\n"
	"                        one change id; confirm on every router (or of --site)\n"
	"  --via primary|oob|auto  with -f: the endpoint of each router to use: its\n"
	"                        api-url, its oob-url (out-of-band, the management\n"
	"                        network), or (auto, the default) the api-url, then the\n"
	"                        oob-url when the api-url cannot be connected to\n"
	"  --timeout SECONDS     give up waiting for the daemon after this long (default 60)\n"
	"  --service NAME        drain/undrain only this service (repeatable);\n"
	"                        history: only the records of this service\n"
	"  -n, --limit N         history: how many records, 1..1000 (default 20)\n"
	"  --reason TEXT         why: required on every change, kept in the audit trail\n"
	"  --now                 skip the stages and go to the final state at once\n"
	"  --dry-run             show what would change and the BIRD diff; change nothing\n"
	"  --confirm-within DURATION  revert by itself unless `routectl confirm` comes\n"
	"                        within DURATION (600, 90s, 10m, 1h30m; at most 1d)\n"
	"  --site SITE           confirm: only at SITE (with -f: its routers; with -s:\n"
	"                        refused unless routectld serves SITE)\n"
	"  --state SERVICE=STATE adopt: the state of a service BIRD cannot tell (repeatable)\n"
	"  --force               adopt: also over a state file that does not load;\n"
	"                        drain/undrain/set: override the guards (admin, audited)\n"
	"  --token-file PATH     token new: the token file (default: $ROUTECTL_TOKEN_FILE,\n"
	"                        else /etc/routectl/tokens)\n"
	"  --config FILE         emergency: routectld's config (default " CLI_DEFAULT_CONFIG ")\n"
	"\n"
	"Exit status: 0 done, 1 refused or failed (or routectld unreachable),\n"
	"2 wrong command line (nothing was sent), 3 outcome unknown: a change was\n"
	"sent and no answer came (run routectl status to see the state).\n";

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static const struct cli_command *command_of(enum cli_cmd cmd)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (commands[i].cmd == cmd)
			return &commands[i];
	return NULL;
}

const char *cli_usage(const char *cmd_name)
{
	static char all[8192];

	if (cmd_name) {
		const struct cli_command *c = find_command(cmd_name);
		return c ? c->usage : NULL;
	}
	if (!all[0]) {
		struct buf b = { 0 };
		int rc = buf_puts(&b, "Usage:\n");
		for (size_t i = 0; i < N_COMMANDS; i++)
			for (const char *p = commands[i].usage; *p; p++) {
				/* indent every line of the listing */
				if (p == commands[i].usage || p[-1] == '\n')
					rc |= buf_puts(&b, "  ");
				rc |= buf_append(&b, p, 1);
			}
		rc |= buf_puts(&b, usage_tail);
		snprintf(all, sizeof all, "%s", rc == 0 ? b.p : "routectl: out of memory\n");
		buf_free(&b);
	}
	return all;
}

const char *cli_method(enum cli_cmd cmd)
{
	const struct cli_command *c = command_of(cmd);
	return c ? c->method : NULL;
}

const char *cli_path(enum cli_cmd cmd)
{
	const struct cli_command *c = command_of(cmd);
	return c ? c->path : NULL;
}

/* RFC 3986: unreserved characters pass, every other byte is %XX. */
static int put_query_value(struct buf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int rc = isalnum(*p) || strchr("-._~", *p) ? buf_append(b, p, 1) :
							   buf_printf(b, "%%%02X", *p);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int cli_request_target(const struct cli_request *req, char *out, size_t size)
{
	const char *path = cli_path(req->cmd);
	struct buf b = { 0 };
	int rc;

	if (!path)
		return -ERR_INVALID;
	if (req->cmd == CMD_CONFIRM) {
		/* the id is one path segment */
		rc = buf_puts(&b, "/v1/changes/");
		if (rc == 0)
			rc = put_query_value(&b, req->change_id ? req->change_id : "");
		if (rc == 0)
			rc = buf_puts(&b, "/confirm");
	} else {
		rc = buf_puts(&b, path);
	}
	if (rc == 0 && req->cmd == CMD_HISTORY) {
		rc = buf_printf(&b, "?limit=%ld", req->limit ? req->limit : CLI_HISTORY_DEFAULT);
		if (rc == 0 && req->n_services > 0) {
			rc = buf_puts(&b, "&service=");
			if (rc == 0)
				rc = put_query_value(&b, req->services[0]);
		}
	}
	if (rc == 0 && b.len >= size)
		rc = -ERR_INVALID;
	if (rc == 0)
		memcpy(out, b.p, b.len + 1);
	buf_free(&b);
	return rc < 0 ? -ERR_INVALID : 0;
}

/* ---- parsing the command line ---- */

static bool is_blank(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char)*s))
			return false;
	return true;
}

/* jansson refuses strings that are not UTF-8; say so before building a body. */
static bool is_utf8(const char *s)
{
	json_t *j = json_string(s);
	if (!j)
		return false;
	json_decref(j);
	return true;
}

static const char *reason_why(enum cli_cmd cmd)
{
	switch (cmd) {
	case CMD_DRAIN: return "say why the site is drained";
	case CMD_UNDRAIN: return "say why the site is undrained";
	default: return "say why the state changes";
	}
}

static int check_name(const char *what, const char *s, struct err *e)
{
	if (is_blank(s))
		return err_set(e, ERR_INVALID, "%s is empty", what);
	if (!is_utf8(s))
		return err_set(e, ERR_INVALID, "%s \"%s\" is not valid UTF-8", what, s);
	for (const char *p = s; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
			return err_set(e, ERR_INVALID,
				       "%s \"%s\" contains white space or a control character",
				       what, s);
	return 0;
}

static int check_reason(const struct cli_request *req, struct err *e)
{
	if (!req->reason)
		return err_set(e, ERR_INVALID,
			       "--reason is required: %s (it goes into the audit trail)",
			       reason_why(req->cmd));
	if (is_blank(req->reason))
		return err_set(e, ERR_INVALID,
			       "--reason is blank: %s (it goes into the audit trail)",
			       reason_why(req->cmd));
	if (!is_utf8(req->reason))
		return err_set(e, ERR_INVALID, "--reason is not valid UTF-8");
	return 0;
}

static int parse_status(struct cli_request *req, char **pos, size_t n, struct err *e)
{
	(void)req;
	if (n > 0)
		return err_set(e, ERR_INVALID,
			       "unexpected argument \"%s\": %s takes no arguments", pos[0],
			       req->cmd_name);
	return 0;
}

static int parse_drain(struct cli_request *req, char **pos, size_t n, struct err *e)
{
	const char *verb = req->cmd == CMD_DRAIN ? "drain" : "undrain";

	if (n == 0)
		return err_set(e, ERR_INVALID,
			       "missing SITE: name the site to %s (routectl %s SITE --reason TEXT)",
			       verb, verb);
	if (n > 1)
		return err_set(e, ERR_INVALID,
			       "unexpected argument \"%s\" after SITE \"%s\" (name services with --service)",
			       pos[1], pos[0]);
	if (check_name("SITE", pos[0], e) < 0)
		return -ERR_INVALID;
	req->site = pos[0];
	for (size_t i = 0; i < req->n_services; i++)
		if (check_name("--service", req->services[i], e) < 0)
			return -ERR_INVALID;
	return check_reason(req, e);
}

static int parse_prepend_count(const char *s, unsigned *out, struct err *e)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < PREPEND_MIN || v > PREPEND_MAX)
		return err_set(e, ERR_INVALID,
			       "prepend needs a count from %d to %d, not \"%s\"",
			       PREPEND_MIN, PREPEND_MAX, s);
	*out = (unsigned)v;
	return 0;
}

static int parse_set(struct cli_request *req, char **pos, size_t n, struct err *e)
{
	static const char shape[] =
		"routectl set SITE SERVICE announce|prepend N|withdraw --reason TEXT";

	if (n < 1)
		return err_set(e, ERR_INVALID, "missing SITE (%s)", shape);
	if (n < 2)
		return err_set(e, ERR_INVALID, "missing SERVICE (%s)", shape);
	if (n < 3)
		return err_set(e, ERR_INVALID,
			       "missing the state: announce, prepend N or withdraw (%s)", shape);
	if (check_name("SITE", pos[0], e) < 0 || check_name("SERVICE", pos[1], e) < 0)
		return -ERR_INVALID;
	req->site = pos[0];
	req->service = pos[1];
	if (svc_mode_parse(pos[2], &req->mode) < 0)
		return err_set(e, ERR_INVALID,
			       "unknown state \"%s\": use announce, prepend N or withdraw", pos[2]);
	size_t used = 3;
	if (req->mode == MODE_PREPEND) {
		if (n < 4)
			return err_set(e, ERR_INVALID,
				       "prepend needs a count from %d to %d (set SITE SERVICE prepend N)",
				       PREPEND_MIN, PREPEND_MAX);
		if (parse_prepend_count(pos[3], &req->prepend, e) < 0)
			return -ERR_INVALID;
		used = 4;
	}
	if (n > used)
		return err_set(e, ERR_INVALID, "unexpected argument \"%s\" after %s",
			       pos[used], pos[used - 1]);
	return check_reason(req, e);
}

/* --state SERVICE=STATE, into a (strings in buf). */
static int state_arg(const char *arg, struct adopt_assumption *a, char *buf, size_t size,
		     struct err *e)
{
	if (snprintf(buf, size, "%s", arg) >= (int)size)
		return err_set(e, ERR_INVALID, "--state \"%.40s...\" is too long", arg);
	if (adopt_parse_assumption(buf, a, e) < 0)
		return -ERR_INVALID;
	return check_name("--state SERVICE", a->service, e);
}

static int parse_adopt(struct cli_request *req, char **pos, size_t n, struct err *e)
{
	if (n == 0)
		return err_set(e, ERR_INVALID,
			       "missing SITE: name the site whose routectld adopts what its BIRD "
			       "exports (routectl adopt SITE --reason TEXT)");
	if (n > 1)
		return err_set(e, ERR_INVALID, "unexpected argument \"%s\" after SITE \"%s\"",
			       pos[1], pos[0]);
	if (check_name("SITE", pos[0], e) < 0)
		return -ERR_INVALID;
	req->site = pos[0];
	for (size_t i = 0; i < req->n_states; i++) {
		struct adopt_assumption a;
		char buf[256];
		if (state_arg(req->states[i], &a, buf, sizeof buf, e) < 0)
			return -ERR_INVALID;
	}
	return check_reason(req, e);
}

static int parse_token(struct cli_request *req, char **pos, size_t n, struct err *e)
{
	static const char shape[] = "routectl token new NAME viewer|operator|admin";

	if (n == 0)
		return err_set(e, ERR_INVALID, "missing what to do: new (%s)", shape);
	if (strcmp(pos[0], "new") != 0)
		return err_set(e, ERR_INVALID, "unknown token command \"%s\": new (%s)", pos[0],
			       shape);
	if (n < 2)
		return err_set(e, ERR_INVALID, "missing NAME (%s)", shape);
	if (n < 3)
		return err_set(e, ERR_INVALID, "missing the role: viewer, operator or admin (%s)",
			       shape);
	if (n > 3)
		return err_set(e, ERR_INVALID, "unexpected argument \"%s\" after the role",
			       pos[3]);
	if (tokens_check_name(pos[1], e) < 0)
		return -ERR_INVALID;
	if (role_parse(pos[2], &req->token_role) < 0)
		return err_set(e, ERR_INVALID,
			       "unknown role \"%s\": use viewer, operator or admin", pos[2]);
	req->token_name = pos[1];
	return 0;
}

static int parse_history(struct cli_request *req, char **pos, size_t n, struct err *e)
{
	if (n > 0)
		return err_set(e, ERR_INVALID,
			       "unexpected argument \"%s\" (name a service with --service)", pos[0]);
	if (req->n_services > 1)
		return err_set(e, ERR_INVALID, "--service is given more than once: history shows "
			       "one service or all");
	if (req->n_services == 1 && check_name("--service", req->services[0], e) < 0)
		return -ERR_INVALID;
	if (req->limit == 0)
		req->limit = CLI_HISTORY_DEFAULT;
	return 0;
}

int cli_parse_duration(const char *s, long *seconds, struct err *e)
{
	static const char forms[] = "whole seconds (600) or numbers with s, m, h or d "
				    "(90s, 10m, 1h30m)";
	long total = 0;
	const char *p = s;
	if (!*p)
		return err_set(e, ERR_INVALID, "--confirm-within needs a duration: %s", forms);
	while (*p) {
		if (!isdigit((unsigned char)*p))
			return err_set(e, ERR_INVALID, "--confirm-within \"%s\" is not a duration: %s",
				       s, forms);
		char *end;
		errno = 0;
		long n = strtol(p, &end, 10);
		const char *units = "smhd", *u = *end ? strchr(units, *end) : NULL;
		static const long unit_s[] = { 1, 60, 3600, 86400 };
		/* a bare number only on its own: "1h30" says nothing of the 30 */
		if (!u && !(*end == '\0' && p == s))
			return err_set(e, ERR_INVALID, "--confirm-within \"%s\" is not a duration: %s",
				       s, forms);
		long unit = u ? unit_s[u - units] : 1;
		if (u)
			end++;
		if (errno || n > CLI_CONFIRM_WITHIN_MAX_S || total > CLI_CONFIRM_WITHIN_MAX_S ||
		    n * unit > CLI_CONFIRM_WITHIN_MAX_S)
			return err_set(e, ERR_INVALID,
				       "--confirm-within \"%s\" is longer than a day (%d s), the "
				       "longest routectld takes", s, CLI_CONFIRM_WITHIN_MAX_S);
		total += n * unit;
		p = end;
	}
	if (total < 1 || total > CLI_CONFIRM_WITHIN_MAX_S)
		return err_set(e, ERR_INVALID,
			       "--confirm-within \"%s\" must be from 1 s to a day (%d s)", s,
			       CLI_CONFIRM_WITHIN_MAX_S);
	*seconds = total;
	return 0;
}

static int parse_confirm(struct cli_request *req, char **pos, size_t n, struct err *e)
{
	if (n == 0)
		return err_set(e, ERR_INVALID,
			       "missing CHANGE_ID: the change to confirm (routectl status lists "
			       "the pending ones)");
	if (n > 1)
		return err_set(e, ERR_INVALID, "unexpected argument \"%s\" after CHANGE_ID \"%s\"",
			       pos[1], pos[0]);
	if (check_name("CHANGE_ID", pos[0], e) < 0)
		return -ERR_INVALID;
	req->change_id = pos[0];
	if (req->reason && (is_blank(req->reason) || !is_utf8(req->reason)))
		return err_set(e, ERR_INVALID, "--reason is blank or not valid UTF-8");
	if (req->site && check_name("--site", req->site, e) < 0)
		return -ERR_INVALID;
	return 0;
}

static int parse_emergency(struct cli_request *req, char **pos, size_t n, struct err *e)
{
	static const char shape[] = "routectl emergency drain|undrain|status";
	if (n == 0)
		return err_set(e, ERR_INVALID, "missing what to do: drain, undrain or status (%s)",
			       shape);
	if (n > 1)
		return err_set(e, ERR_INVALID,
			       "unexpected argument \"%s\" after \"%s\" (the site is the one of "
			       "routectld's config; name services with --service)", pos[1], pos[0]);
	if (strcmp(pos[0], "drain") == 0)
		req->emergency = CLI_EMERGENCY_DRAIN;
	else if (strcmp(pos[0], "undrain") == 0)
		req->emergency = CLI_EMERGENCY_UNDRAIN;
	else if (strcmp(pos[0], "status") == 0)
		req->emergency = CLI_EMERGENCY_STATUS;
	else
		return err_set(e, ERR_INVALID, "unknown emergency command \"%s\": drain, undrain or "
			       "status (%s)", pos[0], shape);
	if (req->fleet_path || req->socket_given)
		return err_set(e, ERR_INVALID, "-f and -s do not apply: emergency works on this "
			       "router host, without routectld (--config names its config)");
	if (req->json)
		return err_set(e, ERR_INVALID, "--json does not apply: emergency prints text");
	if (!req->config_path)
		req->config_path = CLI_DEFAULT_CONFIG;
	if (req->emergency == CLI_EMERGENCY_STATUS) {
		if (req->reason || req->force || req->n_services)
			return err_set(e, ERR_INVALID, "status changes nothing: it takes only "
				       "--config");
		return 0;
	}
	for (size_t i = 0; i < req->n_services; i++)
		if (check_name("--service", req->services[i], e) < 0)
			return -ERR_INVALID;
	if (!req->reason)
		return err_set(e, ERR_INVALID,
			       "--reason is required: say why (it goes into the emergency journal "
			       "and, through routectld, into the audit trail)");
	if (is_blank(req->reason) || !is_utf8(req->reason))
		return err_set(e, ERR_INVALID, "--reason is blank or not valid UTF-8");
	return 0;
}

static int parse_help(struct cli_request *req, char **pos, size_t n, struct err *e)
{
	if (n > 1)
		return err_set(e, ERR_INVALID, "unexpected argument \"%s\"", pos[1]);
	if (n == 1) {
		if (!find_command(pos[0]))
			return err_set(e, ERR_INVALID,
				       "unknown command \"%s\" (commands: status, drain, undrain, set, adopt, confirm, token, history, check, emergency)",
				       pos[0]);
		req->help_topic = pos[0];
	}
	return 0;
}

static const struct cli_option *find_long(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
		if (strlen(options[i].long_name) == len &&
		    strncmp(options[i].long_name, name, len) == 0)
			return &options[i];
	return NULL;
}

static const struct cli_option *find_short(char c)
{
	for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
		if (options[i].short_name == c)
			return &options[i];
	return NULL;
}

static int apply_option(struct cli_request *req, const struct cli_option *o,
			const char *spelled, char *val, unsigned *seen, struct err *e)
{
	/* A value given twice is ambiguous (which reason goes into the audit
	 * trail?); a flag given twice is not. */
	if ((*seen & OPTF(o->id)) && o->has_arg && o->id != OPT_SERVICE && o->id != OPT_STATE)
		return err_set(e, ERR_INVALID, "%s is given more than once", spelled);
	*seen |= OPTF(o->id);

	switch (o->id) {
	case OPT_SOCKET:
		if (val[0] == '\0')
			return err_set(e, ERR_INVALID, "%s needs a socket path, not \"\"", spelled);
		if (strlen(val) >= sizeof ((struct sockaddr_un *)0)->sun_path)
			return err_set(e, ERR_INVALID,
				       "socket path \"%s\" is too long for a Unix socket (at most %zu bytes)",
				       val, sizeof ((struct sockaddr_un *)0)->sun_path - 1);
		req->socket_path = val;
		req->socket_given = true;
		break;
	case OPT_FLEET:
		if (val[0] == '\0')
			return err_set(e, ERR_INVALID, "%s needs a fleet document, not \"\"", spelled);
		req->fleet_path = val;
		break;
	case OPT_VIA:
		if (strcmp(val, "auto") == 0)
			req->via = CLI_VIA_AUTO;
		else if (strcmp(val, "primary") == 0)
			req->via = CLI_VIA_PRIMARY;
		else if (strcmp(val, "oob") == 0)
			req->via = CLI_VIA_OOB;
		else
			return err_set(e, ERR_INVALID, "%s takes primary, oob or auto, not \"%s\"",
				       spelled, val);
		req->via_given = true;
		break;
	case OPT_JSON:
		req->json = true;
		break;
	case OPT_TIMEOUT: {
		char *end;
		errno = 0;
		long v = strtol(val, &end, 10);
		if (errno || end == val || *end != '\0' || v < 1 || v > CLI_MAX_TIMEOUT_S)
			return err_set(e, ERR_INVALID,
				       "--timeout needs whole seconds from 1 to %d, not \"%s\"",
				       CLI_MAX_TIMEOUT_S, val);
		req->timeout_s = v;
		break;
	}
	case OPT_HELP:
	case OPT_VERSION:
		break;
	case OPT_SERVICE:
		req->services[req->n_services++] = val;
		break;
	case OPT_REASON:
		req->reason = val;
		break;
	case OPT_NOW:
		req->now = true;
		break;
	case OPT_DRY_RUN:
		req->dry_run = true;
		break;
	case OPT_STATE:
		req->states[req->n_states++] = val;
		break;
	case OPT_FORCE:
		req->force = true;
		break;
	case OPT_TOKEN_FILE:
		if (val[0] == '\0')
			return err_set(e, ERR_INVALID, "%s needs a file path, not \"\"", spelled);
		req->token_file = val;
		break;
	case OPT_LIMIT: {
		char *end;
		errno = 0;
		long v = strtol(val, &end, 10);
		if (errno || end == val || *end != '\0' || v < 1 || v > CLI_HISTORY_MAX)
			return err_set(e, ERR_INVALID,
				       "%s needs a number of records from 1 to %d, not \"%s\"",
				       spelled, CLI_HISTORY_MAX, val);
		req->limit = v;
		break;
	}
	case OPT_CONFIRM_WITHIN:
		return cli_parse_duration(val, &req->confirm_within_s, e);
	case OPT_SITE:
		req->site = val;
		break;
	case OPT_CONFIG:
		if (val[0] == '\0')
			return err_set(e, ERR_INVALID, "%s needs a file path, not \"\"", spelled);
		req->config_path = val;
		break;
	case OPT__COUNT:
		break;
	}
	return 0;
}

/* Numbers such as "-1" are arguments (a wrong prepend count deserves the
 * range message, not "unknown option"). */
static bool looks_like_option(const char *a)
{
	return a[0] == '-' && a[1] != '\0' && !isdigit((unsigned char)a[1]);
}

int cli_parse_args(int argc, char **argv, const char *env_socket,
		   struct cli_request *req, struct err *e)
{
	memset(req, 0, sizeof *req);
	err_clear(e);
	req->cmd_name = "routectl";
	req->socket_path = env_socket && env_socket[0] ? env_socket : CLI_DEFAULT_SOCKET;
	req->timeout_s = CLI_DEFAULT_TIMEOUT_S;

	size_t nargs = argc > 1 ? (size_t)argc - 1 : 0;
	char **pos = calloc(nargs + 1, sizeof *pos);
	req->services = calloc(nargs + 1, sizeof *req->services);
	req->states = calloc(nargs + 1, sizeof *req->states);
	if (!pos || !req->services || !req->states) {
		free(pos);
		return err_set(e, ERR_NOMEM, "out of memory");
	}

	/* One pass over everything: options are applied as they come (global
	 * ones may precede the command), positionals are collected. The first
	 * error is kept and reported once the command is known, so that it
	 * names the command. */
	struct err first;
	err_clear(&first);
	unsigned seen = 0;
	char seen_name[OPT__COUNT][64];
	size_t npos = 0;
	bool only_args = false;

	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (only_args || !looks_like_option(a)) {
			pos[npos++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_args = true;
			continue;
		}

		const struct cli_option *o;
		char spelled[64];
		char *val = NULL;
		if (a[1] == '-') {
			const char *name = a + 2;
			char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			o = find_long(name, len);
			snprintf(spelled, sizeof spelled, "--%.*s", (int)len, name);
			if (o && eq) {
				if (!o->has_arg) {
					if (first.code == ERR_OK)
						err_set(&first, ERR_INVALID,
							"%s takes no value", spelled);
					continue;
				}
				val = eq + 1;
			}
		} else {
			o = find_short(a[1]);
			snprintf(spelled, sizeof spelled, "-%c", a[1]);
			if (o && a[2] != '\0') {
				if (!o->has_arg) {
					if (first.code == ERR_OK)
						err_set(&first, ERR_INVALID,
							"unknown option %s", a);
					continue;
				}
				val = a + 2;
			}
		}
		if (!o) {
			if (first.code == ERR_OK)
				err_set(&first, ERR_INVALID, "unknown option %s", a);
			continue;
		}
		if (o->has_arg && !val) {
			if (i + 1 >= argc) {
				if (first.code == ERR_OK)
					err_set(&first, ERR_INVALID, "%s needs a value", spelled);
				continue;
			}
			val = argv[++i];
		}
		if (!(seen & OPTF(o->id)))
			snprintf(seen_name[o->id], sizeof seen_name[o->id], "%s", spelled);
		struct err oe;
		if (apply_option(req, o, spelled, val, &seen, &oe) < 0 && first.code == ERR_OK)
			first = oe;
	}

	int rc = 0;
	const struct cli_command *c = NULL;
	if (npos > 0) {
		c = find_command(pos[0]);
		if (c)
			req->cmd_name = c->name;
	}

	if (seen & OPTF(OPT_HELP)) {
		/* "routectl drain --help": help wins over whatever else is wrong. */
		req->cmd = CMD_HELP;
		req->help_topic = c && c->cmd != CMD_HELP ? c->name : NULL;
		goto out;
	}
	if (seen & OPTF(OPT_VERSION)) {
		req->cmd = CMD_VERSION;
		goto out;
	}
	if (first.code != ERR_OK) {
		*e = first;
		rc = -ERR_INVALID;
		goto fail;
	}
	if (npos == 0) {
		rc = err_set(e, ERR_INVALID,
			     "missing command: one of status, drain, undrain, set, adopt, confirm, history, "
			     "token, check, emergency "
			     "(routectl help)");
		goto fail;
	}
	if (!c) {
		rc = err_set(e, ERR_INVALID,
			     "unknown command \"%s\": one of status, drain, undrain, set, adopt, confirm, "
			     "history, "
			     "token, check, emergency (routectl help)",
			     pos[0]);
		goto fail;
	}
	req->cmd = c->cmd;
	if ((seen & OPTF(OPT_SOCKET)) && (seen & OPTF(OPT_FLEET))) {
		rc = err_set(e, ERR_INVALID, "-s (one router) and -f (a fleet) exclude each other");
		goto fail;
	}
	for (int id = 0; id < OPT__COUNT; id++) {
		unsigned f = OPTF(id);
		if ((seen & f) && !(f & (OPTS_GLOBAL | c->opts))) {
			rc = err_set(e, ERR_INVALID, "%s does not apply to %s",
				     seen_name[id], c->name);
			goto fail;
		}
	}
	rc = c->parse(req, pos + 1, npos - 1, e);
	if (rc < 0)
		goto fail;
out:
	free(pos);
	return 0;
fail:
	free(pos);
	if (c && c->cmd != CMD_HELP)
		err_prefix(e, "%s", c->name);
	else if (c)
		err_prefix(e, "help");
	e->code = ERR_INVALID;
	return -ERR_INVALID;
}

void cli_request_free(struct cli_request *req)
{
	free(req->services);
	req->services = NULL;
	req->n_services = 0;
	free(req->states);
	req->states = NULL;
	req->n_states = 0;
}

/* "confirm_within" (seconds) when --confirm-within was given. */
static json_t *with_confirm_within(const struct cli_request *req, json_t *body)
{
	if (body && req->confirm_within_s > 0 &&
	    json_object_set_new(body, "confirm_within", json_integer(req->confirm_within_s)) < 0) {
		json_decref(body);
		return NULL;
	}
	return body;
}

json_t *cli_request_body(const struct cli_request *req)
{
	switch (req->cmd) {
	case CMD_DRAIN:
	case CMD_UNDRAIN: {
		json_t *svcs = json_array();
		if (!svcs)
			return NULL;
		for (size_t i = 0; i < req->n_services; i++) {
			if (json_array_append_new(svcs, json_string(req->services[i])) < 0) {
				json_decref(svcs);
				return NULL;
			}
		}
		json_t *body = json_pack("{s:s, s:o, s:s, s:b, s:b}",
					 "site", req->site,
					 "services", svcs,
					 "reason", req->reason,
					 "now", req->now,
					 "dry_run", req->dry_run);
		/* sent only when asked for: a routectld without the guards
		 * refuses members it does not know */
		if (body && req->force &&
		    json_object_set_new(body, "force", json_true()) < 0) {
			json_decref(body);
			return NULL;
		}
		return with_confirm_within(req, body);
	}
	case CMD_SET: {
		json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:b}",
					 "site", req->site,
					 "service", req->service,
					 "state", svc_mode_name(req->mode),
					 "reason", req->reason,
					 "dry_run", req->dry_run);
		/* The daemon takes a count only with state prepend. */
		if (body && ((req->mode == MODE_PREPEND &&
			      json_object_set_new(body, "prepend", json_integer(req->prepend)) < 0) ||
			     (req->force && json_object_set_new(body, "force", json_true()) < 0))) {
			json_decref(body);
			return NULL;
		}
		return with_confirm_within(req, body);
	}
	case CMD_CONFIRM: {
		/* --site: routectld refuses to confirm when it serves another */
		json_t *body = json_object();
		if (body && ((req->reason && json_object_set_new(body, "reason",
								 json_string(req->reason)) < 0) ||
			     (req->site && json_object_set_new(body, "site",
							       json_string(req->site)) < 0))) {
			json_decref(body);
			return NULL;
		}
		return body;
	}
	case CMD_ADOPT: {
		json_t *assume = json_array();
		if (!assume)
			return NULL;
		for (size_t i = 0; i < req->n_states; i++) {
			struct adopt_assumption a;
			char buf[256];
			struct err e;
			if (state_arg(req->states[i], &a, buf, sizeof buf, &e) < 0) {
				json_decref(assume);
				return NULL;
			}
			json_t *one = json_pack("{s:s, s:s}", "service", a.service, "state",
						svc_mode_name(a.mode));
			if (one && a.mode == MODE_PREPEND)
				json_object_set_new(one, "prepend", json_integer(a.prepend));
			if (json_array_append_new(assume, one) < 0) {
				json_decref(assume);
				return NULL;
			}
		}
		return json_pack("{s:s, s:s, s:b, s:b, s:o}",
				 "site", req->site,
				 "reason", req->reason,
				 "force", req->force,
				 "dry_run", req->dry_run,
				 "assume", assume);
	}
	default:
		return NULL;
	}
}

bool cli_request_is_change(const struct cli_request *req)
{
	return (req->cmd == CMD_DRAIN || req->cmd == CMD_UNDRAIN || req->cmd == CMD_SET ||
		req->cmd == CMD_ADOPT || req->cmd == CMD_CONFIRM) &&
	       !req->dry_run;
}
