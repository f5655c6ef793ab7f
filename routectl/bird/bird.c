#include "bird/bird.h"

#include "common/err.h"
#include "common/log.h"
#include "common/model.h"
#include "common/timeutil.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define READ_BUF_SIZE 65536
#define CHUNK_MIN (16u << 10)
#define CHUNK_MAX (1u << 20)
#define LINES_MIN 64
#define EXCERPT_MAX 80

/*
 * Replies
 */

/* The texts of a reply live in a few large chunks rather than one malloc per
 * line: a `show route ... all` of 10,000 routes is 30,000 lines, and the
 * daemon asks for it every few ms while it verifies a drain. Chunks never
 * move, so line texts can point into them while the reply grows. */
struct bird_chunk {
	struct bird_chunk *next;
	size_t len, cap;
	char data[];
};

static void chunks_free(struct bird_chunk *ch)
{
	while (ch) {
		struct bird_chunk *next = ch->next;
		free(ch);
		ch = next;
	}
}

void bird_reply_free(struct bird_reply *r)
{
	if (!r)
		return;
	chunks_free(r->chunks);
	free(r->lines);
	memset(r, 0, sizeof *r);
}

char *bird_reply_text(const struct bird_reply *r)
{
	size_t total = 1;
	for (size_t i = 0; i < r->n_lines; i++)
		total += strlen(r->lines[i].text) + 1;
	char *s = malloc(total), *p = s;
	if (!s)
		return NULL;
	for (size_t i = 0; i < r->n_lines; i++) {
		size_t l = strlen(r->lines[i].text);
		if (i)
			*p++ = '\n';
		memcpy(p, r->lines[i].text, l);
		p += l;
	}
	*p = '\0';
	return s;
}

/* A bounded, printable copy of a line for error messages. */
static void excerpt(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (i == EXCERPT_MAX) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
			out[o++] = (char)ch;
		} else {
			snprintf(out + o, size - o, "\\x%02x", ch);
			o += 4;
		}
	}
	out[o] = '\0';
}

/*
 * The incremental parser
 */

void bird_parser_init(struct bird_parser *p)
{
	memset(p, 0, sizeof *p);
}

void bird_parser_free(struct bird_parser *p)
{
	free(p->pending);
	bird_reply_free(&p->cur);
	memset(p, 0, sizeof *p);
}

static int parser_fail(struct bird_parser *p, struct err *e, const char *line, size_t n,
		       const char *why)
{
	char ex[EXCERPT_MAX * 4 + 8];
	excerpt(line, n, ex, sizeof ex);
	size_t line_no = p->line_no;
	bird_reply_free(&p->cur);
	p->cur_cap = 0;
	p->pending_len = 0;
	p->failed = 1;
	return err_set(e, ERR_PROTOCOL, "line %zu of BIRD's reply %s: \"%s\"", line_no, why, ex);
}

static char *store_text(struct bird_parser *p, const char *s, size_t n)
{
	struct bird_chunk *ch = p->cur.chunks;
	if (!ch || ch->cap - ch->len < n + 1) {
		size_t cap = ch ? ch->cap * 2 : CHUNK_MIN;
		if (cap > CHUNK_MAX)
			cap = CHUNK_MAX;
		if (cap < n + 1)
			cap = n + 1;
		struct bird_chunk *nc = malloc(sizeof *nc + cap);
		if (!nc)
			return NULL;
		nc->next = ch;
		nc->len = 0;
		nc->cap = cap;
		p->cur.chunks = ch = nc;
	}
	char *t = ch->data + ch->len;
	memcpy(t, s, n);
	t[n] = '\0';
	ch->len += n + 1;
	return t;
}

/* One complete line (without its newline). Returns 1 when it ends the reply,
 * 0 when more lines follow, or a negative error. */
static int take_line(struct bird_parser *p, const char *s, size_t n, struct err *e)
{
	p->line_no++;
	if (n == 0)
		return parser_fail(p, e, s, n, "is empty");
	if (memchr(s, '\0', n))
		return parser_fail(p, e, s, n, "has a NUL byte");
	if (s[0] == '+') {
		/* Asynchronous: BIRD may put it between any two lines. */
		char ex[EXCERPT_MAX * 4 + 8];
		excerpt(s + 1, n - 1, ex, sizeof ex);
		log_info("BIRD says: %s", ex);
		p->line_no--;
		return 0;
	}

	int code, final;
	const char *text;
	size_t tlen;
	if (s[0] == ' ') {
		/* BIRD leaves the code out when it repeats the previous line's. */
		if (p->cur.n_lines == 0)
			return parser_fail(p, e, s, n, "is a continuation before any code");
		code = p->last_code;
		final = 0;
		text = s + 1;
		tlen = n - 1;
	} else {
		size_t digits = 0;
		while (digits < n && digits < 5 && s[digits] >= '0' && s[digits] <= '9')
			digits++;
		if (digits == 0)
			return parser_fail(p, e, s, n, "does not start with a reply code");
		if (digits < 4)
			return parser_fail(p, e, s, n, "has a code of fewer than 4 digits");
		if (digits > 4)
			return parser_fail(p, e, s, n, "has a code of more than 4 digits");
		if (n == 4)
			return parser_fail(p, e, s, n, "has a code without '-' or ' ' after it");
		if (s[4] != '-' && s[4] != ' ')
			return parser_fail(p, e, s, n,
					   "has a code followed by neither '-' nor ' '");
		code = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
		final = s[4] == ' ';
		text = s + 5;
		tlen = n - 5;
	}

	if (p->cur.n_lines >= BIRD_REPLY_MAX_LINES)
		return parser_fail(p, e, s, n, "is past the limit of lines in one reply");
	if (p->cur_bytes + tlen > BIRD_REPLY_MAX_BYTES)
		return parser_fail(p, e, s, n, "is past the limit of bytes in one reply");
	if (p->cur.n_lines == p->cur_cap) {
		size_t cap = p->cur_cap ? p->cur_cap * 2 : LINES_MIN;
		struct bird_line *l = realloc(p->cur.lines, cap * sizeof *l);
		if (!l)
			return err_set(e, ERR_NOMEM, "out of memory reading BIRD's reply");
		p->cur.lines = l;
		p->cur_cap = cap;
	}
	char *t = store_text(p, text, tlen);
	if (!t)
		return err_set(e, ERR_NOMEM, "out of memory reading BIRD's reply");
	p->cur.lines[p->cur.n_lines].code = code;
	p->cur.lines[p->cur.n_lines].text = t;
	p->cur.n_lines++;
	p->cur_bytes += tlen;
	p->last_code = code;
	if (final)
		p->cur.code = code;
	return final;
}

