#include "cli/output.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/timeutil.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARROW "\xe2\x86\x92"   /* → */

/* More prefixes than this and the PREFIXES column shows a count. */
#define MAX_LISTED_PREFIXES 4

/* Copies s into b with control characters (C0, DEL, C1) replaced by '?', so
 * that a daemon's string cannot move the cursor or retitle the terminal.
 * multiline keeps newlines and tabs (for diffs and long messages). */
static int put_clean(struct buf *b, const char *s, bool multiline)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t run = 0;
		while (p[run] && p[run] >= 0x20 && p[run] != 0x7f &&
		       !(p[run] == 0xc2 && p[run + 1] >= 0x80 && p[run + 1] <= 0x9f))
			run++;
		if (run && buf_append(b, p, run) < 0)
			return -ERR_NOMEM;
		p += run;
		if (!*p)
			break;
		if (multiline && (*p == '\n' || *p == '\t')) {
			if (buf_append(b, p, 1) < 0)
				return -ERR_NOMEM;
			p++;
		} else {
			if (buf_puts(b, "?") < 0)
				return -ERR_NOMEM;
			p += (*p == 0xc2) ? 2 : 1;
		}
	}
	return 0;
}

/* Terminal columns of a UTF-8 string: one per code point, which is right
 * for the text routectl shows (names, prefixes, times, the arrow). */
static size_t display_width(const char *s)
{
	size_t w = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xc0) != 0x80)
			w++;
	return w;
}

void output_state_name(enum svc_mode mode, unsigned prepend, char *out, size_t size)
{
	if (mode == MODE_PREPEND)
		snprintf(out, size, "prepend %u", prepend);
	else
		snprintf(out, size, "%s", svc_mode_name(mode));
}

/* "10:35:00Z" from an RFC 3339 time; the text as it came if it does not parse. */
static void clock_time(const char *at, char *out, size_t size)
{
	time_t t;
	struct tm tm;
	if (at && time_parse_utc(at, &t) == 0 && gmtime_r(&t, &tm)) {
		strftime(out, size, "%H:%M:%SZ", &tm);
		return;
	}
	snprintf(out, size, "%s", at ? at : "?");
}

/* "in 9m 12s", "in 42s", "due now". */
static void in_text(long long s, char *out, size_t size)
{
	if (s <= 0)
		snprintf(out, size, "due now");
	else if (s >= 3600)
		snprintf(out, size, "in %lldh %02lldm", s / 3600, s / 60 % 60);
	else if (s >= 60)
		snprintf(out, size, "in %lldm %02llds", s / 60, s % 60);
	else
		snprintf(out, size, "in %llds", s);
}

static void step_text(const struct view_step *s, char *out, size_t size)
{
	char state[32], at[64], in[32] = "";
	output_state_name(s->mode, s->prepend, state, sizeof state);
	clock_time(s->at, at, sizeof at);
	if (s->has_in_s) {
		in[0] = ' ';
		in[1] = '(';
		in_text(s->in_s, in + 2, sizeof in - 3);
		strcat(in, ")");
	}
	snprintf(out, size, "%s at %s%s", state, at, in);
}

/* "12 ms", "12.5 ms": the daemon may count in whole milliseconds or not. */
static const char *ms_text(double ms, char *out, size_t size)
{
	/* range first: casting a huge double to an integer is undefined */
	if (ms > -1e15 && ms < 1e15 && ms == (double)(long long)ms)
		snprintf(out, size, "%lld ms", (long long)ms);
	else
		snprintf(out, size, "%.1f ms", ms);
	return out;
}

/* ---- tables ---- */

struct table {
	size_t ncols, nrows;
	char **cells;   /* nrows * ncols, cleaned */
};

static int table_init(struct table *t, size_t ncols, size_t nrows)
{
	t->ncols = ncols;
	t->nrows = 0;
	t->cells = calloc(ncols * nrows, sizeof *t->cells);
	return t->cells ? 0 : -ERR_NOMEM;
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->ncols * t->nrows; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
}

/* Adds a row of ncols strings; NULL or "" shows as "-". */
static int table_add(struct table *t, const char *const *row)
{
	for (size_t c = 0; c < t->ncols; c++) {
		struct buf b = { 0 };
		const char *s = row[c] && row[c][0] ? row[c] : "-";
		if (put_clean(&b, s, false) < 0) {
			buf_free(&b);
			return -ERR_NOMEM;
		}
		t->cells[t->nrows * t->ncols + c] = buf_steal(&b);
		if (!t->cells[t->nrows * t->ncols + c])
			return -ERR_NOMEM;
	}
	t->nrows++;
	return 0;
}

