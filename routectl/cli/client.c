#include "cli/client.h"

#include "cli/transport.h"

#include <stdlib.h>
#include <string.h>

void cli_execute(const struct cli_request *req, struct cli_result *res)
{
	struct transport_endpoint ep = { .socket_path = req->socket_path };
	cli_execute_on(req, &ep, res);
}

void cli_execute_on(const struct cli_request *req, const struct transport_endpoint *ep,
		    struct cli_result *res)
{
	const char *method = cli_method(req->cmd);
	char target[1024];
	char *body = NULL;

	cli_result_init(req, res);
	if (!method || !cli_path(req->cmd)) {
		cli_result_local_error(res, "invalid", "%s does not talk to routectld",
				       req->cmd_name);
		return;
	}
	if (cli_request_target(req, target, sizeof target) < 0) {
		cli_result_local_error(res, "invalid", "the request of %s is too long (a --service "
				       "name that long is no service)", req->cmd_name);
		return;
	}
	json_t *jbody = cli_request_body(req);
	if (strcmp(method, "POST") == 0) {
		if (!jbody) {
			cli_result_local_error(res, "invalid",
					       "cannot build the request body for %s", req->cmd_name);
			return;
		}
		body = json_dumps(jbody, JSON_COMPACT);
		json_decref(jbody);
		if (!body) {
			cli_result_local_error(res, "nomem", "out of memory building the request");
			return;
		}
	} else {
		json_decref(jbody);
	}

	struct transport_reply reply;
	transport_call(ep, method, target, body, req->timeout_s, &reply);
	free(body);

	switch (reply.outcome) {
	case TRANSPORT_ANSWERED:
		cli_result_from_response(req, reply.http_status, reply.body.p ? reply.body.p : "",
					 reply.body.len, res);
		break;
	case TRANSPORT_NOT_SENT:
		/* Nothing was sent: for a change, that is certain. */
		if (cli_request_is_change(req))
			cli_result_local_error(res, reply.code,
					       "%s; the %s was not applied (nothing was sent)",
					       reply.message, req->cmd_name);
		else
			cli_result_local_error(res, reply.code, "%s", reply.message);
		break;
	case TRANSPORT_NO_ANSWER:
		if (cli_request_is_change(req))
			cli_result_unknown_outcome(req, res, NULL, reply.message);
		else
			cli_result_local_error(res, reply.code, "%s", reply.message);
		break;
	case TRANSPORT_LOCAL:
		cli_result_local_error(res, reply.code, "%s", reply.message);
		break;
	}
	transport_reply_free(&reply);
}
