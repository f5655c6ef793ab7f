#include "cli/client.h"

#include "common/buf.h"
#include "common/err.h"
#include "site/adopt.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <curl/curl.h>

#ifndef ROUTECTL_VERSION
#define ROUTECTL_VERSION "unknown"
#endif

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
	OPT__COUNT
};

#define OPTF(id) (1u << (id))
/* Accepted by every command, before or after it. */
#define OPTS_GLOBAL (OPTF(OPT_SOCKET) | OPTF(OPT_JSON) | OPTF(OPT_TIMEOUT) | \
		     OPTF(OPT_HELP) | OPTF(OPT_VERSION))

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

static const struct cli_command commands[] = {
	{ "status", CMD_STATUS, "GET", "/v1/status", 0, parse_status,
	  "routectl [-s SOCKET] [--json] [--timeout SECONDS] status\n"
	  "    Show the site's desired state per service, BIRD's connection and\n"
	  "    the last apply.\n" },
	{ "drain", CMD_DRAIN, "POST", "/v1/drain",
	  OPTF(OPT_SERVICE) | OPTF(OPT_REASON) | OPTF(OPT_NOW) | OPTF(OPT_DRY_RUN),
	  parse_drain,
	  "routectl [-s SOCKET] [--json] drain SITE [--service NAME]... --reason TEXT\n"
	  "         [--now] [--dry-run]\n"
	  "    Move the site's services (all, or the ones named) to withdraw, in\n"
	  "    stages (prepend, wait, withdraw) unless --now.\n" },
	{ "undrain", CMD_UNDRAIN, "POST", "/v1/undrain",
	  OPTF(OPT_SERVICE) | OPTF(OPT_REASON) | OPTF(OPT_NOW) | OPTF(OPT_DRY_RUN),
	  parse_drain,
	  "routectl [-s SOCKET] [--json] undrain SITE [--service NAME]... --reason TEXT\n"
	  "         [--now] [--dry-run]\n"
	  "    Bring the site's services (all, or the ones named) back to announce,\n"
	  "    in stages (prepend, wait, announce) unless --now.\n" },
	{ "set", CMD_SET, "POST", "/v1/set",
	  OPTF(OPT_REASON) | OPTF(OPT_DRY_RUN),
	  parse_set,
	  "routectl [-s SOCKET] [--json] set SITE SERVICE announce|prepend N|withdraw\n"
	  "         --reason TEXT [--dry-run]\n"
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
	"  --timeout SECONDS     give up waiting for the daemon after this long (default 60)\n"
	"  --service NAME        drain/undrain only this service (repeatable);\n"
	"                        history: only the records of this service\n"
	"  -n, --limit N         history: how many records, 1..1000 (default 20)\n"
	"  --reason TEXT         why: required on every change, kept in the audit trail\n"
	"  --now                 skip the stages and go to the final state at once\n"
	"  --dry-run             show what would change and the BIRD diff; change nothing\n"
	"  --state SERVICE=STATE adopt: the state of a service BIRD cannot tell (repeatable)\n"
	"  --force               adopt: also over a state file that does not load\n"
	"  --token-file PATH     token new: the token file (default: $ROUTECTL_TOKEN_FILE,\n"
	"                        else /etc/routectl/tokens)\n"
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
	static char all[4096];

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
	rc = buf_puts(&b, path);
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
			       "unexpected argument \"%s\": status takes no arguments", pos[0]);
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

static int parse_help(struct cli_request *req, char **pos, size_t n, struct err *e)
{
	if (n > 1)
		return err_set(e, ERR_INVALID, "unexpected argument \"%s\"", pos[1]);
	if (n == 1) {
		if (!find_command(pos[0]))
			return err_set(e, ERR_INVALID,
				       "unknown command \"%s\" (commands: status, drain, undrain, set, adopt, token, history)",
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
			     "missing command: one of status, drain, undrain, set, adopt, history, token "
			     "(routectl help)");
		goto fail;
	}
	if (!c) {
		rc = err_set(e, ERR_INVALID,
			     "unknown command \"%s\": one of status, drain, undrain, set, adopt, history, "
			     "token (routectl help)",
			     pos[0]);
		goto fail;
	}
	req->cmd = c->cmd;
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
		return json_pack("{s:s, s:o, s:s, s:b, s:b}",
				 "site", req->site,
				 "services", svcs,
				 "reason", req->reason,
				 "now", req->now,
				 "dry_run", req->dry_run);
	}
	case CMD_SET: {
		json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:b}",
					 "site", req->site,
					 "service", req->service,
					 "state", svc_mode_name(req->mode),
					 "reason", req->reason,
					 "dry_run", req->dry_run);
		/* The daemon takes a count only with state prepend. */
		if (body && req->mode == MODE_PREPEND &&
		    json_object_set_new(body, "prepend", json_integer(req->prepend)) < 0) {
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

/* ---- checking the daemon's answers ---- */

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "something else";
}

/* "path.key", or "key" at the top. */
static void join_path(char *out, size_t size, const char *path, const char *key)
{
	if (path[0])
		snprintf(out, size, "%s.%s", path, key);
	else
		snprintf(out, size, "%s", key);
}

