#include "api/admission.h"

#include "common/err.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The console's limits, and why.
 *
 * total 256: an operator's `routectl` holds one connection for one request;
 *   a chat-ops bot or a monitoring agent on the host a handful. 256 leaves two
 *   orders of magnitude of room, and with the descriptors routectld needs for
 *   itself stays far under the usual RLIMIT_NOFILE of 1024.
 * per_uid 64: one user (or one compromised service account) can hold a
 *   quarter of the table at most; four such floods are needed to fill it, and
 *   even then a newcomer from any uid gets in by evicting the largest uid's
 *   oldest waiting connection.
 * per_pid 16: one runaway process evicts its own connections long before it
 *   reaches its uid's cap, so an operator who shares the uid (root, or the
 *   service account) still finds room without evicting anything.
 * header_ms 5 s: a local client writes its request in one go (well under a
 *   millisecond); 5 s tolerates a client slowed by a loaded host or a
 *   sanitizer build, and bounds what a slowloris connection holds.
 * idle_ms 10 s: a client that keeps its connection for a next request sends
 *   it within seconds; longer idle connections only hold a slot.
 * log_ms 10 s: evictions and timeouts are logged as one line per peer uid per
 *   interval, so a flood of connections does not flood the log. */
const struct admission_limits ADMISSION_CONSOLE_LIMITS = {
	.total = 256,
	.per_uid = 64,
	.per_pid = 16,
	.header_ms = 5000,
	.idle_ms = 10000,
	.log_ms = 10000,
};

/* Distinct peers (uids or addresses) whose events are kept for the next
 * report. */
#define REPORT_UIDS 32

struct admission {
	struct admission_limits lim;
	bool by_address;      /* an address table (TCP), else a console table */
	struct admission_conn *conns;
	size_t n, cap;
	struct admission_report reports[REPORT_UIDS];
	size_t n_reports;
	int64_t last_report_ms;
	bool reported_once;
};

const char *admission_why_text(enum admission_why why)
{
	switch (why) {
	case ADM_OVER_PID: return "evicted: over the per-process limit";
	case ADM_OVER_UID: return "evicted: over the per-uid limit";
	case ADM_TABLE_FULL: return "evicted: connection table full";
	case ADM_HEADER_TIMEOUT: return "closed: request not complete in time";
	case ADM_IDLE_TIMEOUT: return "closed: idle too long";
	case ADM_REFUSED: return "refused: every connection of the peer is being served";
	case ADM_NO_DESCRIPTORS: return "evicted: out of file descriptors";
	case ADM_OVER_ADDRESS: return "evicted: over the per-address limit";
	case ADM__WHY_COUNT: break;
	}
	return "?";
}

struct admission *admission_new(const struct admission_limits *lim)
{
	if (!lim || !lim->total || lim->header_ms < 1 || lim->idle_ms < 1 || lim->log_ms < 1)
		return NULL;
	bool console = lim->per_uid && lim->per_pid && !lim->per_address;
	bool by_address = lim->per_address && !lim->per_uid && !lim->per_pid;
	if (!console && !by_address)
		return NULL;
	struct admission *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->lim = *lim;
	a->by_address = by_address;
	return a;
}

void admission_addr_format(const struct admission_addr *addr, char *out, size_t size)
{
	char text[INET6_ADDRSTRLEN];
	if (!addr || (addr->family != AF_INET && addr->family != AF_INET6) ||
	    !inet_ntop(addr->family, addr->bytes, text, sizeof text))
		snprintf(text, sizeof text, "?");
	snprintf(out, size, "%s", text);
}

static bool addr_eq(const struct admission_addr *x, const struct admission_addr *y)
{
	size_t n = x->family == AF_INET ? 4 : 16;
	return x->family == y->family && memcmp(x->bytes, y->bytes, n) == 0;
}

/* Who a connection belongs to for the per-peer rule of its table, the
 * choice of the largest peer and the reports: its uid on the console, its
 * remote address on TCP. */
struct peer {
	uid_t uid;
	pid_t pid;
	struct admission_addr addr;
};

static struct peer peer_of(const struct admission_conn *c)
{
	return (struct peer){ c->uid, c->pid, c->addr };
}