static int pending_append(struct bird_parser *p, const char *s, size_t n)
{
	if (p->pending_len + n > p->pending_cap) {
		size_t cap = p->pending_cap ? p->pending_cap : 256;
		while (cap < p->pending_len + n)
			cap *= 2;
		char *np = realloc(p->pending, cap);
		if (!np)
			return -ERR_NOMEM;
		p->pending = np;
		p->pending_cap = cap;
	}
	memcpy(p->pending + p->pending_len, s, n);
	p->pending_len += n;
	return 0;
}

int bird_parser_feed(struct bird_parser *p, const char *data, size_t len,
		     size_t *consumed, struct bird_reply *out, struct err *e)
{
	*consumed = 0;
	if (p->failed)
		return err_set(e, ERR_PROTOCOL,
			       "BIRD reply parser used after an error (the stream is out of sync)");
	size_t pos = 0;
	while (pos < len) {
		const char *start = data + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;
		if (p->pending_len + n > BIRD_LINE_MAX) {
			p->line_no++;
			const char *show = p->pending_len ? p->pending : start;
			size_t shown = p->pending_len ? p->pending_len : n;
			*consumed = len;
			return parser_fail(p, e, show, shown, "is longer than BIRD_LINE_MAX");
		}
		if (!nl) {
			if (pending_append(p, start, n) < 0) {
				p->failed = 1;
				return err_set(e, ERR_NOMEM, "out of memory reading BIRD's reply");
			}
			pos = len;
			break;
		}
		pos += n + 1;
		int r;
		if (p->pending_len) {
			if (pending_append(p, start, n) < 0) {
				p->failed = 1;
				return err_set(e, ERR_NOMEM, "out of memory reading BIRD's reply");
			}
			r = take_line(p, p->pending, p->pending_len, e);
			p->pending_len = 0;
		} else {
			r = take_line(p, start, n, e);
		}
		if (r < 0) {
			*consumed = pos;
			p->failed = 1;
			return r;
		}
		if (r == 1) {
			*out = p->cur;
			memset(&p->cur, 0, sizeof p->cur);
			p->cur_cap = 0;
			p->cur_bytes = 0;
			p->line_no = 0;
			p->last_code = 0;
			*consumed = pos;
			return 1;
		}
	}
	*consumed = pos;
	return 0;
}

/*
 * The connection
 */

struct bird_conn {
	int fd;                 /* -1 once dead */
	char *path;
	char version[32];
	struct bird_parser parser;
	char *rbuf;             /* bytes read and not yet fed to the parser */
	size_t roff, rlen;
	char error_file[4096];  /* FILE of the last command's "FILE:LINE:COL" error */
};