/* Looks up key; absent and null are the same (NULL), which is an error only
 * when the field is required. */
static int field(json_t *o, const char *path, const char *key, bool required,
		 json_t **out, struct err *e)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v)) {
		*out = NULL;
		if (required) {
			char p[256];
			join_path(p, sizeof p, path, key);
			return err_set(e, ERR_PROTOCOL, "%s is missing", p);
		}
		return 0;
	}
	*out = v;
	return 0;
}

static int wrong_type(const char *path, const char *key, const char *want,
		      json_t *v, struct err *e)
{
	char p[256];
	join_path(p, sizeof p, path, key);
	return err_set(e, ERR_PROTOCOL, "%s should be %s, not %s", p, want, json_type_name(v));
}

static int get_str(json_t *o, const char *path, const char *key, bool required,
		   const char **out, struct err *e)
{
	json_t *v;
	*out = NULL;
	if (field(o, path, key, required, &v, e) < 0)
		return -ERR_PROTOCOL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return wrong_type(path, key, "a string", v, e);
	*out = json_string_value(v);
	return 0;
}

static int get_bool(json_t *o, const char *path, const char *key, bool required,
		    bool *out, struct err *e)
{
	json_t *v;
	*out = false;
	if (field(o, path, key, required, &v, e) < 0)
		return -ERR_PROTOCOL;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return wrong_type(path, key, "true or false", v, e);
	*out = json_is_true(v);
	return 0;
}

static int get_int(json_t *o, const char *path, const char *key, bool required,
		   long long min, long long max, long long *out, struct err *e)
{
	json_t *v;
	*out = 0;
	if (field(o, path, key, required, &v, e) < 0)
		return -ERR_PROTOCOL;
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return wrong_type(path, key, "an integer", v, e);
	long long n = json_integer_value(v);
	if (n < min || n > max) {
		char p[256];
		join_path(p, sizeof p, path, key);
		return err_set(e, ERR_PROTOCOL, "%s is %lld, outside %lld..%lld", p, n, min, max);
	}
	*out = n;
	return 0;
}

static int get_num(json_t *o, const char *path, const char *key, bool *has,
		   double *out, struct err *e)
{
	json_t *v;
	*has = false;
	*out = 0;
	if (field(o, path, key, false, &v, e) < 0)
		return -ERR_PROTOCOL;
	if (!v)
		return 0;
	if (!json_is_number(v))
		return wrong_type(path, key, "a number", v, e);
	*out = json_number_value(v);
	*has = true;
	return 0;
}

/* An object member that may be null; a present one must be an object. */
static int get_obj(json_t *o, const char *path, const char *key, bool required,
		   json_t **out, struct err *e)
{
	if (field(o, path, key, required, out, e) < 0)
		return -ERR_PROTOCOL;
	if (*out && !json_is_object(*out))
		return wrong_type(path, key, "an object", *out, e);
	return 0;
}

static int get_arr(json_t *o, const char *path, const char *key, bool required,
		   json_t **out, struct err *e)
{
	if (field(o, path, key, required, out, e) < 0)
		return -ERR_PROTOCOL;
	if (*out && !json_is_array(*out))
		return wrong_type(path, key, "an array", *out, e);
	return 0;
}

/* {"state": "prepend", "prepend": 3}: prepend is 1..10 with state prepend. */
static int get_state(json_t *o, const char *path, enum svc_mode *mode,
		     unsigned *prepend, struct err *e)
{
	const char *s;
	long long n;
	if (get_str(o, path, "state", true, &s, e) < 0)
		return -ERR_PROTOCOL;
	if (svc_mode_parse(s, mode) < 0) {
		char p[256];
		join_path(p, sizeof p, path, "state");
		return err_set(e, ERR_PROTOCOL, "%s: unknown state \"%s\"", p, s);
	}
	if (get_int(o, path, "prepend", false, 0, PREPEND_MAX, &n, e) < 0)
		return -ERR_PROTOCOL;
	if (*mode == MODE_PREPEND && n < PREPEND_MIN) {
		char p[256];
		join_path(p, sizeof p, path, "prepend");
		return err_set(e, ERR_PROTOCOL, "%s is %lld, but state prepend needs %d..%d",
			       p, n, PREPEND_MIN, PREPEND_MAX);
	}
	*prepend = *mode == MODE_PREPEND ? (unsigned)n : 0;
	return 0;
}

static int get_step(json_t *o, const char *path, bool *has, struct view_step *step,
		    struct err *e)
{
	json_t *n;
	char p[256];
	*has = false;
	if (get_obj(o, path, "next", false, &n, e) < 0)
		return -ERR_PROTOCOL;
	if (!n)
		return 0;
	join_path(p, sizeof p, path, "next");
	if (get_state(n, p, &step->mode, &step->prepend, e) < 0 ||
	    get_str(n, p, "at", true, &step->at, e) < 0)
		return -ERR_PROTOCOL;
	*has = true;
	return 0;
}