static bool same_owner(const struct admission *a, const struct admission_conn *c,
		       const struct peer *p)
{
	return a->by_address ? addr_eq(&c->addr, &p->addr) : c->uid == p->uid;
}

void admission_free(struct admission *a)
{
	if (!a)
		return;
	free(a->conns);
	free(a);
}

static struct admission_conn *find(const struct admission *a, int fd)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->conns[i].fd == fd)
			return &a->conns[i];
	return NULL;
}

const struct admission_conn *admission_find(const struct admission *a, int fd)
{
	return find(a, fd);
}

static void drop(struct admission *a, struct admission_conn *c)
{
	*c = a->conns[--a->n];
}

static bool counts(const struct admission_conn *c)
{
	return !c->closing;
}

unsigned admission_count(const struct admission *a)
{
	unsigned n = 0;
	for (size_t i = 0; i < a->n; i++)
		n += counts(&a->conns[i]);
	return n;
}

unsigned admission_count_uid(const struct admission *a, uid_t uid)
{
	unsigned n = 0;
	for (size_t i = 0; i < a->n; i++)
		n += counts(&a->conns[i]) && a->conns[i].uid == uid;
	return n;
}

unsigned admission_count_pid(const struct admission *a, pid_t pid)
{
	unsigned n = 0;
	for (size_t i = 0; i < a->n; i++)
		n += counts(&a->conns[i]) && a->conns[i].pid == pid;
	return n;
}

unsigned admission_count_address(const struct admission *a, const struct admission_addr *addr)
{
	unsigned n = 0;
	for (size_t i = 0; i < a->n; i++)
		n += counts(&a->conns[i]) && addr_eq(&a->conns[i].addr, addr);
	return n;
}

static unsigned count_owner(const struct admission *a, const struct peer *p)
{
	unsigned n = 0;
	for (size_t i = 0; i < a->n; i++)
		n += counts(&a->conns[i]) && same_owner(a, &a->conns[i], p);
	return n;
}

static void note(struct admission *a, const struct peer *p, enum admission_why why)
{
	struct admission_report *r = NULL;
	for (size_t i = 0; i < a->n_reports; i++) {
		struct admission_report *x = &a->reports[i];
		if (a->by_address ? addr_eq(&x->addr, &p->addr) : x->uid == p->uid)
			r = x;
	}
	if (!r && a->n_reports < REPORT_UIDS) {
		r = &a->reports[a->n_reports++];
		memset(r, 0, sizeof *r);
		r->uid = p->uid;
		r->addr = p->addr;
	}
	if (!r) {
		/* More peers than slots: the last slot sums the rest. */
		r = &a->reports[REPORT_UIDS - 1];
		r->uid = (uid_t)-1;
		memset(&r->addr, 0, sizeof r->addr);
	}
	r->last_pid = p->pid;
	r->count[why]++;
}

/* SCOPE_OWNER: the peer's uid (console) or address (TCP). */
enum victim_scope { SCOPE_PID, SCOPE_OWNER, SCOPE_ANY };

/* The oldest waiting (not served, not closing) connection in scope. For
 * SCOPE_ANY, the oldest waiting one of the uid (address) that holds the most
 * connections; one whose connections are all being served is passed over. */
static struct admission_conn *pick_victim(struct admission *a, enum victim_scope scope,
					  const struct peer *p)
{
	struct admission_conn *best = NULL;
	unsigned best_uid_count = 0;
	for (size_t i = 0; i < a->n; i++) {
		struct admission_conn *c = &a->conns[i];
		if (c->closing || c->serving)
			continue;
		if ((scope == SCOPE_PID && c->pid != p->pid) ||
		    (scope == SCOPE_OWNER && !same_owner(a, c, p)))
			continue;
		struct peer owner = peer_of(c);
		unsigned uc = scope == SCOPE_ANY ? count_owner(a, &owner) : 0;
		if (!best || uc > best_uid_count ||
		    (uc == best_uid_count && c->phase_ms < best->phase_ms)) {
			best = c;
			best_uid_count = uc;
		}
	}
	return best;
}