/* Columns as wide as their widest cell, two spaces apart; the last column
 * is not padded, so lines carry no trailing blanks. */
static int table_render(const struct table *t, struct buf *out)
{
	size_t *w = calloc(t->ncols, sizeof *w);
	if (!w)
		return -ERR_NOMEM;
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t cw = display_width(t->cells[r * t->ncols + c]);
			if (cw > w[c])
				w[c] = cw;
		}
	int rc = 0;
	for (size_t r = 0; r < t->nrows && rc == 0; r++) {
		for (size_t c = 0; c < t->ncols && rc == 0; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			rc = buf_puts(out, cell);
			if (rc == 0 && c + 1 < t->ncols)
				rc = buf_printf(out, "%*s", (int)(w[c] - display_width(cell) + 2), "");
		}
		if (rc == 0)
			rc = buf_puts(out, "\n");
	}
	free(w);
	return rc;
}

/* ---- status ---- */

static int prefixes_text(const struct view_service *s, struct buf *b)
{
	if (s->n_prefixes > MAX_LISTED_PREFIXES || s->n_listed < s->n_prefixes)
		return buf_printf(b, "%zu prefixes", s->n_prefixes);
	for (size_t i = 0; i < s->n_listed; i++)
		if (buf_printf(b, "%s%s", i ? ", " : "", s->prefixes[i]) < 0)
			return -ERR_NOMEM;
	return 0;
}

static int header_line(struct buf *out, const char *label, const char *value)
{
	if (buf_printf(out, "%-12s", label) < 0 || put_clean(out, value, false) < 0 ||
	    buf_puts(out, "\n") < 0)
		return -ERR_NOMEM;
	return 0;
}

/* What routectld last found about BIRD's BGP protocols: one line per
 * protocol (name, families, problems and what is wrong), and whether the
 * peer filters could be checked at all. Nothing when it has not checked. */
static int peers_block(struct buf *out, const struct view_status *v)
{
	int rc = 0;
	if (!v->has_peers)
		return 0;
	rc |= buf_puts(out, "peers");
	if (v->peers_checked_at) {
		rc |= buf_puts(out, "       checked at ");
		rc |= put_clean(out, v->peers_checked_at, false);
	}
	rc |= buf_puts(out, "\n");
	if (v->n_peers == 0)
		rc |= buf_puts(out, "  none listed in bird/bgp-protocol\n");
	for (size_t i = 0; i < v->n_peers; i++) {
		const struct view_peer *p = &v->peers[i];
		char fam[16];
		snprintf(fam, sizeof fam, "%s%s%s", p->v4 ? "ipv4" : "",
			 p->v4 && p->v6 ? "," : "", p->v6 ? "ipv6" : "");
		rc |= buf_puts(out, "  ");
		rc |= put_clean(out, p->name, false);
		size_t n = strlen(p->name);
		rc |= buf_printf(out, "%*s %-10s", n < 16 ? (int)(16 - n) : 0, "",
				 fam[0] ? fam : "-");
		if (!p->listed)
			rc |= buf_puts(out, " (not listed)");
		if (!p->up)
			rc |= buf_puts(out, " (down)");
		if (!p->problems[0]) {
			rc |= buf_puts(out, " ok\n");
			continue;
		}
		rc |= buf_puts(out, " ");
		rc |= put_clean(out, p->problems, false);
		if (p->message) {
			rc |= buf_puts(out, ": ");
			rc |= put_clean(out, p->message, false);
		}
		rc |= buf_puts(out, "\n");
	}
	if (v->no_sentinel_v4 || v->no_sentinel_v6)
		rc |= buf_printf(out, "  no %s%s%s sentinel route in BIRD: peer filters that "
				 "ignore routectl_export() cannot be found\n",
				 v->no_sentinel_v4 ? "IPv4" : "",
				 v->no_sentinel_v4 && v->no_sentinel_v6 ? " or " : "",
				 v->no_sentinel_v6 ? "IPv6" : "");
	return rc ? -ERR_NOMEM : 0;
}

