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

struct err;

#define BIRD_LINE_MAX 65536   /* longer lines are a protocol error */

struct bird_line {
	int code;     /* 4-digit code; a continuation line gets the previous code */
	char *text;   /* without the code and its separator, without the newline */
};

struct bird_reply {
	int code;               /* code of the final line */
	struct bird_line *lines;
	size_t n_lines;
};

void bird_reply_free(struct bird_reply *r);
/* All texts joined with "\n" (heap; NULL on OOM); used for error messages. */
char *bird_reply_text(const struct bird_reply *r);

/* Incremental reply parser, without I/O; exposed for unit tests and fuzzing. */
struct bird_parser {
	char *pending;          /* bytes of an unfinished line */
	size_t pending_len;
	size_t pending_cap;
	struct bird_reply cur;  /* reply being assembled */
	size_t cur_cap;
	int last_code;
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

/* Connects and reads the greeting. -ERR_CONNECT names the socket and errno. */
int bird_open(const char *socket_path, int timeout_ms, struct bird_conn **out, struct err *e);
void bird_close(struct bird_conn *c);
/* "2.0.12", from the greeting. */
const char *bird_version(const struct bird_conn *c);
const char *bird_socket_path(const struct bird_conn *c);
int bird_fd(const struct bird_conn *c);

/* Sends one command and reads its whole reply. A reply with an error code
 * (>= 8000) gives -ERR_BIRD with BIRD's text in e (out is still filled).
 * A broken or closed connection gives -ERR_CONNECT; the connection is then
 * dead (bird_alive() is 0) and the caller reconnects. */
int bird_command(struct bird_conn *c, const char *cmd, int timeout_ms,
		 struct bird_reply *out, struct err *e);
int bird_alive(const struct bird_conn *c);

/* Typed commands. Each returns 0, or a negative code with BIRD's own words
 * in e (for configure errors: "FILE:LINE:COL message"). */
int bird_configure_check(struct bird_conn *c, int timeout_ms, struct err *e);
/* `configure timeout N`: applies now, BIRD undoes it after N s unless confirmed. */
int bird_configure_timeout(struct bird_conn *c, unsigned undo_after_s, int timeout_ms,
			   struct err *e);
int bird_configure(struct bird_conn *c, int timeout_ms, struct err *e);
/* 0018 confirmed, or 0019 nothing to confirm: both are success. */
int bird_configure_confirm(struct bird_conn *c, int timeout_ms, struct err *e);
/* 0021+0003 undone, or 0019 nothing to undo: both are success. */
int bird_configure_undo(struct bird_conn *c, int timeout_ms, struct err *e);
/* The cheapest round trip; any command wakes BIRD's I/O loop, which makes it
 * send BGP updates it has queued. */
int bird_wake(struct bird_conn *c, int timeout_ms, struct err *e);

/* One route as the export filter of a protocol produced it. */
struct bird_export {
	struct prefix prefix;
	unsigned path_len;      /* ASNs in BGP.as_path after the filter (0 if none) */
	unsigned first_asn_run; /* how many times the first ASN repeats at the front */
};

/* `show route export PROTO protocol FROM all`: the routes that protocol FROM
 * originated and that the export filter of PROTO accepts, with the AS path
 * the filter left on them. *out is heap (caller frees), sorted by prefix. */
int bird_show_export(struct bird_conn *c, const char *proto, const char *from,
		     int timeout_ms, struct bird_export **out, size_t *n, struct err *e);

struct bird_protocol {
	char name[64];
	char proto[32];     /* "BGP", "Static", ... */
	char table[64];
	char state[16];     /* "up", "down", "start" */
	char since[32];     /* as BIRD prints it */
	char info[128];     /* "Established", "Active", ... */
};

/* `show protocols`. *out is heap (caller frees). */
int bird_show_protocols(struct bird_conn *c, int timeout_ms, struct bird_protocol **out,
			size_t *n, struct err *e);

#endif