static int add_prefixes(json_t *svc, const char *path, const char *key,
			struct view_service *s, struct err *e)
{
	json_t *arr, *v;
	size_t i;
	if (get_arr(svc, path, key, false, &arr, e) < 0)
		return -ERR_PROTOCOL;
	if (!arr)
		return 0;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v)) {
			char p[256];
			snprintf(p, sizeof p, "%s.%s[%zu]", path, key, i);
			return err_set(e, ERR_PROTOCOL, "%s should be a string, not %s",
				       p, json_type_name(v));
		}
		s->prefixes[s->n_listed++] = json_string_value(v);
	}
	return 0;
}

static int parse_service(json_t *svc, const char *path, struct view_service *s,
			 struct err *e)
{
	json_t *v4, *v6, *count;
	const char *state;
	if (!json_is_object(svc))
		return err_set(e, ERR_PROTOCOL, "%s should be an object, not %s",
			       path, json_type_name(svc));
	if (get_str(svc, path, "name", true, &s->name, e) < 0 ||
	    get_arr(svc, path, "ipv4", false, &v4, e) < 0 ||
	    get_arr(svc, path, "ipv6", false, &v6, e) < 0 ||
	    get_obj(svc, path, "prefix_count", false, &count, e) < 0)
		return -ERR_PROTOCOL;
	size_t n = (v4 ? json_array_size(v4) : 0) + (v6 ? json_array_size(v6) : 0);
	s->prefixes = calloc(n + 1, sizeof *s->prefixes);
	if (!s->prefixes)
		return err_set(e, ERR_NOMEM, "out of memory");
	if (add_prefixes(svc, path, "ipv4", s, e) < 0 ||
	    add_prefixes(svc, path, "ipv6", s, e) < 0 ||
	    get_str(svc, path, "state", true, &state, e) < 0)
		return -ERR_PROTOCOL;
	/* A large service comes with its counts only ("prefix_count"); a
	 * listed one may have them too, and they must agree. */
	s->n_prefixes = s->n_listed;
	if (count) {
		char p[256];
		long long n4, n6;
		join_path(p, sizeof p, path, "prefix_count");
		if (get_int(count, p, "ipv4", true, 0, 100000000, &n4, e) < 0 ||
		    get_int(count, p, "ipv6", true, 0, 100000000, &n6, e) < 0)
			return -ERR_PROTOCOL;
		if ((v4 || v6) && (size_t)(n4 + n6) != s->n_listed)
			return err_set(e, ERR_PROTOCOL,
				       "%s says %lld prefixes, but %zu are listed", p, n4 + n6,
				       s->n_listed);
		s->n_prefixes = (size_t)(n4 + n6);
	}
	/* A service the daemon has no state for (safe mode: the state file did
	 * not load) is "unknown"; status must still show it. */
	s->known = strcmp(state, "unknown") != 0;
	if ((s->known && get_state(svc, path, &s->mode, &s->prepend, e) < 0) ||
	    get_str(svc, path, "since", false, &s->since, e) < 0 ||
	    get_str(svc, path, "actor", false, &s->actor, e) < 0 ||
	    get_str(svc, path, "reason", false, &s->reason, e) < 0 ||
	    get_str(svc, path, "change_id", false, &s->change_id, e) < 0 ||
	    get_step(svc, path, &s->has_next, &s->next, e) < 0)
		return -ERR_PROTOCOL;
	/* Safe mode after a loss: the state held before it, shown as such. */
	json_t *lk;
	if (get_obj(svc, path, "last_known", false, &lk, e) < 0)
		return -ERR_PROTOCOL;
	if (lk && !s->known) {
		char p[256];
		join_path(p, sizeof p, path, "last_known");
		s->last_known = true;
		if (get_state(lk, p, &s->mode, &s->prepend, e) < 0 ||
		    get_str(lk, p, "since", false, &s->since, e) < 0 ||
		    get_str(lk, p, "actor", false, &s->actor, e) < 0 ||
		    get_str(lk, p, "reason", false, &s->reason, e) < 0 ||
		    get_str(lk, p, "change_id", false, &s->change_id, e) < 0)
			return -ERR_PROTOCOL;
	}
	return 0;
}

static void view_status_free(struct view_status *v)
{
	for (size_t i = 0; i < v->n_services; i++)
		free(v->services[i].prefixes);
	free(v->services);
	free(v->peers);
	memset(v, 0, sizeof *v);
}

static void view_change_free(struct view_change *v)
{
	free(v->items);
	memset(v, 0, sizeof *v);
}

static void view_history_free(struct view_history *v)
{
	for (size_t i = 0; i < v->n_records; i++)
		free(v->records[i].services);
	free(v->records);
	memset(v, 0, sizeof *v);
}

/* history[i]: an audit record; the members the text shows are checked,
 * the others are the daemon's business (--json shows them). */
