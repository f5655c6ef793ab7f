/* Admission of API connections: which connections routectld keeps open,
 * which it refuses, which it closes, so that no client (idle, slow or
 * abusive) can lock operators out of the console or a TCP listener.
 *
 * Pure logic: no sockets, no clock, no logging. The HTTP transport (http.c)
 * accepts each connection itself, reads the peer's uid and pid with
 * SO_PEERCRED, asks admission_admit(), tells this module when a request's
 * headers are in, when the whole request is in (it is then being served),
 * when the reply is done and when the connection is gone; and closes
 * (shutdown(2)) whatever admission_admit() and admission_expire() name. A
 * TCP listener does the same with the remote address of each connection.
 *
 * A table keys its connections in one of two ways, fixed by its limits:
 * a console table by the peer's uid and pid (SO_PEERCRED), an address
 * table (a TCP listener) by the peer's remote address. Each listener has a
 * table of its own, so the console keeps its capacity whatever happens on
 * TCP.
 *
 * The rules of a console table, in the order admission_admit() applies them
 * to a new connection:
 *  1. A pid that already holds per_pid open connections: its own oldest
 *     waiting connection is evicted to make room.
 *  2. A uid that already holds per_uid connections: its own oldest waiting
 *     connection is evicted. So a flood from one uid pushes out its own
 *     connections first, and root or routectld's own uid get no blind
 *     exemption: they are one uid among others.
 *  3. A full table (total): the oldest waiting connection of the uid that
 *     holds the most connections is evicted.
 * The rules of an address table (admission_admit_address()):
 *  1. An address that already holds per_address connections: its own oldest
 *     waiting connection is evicted.
 *  2. A full table (total): the oldest waiting connection of the address that
 *     holds the most connections is evicted.
 * In both kinds of table a connection is refused only when the rule that applies finds nothing to
 *  evict because every candidate is being served. "Waiting" means: no
 *  complete request yet (request line, headers or body still to come, or
 *  idle between keep-alive requests). A connection being served (its request
 *  is complete and the handler has it, also while suspended until a change
 *  is applied) is never evicted and never timed out here.
 *
 * Deadlines (admission_expire()): a new connection must deliver its request
 * line and headers within header_ms of being accepted, whatever bytes
 * trickle in (this is what stops slowloris); once the headers are in, the
 * body must follow within header_ms; a kept-alive connection may sit idle
 * for idle_ms after its last reply and must have its next request's headers
 * in by then.
 *
 * Times are milliseconds on a monotonic clock the caller chooses. */
#ifndef ROUTECTL_ADMISSION_H
#define ROUTECTL_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

/* A console table has per_uid and per_pid and no per_address; an address
 * table has per_address and neither per_uid nor per_pid. */
struct admission_limits {
	unsigned total;       /* open connections in all */
	unsigned per_uid;     /* console: open connections of one peer uid */
	unsigned per_pid;     /* console: open connections of one peer process */
	unsigned per_address; /* address table: open connections of one remote address */
	int64_t header_ms;    /* accept (or headers in) to request complete */
	int64_t idle_ms;      /* last reply to the next request's headers */
	int64_t log_ms;       /* one log line per peer uid per this interval */
};

/* The console's numbers, one table (admission.c says why each is what it is). */
extern const struct admission_limits ADMISSION_CONSOLE_LIMITS;

/* Why a connection was closed or refused. */
enum admission_why {
	ADM_OVER_PID = 0,     /* evicted: its process reached per_pid */
	ADM_OVER_UID,         /* evicted: its uid reached per_uid */
	ADM_TABLE_FULL,       /* evicted: the table was full, its uid held the most */
	ADM_HEADER_TIMEOUT,   /* closed: request not complete within header_ms */
	ADM_IDLE_TIMEOUT,     /* closed: kept-alive and idle for idle_ms */
	ADM_REFUSED,          /* refused at accept: nothing of its peer could be evicted */
	ADM_NO_DESCRIPTORS,   /* evicted: the process ran out of file descriptors */
	ADM_OVER_ADDRESS,     /* evicted: its remote address reached per_address */
	ADM__WHY_COUNT
};

/* Short words for a log line: "over the per-process limit", ... */
const char *admission_why_text(enum admission_why why);

/* A remote address as an address table keys it: the IPv4 (4 bytes) or
 * IPv6 (16 bytes) address, without the port. */
struct admission_addr {
	int family;                /* AF_INET or AF_INET6; 0: none */
	unsigned char bytes[16];
};

/* The address as text ("192.0.2.1", "2001:db8::1"; "?" for none) into out
 * (at least 46 bytes, INET6_ADDRSTRLEN, for all of it). */
void admission_addr_format(const struct admission_addr *addr, char *out, size_t size);