static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* Milliseconds left for poll(): -1 without limit, 0 once past. */
static int time_left(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t left = deadline - now_ms();
	if (left <= 0)
		return 0;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

static void conn_kill(struct bird_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	bird_parser_free(&c->parser);
	bird_parser_init(&c->parser);
	c->roff = c->rlen = 0;
}

/* Waits for fd to be ready; 0, or -ERR_TIMEOUT / -ERR_CONNECT without a message. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int r = poll(&pfd, 1, time_left(deadline));
		if (r > 0)
			return 0;
		if (r == 0)
			return -ERR_TIMEOUT;
		if (errno != EINTR)
			return -ERR_CONNECT;
	}
}

static int write_all(struct bird_conn *c, const char *buf, size_t len, int64_t deadline,
		     const char *cmd, struct err *e)
{
	size_t off = 0;
	while (off < len) {
		ssize_t k = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
		if (k > 0) {
			off += (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(c->fd, POLLOUT, deadline);
			if (r == -ERR_TIMEOUT) {
				conn_kill(c);
				return err_set(e, ERR_TIMEOUT,
					       "BIRD at %s did not take command '%s' in time",
					       c->path, cmd);
			}
			continue;
		}
		int saved = errno;
		conn_kill(c);
		return err_set(e, ERR_CONNECT, "sending '%s' to BIRD at %s: %s", cmd, c->path,
			       strerror(saved));
	}
	return 0;
}

/* Reads until the parser completes a reply. what names the command (or the
 * greeting) in messages. */
static int read_reply(struct bird_conn *c, const char *what, int64_t deadline,
		      struct bird_reply *out, struct err *e)
{
	int got_any = 0;
	for (;;) {
		if (c->roff < c->rlen) {
			size_t used = 0;
			int r = bird_parser_feed(&c->parser, c->rbuf + c->roff, c->rlen - c->roff,
						 &used, out, e);
			c->roff += used;
			if (r < 0) {
				conn_kill(c);
				return err_prefix(e, "%s from BIRD at %s", what, c->path);
			}
			if (r == 1)
				return 0;
			got_any = 1;
		}
		c->roff = c->rlen = 0;
		ssize_t k = read(c->fd, c->rbuf, READ_BUF_SIZE);
		if (k > 0) {
			c->rlen = (size_t)k;
			continue;
		}
		if (k == 0) {
			conn_kill(c);
			return err_set(e, ERR_CONNECT, "BIRD at %s closed the connection %s %s",
				       c->path, got_any ? "in the middle of the" : "instead of the",
				       what);
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			int saved = errno;
			conn_kill(c);
			return err_set(e, ERR_CONNECT, "reading %s from BIRD at %s: %s", what,
				       c->path, strerror(saved));
		}
		int r = wait_fd(c->fd, POLLIN, deadline);
		if (r == -ERR_TIMEOUT) {
			conn_kill(c);
			return err_set(e, ERR_TIMEOUT, "no complete %s from BIRD at %s in time",
				       what, c->path);
		}
		if (r < 0) {
			int saved = errno;
			conn_kill(c);
			return err_set(e, ERR_CONNECT, "waiting for %s from BIRD at %s: %s", what,
				       c->path, strerror(saved));
		}
	}
}

static int parse_greeting(struct bird_conn *c, const struct bird_reply *r, struct err *e)
{
	const char *t = r->n_lines == 1 ? r->lines[0].text : "";
	char ex[EXCERPT_MAX * 4 + 8];
	excerpt(t, strlen(t), ex, sizeof ex);
	if (r->code != 1 || strncmp(t, "BIRD ", 5) != 0)
		return err_set(e, ERR_PROTOCOL,
			       "%s does not greet like BIRD: %04d \"%s\" (expected \"0001 BIRD "
			       "<version> ready.\")", c->path, r->code, ex);
	const char *v = t + 5;
	size_t vl = strcspn(v, " ");
	if (vl == 0 || vl >= sizeof c->version || strspn(v, "0123456789.") < 1)
		return err_set(e, ERR_PROTOCOL, "%s greets with no BIRD version: \"%s\"",
			       c->path, ex);
	memcpy(c->version, v, vl);
	c->version[vl] = '\0';
	return 0;
}

int bird_open(const char *socket_path, int timeout_ms, struct bird_conn **out, struct err *e)
{
	*out = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(socket_path) >= sizeof sa.sun_path)
		return err_set(e, ERR_INVALID, "BIRD socket path %s is longer than %zu bytes",
			       socket_path, sizeof sa.sun_path - 1);
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);

	struct bird_conn *c = calloc(1, sizeof *c);
	if (c) {
		c->path = strdup(socket_path);
		c->rbuf = malloc(READ_BUF_SIZE);
	}
	if (!c || !c->path || !c->rbuf) {
		if (c) {
			free(c->path);
			free(c->rbuf);
		}
		free(c);
		return err_set(e, ERR_NOMEM, "out of memory connecting to BIRD");
	}
	bird_parser_init(&c->parser);
	int64_t deadline = deadline_of(timeout_ms);

	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0) {
		int saved = errno;
		bird_close(c);
		return err_set(e, ERR_CONNECT, "socket for BIRD at %s: %s", socket_path,
			       strerror(saved));
	}
	/* A Unix socket whose backlog is full answers EAGAIN at once, and
	 * nothing is pending then: try again until the deadline. */
	while (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int saved = errno;
		if (saved == EINTR)
			continue;
		if (saved == EAGAIN && time_left(deadline) != 0) {
			int left = time_left(deadline);
			usleep(1000u * (unsigned)(left < 0 || left > 10 ? 10 : left));
			continue;
		}
		bird_close(c);
		if (saved == EAGAIN)
			return err_set(e, ERR_TIMEOUT, "connecting to BIRD at %s: its listen "
				       "queue stayed full", socket_path);
		return err_set(e, ERR_CONNECT, "connecting to BIRD at %s: %s", socket_path,
			       strerror(saved));
	}

	struct bird_reply g;
	memset(&g, 0, sizeof g);
	int rc = read_reply(c, "greeting", deadline, &g, e);
	if (rc == 0)
		rc = parse_greeting(c, &g, e);
	bird_reply_free(&g);
	if (rc < 0) {
		bird_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void bird_close(struct bird_conn *c)
{
	if (!c)
		return;
	conn_kill(c);
	bird_parser_free(&c->parser);
	free(c->rbuf);
	free(c->path);
	free(c);
}

const char *bird_version(const struct bird_conn *c)
{
	return c->version;
}

const char *bird_socket_path(const struct bird_conn *c)
{
	return c->path;
}

int bird_fd(const struct bird_conn *c)
{
	return c ? c->fd : -1;
}

int bird_alive(const struct bird_conn *c)
{
	return c && c->fd >= 0;
}

/* "BIRD: " and the text of the error lines, for e. */
static int bird_error(const struct bird_reply *r, const char *cmd, struct err *e)
{
	char text[ERR_MSG_MAX / 2];
	size_t o = 0;
	text[0] = '\0';
	for (size_t i = 0; i < r->n_lines; i++) {
		if (r->lines[i].code < 8000 && r->lines[i].code != r->code)
			continue;
		int k = snprintf(text + o, sizeof text - o, "%s%s", o ? "; " : "",
				 r->lines[i].text);
		if (k < 0 || (size_t)k >= sizeof text - o)
			break;
		o += (size_t)k;
	}
	return err_set(e, ERR_BIRD, "BIRD: %s (command '%s')", text, cmd);
}

int bird_command(struct bird_conn *c, const char *cmd, int timeout_ms,
		 struct bird_reply *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	size_t len = strlen(cmd);
	if (len == 0 || len > BIRD_CMD_MAX || strpbrk(cmd, "\r\n"))
		return err_set(e, ERR_INVALID,
			       "BIRD command '%.80s' is empty, longer than %d bytes or has a "
			       "line break", cmd, BIRD_CMD_MAX);
	if (!bird_alive(c))
		return err_set(e, ERR_CONNECT, "no connection to BIRD%s%s (command '%s')",
			       c ? " at " : "", c ? c->path : "", cmd);
	c->error_file[0] = '\0';
	int64_t deadline = deadline_of(timeout_ms);
	char line[BIRD_CMD_MAX + 2];
	memcpy(line, cmd, len);
	line[len] = '\n';
	int rc = write_all(c, line, len + 1, deadline, cmd, e);
	if (rc < 0)
		return rc;
	char what[BIRD_CMD_MAX + 32];
	snprintf(what, sizeof what, "reply to '%s'", cmd);
	rc = read_reply(c, what, deadline, out, e);
	if (rc < 0)
		return rc;
	if (out->code == 8004) {
		const char *t = out->n_lines ? out->lines[out->n_lines - 1].text : "";
		return err_set(e, ERR_BUSY,
			       "BIRD at %s is busy reconfiguring and cut its reply to '%s' short "
			       "(8004 %s)", c->path, cmd, t);
	}
	if (out->code >= 8000) {
		for (size_t i = 0; i < out->n_lines && !c->error_file[0]; i++)
			if (out->lines[i].code >= 8000)
				bird_parse_error_file(out->lines[i].text, c->error_file,
						      sizeof c->error_file);
		return bird_error(out, cmd, e);
	}
	return 0;
}

int bird_parse_error_file(const char *text, char *file, size_t size)
{
	if (size)
		file[0] = '\0';
	/* "FILE:LINE:COL message": the last ":digits:digits " before the
	 * message ends the file name (a path may hold colons itself). */
	const char *end = NULL;
	for (const char *p = text; *p; p++) {
		if (*p != ':' || p == text)
			continue;
		const char *q = p + 1;
		size_t d1 = strspn(q, "0123456789");
		if (d1 == 0 || q[d1] != ':')
			continue;
		size_t d2 = strspn(q + d1 + 1, "0123456789");
		char after = q[d1 + 1 + d2];
		if (d2 == 0 || (after != ' ' && after != '\0'))
			continue;
		end = p;
		break;
	}
	/* "FILE: message" (a file BIRD cannot open): an absolute path. */
	if (!end && text[0] == '/') {
		const char *p = strstr(text, ": ");
		if (p && !memchr(text, ' ', (size_t)(p - text)) &&
		    !memchr(text, ':', (size_t)(p - text)))
			end = p;
	}
	if (!end || (size_t)(end - text) >= size)
		return 0;
	memcpy(file, text, (size_t)(end - text));
	file[end - text] = '\0';
	return 1;
}

const char *bird_error_file(const struct bird_conn *c)
{
	return c ? c->error_file : "";
}

int bird_read_idle(struct bird_conn *c, struct err *e)
{
	if (!bird_alive(c))
		return err_set(e, ERR_CONNECT, "no connection to BIRD");
	for (;;) {
		if (c->roff < c->rlen) {
			/* Bytes that came in with the last reply. */
			struct bird_reply r;
			size_t used = 0;
			int rc = bird_parser_feed(&c->parser, c->rbuf + c->roff, c->rlen - c->roff,
						  &used, &r, e);
			if (rc == 1) {
				bird_reply_free(&r);
				rc = err_set(e, ERR_PROTOCOL, "a reply that no command asked for");
			}
			if (rc < 0) {
				conn_kill(c);
				return err_prefix(e, "BIRD at %s", c->path);
			}
		}
		c->roff = c->rlen = 0;
		ssize_t k = recv(c->fd, c->rbuf, READ_BUF_SIZE, MSG_DONTWAIT);
		if (k == 0) {
			conn_kill(c);
			return err_set(e, ERR_CONNECT, "BIRD at %s closed the connection", c->path);
		}
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			int saved = errno;
			conn_kill(c);
			return err_set(e, ERR_CONNECT, "reading from BIRD at %s: %s", c->path,
				       strerror(saved));
		}
		c->rlen = (size_t)k;
	}
}