static int parse_audit_record(json_t *o, const char *path, struct view_audit_record *r,
			      struct err *e)
{
	json_t *svcs, *x;
	size_t k;
	if (!json_is_object(o))
		return err_set(e, ERR_PROTOCOL, "%s should be an object, not %s", path,
			       json_type_name(o));
	if (get_str(o, path, "time", true, &r->time, e) < 0 ||
	    get_str(o, path, "action", true, &r->action, e) < 0 ||
	    get_str(o, path, "result", true, &r->result, e) < 0 ||
	    get_str(o, path, "actor", false, &r->actor, e) < 0 ||
	    get_str(o, path, "on_behalf_of", false, &r->on_behalf_of, e) < 0 ||
	    get_str(o, path, "site", false, &r->site, e) < 0 ||
	    get_str(o, path, "change_id", false, &r->change_id, e) < 0 ||
	    get_str(o, path, "reason", false, &r->reason, e) < 0 ||
	    get_bool(o, path, "dry_run", false, &r->dry_run, e) < 0 ||
	    get_arr(o, path, "services", false, &svcs, e) < 0)
		return -ERR_PROTOCOL;
	r->services = calloc(json_array_size(svcs) + 1, sizeof *r->services);
	if (!r->services)
		return err_set(e, ERR_NOMEM, "out of memory");
	json_array_foreach(svcs, k, x) {
		if (!json_is_string(x))
			return err_set(e, ERR_PROTOCOL, "%s.services[%zu] should be a string, not %s",
				       path, k, json_type_name(x));
		r->services[r->n_services++] = json_string_value(x);
	}
	return 0;
}

int cli_parse_history(json_t *body, struct view_history *v, struct err *e)
{
	json_t *recs, *rec;
	size_t i;

	memset(v, 0, sizeof *v);
	if (!json_is_object(body))
		return err_set(e, ERR_PROTOCOL, "the history should be an object, not %s",
			       json_type_name(body));
	if (get_arr(body, "", "history", true, &recs, e) < 0 ||
	    get_int(body, "", "skipped", false, 0, LLONG_MAX, &v->skipped, e) < 0)
		goto fail;
	v->records = calloc(json_array_size(recs) + 1, sizeof *v->records);
	if (!v->records) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	json_array_foreach(recs, i, rec) {
		char p[64];
		snprintf(p, sizeof p, "history[%zu]", i);
		/* counted first so that a failure frees what it allocated */
		v->n_records++;
		if (parse_audit_record(rec, p, &v->records[i], e) < 0)
			goto fail;
	}
	return 0;
fail:
	view_history_free(v);
	return -(int)(e ? e->code : ERR_PROTOCOL);
}

/* bird.peers[i]: {"name", "listed", "up", "families": ["ipv4"...],
 * "problems": ["..."], "message"}. */
static int parse_peer(json_t *o, const char *path, struct view_peer *p, struct err *e)
{
	json_t *fams, *probs, *x;
	size_t k;
	if (!json_is_object(o))
		return err_set(e, ERR_PROTOCOL, "%s should be an object, not %s", path,
			       json_type_name(o));
	if (get_str(o, path, "name", true, &p->name, e) < 0 ||
	    get_bool(o, path, "listed", false, &p->listed, e) < 0 ||
	    get_bool(o, path, "up", false, &p->up, e) < 0 ||
	    get_arr(o, path, "families", false, &fams, e) < 0 ||
	    get_arr(o, path, "problems", false, &probs, e) < 0 ||
	    get_str(o, path, "message", false, &p->message, e) < 0)
		return -ERR_PROTOCOL;
	json_array_foreach(fams, k, x) {
		const char *f = json_string_value(x);
		if (!f)
			return err_set(e, ERR_PROTOCOL, "%s.families[%zu] should be a string", path,
				       k);
		if (strcmp(f, "ipv4") == 0)
			p->v4 = true;
		else if (strcmp(f, "ipv6") == 0)
			p->v6 = true;
		else
			return err_set(e, ERR_PROTOCOL, "%s.families[%zu]: unknown family \"%.64s\"",
				       path, k, f);
	}
	size_t used = 0;
	json_array_foreach(probs, k, x) {
		const char *pr = json_string_value(x);
		if (!pr)
			return err_set(e, ERR_PROTOCOL, "%s.problems[%zu] should be a string", path,
				       k);
		if (used < sizeof p->problems)
			used += (size_t)snprintf(p->problems + used, sizeof p->problems - used,
						 "%s%s", used ? ", " : "", pr);
	}
	return 0;
}

/* bird.peers, bird.peers_checked_at, bird.sentinels (all may be null). */
static int parse_peers(json_t *bird, struct view_status *v, struct err *e)
{
	json_t *peers, *sent, *p;
	size_t i;
	if (get_arr(bird, "bird", "peers", false, &peers, e) < 0 ||
	    get_str(bird, "bird", "peers_checked_at", false, &v->peers_checked_at, e) < 0 ||
	    get_obj(bird, "bird", "sentinels", false, &sent, e) < 0)
		return -ERR_PROTOCOL;
	if (!peers)
		return 0;
	v->has_peers = true;
	v->peers = calloc(json_array_size(peers) + 1, sizeof *v->peers);
	if (!v->peers)
		return err_set(e, ERR_NOMEM, "out of memory");
	json_array_foreach(peers, i, p) {
		char path[64];
		snprintf(path, sizeof path, "bird.peers[%zu]", i);
		if (parse_peer(p, path, &v->peers[i], e) < 0)
			return -ERR_PROTOCOL;
		v->n_peers++;
	}
	if (sent) {
		bool v4 = true, v6 = true;
		if (get_bool(sent, "bird.sentinels", "ipv4", false, &v4, e) < 0 ||
		    get_bool(sent, "bird.sentinels", "ipv6", false, &v6, e) < 0)
			return -ERR_PROTOCOL;
		/* absent: nothing known to be missing */
		v->no_sentinel_v4 = json_object_get(sent, "ipv4") && !v4;
		v->no_sentinel_v6 = json_object_get(sent, "ipv6") && !v6;
	}
	return 0;
}

