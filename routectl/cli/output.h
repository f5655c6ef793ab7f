/* The CLI's one output layer: every command hands its result here, and it
 * comes out as text for people or as the daemon's JSON for machines.
 *
 * The text renderers write into a buffer so that tests can compare them with
 * golden strings. Strings that come from the daemon are cleaned of control
 * characters before they reach a terminal. */
#ifndef ROUTECTL_CLI_OUTPUT_H
#define ROUTECTL_CLI_OUTPUT_H

#include <stdio.h>

#include "cli/decode.h"
#include "cli/fanout.h"

struct buf;

enum output_format {
	OUTPUT_TEXT,
	OUTPUT_JSON,
};

/* Renders a result: the answer on out; in text mode, errors go to errout as
 * "routectl: CMD: ..." lines. In JSON mode out always gets one JSON document
 * (the daemon's body, or {"error": {...}} for a local failure), and a local
 * failure is also told on errout. Returns 0, or -ERR_IO when out cannot be
 * written (a closed pipe). */
int output_result(FILE *out, FILE *errout, const struct cli_result *res,
		  enum output_format fmt);

/* A wrong command line: "routectl: MSG" and a pointer to the help. */
void output_usage_error(FILE *errout, const char *msg);
void output_usage(FILE *out, const char *usage);
void output_version(FILE *out, const char *version);

/* Text renderers; each returns 0 or -ERR_NOMEM. */
int output_status_text(struct buf *out, const struct view_status *v);
int output_change_text(struct buf *out, const struct view_change *v);
/* The answer to confirm: the change and each service that stays. */
int output_confirmed_text(struct buf *out, const struct view_confirmed *v);
/* history: one line per record, newest first (time, actor and "for
 * ON_BEHALF_OF", action, site, services, result, change id, reason). */
int output_history_text(struct buf *out, const struct view_history *v);
/* "routectl: drain: refused: MESSAGE\n" for RESULT_API_ERROR and
 * RESULT_LOCAL_ERROR. */
int output_error_text(struct buf *out, const struct cli_result *res);
/* The JSON document that --json prints, indented, with a final newline. */
int output_json_text(struct buf *out, const struct cli_result *res);

/* routectl -f FLEET (output_fleet.c): status as one table of site x service
 * (state, next stage and when, pending confirmation; routers that disagree
 * and unreachable ones marked) and a table of routers (endpoint that
 * answered, why not); a change as one line per router (result, endpoint,
 * change id or why not) with its plan, guard verdicts and diff indented
 * below, the sites whose routers disagree, and a count. --json: one
 * document with every router's answer. Returns 0, -ERR_NOMEM or -ERR_IO. */
int output_fleet(FILE *out, FILE *errout, const struct fanout_result *r,
		 enum output_format fmt);
int output_fleet_status_text(struct buf *out, const struct fanout_result *r);
int output_fleet_change_text(struct buf *out, const struct fanout_result *r);
/* confirm: one line per router (confirmed and what stays, confirmed
 * before, not pending there, late or refused with routectld's words,
 * unreachable) and a count; says so when no router has the change. */
int output_fleet_confirm_text(struct buf *out, const struct fanout_result *r);
int output_fleet_json_text(struct buf *out, const struct fanout_result *r);

/* s cleaned of control characters (each shown as '?'; newlines and tabs
 * kept when multiline) appended to b. 0 or -ERR_NOMEM. */
int output_clean(struct buf *b, const char *s, bool multiline);

/* "announce", "prepend 3", "withdraw". */
void output_state_name(enum svc_mode mode, unsigned prepend, char *out, size_t size);

#endif