/*
 * Typed commands
 */

/* Runs cmd and accepts the reply codes in ok (0-terminated list; a code 0
 * reply is accepted when ok lists -1). Codes in fail are BIRD refusing in
 * words of its own (below 8000), reported like errors. */
static int run_expect_code(struct bird_conn *c, const char *cmd, int timeout_ms,
			   const int *ok, const int *fail, int *code, struct err *e)
{
	struct bird_reply r;
	int rc = bird_command(c, cmd, timeout_ms, &r, e);
	if (code)
		*code = r.code;
	if (rc == 0) {
		int good = 0;
		for (const int *k = ok; *k; k++)
			if (*k == r.code || (*k == -1 && r.code == 0))
				good = 1;
		if (!good) {
			int refused = 0;
			for (const int *k = fail; k && *k; k++)
				if (*k == r.code)
					refused = 1;
			if (refused) {
				rc = bird_error(&r, cmd, e);
			} else {
				const char *t = r.n_lines ? r.lines[r.n_lines - 1].text : "";
				rc = err_set(e, ERR_PROTOCOL,
					     "unexpected reply to '%s' from BIRD at %s: %04d %s",
					     cmd, c->path, r.code, t);
			}
		}
	}
	bird_reply_free(&r);
	return rc;
}

static int run_expect(struct bird_conn *c, const char *cmd, int timeout_ms, const int *ok,
		      const int *fail, struct err *e)
{
	return run_expect_code(c, cmd, timeout_ms, ok, fail, NULL, e);
}

static const int reconfig_fail[] = { 6, 0 };

int bird_configure_check(struct bird_conn *c, int timeout_ms, struct err *e)
{
	static const int ok[] = { 20, 0 };
	return run_expect(c, "configure check", timeout_ms, ok, NULL, e);
}

int bird_configure_timeout(struct bird_conn *c, unsigned undo_after_s, int timeout_ms,
			   struct err *e)
{
	static const int ok[] = { 3, 4, 5, 0 };
	if (undo_after_s == 0)
		return err_set(e, ERR_INVALID,
			       "configure timeout 0 would schedule no undo; give at least 1 s");
	char cmd[64];
	snprintf(cmd, sizeof cmd, "configure timeout %u", undo_after_s);
	return run_expect(c, cmd, timeout_ms, ok, reconfig_fail, e);
}

int bird_configure(struct bird_conn *c, int timeout_ms, struct err *e)
{
	static const int ok[] = { 3, 4, 5, 0 };
	return run_expect(c, "configure", timeout_ms, ok, reconfig_fail, e);
}

int bird_configure_confirm(struct bird_conn *c, int timeout_ms, struct err *e)
{
	static const int ok[] = { 18, 19, 0 };
	int code = 0;
	int rc = run_expect_code(c, "configure confirm", timeout_ms, ok, NULL, &code, e);
	if (rc == 0 && code == 19)
		return BIRD_NOTHING_PENDING;
	return rc;
}

int bird_configure_undo(struct bird_conn *c, int timeout_ms, struct err *e)
{
	static const int ok[] = { 3, 4, 5, 17, 19, 0 };
	return run_expect(c, "configure undo", timeout_ms, ok, reconfig_fail, e);
}

int bird_wake(struct bird_conn *c, int timeout_ms, struct err *e)
{
	static const int ok[] = { 13, 0 };
	return run_expect(c, "show status", timeout_ms, ok, NULL, e);
}

/*
 * show route export
 */

/* A name that BIRD's parser reads as one symbol: nothing can be smuggled
 * into the command line. */
static int is_symbol(const char *s)
{
	if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return 0;
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
	return s[n] == '\0' && n <= 64;
}