/* The rules of admission.h, for a console or an address table. */
static int admit(struct admission *a, int fd, const struct peer *p, int64_t now_ms,
		 int *evict, enum admission_why *why, struct err *e)
{
	*evict = -1;
	*why = ADM__WHY_COUNT;

	/* A stale entry under a reused fd (its close was never reported)
	 * must not stand in for the new connection. */
	struct admission_conn *stale = find(a, fd);
	if (stale)
		drop(a, stale);

	struct admission_conn *victim = NULL;
	enum admission_why reason = ADM__WHY_COUNT;
	enum victim_scope scope = SCOPE_ANY;
	const char *limit_name = NULL;
	unsigned limit = 0;
	if (!a->by_address && admission_count_pid(a, p->pid) >= a->lim.per_pid) {
		reason = ADM_OVER_PID;
		limit_name = "per-process";
		limit = a->lim.per_pid;
		scope = SCOPE_PID;
	} else if (!a->by_address && count_owner(a, p) >= a->lim.per_uid) {
		reason = ADM_OVER_UID;
		limit_name = "per-uid";
		limit = a->lim.per_uid;
		scope = SCOPE_OWNER;
	} else if (a->by_address && count_owner(a, p) >= a->lim.per_address) {
		reason = ADM_OVER_ADDRESS;
		limit_name = "per-address";
		limit = a->lim.per_address;
		scope = SCOPE_OWNER;
	} else if (admission_count(a) >= a->lim.total) {
		reason = ADM_TABLE_FULL;
		limit_name = "total";
		limit = a->lim.total;
	}
	if (limit_name)
		victim = pick_victim(a, scope, p);
	if (limit_name && !victim) {
		note(a, p, ADM_REFUSED);
		if (a->by_address) {
			char text[INET6_ADDRSTRLEN];
			admission_addr_format(&p->addr, text, sizeof text);
			return err_set(e, ERR_REFUSED,
				       "connection from %s refused: the %s limit of %u open "
				       "connections is reached and every one of them is being served",
				       text, limit_name, limit);
		}
		return err_set(e, ERR_REFUSED,
			       "console connection of uid %u pid %ld refused: the %s limit of %u "
			       "open connections is reached and every one of them is being served",
			       (unsigned)p->uid, (long)p->pid, limit_name, limit);
	}

	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct admission_conn *grown = realloc(a->conns, cap * sizeof *grown);
		if (!grown)
			return err_set(e, ERR_NOMEM, "out of memory admitting a connection");
		a->conns = grown;
		a->cap = cap;
		/* the victim pointed into the old array */
		if (victim)
			victim = pick_victim(a, scope, p);
	}
	if (victim) {
		victim->closing = true;
		struct peer vp = peer_of(victim);
		note(a, &vp, reason);
		*evict = victim->fd;
		*why = reason;
	}
	a->conns[a->n++] = (struct admission_conn){
		.fd = fd, .uid = p->uid, .pid = p->pid, .addr = p->addr,
		.accepted_ms = now_ms, .phase_ms = now_ms, .last_activity_ms = now_ms,
	};
	return 0;
}

int admission_admit(struct admission *a, int fd, uid_t uid, pid_t pid, int64_t now_ms,
		    int *evict, enum admission_why *why, struct err *e)
{
	*evict = -1;
	*why = ADM__WHY_COUNT;
	if (a->by_address)
		return err_set(e, ERR_INVALID, "a connection of uid %u given to an address table",
			       (unsigned)uid);
	struct peer p = { .uid = uid, .pid = pid };
	return admit(a, fd, &p, now_ms, evict, why, e);
}

int admission_admit_address(struct admission *a, int fd, const struct admission_addr *addr,
			    int64_t now_ms, int *evict, enum admission_why *why, struct err *e)
{
	*evict = -1;
	*why = ADM__WHY_COUNT;
	if (!a->by_address)
		return err_set(e, ERR_INVALID, "a TCP connection given to a console table");
	if (addr->family != AF_INET && addr->family != AF_INET6)
		return err_set(e, ERR_INVALID, "a connection of address family %d: not IPv4 or IPv6",
			       addr->family);
	struct peer p = { .addr = *addr };
	if (p.addr.family == AF_INET)
		memset(p.addr.bytes + 4, 0, sizeof p.addr.bytes - 4);
	return admit(a, fd, &p, now_ms, evict, why, e);
}