int cli_parse_status(json_t *body, struct view_status *v, struct err *e)
{
	json_t *safe, *bird, *last, *svcs, *svc, *flight;
	long long gen;
	size_t i;

	memset(v, 0, sizeof *v);
	if (!json_is_object(body))
		return err_set(e, ERR_PROTOCOL, "the status should be an object, not %s",
			       json_type_name(body));
	if (get_str(body, "", "site", true, &v->site, e) < 0 ||
	    get_int(body, "", "generation", true, 0, LLONG_MAX, &gen, e) < 0 ||
	    get_obj(body, "", "safe_mode", false, &safe, e) < 0 ||
	    get_obj(body, "", "bird", true, &bird, e) < 0 ||
	    get_obj(body, "", "last_apply", false, &last, e) < 0 ||
	    get_obj(body, "", "in_flight", false, &flight, e) < 0 ||
	    get_arr(body, "", "services", true, &svcs, e) < 0)
		goto fail;
	v->generation = gen;
	if (flight) {
		v->has_in_flight = true;
		if (get_str(flight, "in_flight", "kind", true, &v->in_flight_kind, e) < 0 ||
		    get_str(flight, "in_flight", "change_id", false, &v->in_flight_change_id, e) < 0 ||
		    get_str(flight, "in_flight", "since", false, &v->in_flight_since, e) < 0)
			goto fail;
	}
	if (get_int(body, "", "repairs", false, 0, LLONG_MAX, &v->repairs, e) < 0)
		goto fail;
	v->has_repairs = json_object_get(body, "repairs") != NULL;
	if (safe) {
		json_t *lk;
		if (get_str(safe, "safe_mode", "reason", true, &v->safe_mode_reason, e) < 0 ||
		    get_obj(safe, "safe_mode", "last_known", false, &lk, e) < 0)
			goto fail;
		if (lk) {
			v->has_last_known = true;
			if (get_int(lk, "safe_mode.last_known", "generation", true, 0, LLONG_MAX,
				    &v->last_known_generation, e) < 0 ||
			    get_str(lk, "safe_mode.last_known", "until", false,
				    &v->last_known_until, e) < 0)
				goto fail;
		}
	}
	if (get_bool(bird, "bird", "connected", true, &v->bird_connected, e) < 0 ||
	    get_str(bird, "bird", "socket", false, &v->bird_socket, e) < 0 ||
	    get_str(bird, "bird", "version", false, &v->bird_version, e) < 0 ||
	    get_str(bird, "bird", "error", false, &v->bird_error, e) < 0 ||
	    parse_peers(bird, v, e) < 0)
		goto fail;
	if (last) {
		v->has_last_apply = true;
		if (get_str(last, "last_apply", "result", true, &v->last_result, e) < 0 ||
		    get_str(last, "last_apply", "at", false, &v->last_at, e) < 0 ||
		    get_str(last, "last_apply", "change_id", false, &v->last_change_id, e) < 0 ||
		    get_str(last, "last_apply", "message", false, &v->last_message, e) < 0 ||
		    get_str(last, "last_apply", "trigger", false, &v->last_trigger, e) < 0 ||
		    get_num(last, "last_apply", "ms", &v->has_last_ms, &v->last_ms, e) < 0)
			goto fail;
	}
	v->services = calloc(json_array_size(svcs) + 1, sizeof *v->services);
	if (!v->services) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	json_array_foreach(svcs, i, svc) {
		char p[64];
		snprintf(p, sizeof p, "services[%zu]", i);
		/* counted first so that a failure frees what it allocated */
		v->n_services++;
		if (parse_service(svc, p, &v->services[i], e) < 0)
			goto fail;
	}
	return 0;
fail:
	view_status_free(v);
	return -(int)(e ? e->code : ERR_PROTOCOL);
}