/* Parses the text after "BGP.as_path:". */
static int parse_as_path(const char *s, struct bird_export *x, size_t line_no, struct err *e)
{
	unsigned len = 0, run = 0;
	unsigned long long first = 0;
	int run_open = 1, in_set = 0, in_confed = 0;
	const char *p = s;
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		if (*p == '.') {
			if (strcmp(p, "...") != 0)
				goto bad;
			x->path_truncated = 1;
			break;
		}
		if (*p == '{') {
			if (in_set)
				goto bad;
			in_set = 1;
			if (!in_confed)
				len++;
			run_open = 0;
			p++;
			continue;
		}
		if (*p == '}') {
			if (!in_set)
				goto bad;
			in_set = 0;
			p++;
			continue;
		}
		if (*p == '(') {
			if (in_confed || in_set)
				goto bad;
			in_confed = 1;
			run_open = 0;
			p++;
			continue;
		}
		if (*p == ')') {
			if (!in_confed || in_set)
				goto bad;
			in_confed = 0;
			p++;
			continue;
		}
		if (*p < '0' || *p > '9')
			goto bad;
		unsigned long long asn = 0;
		while (*p >= '0' && *p <= '9') {
			asn = asn * 10 + (unsigned)(*p - '0');
			if (asn > 0xffffffffull)
				goto bad;
			p++;
		}
		if (*p == '.') {
			/* BIRD cut the path inside this number. */
			if (strcmp(p, "...") != 0)
				goto bad;
			x->path_truncated = 1;
			break;
		}
		if (in_set || in_confed)
			continue;
		len++;
		if (len == 1 && run_open) {
			first = asn;
			run = 1;
		} else if (run_open && asn == first) {
			run++;
		} else {
			run_open = 0;
		}
	}
	if ((in_set || in_confed) && !x->path_truncated)
		goto bad;
	x->path_len = len;
	x->first_asn_run = run;
	x->first_asn = (uint32_t)first;
	return 0;
bad:
	return err_set(e, ERR_PROTOCOL, "line %zu of BIRD's reply: bad BGP.as_path \"%.200s\"",
		       line_no, s);
}

/* Sorting 10,000 exports by prefix_cmp on the 100-byte structs was a third of
 * the parse; sorting small keys and moving each struct once is cheaper. The
 * order is prefix_cmp's (family, address, length), then the path, so that
 * several routes of one net come out the same whatever BIRD's hash order. */
struct sort_key {
	uint64_t hi, lo;   /* family and address bytes 0-14 */
	uint64_t mid;      /* address byte 15, length */
	uint64_t tie;      /* path_len, first_asn_run, path_truncated */
	size_t idx;
};

static int key_cmp(const void *a, const void *b)
{
	const struct sort_key *x = a, *y = b;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->mid != y->mid)
		return x->mid < y->mid ? -1 : 1;
	if (x->tie != y->tie)
		return x->tie < y->tie ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int sort_exports(struct bird_export **v, size_t n)
{
	struct sort_key *k = malloc(n * sizeof *k);
	struct bird_export *w = malloc(n * sizeof *w);
	if (!k || !w) {
		free(k);
		free(w);
		return -ERR_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct bird_export *x = &(*v)[i];
		const uint8_t *a = x->prefix.addr;
		uint64_t hi = (uint64_t)x->prefix.family << 56, lo = 0;
		for (int j = 0; j < 7; j++)
			hi |= (uint64_t)a[j] << (48 - 8 * j);
		for (int j = 0; j < 8; j++)
			lo |= (uint64_t)a[7 + j] << (56 - 8 * j);
		k[i].hi = hi;
		k[i].lo = lo;
		k[i].mid = (uint64_t)a[15] << 16 | x->prefix.len;
		k[i].tie = (uint64_t)x->path_len << 33 | (uint64_t)x->first_asn_run << 1 |
			   (x->path_truncated != 0);
		k[i].idx = i;
	}
	qsort(k, n, sizeof *k, key_cmp);
	for (size_t i = 0; i < n; i++)
		w[i] = (*v)[k[i].idx];
	free(k);
	free(*v);
	*v = w;
	return 0;
}

/* BIRD prints IPv4 nets in canonical form. Reading that form here rather
 * than through prefix_parse (inet_pton, then inet_ntop and snprintf for the
 * canonical text) saves most of the parse of a large export. Anything else
 * goes to prefix_parse, which has the last word. */
static int fast_prefix4(const char *s, size_t n, struct prefix *out)
{
	uint32_t addr = 0;
	size_t i = 0;
	for (int k = 0; k < 4; k++) {
		size_t st = i;
		unsigned v = 0;
		while (i < n && i - st < 3 && s[i] >= '0' && s[i] <= '9')
			v = v * 10 + (unsigned)(s[i++] - '0');
		if (i == st || v > 255 || (s[st] == '0' && i - st > 1))
			return -1;
		addr = addr << 8 | v;
		if (i >= n || s[i] != (k < 3 ? '.' : '/'))
			return -1;
		i++;
	}
	size_t st = i;
	unsigned len = 0;
	while (i < n && i - st < 2 && s[i] >= '0' && s[i] <= '9')
		len = len * 10 + (unsigned)(s[i++] - '0');
	if (i == st || i != n || len > 32 || (s[st] == '0' && i - st > 1))
		return -1;
	if (len == 0 ? addr != 0 : len < 32 && (addr & (0xffffffffu >> len)))
		return -1;
	out->family = 4;
	memset(out->addr, 0, sizeof out->addr);
	out->addr[0] = (uint8_t)(addr >> 24);
	out->addr[1] = (uint8_t)(addr >> 16);
	out->addr[2] = (uint8_t)(addr >> 8);
	out->addr[3] = (uint8_t)addr;
	out->len = len;
	memcpy(out->text, s, n);
	out->text[n] = '\0';
	return 0;
}