static int status_header(struct buf *out, const struct view_status *v)
{
	struct buf line = { 0 };
	char ms[48];
	int rc = 0;

	if (v->safe_mode_reason) {
		if (buf_puts(out, "SAFE MODE: ") < 0 ||
		    put_clean(out, v->safe_mode_reason, false) < 0 ||
		    buf_puts(out, "\n  routectld leaves BIRD alone and refuses changes "
			     "until this is fixed.\n") < 0)
			return -ERR_NOMEM;
		if (v->has_last_known &&
		    buf_printf(out, "  The desired state is not known. LAST KNOWN below is what "
			       "routectld held until %s (generation %lld), before the state was "
			       "lost; BIRD may run something else.\n",
			       v->last_known_until ? v->last_known_until : "the loss",
			       v->last_known_generation) < 0)
			return -ERR_NOMEM;
		if (buf_puts(out, "\n") < 0)
			return -ERR_NOMEM;
	}
	if (v->has_reload && !v->reload_ok) {
		if (buf_puts(out, "config reload") < 0 ||
		    (v->reload_at && buf_printf(out, " at %s", v->reload_at) < 0) ||
		    buf_puts(out, " FAILED: ") < 0 ||
		    put_clean(out, v->reload_error ? v->reload_error : "no reason given", false) <
			    0 ||
		    buf_printf(out, "; running the config loaded at %s\n\n",
			       v->config_loaded_at ? v->config_loaded_at : "start") < 0)
			return -ERR_NOMEM;
	}
	if (header_line(out, "site", v->site) < 0 ||
	    buf_printf(out, "%-12s%lld\n", "generation", v->generation) < 0)
		return -ERR_NOMEM;
	if (v->has_reload && v->config_path) {
		struct buf cl = { 0 };
		int crc = buf_printf(&cl, "%s", v->config_path);
		if (v->config_loaded_at)
			crc |= buf_printf(&cl, " (loaded at %s)", v->config_loaded_at);
		if (v->reload_ok && v->reload_warning)
			crc |= buf_printf(&cl, "; %s", v->reload_warning);
		crc |= header_line(out, "config", crc ? "" : cl.p);
		buf_free(&cl);
		if (crc)
			return -ERR_NOMEM;
	}

	rc |= buf_puts(&line, v->bird_connected ? "connected" : "NOT CONNECTED");
	if (v->bird_socket)
		rc |= buf_printf(&line, " to %s", v->bird_socket);
	if (v->bird_connected && v->bird_version)
		rc |= buf_printf(&line, " (BIRD %s)", v->bird_version);
	if (v->bird_error)
		rc |= buf_printf(&line, ": %s", v->bird_error);
	rc |= header_line(out, "bird", line.p);
	buf_reset(&line);

	if (!v->has_last_apply) {
		rc |= buf_puts(&line, "none yet");
	} else {
		bool ok = strcmp(v->last_result, "ok") == 0;
		rc |= buf_puts(&line, ok ? "ok" : strcmp(v->last_result, "failed") == 0 ?
			       "FAILED" : v->last_result);
		if (v->last_at)
			rc |= buf_printf(&line, " at %s", v->last_at);
		if (v->last_trigger)
			rc |= buf_printf(&line, " (%s)", v->last_trigger);
		if (v->has_last_ms)
			rc |= buf_printf(&line, ", %s", ms_text(v->last_ms, ms, sizeof ms));
		if (v->last_change_id)
			rc |= buf_printf(&line, ", change %s", v->last_change_id);
		if (!ok && v->last_message)
			rc |= buf_printf(&line, ": %s", v->last_message);
	}
	rc |= header_line(out, "last apply", line.p);
	if (v->has_in_flight) {
		buf_reset(&line);
		rc |= buf_puts(&line, v->in_flight_kind ? v->in_flight_kind : "change");
		if (v->in_flight_change_id && v->in_flight_change_id[0])
			rc |= buf_printf(&line, " %s", v->in_flight_change_id);
		if (v->in_flight_since)
			rc |= buf_printf(&line, " since %s", v->in_flight_since);
		rc |= buf_puts(&line, " (states below are from before it)");
		rc |= header_line(out, "in flight", line.p);
	}
	if (v->has_repairs)
		rc |= buf_printf(out, "%-12s%lld since start\n", "repairs", v->repairs);
	/* Changes that revert by themselves unless confirmed. */
	for (size_t i = 0; i < v->n_pending; i++) {
		const struct view_confirm_wait *c = &v->pending[i];
		char in[32] = "";
		buf_reset(&line);
		rc |= buf_printf(&line, "change %s reverts ", c->change_id);
		for (size_t k = 0; k < c->n_services; k++)
			rc |= buf_printf(&line, "%s%s", k ? ", " : "", c->services[k]);
		if (c->has_in_s)
			in_text(c->in_s, in, sizeof in);
		rc |= buf_printf(&line, " at %s%s%s%s unless confirmed: routectl confirm %s",
				 c->deadline, in[0] ? " (" : "", in, in[0] ? ")" : "",
				 c->change_id);
		rc |= header_line(out, "confirm", line.p);
	}
	/* A listener that could not bind: routectld runs without it and keeps
	 * trying; an out-of-band one down means no evacuation over the
	 * management network. */
	for (size_t i = 0; i < v->n_listeners; i++) {
		const struct view_listener *l = &v->listeners[i];
		if (l->bound)
			continue;
		buf_reset(&line);
		rc |= buf_printf(&line, strchr(l->address, ':') ? "NOT BOUND: %s [%s]:%lld"
							       : "NOT BOUND: %s %s:%lld",
				 l->kind, l->address, l->port);
		if (l->error)
			rc |= buf_printf(&line, ": %s", l->error);
		rc |= buf_puts(&line, " (routectld tries again every few seconds)");
		rc |= header_line(out, "listener", line.p);
	}
	buf_free(&line);
	rc |= peers_block(out, v);
	return rc ? -ERR_NOMEM : 0;
}