int cli_parse_change(json_t *body, struct view_change *v, struct err *e)
{
	json_t *items, *it, *apply;
	size_t i;

	memset(v, 0, sizeof *v);
	if (!json_is_object(body))
		return err_set(e, ERR_PROTOCOL, "the answer should be an object, not %s",
			       json_type_name(body));
	if (get_str(body, "", "site", true, &v->site, e) < 0 ||
	    get_bool(body, "", "dry_run", false, &v->dry_run, e) < 0 ||
	    get_str(body, "", "change_id", false, &v->change_id, e) < 0 ||
	    get_arr(body, "", "changes", true, &items, e) < 0 ||
	    get_str(body, "", "diff", false, &v->diff, e) < 0 ||
	    get_obj(body, "", "apply", false, &apply, e) < 0)
		goto fail;
	if (apply) {
		v->has_apply = true;
		if (get_str(apply, "apply", "result", true, &v->apply_result, e) < 0 ||
		    get_str(apply, "apply", "message", false, &v->apply_message, e) < 0 ||
		    get_num(apply, "apply", "ms", &v->has_apply_ms, &v->apply_ms, e) < 0)
			goto fail;
	}
	v->items = calloc(json_array_size(items) + 1, sizeof *v->items);
	if (!v->items) {
		err_set(e, ERR_NOMEM, "out of memory");
		goto fail;
	}
	json_array_foreach(items, i, it) {
		struct view_change_item *c = &v->items[i];
		char p[64], pf[80], pt[80];
		json_t *from = NULL, *to = NULL;
		snprintf(p, sizeof p, "changes[%zu]", i);
		if (!json_is_object(it)) {
			err_set(e, ERR_PROTOCOL, "%s should be an object, not %s",
				p, json_type_name(it));
			goto fail;
		}
		snprintf(pf, sizeof pf, "%s.from", p);
		snprintf(pt, sizeof pt, "%s.to", p);
		/* adopt says "from": null for a service BIRD exports in no
		 * single state. */
		c->from_unknown = json_is_null(json_object_get(it, "from"));
		if (get_str(it, p, "service", true, &c->service, e) < 0 ||
		    (!c->from_unknown && get_obj(it, p, "from", true, &from, e) < 0) ||
		    get_obj(it, p, "to", true, &to, e) < 0 ||
		    (!c->from_unknown &&
		     get_state(from, pf, &c->from_mode, &c->from_prepend, e) < 0) ||
		    get_state(to, pt, &c->to_mode, &c->to_prepend, e) < 0 ||
		    get_step(it, p, &c->has_next, &c->next, e) < 0)
			goto fail;
		v->n_items++;
	}
	return 0;
fail:
	view_change_free(v);
	return -(int)(e ? e->code : ERR_PROTOCOL);
}

/* ---- results ---- */

static void local_error(struct cli_result *res, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void local_error(struct cli_result *res, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->local_msg, sizeof res->local_msg, fmt, ap);
	va_end(ap);
	res->kind = RESULT_LOCAL_ERROR;
	res->local_code = code;
}

/* A request that changes state: its failure after sending leaves the
 * outcome unknown. A dry run changes nothing. */
static bool is_change(const struct cli_request *req)
{
	return (req->cmd == CMD_DRAIN || req->cmd == CMD_UNDRAIN || req->cmd == CMD_SET ||
		req->cmd == CMD_ADOPT) &&
	       !req->dry_run;
}

/* "outcome unknown: the drain may or may not have been applied: WHAT; run
 * `routectl -s SOCKET status` to see the state ..." */
static void unknown_outcome(const struct cli_request *req, struct cli_result *res,
			    const char *change_id, const char *what)
{
	char status_cmd[160];
	if (strcmp(req->socket_path, CLI_DEFAULT_SOCKET) == 0)
		snprintf(status_cmd, sizeof status_cmd, "routectl status");
	else
		snprintf(status_cmd, sizeof status_cmd, "routectl -s %s status", req->socket_path);
	char id[96] = "";
	if (change_id)
		snprintf(id, sizeof id, " (change id %.64s)", change_id);
	local_error(res, "outcome-unknown",
		    "outcome unknown: the %s%s may or may not have been applied: %s; "
		    "run `%s` to see the state (each service shows the reason of its "
		    "last change: \"%.200s\")",
		    req->cmd_name, id, what, status_cmd, req->reason ? req->reason : "");
	res->outcome_unknown = true;
}

static void result_init(const struct cli_request *req, struct cli_result *res)
{
	memset(res, 0, sizeof *res);
	res->cmd = req->cmd;
	res->cmd_name = req->cmd_name;
}

