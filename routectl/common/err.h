/* One error convention for the whole tree.
 *
 * A function that can fail returns 0 on success or a negative enum err_code
 * (-ERR_BIRD, ...), and, when given a struct err, leaves a message there that
 * names what went wrong. Messages are for people: they name the file, path,
 * command or field, and the reason. */
#ifndef ROUTECTL_ERR_H
#define ROUTECTL_ERR_H

#include <stddef.h>

enum err_code {
	ERR_OK = 0,
	ERR_INVALID,   /* bad input: config, policy, state file, API body, CLI args */
	ERR_NOTFOUND,  /* a file, service or site that does not exist */
	ERR_IO,        /* a system call failed */
	ERR_BIRD,      /* BIRD answered with an error code */
	ERR_TIMEOUT,   /* no complete answer in time */
	ERR_CONNECT,   /* cannot reach BIRD or the daemon */
	ERR_PROTOCOL,  /* a reply that does not follow the protocol */
	ERR_REFUSED,   /* refused on purpose: wrong site, no reason, safe mode, guard */
	ERR_NOMEM,
	ERR_VERIFY,    /* BIRD took the config but does not export what was asked */
	ERR_BUSY,      /* BIRD is busy reconfiguring (8004): ask again, it is not a refusal */
	ERR_UNAVAILABLE, /* cannot take changes now: safe mode, stopping, queue full, audit log */
	ERR_POLICY,    /* refused by a policy or guard (unlisted-exporter refuse-drain, ...) */
	ERR__COUNT
};

#define ERR_MSG_MAX 4096

struct err {
	enum err_code code;
	char msg[ERR_MSG_MAX];
};

/* Sets code and message (if e is not NULL); returns -code. */
int err_set(struct err *e, enum err_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Appends "\n" + a formatted line to the message, keeping the code
 * (sets code if none yet); returns -code. Used to collect several errors. */
int err_append(struct err *e, enum err_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Puts "context: " in front of the current message; returns -code. */
int err_prefix(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void err_clear(struct err *e);

/* Short stable name of a code ("invalid", "bird", ...), used in JSON errors. */
const char *err_code_name(enum err_code code);

#endif