int output_status_text(struct buf *out, const struct view_status *v)
{
	static const char *const head[] = {
		"SERVICE", "PREFIXES", "STATE", "SINCE", "ACTOR", "REASON"
	};
	struct table t;
	struct buf prefixes = { 0 };
	int rc;

	if (status_header(out, v) < 0 || buf_puts(out, "\n") < 0)
		return -ERR_NOMEM;
	if (v->n_services == 0)
		return buf_puts(out, "no services configured\n");

	if (table_init(&t, 6, v->n_services + 1) < 0)
		return -ERR_NOMEM;
	rc = table_add(&t, head);
	for (size_t i = 0; i < v->n_services && rc == 0; i++) {
		const struct view_service *s = &v->services[i];
		char state[256], base[64], next[96];
		if (s->known) {
			output_state_name(s->mode, s->prepend, base, sizeof base);
		} else if (s->last_known) {
			char was[24];
			output_state_name(s->mode, s->prepend, was, sizeof was);
			snprintf(base, sizeof base, "unknown (LAST KNOWN %s)", was);
		} else {
			snprintf(base, sizeof base, "unknown");
		}
		if (s->known && s->has_next) {
			step_text(&s->next, next, sizeof next);
			snprintf(state, sizeof state, "%s " ARROW " %s", base, next);
		} else {
			snprintf(state, sizeof state, "%s", base);
		}
		if (s->known && s->has_confirm) {
			/* "withdraw (unconfirmed: back to announce at 10:45:00Z)" */
			char back[32] = "", at[64], with[400];
			if (s->confirm.has_revert)
				output_state_name(s->confirm.revert_mode, s->confirm.revert_prepend,
						  back, sizeof back);
			clock_time(s->confirm.deadline, at, sizeof at);
			snprintf(with, sizeof with, "%s (unconfirmed: back%s%s at %s)", state,
				 back[0] ? " to " : "", back, at);
			snprintf(state, sizeof state, "%s", with);
		}
		buf_reset(&prefixes);
		rc = prefixes_text(s, &prefixes);
		if (rc == 0) {
			const char *row[] = {
				s->name, prefixes.p, state, s->since, s->actor, s->reason
			};
			rc = table_add(&t, row);
		}
	}
	if (rc == 0)
		rc = table_render(&t, out);
	table_free(&t);
	buf_free(&prefixes);
	return rc;
}

/* ---- drain / undrain / set ---- */