void cli_result_from_response(const struct cli_request *req, long http_status,
			      const char *body, size_t len, struct cli_result *res)
{
	json_error_t jerr;
	struct err e;

	result_init(req, res);
	res->http_status = http_status;
	err_clear(&e);

	res->body = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!res->body && is_change(req) && http_status >= 200 && http_status < 300) {
		char what[300];
		snprintf(what, sizeof what,
			 "routectld at %s answered HTTP %ld with a body that is not JSON "
			 "(line %d: %s)", req->socket_path, http_status, jerr.line, jerr.text);
		unknown_outcome(req, res, NULL, what);
		return;
	}
	if (!res->body) {
		/* Show the start of what came, cleaned: it is often a proxy's or
		 * another server's page, which tells the operator what is on the
		 * socket. */
		char head[121];
		size_t n = len < sizeof head - 1 ? len : sizeof head - 1;
		for (size_t i = 0; i < n; i++)
			head[i] = isprint((unsigned char)body[i]) ? body[i] : ' ';
		head[n] = '\0';
		local_error(res, "protocol",
			    "routectld answered HTTP %ld with a body that is not JSON "
			    "(line %d: %s)%s%s%s",
			    http_status, jerr.line, jerr.text,
			    n ? ": \"" : "", head, n ? (len > n ? "...\"" : "\"") : "");
		return;
	}

	if (http_status >= 200 && http_status < 300) {
		int rc;
		if (req->cmd == CMD_STATUS) {
			res->kind = RESULT_STATUS;
			rc = cli_parse_status(res->body, &res->status, &e);
		} else if (req->cmd == CMD_HISTORY) {
			res->kind = RESULT_HISTORY;
			rc = cli_parse_history(res->body, &res->history, &e);
		} else {
			res->kind = RESULT_CHANGE;
			rc = cli_parse_change(res->body, &res->change, &e);
		}
		if (rc < 0 && is_change(req)) {
			/* It said yes, but not in a way that tells what it did. */
			char what[600];
			json_t *id = json_object_get(res->body, "change_id");
			snprintf(what, sizeof what,
				 "routectld at %s answered HTTP %ld but its answer does not have "
				 "the expected shape (%s)", req->socket_path, http_status, e.msg);
			unknown_outcome(req, res, json_is_string(id) ? json_string_value(id) : NULL,
					what);
		} else if (rc < 0) {
			local_error(res, "protocol",
				    "routectld's answer to %s does not have the expected shape: %s",
				    req->cmd_name, e.msg);
		}
		return;
	}

	json_t *err_obj;
	const char *code = NULL, *msg = NULL;
	if (!json_is_object(res->body) ||
	    get_obj(res->body, "", "error", true, &err_obj, &e) < 0 ||
	    get_str(err_obj, "error", "code", false, &code, &e) < 0 ||
	    get_str(err_obj, "error", "message", true, &msg, &e) < 0) {
		local_error(res, "protocol",
			    "routectld answered HTTP %ld without a usable error document: %s",
			    http_status, json_is_object(res->body) ? e.msg : "the body is not an object");
		return;
	}
	res->kind = RESULT_API_ERROR;
	res->error_code = code ? code : "unknown";
	res->error_message = msg;
}

void cli_result_free(struct cli_result *res)
{
	view_status_free(&res->status);
	view_change_free(&res->change);
	view_history_free(&res->history);
	json_decref(res->body);
	res->body = NULL;
}

enum cli_exit cli_result_exit(const struct cli_result *res)
{
	if (res->outcome_unknown)
		return CLI_EXIT_UNKNOWN;
	switch (res->kind) {
	case RESULT_STATUS:
	case RESULT_HISTORY:
		return CLI_EXIT_OK;
	case RESULT_CHANGE:
		if (res->change.has_apply && strcmp(res->change.apply_result, "ok") != 0)
			return CLI_EXIT_FAILED;
		return CLI_EXIT_OK;
	default:
		return CLI_EXIT_FAILED;
	}
}

/* ---- HTTP over the console socket ---- */

struct receiver {
	struct buf b;
	size_t max;
	bool too_big;
	bool nomem;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct receiver *r = ud;
	size_t len = size * nmemb;
	if (len > r->max - r->b.len) {
		r->too_big = true;
		return 0;   /* makes curl stop with CURLE_WRITE_ERROR */
	}
	if (buf_append(&r->b, data, len) < 0) {
		r->nomem = true;
		return 0;
	}
	return len;
}

/* Why connect(2) failed, in words that help: never libcurl's "localhost
 * port 80", which is only the placeholder URL's host. */
static const char *connect_hint(long os_errno)
{
	switch (os_errno) {
	case ENOENT:
		return " (no socket there: is routectld running? -s or $ROUTECTL_SOCKET "
		       "name another socket)";
	case ECONNREFUSED:
		return " (is routectld running?)";
	case EAGAIN:
		return " (its queue of new connections is full: routectld is overloaded "
		       "or not accepting)";
	case EACCES:
	case EPERM:
		return " (the console socket is for routectld's user and group)";
	case 0:
		/* libcurl lost the errno and a second try got through: the
		 * queue was full a moment ago */
		return " (routectld did not take the connection: it is overloaded)";
	default:
		return "";
	}
}

/* libcurl does not always keep connect(2)'s errno (a full listen queue,
 * EAGAIN, comes back as 0): ask the socket once more, without blocking. */
static long probe_connect_errno(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		return ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	long rc = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : errno;
	close(fd);
	return rc;
}

/* connect_errno: connect(2)'s errno when rc is CURLE_COULDNT_CONNECT (0 if
 * unknown); attempts: how many connections were tried. */
