/* BIRD's control socket: the one place that speaks its protocol and parses
 * its replies.
 *
 * The protocol (see BIRD's doc and ../shared BIRD facts): after connecting,
 * BIRD greets with "0001 BIRD 2.0.12 ready.". Each command is one line. A
 * reply is a sequence of lines: "CODE-text" continues the reply, "CODE text"
 * (a space after the 4-digit code) ends it, and a line that begins with a
 * space continues the text of the previous code. Codes 8000-9999 are errors.
 *
 * Nothing here needs the daemon's event loop: every call is blocking with a
 * timeout, so the CLI's emergency mode can use it too. */
#ifndef ROUTECTL_BIRD_H
#define ROUTECTL_BIRD_H

#include "common/model.h"

#include <stddef.h>
#include <stdint.h>

struct err;

#define BIRD_LINE_MAX 65536   /* longer lines are a protocol error */
/* Bounds of one reply (a protocol error past them). 10,000 routes shown with
 * `all` take about 30,000 lines and 1 MB. */
#define BIRD_REPLY_MAX_LINES 2000000
#define BIRD_REPLY_MAX_BYTES (128u << 20)
/* BIRD's own limit is 4096 bytes with the newline ("9000 Command too long"). */
#define BIRD_CMD_MAX 4000

struct bird_line {
	int code;     /* 4-digit code; a continuation line gets the previous code */
	char *text;   /* without the code and its separator, without the newline */
};

struct bird_chunk;

struct bird_reply {
	int code;               /* code of the final line */
	struct bird_line *lines;
	size_t n_lines;
	struct bird_chunk *chunks;  /* where the texts live (freed by bird_reply_free) */
};

void bird_reply_free(struct bird_reply *r);
/* All texts joined with "\n" (heap; NULL on OOM); used for error messages. */
char *bird_reply_text(const struct bird_reply *r);

/* Incremental reply parser, without I/O; exposed for unit tests and fuzzing.
 * Lines that begin with '+' are BIRD's asynchronous messages (e.g. "+Config
 * timeout expired, starting undo"); they may come between or inside replies,
 * are logged and are not part of any reply. After an error the parser stays
 * failed (the stream is out of sync): free it and start again. */
struct bird_parser {
	char *pending;          /* bytes of an unfinished line */
	size_t pending_len;
	size_t pending_cap;
	struct bird_reply cur;  /* reply being assembled */
	size_t cur_cap;
	int last_code;
	size_t line_no;         /* lines of the current reply seen so far */
	size_t cur_bytes;       /* text bytes of the current reply */
	int failed;
};

void bird_parser_init(struct bird_parser *p);
void bird_parser_free(struct bird_parser *p);
/* Consumes bytes up to the end of the first complete reply. Returns 1 and
 * fills *out (caller frees) when a reply completed (*consumed tells how many
 * bytes were used), 0 when all bytes were consumed and more are needed, or
 * -ERR_PROTOCOL with a message naming the bad line. */
int bird_parser_feed(struct bird_parser *p, const char *data, size_t len,
		     size_t *consumed, struct bird_reply *out, struct err *e);

struct bird_conn;

/* Timeouts: timeout_ms is the budget of the whole call; a negative value
 * waits without limit. */

/* Connects and reads the greeting. -ERR_CONNECT names the socket and errno;
 * -ERR_TIMEOUT when BIRD does not greet in time; -ERR_PROTOCOL when what
 * answers is not BIRD's greeting. */
int bird_open(const char *socket_path, int timeout_ms, struct bird_conn **out, struct err *e);
void bird_close(struct bird_conn *c);
/* "2.0.12", from the greeting. */
const char *bird_version(const struct bird_conn *c);
const char *bird_socket_path(const struct bird_conn *c);
int bird_fd(const struct bird_conn *c);

/* Sends one command and reads its whole reply. A reply with an error code
 * (>= 8000) gives -ERR_BIRD with BIRD's text in e (out is still filled):
 * "BIRD: <text of the error line> (command '<cmd>')", e.g. "BIRD:
 * /etc/bird/bird.conf:12:3 syntax error, ... (command 'configure check')".
 * A broken or closed connection gives -ERR_CONNECT; the connection is then
 * dead (bird_alive() is 0) and the caller reconnects. -ERR_TIMEOUT (no
 * complete reply in time) and -ERR_PROTOCOL (a malformed reply) also leave
 * the connection dead, as the stream is out of sync. A command with a
 * newline, or longer than BIRD_CMD_MAX, is -ERR_INVALID (connection kept).
 * On every error but -ERR_BIRD, out is empty (bird_reply_free is safe). */
/* A reply `8004 Stopped due to reconfiguration` (BIRD cut a `show` short
 * because its config changed under it, e.g. while it takes a config that
 * removes a protocol with 100k routes) is -ERR_BUSY: not an answer about the
 * routes, ask again (out is filled, the connection stays usable). */
int bird_command(struct bird_conn *c, const char *cmd, int timeout_ms,
		 struct bird_reply *out, struct err *e);