static int change_line(struct buf *out, const struct view_change_item *c)
{
	char from[32], to[32], next[96];
	output_state_name(c->from_mode, c->from_prepend, from, sizeof from);
	output_state_name(c->to_mode, c->to_prepend, to, sizeof to);

	if (put_clean(out, c->service, false) < 0)
		return -ERR_NOMEM;
	int rc;
	if (c->from_unknown)
		rc = buf_printf(out, ": BIRD exports no single state " ARROW " %s", to);
	else if (c->from_mode == c->to_mode && c->from_prepend == c->to_prepend)
		rc = buf_printf(out, ": %s (unchanged)", to);
	else
		rc = buf_printf(out, ": %s " ARROW " %s", from, to);
	if (rc == 0 && c->has_next) {
		step_text(&c->next, next, sizeof next);
		rc = buf_puts(out, " (then ");
		if (rc == 0)
			rc = put_clean(out, next, false);
		if (rc == 0)
			rc = buf_puts(out, ")");
	}
	return rc == 0 ? buf_puts(out, "\n") : rc;
}

int output_change_text(struct buf *out, const struct view_change *v)
{
	int rc = 0;

	if (v->dry_run)
		rc |= buf_puts(out, "dry run: nothing changed\n");
	if (v->n_items == 0)
		rc |= buf_puts(out, "no change\n");
	for (size_t i = 0; i < v->n_items; i++)
		rc |= change_line(out, &v->items[i]);
	/* A dry run shows every guard's verdict; a forced change what it
	 * overrode. */
	json_t *g;
	size_t gi;
	json_array_foreach(v->dry_run ? v->guards : NULL, gi, g) {
		const char *name = json_string_value(json_object_get(g, "name"));
		const char *verdict = json_string_value(json_object_get(g, "verdict"));
		const char *msg = json_string_value(json_object_get(g, "message"));
		rc |= buf_puts(out, "guard ");
		rc |= put_clean(out, name ? name : "?", false);
		rc |= buf_puts(out, ": ");
		rc |= put_clean(out, verdict ? verdict : "?", false);
		if (msg && *msg) {
			rc |= buf_puts(out, ": ");
			rc |= put_clean(out, msg, false);
		}
		rc |= buf_puts(out, "\n");
	}
	json_array_foreach(v->override, gi, g) {
		const char *name = json_string_value(json_object_get(g, "guard"));
		const char *msg = json_string_value(json_object_get(g, "message"));
		rc |= buf_puts(out, "forced past guard ");
		rc |= put_clean(out, name ? name : "?", false);
		if (msg && *msg) {
			rc |= buf_puts(out, ": ");
			rc |= put_clean(out, msg, false);
		}
		rc |= buf_puts(out, "\n");
	}
	if (v->dry_run) {
		if (v->diff && v->diff[0]) {
			size_t len = strlen(v->diff);
			rc |= buf_puts(out, "BIRD include diff:\n");
			rc |= put_clean(out, v->diff, true);
			if (v->diff[len - 1] != '\n')
				rc |= buf_puts(out, "\n");
		} else {
			rc |= buf_puts(out, "the BIRD include would stay the same\n");
		}
	}
	if (v->has_apply) {
		bool ok = strcmp(v->apply_result, "ok") == 0;
		if (ok) {
			rc |= buf_puts(out, "applied");
		} else if (strcmp(v->apply_result, "partial") == 0) {
			rc |= buf_puts(out, "applied IN PART");
		} else {
			rc |= buf_puts(out, "apply FAILED: ");
			rc |= put_clean(out, v->apply_result, false);
		}
		if (v->has_apply_ms) {
			char ms[48];
			rc |= buf_printf(out, " in %s", ms_text(v->apply_ms, ms, sizeof ms));
		}
		if (v->change_id) {
			rc |= buf_puts(out, ", change ");
			rc |= put_clean(out, v->change_id, false);
		}
		rc |= buf_puts(out, "\n");
		if (v->apply_message) {
			rc |= buf_puts(out, "  not everywhere: ");
			rc |= put_clean(out, v->apply_message, false);
			rc |= buf_puts(out, "\n");
		}
	}
	if (v->confirm_deadline && v->n_items > 0) {
		rc |= buf_puts(out, v->dry_run ? "would revert by itself at " :
			       "reverts by itself at ");
		rc |= put_clean(out, v->confirm_deadline, false);
		if (!v->dry_run && v->change_id) {
			rc |= buf_puts(out, " unless confirmed: routectl confirm ");
			rc |= put_clean(out, v->change_id, false);
		}
		rc |= buf_puts(out, "\n");
	}
	return rc ? -ERR_NOMEM : 0;
}

/* ---- confirm ---- */