int bird_parse_export(const struct bird_reply *r, struct bird_export **out, size_t *n,
		      struct err *e)
{
	*out = NULL;
	*n = 0;
	struct bird_export *v = NULL;
	size_t nv = 0, cap = 0;
	/* Room for every 1007 line. The route lines are the only 1007 lines
	 * that do not begin with a tab (next hops) or read "Table NAME:" or are
	 * empty (between tables). A route line that begins with a space is
	 * another route of the previous route's net. */
	int have_net = 0;
	for (size_t i = 0; i < r->n_lines; i++)
		cap += r->lines[i].code == 1007;
	if (cap) {
		v = malloc(cap * sizeof *v);
		if (!v)
			return err_set(e, ERR_NOMEM, "out of memory parsing BIRD's routes");
	}
	for (size_t i = 0; i < r->n_lines; i++) {
		const struct bird_line *l = &r->lines[i];
		const char *t = l->text;
		if (l->code == 1012) {
			t += strspn(t, " \t");
			if (strncmp(t, "BGP.as_path:", 12) != 0)
				continue;
			if (nv == 0) {
				free(v);
				return err_set(e, ERR_PROTOCOL,
					       "line %zu of BIRD's reply: BGP.as_path before any "
					       "route", i + 1);
			}
			v[nv - 1].path_len = 0;
			v[nv - 1].first_asn_run = 0;
			v[nv - 1].first_asn = 0;
			v[nv - 1].path_truncated = 0;
			if (parse_as_path(t + 12, &v[nv - 1], i + 1, e) < 0) {
				free(v);
				return -ERR_PROTOCOL;
			}
			continue;
		}
		if (l->code != 1007 || t[0] == '\t' || t[0] == '\0')
			continue;
		if (strncmp(t, "Table ", 6) == 0 && t[strlen(t) - 1] == ':') {
			have_net = 0;
			continue;
		}
		struct bird_export *x = &v[nv];   /* nv < cap: this is a 1007 line */
		if (t[0] == ' ') {
			if (!have_net) {
				free(v);
				return err_set(e, ERR_PROTOCOL,
					       "line %zu of BIRD's reply: a route without a net "
					       "before any net: \"%.200s\"", i + 1, t);
			}
			x->prefix = v[nv - 1].prefix;
		} else {
			char net[64], why[160];
			size_t tl = strcspn(t, " \t");
			if (tl >= sizeof net) {
				free(v);
				return err_set(e, ERR_PROTOCOL,
					       "line %zu of BIRD's reply: no prefix at the start "
					       "of \"%.200s\"", i + 1, t);
			}
			memcpy(net, t, tl);
			net[tl] = '\0';
			if (fast_prefix4(net, tl, &x->prefix) < 0 &&
			    prefix_parse(net, &x->prefix, why, sizeof why) < 0) {
				free(v);
				return err_set(e, ERR_PROTOCOL, "line %zu of BIRD's reply: %s",
					       i + 1, why);
			}
			have_net = 1;
		}
		x->path_len = 0;
		x->first_asn_run = 0;
		x->first_asn = 0;
		x->path_truncated = 0;
		nv++;
	}
	if (nv > 1 && sort_exports(&v, nv) < 0) {
		free(v);
		return err_set(e, ERR_NOMEM, "out of memory sorting BIRD's routes");
	}
	*out = v;
	*n = nv;
	return 0;
}

/* Runs a `show route ... all` command and parses its routes; proto is the
 * protocol whose channel is asked about and names says what the command
 * names, for the messages. */
static int show_routes(struct bird_conn *c, const char *cmd, const char *proto,
		       const char *names, int no_net_is_empty, int timeout_ms,
		       struct bird_export **out, size_t *n, struct err *e)
{
	struct bird_reply r;
	int rc = bird_command(c, cmd, timeout_ms, &r, e);
	if (rc == -ERR_BIRD && r.code == 8001 && no_net_is_empty) {
		/* "Network not found": a `show route PREFIX` of a net no
		 * protocol has. */
		bird_reply_free(&r);
		err_clear(e);
		return 0;
	}
	if (rc == -ERR_BIRD && r.code == 9001 && r.n_lines) {
		/* BIRD reports these as parse errors of the command; they name
		 * protocols that are not up or do not exist. */
		const char *t = r.lines[r.n_lines - 1].text;
		if (strcmp(t, "No valid tables") == 0)
			rc = err_set(e, ERR_NOTFOUND,
				     "BIRD protocol '%s' has no export channel up (down, starting "
				     "or disabled); BIRD: %s (command '%s')", proto, t, cmd);
		else if (strstr(t, "CF_SYM_UNDEFINED"))
			rc = err_set(e, ERR_INVALID,
				     "BIRD's running config has no %s; BIRD: %s (command '%s')",
				     names, t, cmd);
		else if (strcmp(t, "Protocol name required") == 0)
			rc = err_set(e, ERR_INVALID,
				     "%s: not a protocol in BIRD's running config; BIRD: %s "
				     "(command '%s')", names, t, cmd);
	}
	if (rc == 0 && r.code != 0)
		rc = err_set(e, ERR_PROTOCOL, "unexpected reply to '%s' from BIRD at %s: %04d %s",
			     cmd, c->path, r.code, r.n_lines ? r.lines[r.n_lines - 1].text : "");
	if (rc == 0) {
		rc = bird_parse_export(&r, out, n, e);
		if (rc < 0)
			err_prefix(e, "'%s'", cmd);
	}
	bird_reply_free(&r);
	return rc;
}

int bird_show_export(struct bird_conn *c, const char *proto, const char *from,
		     int timeout_ms, struct bird_export **out, size_t *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	if (!is_symbol(proto) || !is_symbol(from))
		return err_set(e, ERR_INVALID, "'%.80s' or '%.80s' is not a BIRD protocol name",
			       proto ? proto : "(null)", from ? from : "(null)");
	char cmd[256];
	snprintf(cmd, sizeof cmd, "show route export %s protocol %s all", proto, from);
	char names[200];
	snprintf(names, sizeof names, "protocol '%s' or '%s'", proto, from);
	return show_routes(c, cmd, proto, names, 0, timeout_ms, out, n, e);
}

int bird_show_through_function(struct bird_conn *c, const char *from, const char *function,
			       int timeout_ms, struct bird_export **out, size_t *n,
			       struct err *e)
{
	*out = NULL;
	*n = 0;
	if (!is_symbol(from) || !is_symbol(function))
		return err_set(e, ERR_INVALID, "'%.80s' or '%.80s' is not a BIRD symbol",
			       from ? from : "(null)", function ? function : "(null)");
	char cmd[256];
	snprintf(cmd, sizeof cmd, "show route protocol %s filter { %s(); accept; } all", from,
		 function);
	char names[200];
	snprintf(names, sizeof names, "protocol '%s' or function '%s'", from, function);
	return show_routes(c, cmd, from, names, 0, timeout_ms, out, n, e);
}

int bird_show_protocol_routes(struct bird_conn *c, const char *from, int timeout_ms,
			      struct bird_export **out, size_t *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	if (!is_symbol(from))
		return err_set(e, ERR_INVALID, "'%.80s' is not a BIRD protocol name",
			       from ? from : "(null)");
	char cmd[256];
	snprintf(cmd, sizeof cmd, "show route protocol %s all", from);
	char names[200];
	snprintf(names, sizeof names, "protocol '%s'", from);
	return show_routes(c, cmd, from, names, 0, timeout_ms, out, n, e);
}

/*
 * show protocols
 */

static const char *next_token(const char **p, size_t *len)
{
	const char *s = *p + strspn(*p, " \t");
	*len = strcspn(s, " \t");
	*p = s + *len;
	return s;
}