static void transport_error(const struct cli_request *req, struct cli_result *res,
			    CURL *c, CURLcode rc, long connect_errno, unsigned attempts,
			    const struct receiver *r)
{
	const char *sock = req->socket_path;
	long os_errno = connect_errno;
	if (rc != CURLE_COULDNT_CONNECT)
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
	/* libcurl's own error text names the placeholder host ("localhost
	 * port 80"); its short description of the code does not. */
	const char *why = os_errno ? strerror((int)os_errno) : curl_easy_strerror(rc);
	curl_off_t connect_us = 0;
	long request_size = 0;
	curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us);
	curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &request_size);
	bool connected = connect_us > 0 || request_size > 0;

	if (r->too_big) {
		local_error(res, "protocol",
			    "routectld's answer is larger than %u MiB; not reading it",
			    CLI_MAX_RESPONSE >> 20);
		return;
	}
	if (r->nomem) {
		local_error(res, "nomem", "out of memory reading routectld's answer");
		return;
	}
	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
	    (rc == CURLE_OPERATION_TIMEDOUT && !connected)) {
		/* Nothing was sent: for a change, that is certain. */
		char tries[48] = "";
		if (attempts > 1)
			snprintf(tries, sizeof tries, "; tried %u times", attempts);
		local_error(res, "connect", "cannot connect to routectld at %s: %s%s%s%s%s%s", sock,
			    rc == CURLE_OPERATION_TIMEDOUT ? "timed out" : why,
			    connect_hint(os_errno), tries, is_change(req) ? "; the " : "",
			    is_change(req) ? req->cmd_name : "",
			    is_change(req) ? " was not applied (nothing was sent)" : "");
		return;
	}

	char what[512];
	const char *code = "connect";
	switch (rc) {
	case CURLE_GOT_NOTHING:
		snprintf(what, sizeof what,
			 "routectld at %s closed the connection before replying", sock);
		break;
	case CURLE_PARTIAL_FILE:
		snprintf(what, sizeof what,
			 "routectld at %s closed the connection in the middle of its reply", sock);
		break;
	case CURLE_RECV_ERROR:
		snprintf(what, sizeof what,
			 "the connection to routectld at %s broke before the reply came (%s)",
			 sock, why);
		break;
	case CURLE_SEND_ERROR:
		snprintf(what, sizeof what,
			 "the connection to routectld at %s broke while the request was "
			 "being sent (%s)", sock, why);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		code = "timeout";
		snprintf(what, sizeof what, "routectld at %s did not answer within %ld s (--timeout)",
			 sock, req->timeout_s);
		break;
	default:
		snprintf(what, sizeof what, "talking to routectld at %s failed: %s", sock,
			 curl_easy_strerror(rc));
		break;
	}
	if (is_change(req))
		unknown_outcome(req, res, NULL, what);
	else
		local_error(res, code, "%s", what);
}

void cli_execute(const struct cli_request *req, struct cli_result *res)
{
	const char *method = cli_method(req->cmd);
	const char *path = cli_path(req->cmd);
	struct receiver r = { .max = CLI_MAX_RESPONSE };
	struct curl_slist *headers = NULL;
	char url[1100], target[1024];
	char *body = NULL;
	CURL *c = NULL;

	result_init(req, res);
	if (!method || !path) {
		local_error(res, "invalid", "%s does not talk to routectld", req->cmd_name);
		return;
	}
	if (cli_request_target(req, target, sizeof target) < 0) {
		local_error(res, "invalid", "the request of %s is too long (a --service name "
			    "that long is no service)", req->cmd_name);
		return;
	}
	json_t *jbody = cli_request_body(req);
	if (strcmp(method, "POST") == 0) {
		if (!jbody) {
			local_error(res, "invalid", "cannot build the request body for %s",
				    req->cmd_name);
			return;
		}
		body = json_dumps(jbody, JSON_COMPACT);
		json_decref(jbody);
		if (!body) {
			local_error(res, "nomem", "out of memory building the request");
			return;
		}
	} else {
		json_decref(jbody);
	}

	c = curl_easy_init();
	if (!c) {
		local_error(res, "nomem", "cannot set up libcurl");
		goto out;
	}
	snprintf(url, sizeof url, "http://localhost%s", target);
	headers = curl_slist_append(headers, "Accept: application/json");
	if (body)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	if (!headers) {
		local_error(res, "nomem", "out of memory building the request");
		goto out;
	}

	long timeout_ms = req->timeout_s * 1000L;
	long connect_ms = timeout_ms < 5000 ? timeout_ms : 5000;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, req->socket_path);
	/* The console is local: an http_proxy in the environment must not
	 * send a drain elsewhere. */
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CLI_MAX_RESPONSE);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "routectl/" ROUTECTL_VERSION);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}

	/* A console whose queue of new connections is full turns connect(2)
	 * away at once (EAGAIN) while routectld works through a burst. Nothing
	 * was sent, so trying again is safe, for a change too. */
	CURLcode rc;
	long connect_errno = 0;
	unsigned attempts = 0;
	for (;;) {
		rc = curl_easy_perform(c);
		attempts++;
		connect_errno = 0;
		if (rc != CURLE_COULDNT_CONNECT)
			break;
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &connect_errno);
		if (connect_errno == 0)
			connect_errno = probe_connect_errno(req->socket_path);
		bool busy = connect_errno == EAGAIN || connect_errno == 0;
		if (!busy || attempts >= CLI_CONNECT_ATTEMPTS)
			break;
		struct timespec pause = { 0, (long)(CLI_CONNECT_RETRY_MS << (attempts - 1)) * 1000000L };
		nanosleep(&pause, NULL);
	}
	if (rc == CURLE_FILESIZE_EXCEEDED)
		r.too_big = true;
	if (rc != CURLE_OK) {
		transport_error(req, res, c, rc, connect_errno, attempts, &r);
		goto out;
	}
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	cli_result_from_response(req, status, r.b.p ? r.b.p : "", r.b.len, res);
out:
	if (c)
		curl_easy_cleanup(c);
	curl_slist_free_all(headers);
	buf_free(&r.b);
	free(body);
}