int output_confirmed_text(struct buf *out, const struct view_confirmed *v)
{
	int rc = buf_puts(out, "confirmed change ");
	rc |= put_clean(out, v->change_id, false);
	if (v->deadline) {
		rc |= buf_puts(out, " (its deadline was ");
		rc |= put_clean(out, v->deadline, false);
		rc |= buf_puts(out, ")");
	}
	rc |= buf_puts(out, ": it stays\n");
	for (size_t i = 0; i < v->n_items; i++) {
		const struct view_change_item *c = &v->items[i];
		char to[32], back[32];
		output_state_name(c->to_mode, c->to_prepend, to, sizeof to);
		output_state_name(c->from_mode, c->from_prepend, back, sizeof back);
		rc |= put_clean(out, c->service, false);
		rc |= buf_printf(out, ": %s (no longer goes back to %s)\n", to, back);
	}
	return rc ? -ERR_NOMEM : 0;
}

/* ---- history ---- */

/* "prepend 3" from {"state": "prepend", "prepend": 3}; "?" when it is not
 * one. */
static void audit_state_name(json_t *st, char *out, size_t size)
{
	enum svc_mode mode;
	const char *name = json_string_value(json_object_get(st, "state"));
	json_t *p = json_object_get(st, "prepend");
	if (!name || svc_mode_parse(name, &mode) < 0)
		snprintf(out, size, "?");
	else
		output_state_name(mode, json_is_integer(p) ? (unsigned)json_integer_value(p) : 0,
				  out, size);
}

int output_history_text(struct buf *out, const struct view_history *v)
{
	static const char *const head[] = {
		"TIME", "ACTOR", "ACTION", "SITE", "SERVICES", "RESULT", "CHANGE", "REASON"
	};
	struct table t;
	struct buf actor = { 0 }, action = { 0 }, services = { 0 }, result = { 0 };
	int rc = 0;

	if (v->n_records == 0) {
		rc = buf_puts(out, "no audit records\n");
	} else if (table_init(&t, 8, v->n_records + 1) < 0) {
		return -ERR_NOMEM;
	} else {
		rc = table_add(&t, head);
		for (size_t i = 0; i < v->n_records && rc == 0; i++) {
			const struct view_audit_record *r = &v->records[i];
			buf_reset(&actor);
			buf_reset(&action);
			buf_reset(&services);
			/* a bot acting for a person shows both */
			rc |= buf_puts(&actor, r->actor ? r->actor : "-");
			if (r->on_behalf_of)
				rc |= buf_printf(&actor, " for %s", r->on_behalf_of);
			/* routectld on its own: on whose change, and each move */
			if (r->follows_change_id)
				rc |= buf_printf(&actor, " (after %s of %s)", r->follows_change_id,
						 r->follows_actor ? r->follows_actor : "-");
			rc |= buf_printf(&action, "%s%s", r->action, r->dry_run ? " (dry run)" : "");
			for (size_t k = 0; k < r->n_services; k++) {
				rc |= buf_printf(&services, "%s%s", k ? "," : "", r->services[k]);
				json_t *from = r->before ? json_object_get(r->before, r->services[k]) : NULL;
				json_t *to = r->after ? json_object_get(r->after, r->services[k]) : NULL;
				if (r->follows_change_id && from && to) {
					char f[32], t[32];
					audit_state_name(from, f, sizeof f);
					audit_state_name(to, t, sizeof t);
					rc |= buf_printf(&services, " %s -> %s", f, t);
				}
			}
			buf_reset(&result);
			rc |= buf_puts(&result, r->result);
			if (r->failed_attempts > 0)
				rc |= buf_printf(&result, " (after %lld failed)", r->failed_attempts);
			if (rc == 0) {
				const char *row[] = {
					r->time, actor.p, action.p, r->site, services.p, result.p,
					r->change_id, r->reason
				};
				rc = table_add(&t, row);
			}
		}
		if (rc == 0)
			rc = table_render(&t, out);
		table_free(&t);
	}
	if (rc == 0 && v->skipped > 0)
		rc = buf_printf(out, "(%lld line%s of the audit log could not be read and %s left "
				"out)\n", v->skipped, v->skipped == 1 ? "" : "s",
				v->skipped == 1 ? "is" : "are");
	buf_free(&actor);
	buf_free(&action);
	buf_free(&services);
	buf_free(&result);
	return rc ? -ERR_NOMEM : 0;
}