static int put_field(char *dst, size_t size, const char *s, size_t len)
{
	if (len >= size)
		return -1;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

/* "10:36:01" or "10:36:01.554": the clock part of a date-and-time "since". */
static int looks_like_clock(const char *s, size_t len)
{
	return len >= 5 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' &&
	       s[2] == ':';
}

static int parse_protocol_row(const char *t, struct bird_protocol *p, size_t line_no,
			      struct err *e)
{
	memset(p, 0, sizeof *p);
	const char *s = t;
	size_t l[5];
	const char *f[5];
	for (int i = 0; i < 5; i++) {
		f[i] = next_token(&s, &l[i]);
		if (l[i] == 0)
			return err_set(e, ERR_PROTOCOL,
				       "line %zu of BIRD's reply: a protocol row with fewer than "
				       "5 columns: \"%.200s\"", line_no, t);
	}
	/* With `timeformat protocol iso long` the since column is two words. */
	const char *rest = s;
	size_t cl;
	const char *clock = next_token(&rest, &cl);
	if (looks_like_clock(clock, cl)) {
		l[4] = (size_t)(clock + cl - f[4]);
		s = rest;
	}
	if (put_field(p->name, sizeof p->name, f[0], l[0]) < 0 ||
	    put_field(p->proto, sizeof p->proto, f[1], l[1]) < 0 ||
	    put_field(p->table, sizeof p->table, f[2], l[2]) < 0 ||
	    put_field(p->state, sizeof p->state, f[3], l[3]) < 0 ||
	    put_field(p->since, sizeof p->since, f[4], l[4]) < 0)
		return err_set(e, ERR_PROTOCOL,
			       "line %zu of BIRD's reply: a protocol row with a column too "
			       "long: \"%.200s\"", line_no, t);
	s += strspn(s, " \t");
	size_t il = strlen(s);
	while (il && (s[il - 1] == ' ' || s[il - 1] == '\t'))
		il--;
	if (il >= sizeof p->info)
		il = sizeof p->info - 1;
	memcpy(p->info, s, il);
	p->info[il] = '\0';
	return 0;
}

const struct bird_channel *bird_protocol_channel(const struct bird_protocol *p, int family)
{
	for (size_t i = 0; p && i < p->n_channels; i++)
		if (p->channels[i].family == family)
			return &p->channels[i];
	return NULL;
}

/* "NAME:   value" at the start of t (after its indent): the value, trimmed,
 * or NULL when t is another line. */
static const char *detail_value(const char *t, const char *name, size_t *len)
{
	size_t nl = strlen(name);
	if (strncmp(t, name, nl) != 0)
		return NULL;
	const char *v = t + nl;
	v += strspn(v, " \t");
	*len = strlen(v);
	while (*len && (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
		(*len)--;
	return v;
}

/* One line of the details that `show protocols all` prints under a row
 * (code 1006 and its continuations). cur_channel is the channel the lines
 * describe now (-1 before any, -2 inside a channel type that is not kept). */
static int parse_protocol_detail(const char *line, struct bird_protocol *p, int *cur_channel,
				 size_t line_no, struct err *e)
{
	const char *t = line + strspn(line, " \t");
	size_t vl;
	const char *v;
	if ((v = detail_value(t, "Local AS:", &vl))) {
		unsigned long long asn = 0;
		size_t d = 0;
		while (d < vl && d < 11 && v[d] >= '0' && v[d] <= '9')
			asn = asn * 10 + (unsigned)(v[d++] - '0');
		if (d == 0 || d != vl || asn > 0xffffffffull)
			return err_set(e, ERR_PROTOCOL,
				       "line %zu of BIRD's reply: protocol %s: \"Local AS:\" is "
				       "not an AS number: \"%.100s\"", line_no, p->name, t);
		p->has_local_as = 1;
		p->local_as = (uint32_t)asn;
		return 0;
	}
	if ((v = detail_value(t, "Channel", &vl)) && v != t + 7) {
		*cur_channel = -2;
		int family = vl == 4 && memcmp(v, "ipv4", 4) == 0   ? 4
			     : vl == 4 && memcmp(v, "ipv6", 4) == 0 ? 6
								    : 0;
		if (vl == 0)
			return err_set(e, ERR_PROTOCOL,
				       "line %zu of BIRD's reply: protocol %s: a channel without "
				       "a name", line_no, p->name);
		if (family == 0 || bird_protocol_channel(p, family) ||
		    p->n_channels >= BIRD_CHANNELS_MAX)
			return 0;
		struct bird_channel *ch = &p->channels[p->n_channels];
		memset(ch, 0, sizeof *ch);
		ch->family = family;
		*cur_channel = (int)p->n_channels++;
		return 0;
	}
	if (*cur_channel < 0)
		return 0;
	struct bird_channel *ch = &p->channels[*cur_channel];
	char *dst = NULL;
	size_t size = 0;
	if ((v = detail_value(t, "Table:", &vl))) {
		dst = ch->table;
		size = sizeof ch->table;
	} else if ((v = detail_value(t, "State:", &vl))) {
		dst = ch->state;
		size = sizeof ch->state;
	}
	if (dst && put_field(dst, size, v, vl) < 0)
		return err_set(e, ERR_PROTOCOL,
			       "line %zu of BIRD's reply: protocol %s: a channel detail too "
			       "long: \"%.100s\"", line_no, p->name, t);
	return 0;
}

int bird_parse_protocols(const struct bird_reply *r, struct bird_protocol **out, size_t *n,
			 struct err *e)
{
	*out = NULL;
	*n = 0;
	size_t rows = 0;
	for (size_t i = 0; i < r->n_lines; i++)
		rows += r->lines[i].code == 1002;
	struct bird_protocol *v = calloc(rows ? rows : 1, sizeof *v);
	if (!v)
		return err_set(e, ERR_NOMEM, "out of memory parsing BIRD's protocols");
	size_t k = 0;
	int cur_channel = -1;
	for (size_t i = 0; i < r->n_lines; i++) {
		if (r->lines[i].code == 1006) {
			if (k == 0) {
				free(v);
				return err_set(e, ERR_PROTOCOL,
					       "line %zu of BIRD's reply: protocol details before "
					       "any protocol row", i + 1);
			}
			if (parse_protocol_detail(r->lines[i].text, &v[k - 1], &cur_channel, i + 1,
						  e) < 0) {
				free(v);
				return -ERR_PROTOCOL;
			}
			continue;
		}
		if (r->lines[i].code != 1002)
			continue;
		if (parse_protocol_row(r->lines[i].text, &v[k], i + 1, e) < 0) {
			free(v);
			return -ERR_PROTOCOL;
		}
		cur_channel = -1;
		k++;
	}
	*out = v;
	*n = k;
	return 0;
}

static int show_protocols(struct bird_conn *c, const char *cmd, int timeout_ms,
			  struct bird_protocol **out, size_t *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	struct bird_reply r;
	int rc = bird_command(c, cmd, timeout_ms, &r, e);
	if (rc == 0 && r.code != 0)
		rc = err_set(e, ERR_PROTOCOL, "unexpected reply to '%s' from BIRD at %s: %04d %s",
			     cmd, c->path, r.code, r.n_lines ? r.lines[r.n_lines - 1].text : "");
	if (rc == 0) {
		rc = bird_parse_protocols(&r, out, n, e);
		if (rc < 0)
			err_prefix(e, "'%s'", cmd);
	}
	bird_reply_free(&r);
	return rc;
}

int bird_show_protocols(struct bird_conn *c, int timeout_ms, struct bird_protocol **out,
			size_t *n, struct err *e)
{
	return show_protocols(c, "show protocols", timeout_ms, out, n, e);
}

int bird_show_protocols_all(struct bird_conn *c, int timeout_ms, struct bird_protocol **out,
			    size_t *n, struct err *e)
{
	return show_protocols(c, "show protocols all", timeout_ms, out, n, e);
}

/*
 * One prefix, and counts
 */

/* `show route PREFIX WHAT NAME`: whether BIRD lists a route. */
/* show route PREFIX WHAT NAME [TAIL]: *found = 1 when BIRD shows a route. */
static int prefix_query_tail(struct bird_conn *c, const char *prefix, const char *what,
			     const char *name, const char *tail, int timeout_ms, int *found,
			     struct err *e);

static int prefix_query(struct bird_conn *c, const char *prefix, const char *what,
			const char *name, int timeout_ms, int *found, struct err *e)
{
	return prefix_query_tail(c, prefix, what, name, "", timeout_ms, found, e);
}

static int prefix_query_tail(struct bird_conn *c, const char *prefix, const char *what,
			     const char *name, const char *tail, int timeout_ms, int *found,
			     struct err *e)
{
	*found = 0;
	struct prefix p;
	char why[160];
	if (!prefix || prefix_parse(prefix, &p, why, sizeof why) < 0 ||
	    strcmp(p.text, prefix) != 0)
		return err_set(e, ERR_INVALID, "'%.80s' is not a canonical prefix",
			       prefix ? prefix : "(null)");
	if (!is_symbol(name))
		return err_set(e, ERR_INVALID, "'%.80s' is not a BIRD protocol name",
			       name ? name : "(null)");
	char cmd[384];
	snprintf(cmd, sizeof cmd, "show route %s %s %s%s", prefix, what, name, tail);
	char names[120];
	snprintf(names, sizeof names, "protocol '%s'", name);
	struct bird_export *v = NULL;
	size_t n = 0;
	int rc = show_routes(c, cmd, name, names, 1, timeout_ms, &v, &n, e);
	free(v);
	if (rc == 0)
		*found = n > 0;
	return rc;
}

int bird_prefix_exported(struct bird_conn *c, const char *prefix, const char *proto,
			 int timeout_ms, int *exported, struct err *e)
{
	return prefix_query(c, prefix, "export", proto, timeout_ms, exported, e);
}

int bird_prefix_through_function(struct bird_conn *c, const char *prefix, const char *from,
				 const char *function, int timeout_ms, int *exported,
				 struct err *e)
{
	*exported = 0;
	if (!is_symbol(function))
		return err_set(e, ERR_INVALID, "'%.80s' is not a BIRD function name",
			       function ? function : "(null)");
	char tail[128];
	snprintf(tail, sizeof tail, " filter { %s(); accept; }", function);
	return prefix_query_tail(c, prefix, "protocol", from, tail, timeout_ms, exported, e);
}

int bird_prefix_present(struct bird_conn *c, const char *prefix, const char *from,
			int timeout_ms, int *present, struct err *e)
{
	return prefix_query(c, prefix, "protocol", from, timeout_ms, present, e);
}

int bird_parse_count(const struct bird_reply *r, unsigned long *count, struct err *e)
{
	*count = 0;
	unsigned long total = 0;
	for (size_t i = 0; i < r->n_lines; i++) {
		if (r->lines[i].code != 1007)
			continue;
		const char *t = r->lines[i].text;
		unsigned long shown, all, nets;
		char table[64];
		int used = 0;
		if (sscanf(t, "%lu of %lu routes for %lu networks in table %63s%n", &shown, &all,
			   &nets, table, &used) != 4 || t[used] != '\0' || t[0] < '0' ||
		    t[0] > '9' || shown > all)
			return err_set(e, ERR_PROTOCOL,
				       "line %zu of BIRD's reply: not a route count: \"%.200s\"",
				       i + 1, t);
		total += shown;
	}
	*count = total;
	return 0;
}

int bird_export_count(struct bird_conn *c, const char *proto, const char *from,
		      int timeout_ms, unsigned long *count, struct err *e)
{
	*count = 0;
	if (!is_symbol(proto) || !is_symbol(from))
		return err_set(e, ERR_INVALID, "'%.80s' or '%.80s' is not a BIRD protocol name",
			       proto ? proto : "(null)", from ? from : "(null)");
	char cmd[256];
	snprintf(cmd, sizeof cmd, "show route export %s protocol %s count", proto, from);
	struct bird_reply r;
	int rc = bird_command(c, cmd, timeout_ms, &r, e);
	if (rc == -ERR_BIRD && r.code == 9001 && r.n_lines &&
	    strcmp(r.lines[r.n_lines - 1].text, "No valid tables") == 0)
		rc = err_set(e, ERR_NOTFOUND,
			     "BIRD protocol '%s' has no export channel up (down, starting or "
			     "disabled); BIRD: No valid tables (command '%s')", proto, cmd);
	if (rc == 0 && r.code != 0 && r.code != 14)
		rc = err_set(e, ERR_PROTOCOL, "unexpected reply to '%s' from BIRD at %s: %04d %s",
			     cmd, c->path, r.code, r.n_lines ? r.lines[r.n_lines - 1].text : "");
	if (rc == 0) {
		rc = bird_parse_count(&r, count, e);
		if (rc < 0)
			err_prefix(e, "'%s'", cmd);
	}
	bird_reply_free(&r);
	return rc;
}
