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

int diff_unified(const char *old_text, const char *new_text, const char *old_name,
		 const char *new_name, struct buf *out)
{
	if (strcmp(old_text, new_text) == 0)
		return 0;
	struct lines a = { 0 }, b = { 0 };
	int rc = -ERR_NOMEM;
	if (split_lines(old_text, &a) < 0 || split_lines(new_text, &b) < 0)
		goto done;

	size_t head = 0;
	while (head < a.n && head < b.n && line_eq(&a.v[head], &b.v[head]))
		head++;
	size_t tail = 0;
	while (tail < a.n - head && tail < b.n - head &&
	       line_eq(&a.v[a.n - 1 - tail], &b.v[b.n - 1 - tail]))
		tail++;

	/* Changed: old lines [head, a.n - tail), new lines [head, b.n - tail). */
	size_t before = head < CONTEXT ? head : CONTEXT;
	size_t after = tail < CONTEXT ? tail : CONTEXT;
	size_t start = head - before;
	size_t a_count = before + (a.n - tail - head) + after;
	size_t b_count = before + (b.n - tail - head) + after;

	if (buf_printf(out, "--- %s\n+++ %s\n@@ ", old_name, new_name) < 0 ||
	    put_range(out, '-', start, a_count) < 0 || buf_puts(out, " ") < 0 ||
	    put_range(out, '+', start, b_count) < 0 || buf_puts(out, " @@\n") < 0)
		goto done;
	for (size_t i = start; i < head; i++)
		if (put_line(out, ' ', &a.v[i]) < 0)
			goto done;
	for (size_t i = head; i < a.n - tail; i++)
		if (put_line(out, '-', &a.v[i]) < 0)
			goto done;
	for (size_t i = head; i < b.n - tail; i++)
		if (put_line(out, '+', &b.v[i]) < 0)
			goto done;
	for (size_t i = a.n - tail; i < a.n - tail + after; i++)
		if (put_line(out, ' ', &a.v[i]) < 0)
			goto done;
	rc = 0;
done:
	free(a.v);
	free(b.v);
	return rc;
}