/* ---- errors ---- */

/* Continuation lines of a multi-line message are indented under the first. */
static int put_message(struct buf *out, const char *msg)
{
	struct buf clean = { 0 };
	int rc = put_clean(&clean, msg, true);
	for (const char *p = clean.p; rc == 0 && p && *p; p++) {
		if (*p == '\n') {
			if (p[1] != '\0')
				rc = buf_puts(out, "\n  ");
		} else {
			rc = buf_append(out, p, 1);
		}
	}
	buf_free(&clean);
	return rc;
}

int output_error_text(struct buf *out, const struct cli_result *res)
{
	int rc = buf_puts(out, "routectl: ");
	if (res->kind == RESULT_API_ERROR) {
		rc |= buf_printf(out, "%s: ", res->cmd_name);
		rc |= put_clean(out, res->error_code, false);
		rc |= buf_puts(out, ": ");
		rc |= put_message(out, res->error_message);
	} else {
		rc |= put_message(out, res->local_msg);
	}
	rc |= buf_puts(out, "\n");
	return rc ? -ERR_NOMEM : 0;
}

/* A JSON string for a message that may hold bytes from argv or the
 * environment that are not UTF-8 (jansson refuses those). */
static json_t *json_string_lossy(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	char *copy = strdup(s);
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

int output_json_text(struct buf *out, const struct cli_result *res)
{
	json_t *doc;
	if (res->kind == RESULT_LOCAL_ERROR || !res->body) {
		const char *code = res->local_code ? res->local_code : "unknown";
		doc = json_pack("{s:{s:s, s:o}}", "error", "code", code,
				"message", json_string_lossy(res->local_msg));
	} else {
		doc = json_incref(res->body);
	}
	if (!doc)
		return -ERR_NOMEM;
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (!s)
		return -ERR_NOMEM;
	int rc = buf_puts(out, s);
	free(s);
	return rc == 0 ? buf_puts(out, "\n") : rc;
}

/* ---- to the terminal ---- */

static int write_all(FILE *f, const struct buf *b)
{
	if (b->len && fwrite(b->p, 1, b->len, f) != b->len)
		return -ERR_IO;
	return fflush(f) == 0 ? 0 : -ERR_IO;
}

int output_result(FILE *out, FILE *errout, const struct cli_result *res,
		  enum output_format fmt)
{
	struct buf o = { 0 }, e = { 0 };
	int rc = 0;
	bool failed = res->kind == RESULT_API_ERROR || res->kind == RESULT_LOCAL_ERROR;

	if (fmt == OUTPUT_JSON) {
		rc = output_json_text(&o, res);
		/* A person watching a script should still see why it failed
		 * when routectld never answered. */
		if (rc == 0 && res->kind == RESULT_LOCAL_ERROR)
			rc = output_error_text(&e, res);
	} else if (failed) {
		rc = output_error_text(&e, res);
	} else if (res->kind == RESULT_STATUS) {
		rc = output_status_text(&o, &res->status);
	} else if (res->kind == RESULT_CHANGE) {
		rc = output_change_text(&o, &res->change);
	} else if (res->kind == RESULT_HISTORY) {
		rc = output_history_text(&o, &res->history);
	} else if (res->kind == RESULT_CONFIRMED) {
		rc = output_confirmed_text(&o, &res->confirmed);
	}
	if (rc < 0) {
		fputs("routectl: out of memory rendering the answer\n", errout);
	} else {
		rc = write_all(out, &o);
		if (write_all(errout, &e) < 0 && rc == 0)
			rc = -ERR_IO;
	}
	buf_free(&o);
	buf_free(&e);
	return rc;
}

void output_usage_error(FILE *errout, const char *msg)
{
	struct buf b = { 0 };
	if (buf_puts(&b, "routectl: ") == 0 && put_message(&b, msg) == 0 &&
	    buf_puts(&b, "\n") == 0)
		write_all(errout, &b);
	buf_free(&b);
}

void output_usage(FILE *out, const char *usage)
{
	fputs(usage, out);
	fflush(out);
}

void output_version(FILE *out, const char *version)
{
	fprintf(out, "routectl %s\n", version);
	fflush(out);
}

int output_clean(struct buf *b, const char *s, bool multiline)
{
	return put_clean(b, s, multiline);
}