void admission_headers_done(struct admission *a, int fd, int64_t now_ms)
{
	struct admission_conn *c = find(a, fd);
	if (!c || c->headers_done)
		return;
	c->headers_done = true;
	c->phase_ms = now_ms;   /* the body has header_ms from here */
	c->last_activity_ms = now_ms;
}

void admission_serving(struct admission *a, int fd, int64_t now_ms)
{
	struct admission_conn *c = find(a, fd);
	if (!c)
		return;
	c->headers_done = true;
	c->serving = true;
	c->last_activity_ms = now_ms;
}

void admission_activity(struct admission *a, int fd, int64_t now_ms)
{
	struct admission_conn *c = find(a, fd);
	if (c)
		c->last_activity_ms = now_ms;
}

void admission_request_done(struct admission *a, int fd, int64_t now_ms)
{
	struct admission_conn *c = find(a, fd);
	if (!c)
		return;
	c->serving = false;
	c->headers_done = false;
	c->requests++;
	c->phase_ms = now_ms;
	c->last_activity_ms = now_ms;
}

void admission_closed(struct admission *a, int fd)
{
	struct admission_conn *c = find(a, fd);
	if (c)
		drop(a, c);
}

/* When a waiting connection's time is up, and which deadline that is. */
static int64_t deadline_of(const struct admission *a, const struct admission_conn *c,
			   enum admission_why *why)
{
	if (c->requests == 0 || c->headers_done) {
		*why = ADM_HEADER_TIMEOUT;
		return c->phase_ms + a->lim.header_ms;
	}
	*why = ADM_IDLE_TIMEOUT;
	return c->phase_ms + a->lim.idle_ms;
}

size_t admission_expire(struct admission *a, int64_t now_ms, int *fds,
			enum admission_why *whys, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < a->n && n < max; i++) {
		struct admission_conn *c = &a->conns[i];
		if (c->closing || c->serving)
			continue;
		enum admission_why why;
		if (now_ms < deadline_of(a, c, &why))
			continue;
		c->closing = true;
		struct peer p = peer_of(c);
		note(a, &p, why);
		fds[n] = c->fd;
		if (whys)
			whys[n] = why;
		n++;
	}
	return n;
}

size_t admission_shed(struct admission *a, int *fds, size_t max)
{
	size_t n = 0;
	while (n < max) {
		struct peer none = { 0 };
		struct admission_conn *c = pick_victim(a, SCOPE_ANY, &none);
		if (!c)
			break;
		c->closing = true;
		struct peer p = peer_of(c);
		note(a, &p, ADM_NO_DESCRIPTORS);
		fds[n++] = c->fd;
	}
	return n;
}

int64_t admission_next_deadline_ms(const struct admission *a)
{
	int64_t next = INT64_MAX;
	for (size_t i = 0; i < a->n; i++) {
		const struct admission_conn *c = &a->conns[i];
		if (c->closing || c->serving)
			continue;
		enum admission_why why;
		int64_t d = deadline_of(a, c, &why);
		if (d < next)
			next = d;
	}
	return next;
}

size_t admission_take_report(struct admission *a, int64_t now_ms,
			     struct admission_report *out, size_t max)
{
	if (a->n_reports == 0 || max == 0)
		return 0;
	if (a->reported_once && now_ms - a->last_report_ms < a->lim.log_ms)
		return 0;
	size_t n = 0;
	for (size_t i = 0; i < a->n_reports; i++) {
		if (n < max) {
			out[n++] = a->reports[i];
			continue;
		}
		/* fold the rest into the last one */
		struct admission_report *last = &out[max - 1];
		last->uid = (uid_t)-1;
		memset(&last->addr, 0, sizeof last->addr);
		last->last_pid = a->reports[i].last_pid;
		for (int w = 0; w < ADM__WHY_COUNT; w++)
			last->count[w] += a->reports[i].count[w];
	}
	a->n_reports = 0;
	a->last_report_ms = now_ms;
	a->reported_once = true;
	return n;
}