/* One open connection as the table sees it. */
struct admission_conn {
	int fd;
	uid_t uid;                /* console tables */
	pid_t pid;
	struct admission_addr addr;   /* address tables */
	int64_t accepted_ms;
	int64_t phase_ms;         /* when the current deadline started */
	int64_t last_activity_ms; /* last time anything happened on it */
	unsigned requests;        /* replies completed on it */
	bool headers_done;        /* the current request's headers are in */
	bool serving;             /* the current request is complete and handled */
	bool closing;             /* named for closing; gone once admission_closed() */
};

/* What happened to one peer uid (console table) or one remote address
 * (address table) during the last log interval. */
struct admission_report {
	uid_t uid;
	pid_t last_pid;           /* the last process of that uid involved */
	struct admission_addr addr;   /* address tables; family 0 for "the others" */
	unsigned count[ADM__WHY_COUNT];
};

struct admission;

/* A new, empty table with the given limits (copied). A console table needs
 * total, per_uid and per_pid, an address table total and per_address, each
 * at least 1, and the other kind's numbers 0; the deadlines at least 1 ms.
 * Returns NULL when out of memory or the limits are neither kind. */
struct admission *admission_new(const struct admission_limits *lim);
void admission_free(struct admission *a);

/* A new connection fd from peer (uid, pid) on a console table, accepted at
 * now_ms. Returns 0
 * when admitted (the connection is in the table, waiting); then *evict is
 * the fd of a connection to close now to keep the limits (it is marked
 * closing and no longer counts), or -1, and *why says why. Returns
 * -ERR_REFUSED when refused (the connection is not in the table; close it),
 * with a message in e naming the peer and the limit, or -ERR_NOMEM. */
int admission_admit(struct admission *a, int fd, uid_t uid, pid_t pid, int64_t now_ms,
		    int *evict, enum admission_why *why, struct err *e);
/* The same for a new connection fd from remote address addr on an address
 * table. Either function on the other kind of table returns -ERR_INVALID. */
int admission_admit_address(struct admission *a, int fd, const struct admission_addr *addr,
			    int64_t now_ms, int *evict, enum admission_why *why, struct err *e);

/* Events of an admitted connection. An fd that is not in the table (closed
 * already, or never admitted) is ignored. */
/* The request line and headers are in (the handler saw the request). */
void admission_headers_done(struct admission *a, int fd, int64_t now_ms);
/* The whole request is in and handled (also suspended): never evicted now. */
void admission_serving(struct admission *a, int fd, int64_t now_ms);
/* Bytes of the current request arrived (a chunk of the body). */
void admission_activity(struct admission *a, int fd, int64_t now_ms);
/* The reply is sent (or the request ended): the connection waits again. */
void admission_request_done(struct admission *a, int fd, int64_t now_ms);
/* The connection is closed: it leaves the table. */
void admission_closed(struct admission *a, int fd);

/* Connections whose deadline passed at now_ms: writes up to max of their fds
 * into fds (and the reason into whys, which may be NULL), marks them closing,
 * and returns how many. Call again while it returns max. */
size_t admission_expire(struct admission *a, int64_t now_ms, int *fds,
			enum admission_why *whys, size_t max);

/* The process is out of file descriptors (accept(2) failed with EMFILE or
 * ENFILE), so the table holds fewer connections than its total: names up to
 * max waiting connections to close, chosen as for a full table (the oldest
 * of the uid holding the most), marks them closing and returns how many;
 * 0 when every connection is being served. */
size_t admission_shed(struct admission *a, int *fds, size_t max);

/* The earliest deadline of a waiting connection, or INT64_MAX when none. */
int64_t admission_next_deadline_ms(const struct admission *a);

/* The connection of fd, or NULL (not in the table). Valid until the next
 * call that changes the table. */
const struct admission_conn *admission_find(const struct admission *a, int fd);

/* Open connections that count against the limits (not closing): in all, of
 * one uid, of one pid. */
unsigned admission_count(const struct admission *a);
unsigned admission_count_uid(const struct admission *a, uid_t uid);
unsigned admission_count_pid(const struct admission *a, pid_t pid);
unsigned admission_count_address(const struct admission *a, const struct admission_addr *addr);

/* Once per log interval (log_ms since the last report, and only when there
 * is something to say): copies up to max per-uid (address table: per-address)
 * reports of evictions, timeouts and refusals since the last report into
 * out, clears them and returns how many; 0 when not due or nothing happened.
 * Reports of more peers than fit are summed into the last one, with uid
 * (uid_t)-1 and addr.family 0. */
size_t admission_take_report(struct admission *a, int64_t now_ms,
			     struct admission_report *out, size_t max);

#endif
