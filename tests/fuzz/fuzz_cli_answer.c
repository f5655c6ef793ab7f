/* libFuzzer target: routectld's answer as the CLI reads it
 * (cli_result_from_response), a body that an older or broken daemon, a
 * proxy, or anything else listening on the socket or port may send.
 *
 * The first byte picks the command (status, drain, drain --dry-run,
 * history, adopt; confirm from 240 up) and the HTTP status (200, 409 or
 * 500); the rest is the body. Oracles: there is always a result to render, of a kind that fits
 * the status; a local error has a code and a message; only an accepted
 * change (not a dry run) can end with its outcome unknown; the text and
 * JSON renderers take every result. */
#include "cli/decode.h"
#include "cli/output.h"
#include "common/buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct { enum cli_cmd cmd; const char *name; bool dry_run; } cmds[] = {
		{ CMD_STATUS, "status", false },   { CMD_DRAIN, "drain", false },
		{ CMD_DRAIN, "drain", true },      { CMD_HISTORY, "history", false },
		{ CMD_ADOPT, "adopt", false },
	};
	static const long statuses[] = { 200, 409, 500 };
	if (size < 1)
		return 0;
	unsigned pick = data[0];
	struct cli_request req;
	memset(&req, 0, sizeof req);
	req.cmd = cmds[pick % 5].cmd;
	req.cmd_name = cmds[pick % 5].name;
	req.dry_run = cmds[pick % 5].dry_run;
	req.socket_path = CLI_DEFAULT_SOCKET;
	req.site = "ash";
	req.reason = "fuzz";
	long status = statuses[(pick / 5) % 3];
	if (pick >= 240) {   /* apart, so that the seeds below keep their meaning */
		req.cmd = CMD_CONFIRM;
		req.cmd_name = "confirm";
		req.dry_run = false;
		req.change_id = "0123456789abcdef";
		status = statuses[(pick - 240) % 3];
	}

	struct cli_result res;
	cli_result_from_response(&req, status, (const char *)data + 1, size - 1, &res);

	bool ok = status == 200;
	switch (res.kind) {
	case RESULT_STATUS:
		if (!ok || req.cmd != CMD_STATUS || !res.status.site)
			abort();
		for (size_t i = 0; i < res.status.n_services; i++)
			if (!res.status.services[i].name ||
			    res.status.services[i].n_listed > res.status.services[i].n_prefixes)
				abort();
		break;
	case RESULT_CHANGE:
		if (!ok || (req.cmd != CMD_DRAIN && req.cmd != CMD_ADOPT) || !res.change.site)
			abort();
		for (size_t i = 0; i < res.change.n_items; i++)
			if (!res.change.items[i].service)
				abort();
		break;
	case RESULT_CONFIRMED:
		if (!ok || req.cmd != CMD_CONFIRM || !res.confirmed.change_id)
			abort();
		for (size_t i = 0; i < res.confirmed.n_items; i++)
			if (!res.confirmed.items[i].service)
				abort();
		break;
	case RESULT_HISTORY:
		if (!ok || req.cmd != CMD_HISTORY)
			abort();
		for (size_t i = 0; i < res.history.n_records; i++)
			if (!res.history.records[i].time || !res.history.records[i].action)
				abort();
		break;
	case RESULT_API_ERROR:
		if (ok || !res.error_code || !res.error_message)
			abort();
		break;
	case RESULT_LOCAL_ERROR:
		if (!res.local_code || !res.local_msg[0])
			abort();
		break;
	default:
		abort();
	}
	if (res.outcome_unknown && !(ok && cli_request_is_change(&req)))
		abort();
	if ((cli_result_exit(&res) == CLI_EXIT_UNKNOWN) != res.outcome_unknown)
		abort();

	struct buf b = { 0 };
	switch (res.kind) {
	case RESULT_STATUS: output_status_text(&b, &res.status); break;
	case RESULT_CHANGE: output_change_text(&b, &res.change); break;
	case RESULT_HISTORY: output_history_text(&b, &res.history); break;
	case RESULT_CONFIRMED: output_confirmed_text(&b, &res.confirmed); break;
	default: output_error_text(&b, &res); break;
	}
	buf_reset(&b);
	output_json_text(&b, &res);
	buf_free(&b);
	cli_result_free(&res);
	return 0;
}
