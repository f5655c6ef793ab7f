#include "diff.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

#define CONTEXT 3

/* A line includes its '\n' when it has one, so that "a" and "a\n" differ
 * (the last line of a file may lack it). */
struct line {
	const char *p;
	size_t len;
};

struct lines {
	struct line *v;
	size_t n;
};

static int split_lines(const char *text, struct lines *out)
{
	size_t n = 0;
	for (const char *s = text; *s; n++) {
		const char *nl = strchr(s, '\n');
		s = nl ? nl + 1 : s + strlen(s);
	}
	out->n = n;
	out->v = calloc(n ? n : 1, sizeof *out->v);
	if (!out->v)
		return -ERR_NOMEM;
	size_t i = 0;
	for (const char *s = text; *s; i++) {
		const char *nl = strchr(s, '\n');
		const char *next = nl ? nl + 1 : s + strlen(s);
		out->v[i].p = s;
		out->v[i].len = (size_t)(next - s);
		s = next;
	}
	return 0;
}

static int line_eq(const struct line *a, const struct line *b)
{
	return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

static int put_line(struct buf *out, char mark, const struct line *l)
{
	if (buf_append(out, &mark, 1) < 0 || buf_append(out, l->p, l->len) < 0)
		return -ERR_NOMEM;
	if (l->len == 0 || l->p[l->len - 1] != '\n')
		return buf_puts(out, "\n\\ No newline at end of file\n");
	return 0;
}

/* "start,count" as diff -u writes it: an empty range names the line before
 * it, and a count of 1 is left out. */
static int put_range(struct buf *out, char sign, size_t first, size_t count)
{
	if (count == 0)
		return buf_printf(out, "%c%zu,0", sign, first);
	if (count == 1)
		return buf_printf(out, "%c%zu", sign, first + 1);
	return buf_printf(out, "%c%zu,%zu", sign, first + 1, count);
}

/* One step of the edit script: keep a[ai] (= b[bi]), delete a[ai], or insert b[bi]. */
struct op {
	char kind;   /* ' ', '-', '+' */
	size_t ai, bi;
};

/* Past this many differing lines the script is not searched for: the middle
 * is shown as replaced (still a correct diff, only not a minimal one). */
#define MAX_EDITS 2000

/* Myers' O(ND) greedy algorithm on a[0..n) and b[0..m), keeping the
 * frontier of every round (O(D^2) memory) to walk back the path. Appends the
 * script to ops (room for n + m entries) and returns its length, 0 for two
 * empty inputs, or -ERR_INVALID when there are more than MAX_EDITS edits. */
static long myers(const struct line *a, size_t n, const struct line *b, size_t m,
		  struct op *ops, size_t ai0, size_t bi0)
{
	size_t max = n + m;
	if (max > MAX_EDITS)
		max = MAX_EDITS;
	long **v = calloc(max + 1, sizeof *v);
	if (!v)
		return -ERR_NOMEM;
	long rc = -ERR_INVALID;
	long d, found = -1;
	for (d = 0; d <= (long)max && found < 0; d++) {
		v[d] = malloc((size_t)(2 * d + 1) * sizeof **v);
		if (!v[d]) {
			rc = -ERR_NOMEM;
			goto out;
		}
		long *prev = d ? v[d - 1] : NULL;
		for (long k = -d; k <= d; k += 2) {
			long x;
			if (d == 0)
				x = 0;
			else if (k == -d || (k != d && prev[k - 1 + d - 1] < prev[k + 1 + d - 1]))
				x = prev[k + 1 + d - 1];          /* down: insertion */
			else
				x = prev[k - 1 + d - 1] + 1;      /* right: deletion */
			long y = x - k;
			while (x < (long)n && y < (long)m && line_eq(&a[x], &b[y]))
				x++, y++;
			v[d][k + d] = x;
			if (x >= (long)n && y >= (long)m) {
				found = d;
				break;
			}
		}
	}
	if (found < 0)
		goto out;
	/* Walk back from (n, m), writing the script from its end. */
	size_t len = 0;
	long x = (long)n, y = (long)m;
	struct op *end = ops + n + m;   /* built backwards, then moved */
	for (d = found; d > 0; d--) {
		long k = x - y, *prev = v[d - 1];
		long pk = (k == -d || (k != d && prev[k - 1 + d - 1] < prev[k + 1 + d - 1]))
				  ? k + 1 : k - 1;
		long px = prev[pk + d - 1], py = px - pk;
		long sx = pk == k + 1 ? px : px + 1;   /* where the snake starts */
		while (x > sx) {
			x--, y--;
			*--end = (struct op){ ' ', ai0 + (size_t)x, bi0 + (size_t)y };
			len++;
		}
		if (pk == k + 1)
			*--end = (struct op){ '+', ai0 + (size_t)px, bi0 + (size_t)py };
		else
			*--end = (struct op){ '-', ai0 + (size_t)px, bi0 + (size_t)py };
		len++;
		x = px, y = py;
	}
	while (x > 0) {
		x--, y--;
		*--end = (struct op){ ' ', ai0 + (size_t)x, bi0 + (size_t)y };
		len++;
	}
	memmove(ops, end, len * sizeof *ops);
	rc = (long)len;
out:
	for (long i = 0; i <= (long)max; i++)
		free(v[i]);
	free(v);
	return rc;
}

static int put_hunk(struct buf *out, const struct op *ops, size_t from, size_t to,
		    const struct lines *a, const struct lines *b)
{
	size_t a_count = 0, b_count = 0;
	for (size_t i = from; i < to; i++) {
		a_count += ops[i].kind != '+';
		b_count += ops[i].kind != '-';
	}
	if (buf_puts(out, "@@ ") < 0 || put_range(out, '-', ops[from].ai, a_count) < 0 ||
	    buf_puts(out, " ") < 0 || put_range(out, '+', ops[from].bi, b_count) < 0 ||
	    buf_puts(out, " @@\n") < 0)
		return -ERR_NOMEM;
	for (size_t i = from; i < to; i++) {
		const struct line *l = ops[i].kind == '+' ? &b->v[ops[i].bi] : &a->v[ops[i].ai];
		if (put_line(out, ops[i].kind, l) < 0)
			return -ERR_NOMEM;
	}
	return 0;
}

int diff_unified(const char *old_text, const char *new_text, const char *old_name,
		 const char *new_name, struct buf *out)
{
	if (strcmp(old_text, new_text) == 0)
		return 0;
	struct lines a = { 0 }, b = { 0 };
	struct op *ops = NULL;
	int rc = -ERR_NOMEM;
	if (split_lines(old_text, &a) < 0 || split_lines(new_text, &b) < 0)
		goto done;
	ops = calloc(a.n + b.n + 1, sizeof *ops);
	if (!ops)
		goto done;

	/* Equal lines at both ends need no search. */
	size_t head = 0;
	while (head < a.n && head < b.n && line_eq(&a.v[head], &b.v[head]))
		head++;
	size_t tail = 0;
	while (tail < a.n - head && tail < b.n - head &&
	       line_eq(&a.v[a.n - 1 - tail], &b.v[b.n - 1 - tail]))
		tail++;
	size_t n = 0;
	for (size_t i = 0; i < head; i++)
		ops[n++] = (struct op){ ' ', i, i };
	size_t an = a.n - head - tail, bn = b.n - head - tail;
	long mid = myers(a.v + head, an, b.v + head, bn, ops + n, head, head);
	if (mid == -ERR_NOMEM)
		goto done;
	if (mid < 0) {
		for (size_t i = 0; i < an; i++)
			ops[n++] = (struct op){ '-', head + i, head };
		for (size_t i = 0; i < bn; i++)
			ops[n++] = (struct op){ '+', head + an, head + i };
	} else {
		n += (size_t)mid;
	}
	for (size_t i = 0; i < tail; i++)
		ops[n++] = (struct op){ ' ', a.n - tail + i, b.n - tail + i };

	if (buf_printf(out, "--- %s\n+++ %s\n", old_name, new_name) < 0)
		goto done;
	/* Hunks: changes with CONTEXT lines around them; changes closer than
	 * 2 * CONTEXT equal lines share a hunk. */
	size_t i = 0;
	while (i < n) {
		while (i < n && ops[i].kind == ' ')
			i++;
		if (i == n)
			break;
		size_t from = i > CONTEXT ? i - CONTEXT : 0, to = i;
		for (;;) {
			while (to < n && ops[to].kind != ' ')
				to++;
			size_t same = 0;
			while (to + same < n && ops[to + same].kind == ' ')
				same++;
			if (to + same < n && same <= 2 * CONTEXT) {
				to += same;
				continue;
			}
			to += same < CONTEXT ? same : CONTEXT;
			break;
		}
		if (put_hunk(out, ops, from, to, &a, &b) < 0)
			goto done;
		i = to;
	}
	rc = 0;
done:
	free(ops);
	free(a.v);
	free(b.v);
	return rc;
}