int bird_alive(const struct bird_conn *c);
/* The FILE of BIRD's "FILE:LINE:COL message" error (8002, e.g. a syntax
 * error or a missing include) in the reply to the last command, or "" when
 * it named none. Tells an error in routectl's include from one in the
 * operator's own files. */
const char *bird_error_file(const struct bird_conn *c);
/* The parsing half: copies FILE of "FILE:LINE:COL message" into file and
 * returns 1, or returns 0 (file "") when text does not start that way. */
int bird_parse_error_file(const char *text, char *file, size_t size);
/* For an event loop that polls bird_fd() while no command is in flight:
 * call it when the fd is readable. BIRD speaks unasked only to send an
 * asynchronous message (logged and dropped here) or when it closes the
 * socket (-ERR_CONNECT, connection dead). Never blocks. */
int bird_read_idle(struct bird_conn *c, struct err *e);

/* Typed commands. Each returns 0, or a negative code with BIRD's own words
 * in e (for configure errors: "FILE:LINE:COL message"). A reply code that
 * the command should not give is -ERR_PROTOCOL.
 *
 * `configure` and `configure timeout` succeed on 0003 (Reconfigured), on 0004
 * (Reconfiguration in progress: the new config is committed, and protocols
 * that it removes or restarts are still shutting down) and on 0005 (queued:
 * BIRD applies it, with the undo timer already running, once the
 * reconfiguration in progress ends). Either way the caller's verify step is
 * what tells when the exports are there. 0006 (ignored, BIRD is shutting
 * down) is -ERR_BIRD. */
int bird_configure_check(struct bird_conn *c, int timeout_ms, struct err *e);
/* `configure timeout N`: applies now, BIRD undoes it after N s unless
 * confirmed. N = 0 is -ERR_INVALID (BIRD would schedule no undo). */
int bird_configure_timeout(struct bird_conn *c, unsigned undo_after_s, int timeout_ms,
			   struct err *e);
/* Plain `configure`; note that BIRD then cancels a pending undo timer. */
int bird_configure(struct bird_conn *c, int timeout_ms, struct err *e);
/* `configure confirm`. Returns 0 when BIRD confirmed a pending change
 * (0018), BIRD_NOTHING_PENDING when it had nothing to confirm (0019): after
 * our own `configure timeout`, that means BIRD's undo timer already fired and
 * BIRD went back to the previous config, so the change is NOT in effect.
 * BIRD 2.0.12 keeps one undo slot and one timer for all its clients: this
 * confirm also confirms a `configure timeout` that someone else started. */
#define BIRD_NOTHING_PENDING 1
int bird_configure_confirm(struct bird_conn *c, int timeout_ms, struct err *e);
/* 0021+0003 undone, or 0019 nothing to undo: both are success (and 0004,
 * 0005, 0017 when a reconfiguration is in progress). */
int bird_configure_undo(struct bird_conn *c, int timeout_ms, struct err *e);
/* The cheapest round trip (`show status`, 0013); any command wakes BIRD's I/O
 * loop, which makes it send BGP updates it has queued. */
int bird_wake(struct bird_conn *c, int timeout_ms, struct err *e);

/* One route as the export filter of a protocol produced it. */
struct bird_export {
	struct prefix prefix;
	unsigned path_len;      /* ASNs in BGP.as_path after the filter (0 if none) */
	unsigned first_asn_run; /* how many times the first ASN repeats at the front */
	uint32_t first_asn;     /* the first ASN of the path (0 if the path is empty):
				   after a prepend by the export function, the AS
				   that the peers see prepended */
	int path_truncated;     /* BIRD cut the printed path ("..."); the counts
				   above cover only what it printed */
};

/* `show route export PROTO protocol FROM all`: the routes that protocol FROM
 * originated and that the export filter of PROTO accepts, with the AS path
 * the filter left on them. *out is heap (caller frees), sorted by prefix
 * (several routes of one net, as with ADD-PATH, give one entry each).
 * path_len counts a sequence's ASNs and an AS_SET as one (BGP's path
 * length); confederation segments count nothing and, like a set, end the
 * first ASN's run.
 *
 * -ERR_NOTFOUND: PROTO exists but has no export channel up (BGP session not
 * established, protocol disabled or starting; BIRD says "No valid tables"):
 * it exports nothing now, and the caller may skip it.
 * -ERR_INVALID: BIRD's config has no protocol named PROTO or FROM (or the
 * name is not a protocol), or a name is not a BIRD symbol. */
int bird_show_export(struct bird_conn *c, const char *proto, const char *from,
		     int timeout_ms, struct bird_export **out, size_t *n, struct err *e);
/* `show route protocol FROM filter { FUNCTION(); accept; } all`: what the
 * running FUNCTION does to the routes of FROM, whatever BGP peers are up.
 * Same output and errors as bird_show_export. */
int bird_show_through_function(struct bird_conn *c, const char *from, const char *function,
			       int timeout_ms, struct bird_export **out, size_t *n,
			       struct err *e);
