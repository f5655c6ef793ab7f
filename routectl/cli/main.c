/* routectl: the command line of routectld.
 *
 * Parse (args.c, which holds the command table), send (client.c over
 * transport.c), check the answer (decode.c), render (output.c).
 * Exit status: 0 done, 1 refused or failed, 2 wrong command line, 3 a change
 * was sent and no answer tells whether it was applied. `check` exits with the
 * Nagios plugin codes instead (cli/check.h). */
#include "cli/check.h"
#include "cli/client.h"
#include "cli/emergency.h"
#include "cli/fanout.h"
#include "cli/output.h"
#include "cli/token.h"

#include "common/err.h"

#include "common/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#ifndef ROUTECTL_VERSION
#define ROUTECTL_VERSION "unknown"
#endif

/* routectl -f FLEET: the command on many routers at once (cli/fanout.h). */
static enum cli_exit run_fleet(const struct cli_request *req)
{
	struct fleet *f = NULL;
	struct err e;
	if (fleet_load(req->fleet_path, &f, &e) < 0) {
		output_usage_error(stderr, e.msg);
		return CLI_EXIT_FAILED;
	}
	struct fanout_result r;
	if (fanout_execute(f, req, &r, &e) < 0) {
		output_usage_error(stderr, e.msg);
		fleet_free(f);
		return CLI_EXIT_FAILED;
	}
	enum cli_exit code = fanout_exit(&r);
	if (output_fleet(stdout, stderr, &r, req->json ? OUTPUT_JSON : OUTPUT_TEXT) < 0)
		code = CLI_EXIT_FAILED;
	fanout_result_free(&r);
	fleet_free(f);
	return code;
}

/* routectl check: status of one router or of the fleet, judged and printed
 * as one Nagios line; the exit code is the Nagios one (cli/check.h). */
static int run_check(const struct cli_request *check)
{
	struct cli_request req = *check;
	req.cmd = CMD_STATUS;     /* what is asked is a status */
	struct check_result cr;
	struct err e;
	if (req.fleet_path) {
		struct fleet *f = NULL;
		struct fanout_result r;
		if (fleet_load(req.fleet_path, &f, &e) < 0) {
			check_unknown(&cr, e.msg);
		} else if (fanout_execute(f, &req, &r, &e) < 0) {
			check_unknown(&cr, e.msg);
		} else {
			check_from_fanout(&r, &cr);
			fanout_result_free(&r);
		}
		fleet_free(f);
	} else {
		struct cli_result res;
		cli_execute(&req, &res);
		check_from_result(&res, req.socket_path, &cr);
		cli_result_free(&res);
	}
	struct buf b = { 0 };
	int code = cr.code;
	if (check_format(&b, &cr) < 0 || fputs(b.p, stdout) == EOF || fflush(stdout) == EOF)
		code = CHECK_UNKNOWN;
	buf_free(&b);
	return code;
}

int main(int argc, char **argv)
{
	struct cli_request req;
	struct err e;

	if (cli_parse_args(argc, argv, getenv(CLI_SOCKET_ENV), &req, &e) < 0) {
		output_usage_error(stderr, e.msg);
		/* check speaks the Nagios plugin API: a wrong command line is
		 * UNKNOWN there, not CRITICAL (2) */
		bool check = req.cmd_name && strcmp(req.cmd_name, "check") == 0;
		if (check)
			printf("ROUTECTL UNKNOWN - wrong command line (routectl help check)\n");
		cli_request_free(&req);
		return check ? CHECK_UNKNOWN : CLI_EXIT_USAGE;
	}

	switch (req.cmd) {
	case CMD_HELP:
		output_usage(stdout, req.help_topic ? cli_usage(req.help_topic) : cli_usage(NULL));
		cli_request_free(&req);
		return CLI_EXIT_OK;
	case CMD_VERSION:
		output_version(stdout, ROUTECTL_VERSION);
		cli_request_free(&req);
		return CLI_EXIT_OK;
	case CMD_TOKEN_NEW: {
		/* Local: works with no routectld at all. */
		enum cli_exit code = cli_token_new(&req, getenv(CLI_TOKEN_FILE_ENV), stdout, stderr);
		cli_request_free(&req);
		return code;
	}
	case CMD_EMERGENCY: {
		/* Local: routectld's config, its state directory and BIRD. */
		int code = cli_emergency(&req, stdout, stderr);
		cli_request_free(&req);
		return code;
	}
	default:
		break;
	}

	/* -f FLEET, or $ROUTECTL_FLEET unless -s names one router */
	const char *env_fleet = getenv(CLI_FLEET_ENV);
	if (!req.fleet_path && !req.socket_given && env_fleet && env_fleet[0])
		req.fleet_path = env_fleet;
	if (req.via_given && !req.fleet_path) {
		output_usage_error(stderr, "--via chooses the endpoint of each router of a fleet: "
				   "use it with -f FLEET (or $ROUTECTL_FLEET)");
		bool check = req.cmd == CMD_CHECK;
		if (check)
			printf("ROUTECTL UNKNOWN - wrong command line (routectl help check)\n");
		cli_request_free(&req);
		return check ? CHECK_UNKNOWN : CLI_EXIT_USAGE;
	}
	if (req.cmd == CMD_CHECK) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			printf("ROUTECTL UNKNOWN - cannot initialise libcurl\n");
			cli_request_free(&req);
			return CHECK_UNKNOWN;
		}
		int code = run_check(&req);
		cli_request_free(&req);
		curl_global_cleanup();
		return code;
	}
	if (req.fleet_path && fanout_check_command(&req, &e) < 0) {
		output_usage_error(stderr, e.msg);
		cli_request_free(&req);
		return CLI_EXIT_USAGE;
	}

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		output_usage_error(stderr, "cannot initialise libcurl");
		cli_request_free(&req);
		return CLI_EXIT_FAILED;
	}

	if (req.fleet_path) {
		enum cli_exit code = run_fleet(&req);
		cli_request_free(&req);
		curl_global_cleanup();
		return code;
	}

	struct cli_result res;
	cli_execute(&req, &res);
	enum cli_exit code = cli_result_exit(&res);
	/* An answer nobody could read (stdout closed) is not a success. */
	if (output_result(stdout, stderr, &res, req.json ? OUTPUT_JSON : OUTPUT_TEXT) < 0)
		code = CLI_EXIT_FAILED;

	cli_result_free(&res);
	cli_request_free(&req);
	curl_global_cleanup();
	return code;
}
