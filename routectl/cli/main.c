/* routectl: the command line of routectld.
 *
 * Parse (args.c, which holds the command table), send (client.c over
 * transport.c), check the answer (decode.c), render (output.c).
 * Exit status: 0 done, 1 refused or failed, 2 wrong command line, 3 a change
 * was sent and no answer tells whether it was applied. */
#include "cli/client.h"
#include "cli/fanout.h"
#include "cli/output.h"
#include "cli/token.h"

#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>

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

int main(int argc, char **argv)
{
	struct cli_request req;
	struct err e;

	if (cli_parse_args(argc, argv, getenv(CLI_SOCKET_ENV), &req, &e) < 0) {
		output_usage_error(stderr, e.msg);
		cli_request_free(&req);
		return CLI_EXIT_USAGE;
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
	default:
		break;
	}

	/* -f FLEET, or $ROUTECTL_FLEET unless -s names one router */
	const char *env_fleet = getenv(CLI_FLEET_ENV);
	if (!req.fleet_path && !req.socket_given && env_fleet && env_fleet[0])
		req.fleet_path = env_fleet;
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
