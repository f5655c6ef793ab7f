/* The routectl CLI's side of the API, one command end to end: the request
 * parsed from the command line (cli/args.h) goes to routectld over its
 * console socket or its API over TCP (cli/transport.h), and the answer
 * comes back checked as a result that output.c renders (cli/decode.h). */
#ifndef ROUTECTL_CLI_CLIENT_H
#define ROUTECTL_CLI_CLIENT_H

#include "cli/args.h"
#include "cli/decode.h"
#include "cli/transport.h"

/* Sends the request to routectld and fills res (which the caller frees with
 * cli_result_free). There is always something to render: the daemon's answer
 * or refusal, or, when the daemon cannot be reached or its answer makes no
 * sense, a RESULT_LOCAL_ERROR that says why and names the socket.
 *
 * What a failure means for a change (drain, undrain, set; not a dry run):
 * when the connection could not be made, nothing was sent and the message
 * says the change was not applied. When it was made and no answer came
 * (routectld closed the connection, reset it, or did not answer within
 * --timeout) or the answer to an accepted change cannot be read, the change
 * may or may not have been applied: the message says so, with the change id
 * if the answer carried one, and how to find out (routectl status), and
 * res->outcome_unknown is set. Needs curl_global_init. */
void cli_execute(const struct cli_request *req, struct cli_result *res);

/* The same, to the routectld at ep (its console socket, or its API over TCP
 * with a token) instead of req->socket_path. Messages name ep's socket or
 * URL; only the outcome-unknown hint ("run `routectl -s SOCKET status`")
 * still names req->socket_path. */
void cli_execute_on(const struct cli_request *req, const struct transport_endpoint *ep,
		    struct cli_result *res);

#endif
