/* The routectl command line: the table of commands and options, argv parsed
 * into a struct cli_request, the usage text, and what each command sends
 * (method, request target, JSON body). Nothing here talks to the daemon. */
#ifndef ROUTECTL_CLI_ARGS_H
#define ROUTECTL_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/model.h"
#include "conf/tokens.h"

struct err;

#define CLI_DEFAULT_SOCKET "/run/routectl/routectld.sock"
#define CLI_SOCKET_ENV "ROUTECTL_SOCKET"
#define CLI_DEFAULT_TIMEOUT_S 60
#define CLI_MAX_TIMEOUT_S 86400

/* Exit codes that scripts can rely on. */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILED = 1,   /* refused, failed, daemon unreachable or broken */
	CLI_EXIT_USAGE = 2,    /* the command line is wrong; nothing was sent */
	CLI_EXIT_UNKNOWN = 3,  /* a change was sent but no answer came: it may or
				* may not have been applied (routectl status tells) */
};

enum cli_cmd {
	CMD_NONE = 0,
	CMD_HELP,
	CMD_VERSION,
	CMD_STATUS,
	CMD_DRAIN,
	CMD_UNDRAIN,
	CMD_SET,
	CMD_ADOPT,
	CMD_TOKEN_NEW,     /* local: no daemon (cli/token.h) */
	CMD_HISTORY,
	CMD_CONFIRM,       /* confirm CHANGE_ID: POST /v1/changes/{id}/confirm */
	CMD_CHECK,         /* status judged for monitoring (cli/check.h) */
	CMD_EMERGENCY,     /* local: no daemon (cli/emergency.h) */
};

enum cli_emergency { CLI_EMERGENCY_DRAIN = 1, CLI_EMERGENCY_UNDRAIN, CLI_EMERGENCY_STATUS };

/* routectld's default config (routectld -c), which emergency mode reads. */
#define CLI_DEFAULT_CONFIG "/etc/routectl/routectld.json"

/* --via: which endpoint of each router a fleet command uses (fleet.h,
 * enum fleet_via). */
enum cli_via {
	CLI_VIA_AUTO = 0,     /* primary, then out-of-band when it cannot be connected to */
	CLI_VIA_PRIMARY,
	CLI_VIA_OOB,
};

struct cli_request {
	enum cli_cmd cmd;
	const char *cmd_name;      /* "drain", ... ; "routectl" before a command */
	const char *help_topic;    /* "routectl help drain": the command asked about */

	/* global options */
	const char *socket_path;
	bool socket_given;         /* -s on the command line */
	const char *fleet_path;    /* -f: the fleet document (cli/fanout.h); NULL: one router */
	enum cli_via via;          /* --via primary|oob|auto, with -f */
	bool via_given;
	bool json;
	long timeout_s;

	/* arguments of the write commands; strings point into argv */
	const char *site;
	const char **services;     /* drain/undrain --service, in order given */
	size_t n_services;
	const char *service;       /* set */
	enum svc_mode mode;        /* set */
	unsigned prepend;          /* set, with MODE_PREPEND: 1..10 */
	const char *reason;
	bool now;
	bool dry_run;
	/* adopt */
	const char **states;       /* --state SERVICE=STATE, in order given */
	size_t n_states;
	bool force;                /* adopt; drain/undrain/set: override the guards */
	/* token new */
	const char *token_name;
	enum role token_role;
	const char *token_file;    /* --token-file; NULL: cli/token.h's default */
	/* history: -n (1..CLI_HISTORY_MAX, default CLI_HISTORY_DEFAULT); its
	 * --service is services[0] */
	long limit;
	/* drain, undrain, set --confirm-within DURATION: 0, or seconds
	 * (1..CLI_CONFIRM_WITHIN_MAX_S) before routectld reverts the change
	 * unless confirmed */
	long confirm_within_s;
	/* confirm: the change id (its --reason is optional) */
	const char *change_id;
	/* emergency: what to do, and routectld's config (--config; default
	 * CLI_DEFAULT_CONFIG); --service, --reason and --force as for drain */
	enum cli_emergency emergency;
	const char *config_path;
};

/* The longest --confirm-within: a day, as routectld takes (site.h,
 * CONFIRM_WITHIN_MAX_S). */
#define CLI_CONFIRM_WITHIN_MAX_S 86400

#define CLI_HISTORY_DEFAULT 20
#define CLI_HISTORY_MAX 1000

/* Parses argv (argv[0] is the program) into req. env_socket is the value of
 * ROUTECTL_SOCKET (NULL or "" when unset). Global options may come before or
 * after the command. Returns 0, or -ERR_INVALID with a message in e that
 * names the command and what is wrong (exit with CLI_EXIT_USAGE). Nothing
 * here talks to the daemon. Free with cli_request_free. */
int cli_parse_args(int argc, char **argv, const char *env_socket,
		   struct cli_request *req, struct err *e);
void cli_request_free(struct cli_request *req);

/* Usage text: of every command (cmd_name NULL) or of one. Returns NULL for an
 * unknown command name. */
const char *cli_usage(const char *cmd_name);

/* HTTP method and path of a command that talks to the daemon. */
const char *cli_method(enum cli_cmd cmd);
const char *cli_path(enum cli_cmd cmd);

/* The request target of a command (path and query, e.g.
 * "/v1/history?limit=20&service=web", the service percent-encoded) into out
 * (size bytes). Returns 0, or -ERR_INVALID when it does not fit or the
 * command does not talk to the daemon. */
int cli_request_target(const struct cli_request *req, char *out, size_t size);

/* A duration of --confirm-within: whole seconds ("600"), or numbers with
 * the units s, m, h, d, one after the other ("90s", "10m", "1h30m").
 * Returns 0 with *seconds (1..CLI_CONFIRM_WITHIN_MAX_S), or -ERR_INVALID
 * with a message that shows the forms taken. */
int cli_parse_duration(const char *s, long *seconds, struct err *e);

/* The JSON body of a write command, or NULL for a GET (and on ENOMEM). */
json_t *cli_request_body(const struct cli_request *req);

/* A request that changes state (drain, undrain, set, adopt, confirm; not a
 * dry run): a failure after it was sent leaves its outcome unknown. */
bool cli_request_is_change(const struct cli_request *req);

#endif