/* `show route protocol FROM all`: every route FROM originated, whatever any
 * filter does with it (adopt tells a withdrawn prefix, which the export
 * function rejects, from one that BIRD does not have at all). Same output
 * and errors as bird_show_export. */
int bird_show_protocol_routes(struct bird_conn *c, const char *from, int timeout_ms,
			      struct bird_export **out, size_t *n, struct err *e);
/* The parsing half of bird_show_export, on a reply already read (for tests
 * and fuzzing). */
int bird_parse_export(const struct bird_reply *r, struct bird_export **out, size_t *n,
		      struct err *e);

/* One unicast channel of a protocol (`show protocols all`): BIRD lists a
 * channel for every address family the protocol is configured for, also
 * while the protocol is down ("State: DOWN"). Other channel types (ipv4-mc,
 * flow4, ...) are not kept. */
struct bird_channel {
	int family;         /* 4 (channel "ipv4") or 6 (channel "ipv6") */
	char table[64];     /* "master4" */
	char state[16];     /* "UP", "DOWN", ... */
};
#define BIRD_CHANNELS_MAX 2

struct bird_protocol {
	char name[64];
	char proto[32];     /* "BGP", "Static", ... */
	char table[64];
	char state[16];     /* "up", "down", "start" */
	char since[32];     /* as BIRD prints it */
	char info[128];     /* "Established", "Active   Received: ..." (BIRD's
			       spacing inside, trimmed at both ends) */
	/* Only from `show protocols all` (bird_show_protocols_all): */
	int has_local_as;   /* BIRD printed "Local AS:" (BGP protocols do) */
	uint32_t local_as;
	struct bird_channel channels[BIRD_CHANNELS_MAX];
	size_t n_channels;
};

/* The channel of family 4 or 6 of p, or NULL if p has none. */
const struct bird_channel *bird_protocol_channel(const struct bird_protocol *p, int family);

/* `show protocols`. *out is heap (caller frees). */
int bird_show_protocols(struct bird_conn *c, int timeout_ms, struct bird_protocol **out,
			size_t *n, struct err *e);
/* `show protocols all`: the same rows, each with its details: "Local AS:"
 * (BGP) and the ipv4/ipv6 channels with their table and state. One command
 * for all protocols, so a pre-check costs one round trip. */
int bird_show_protocols_all(struct bird_conn *c, int timeout_ms, struct bird_protocol **out,
			    size_t *n, struct err *e);
/* The parsing half of bird_show_protocols and bird_show_protocols_all (for
 * tests and fuzzing). A field that does not fit its array is -ERR_PROTOCOL,
 * except info, which is cut; so is a "Local AS:" that is not an ASN, a
 * channel without a family, or detail lines before any protocol row. */
int bird_parse_protocols(const struct bird_reply *r, struct bird_protocol **out, size_t *n,
			 struct err *e);

/* `show route PREFIX export PROTO`: *exported = 1 when the export filter of
 * PROTO accepts the route of PREFIX (BIRD runs the filter when asked, so this
 * is what the filter does now), else 0. -ERR_NOTFOUND when PROTO has no
 * export channel up for that family ("No valid tables"), -ERR_INVALID for a
 * prefix that is not canonical or a name that is not a BIRD symbol. Used with
 * the sentinel routes, which routectl_export() always rejects: a peer that
 * exports one does not call routectl_export(). */
int bird_prefix_exported(struct bird_conn *c, const char *prefix, const char *proto,
			 int timeout_ms, int *exported, struct err *e);
/* `show route PREFIX protocol FROM filter { FUNCTION(); accept; }`:
 * *exported = 1 when the running FUNCTION accepts FROM's route of PREFIX
 * (0 when it rejects it, or FROM has no such route). Used with the sentinel
 * routes: only a routectl_export() that rejects them makes a peer that
 * exports one a peer that ignores the function. Errors as
 * bird_prefix_exported; -ERR_INVALID also for a FUNCTION that is not a BIRD
 * symbol. */
int bird_prefix_through_function(struct bird_conn *c, const char *prefix, const char *from,
				 const char *function, int timeout_ms, int *exported,
				 struct err *e);
/* `show route PREFIX protocol FROM`: *present = 1 when FROM has a route for
 * PREFIX. Errors as bird_prefix_exported. */
int bird_prefix_present(struct bird_conn *c, const char *prefix, const char *from,
			int timeout_ms, int *present, struct err *e);
/* `show route export PROTO protocol FROM count`: how many routes of FROM the
 * export filter of PROTO accepts (over every table BIRD lists). Errors as
 * bird_show_export. */
int bird_export_count(struct bird_conn *c, const char *proto, const char *from,
		      int timeout_ms, unsigned long *count, struct err *e);
/* The parsing half of bird_export_count: sums "N of M routes for K networks
 * in table T" lines; -ERR_PROTOCOL for any other line. */
int bird_parse_count(const struct bird_reply *r, unsigned long *count, struct err *e);

#endif
