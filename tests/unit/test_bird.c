/* BIRD control socket: the reply parser on transcripts recorded from BIRD
 * 2.0.12 (tests/data/bird/) and on malformed input, bird_command against a
 * fake server, and the whole module against a real BIRD. */
#include "bird/bird.h"
#include "common/err.h"
#include "common/timeutil.h"
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Helpers
 */

/* Unlike the other unit tests, no fallback to "." for the source tree. */
static char *data_path(const char *name)
{
	ck_assert_msg(getenv("ROUTECTL_SOURCE_ROOT"),
		      "ROUTECTL_SOURCE_ROOT is not set (run through meson test)");
	char p[4096];
	tu_data_path(p, sizeof p, "bird", name);
	char *copy = strdup(p);
	ck_assert(copy);
	return copy;
}

static char *load(const char *name, size_t *len)
{
	char *path = data_path(name);
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f, "cannot open %s: %s", path, strerror(errno));
	ck_assert(fseek(f, 0, SEEK_END) == 0);
	long sz = ftell(f);
	ck_assert(sz >= 0);
	rewind(f);
	char *buf = malloc((size_t)sz + 1);
	ck_assert(buf);
	ck_assert(fread(buf, 1, (size_t)sz, f) == (size_t)sz);
	buf[sz] = '\0';
	fclose(f);
	free(path);
	*len = (size_t)sz;
	return buf;
}

/* Feeds data in pieces of the given size (0: all at once); expects exactly
 * one complete reply that uses all the bytes. */
static void parse_chunked(const char *data, size_t len, size_t chunk, struct bird_reply *out)
{
	struct bird_parser p;
	struct err e;
	bird_parser_init(&p);
	size_t off = 0;
	int rc = 0;
	while (off < len) {
		size_t n = chunk && chunk < len - off ? chunk : len - off;
		size_t used = 0;
		rc = bird_parser_feed(&p, data + off, n, &used, out, &e);
		ck_assert_msg(rc >= 0, "parser error: %s", e.msg);
		off += used;
		if (rc == 1)
			break;
		ck_assert_uint_eq(used, n);
	}
	ck_assert_int_eq(rc, 1);
	ck_assert_uint_eq(off, len);
	bird_parser_free(&p);
}

/* Expects a protocol error whose message contains want. */
static void expect_bad(const char *data, size_t len, const char *want)
{
	struct bird_parser p;
	struct bird_reply r;
	struct err e;
	err_clear(&e);
	bird_parser_init(&p);
	size_t used;
	int rc = bird_parser_feed(&p, data, len, &used, &r, &e);
	ck_assert_msg(rc == -ERR_PROTOCOL, "want a protocol error for \"%.40s\", got %d", data, rc);
	ck_assert_msg(strstr(e.msg, want), "message \"%s\" lacks \"%s\"", e.msg, want);
	/* The parser stays failed: the stream is out of sync. */
	rc = bird_parser_feed(&p, "0000 \n", 6, &used, &r, &e);
	ck_assert_int_eq(rc, -ERR_PROTOCOL);
	bird_parser_free(&p);
}

static void reply_eq(const struct bird_reply *a, const struct bird_reply *b)
{
	ck_assert_int_eq(a->code, b->code);
	ck_assert_uint_eq(a->n_lines, b->n_lines);
	for (size_t i = 0; i < a->n_lines; i++) {
		ck_assert_int_eq(a->lines[i].code, b->lines[i].code);
		ck_assert_str_eq(a->lines[i].text, b->lines[i].text);
	}
}

/*
 * Transcripts
 */

/* Every transcript is one reply (an asynchronous '+' line may precede it):
 * parsed whole, byte by byte and in odd pieces, the result is the same, and
 * the line count and final code agree with a plain reading of the file. */
START_TEST(test_transcripts_all_chunkings)
{
	char *dir = data_path("");
	DIR *d = opendir(dir);
	ck_assert_msg(d, "cannot open %s", dir);
	struct dirent *de;
	unsigned files = 0;
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		if (nl < 5 || strcmp(de->d_name + nl - 4, ".txt") != 0)
			continue;
		size_t len;
		char *data = load(de->d_name, &len);
		size_t want_lines = 0;
		const char *last = data;
		for (const char *s = data; s < data + len;) {
			const char *e = memchr(s, '\n', (size_t)(data + len - s));
			ck_assert_msg(e, "%s does not end with a newline", de->d_name);
			if (*s != '+')
				want_lines++;
			last = s;
			s = e + 1;
		}
		int want_code = atoi((char[5]){ last[0], last[1], last[2], last[3], 0 });

		struct bird_reply whole, bytes, odd;
		parse_chunked(data, len, 0, &whole);
		ck_assert_msg(whole.n_lines == want_lines, "%s: %zu lines, want %zu", de->d_name,
			      whole.n_lines, want_lines);
		ck_assert_msg(whole.code == want_code, "%s: code %d, want %d", de->d_name,
			      whole.code, want_code);
		parse_chunked(data, len, 1, &bytes);
		reply_eq(&whole, &bytes);
		parse_chunked(data, len, 7, &odd);
		reply_eq(&whole, &odd);
		bird_reply_free(&whole);
		bird_reply_free(&bytes);
		bird_reply_free(&odd);
		free(data);
		files++;
	}
	closedir(d);
	free(dir);
	ck_assert_uint_ge(files, 30);
}
END_TEST

START_TEST(test_transcript_show_status)
{
	size_t len;
	char *data = load("show_status.txt", &len);
	struct bird_reply r;
	parse_chunked(data, len, 0, &r);
	ck_assert_int_eq(r.code, 13);
	ck_assert_uint_eq(r.n_lines, 7);
	ck_assert_int_eq(r.lines[0].code, 1000);
	ck_assert_str_eq(r.lines[0].text, "BIRD 2.0.12");
	ck_assert_int_eq(r.lines[1].code, 1011);
	ck_assert_str_eq(r.lines[1].text, "Router ID is 10.255.0.61");
	/* A continuation line (leading space) keeps the previous code. */
	ck_assert_int_eq(r.lines[2].code, 1011);
	ck_assert_str_eq(r.lines[2].text, "Hostname is vm");
	ck_assert_str_eq(r.lines[6].text, "Daemon is up and running");
	char *text = bird_reply_text(&r);
	ck_assert_ptr_nonnull(strstr(text, "BIRD 2.0.12\nRouter ID is 10.255.0.61\nHostname"));
	ck_assert_ptr_nonnull(strstr(text, "\nDaemon is up and running"));
	ck_assert_ptr_null(strstr(text, "running\n"));
	free(text);
	bird_reply_free(&r);
	free(data);
}
END_TEST

START_TEST(test_transcript_config_error)
{
	size_t len;
	char *data = load("configure_check_syntax_error.txt", &len);
	struct bird_reply r;
	parse_chunked(data, len, 3, &r);
	ck_assert_int_eq(r.code, 8002);
	ck_assert_uint_eq(r.n_lines, 2);
	ck_assert_int_eq(r.lines[0].code, 2);
	ck_assert_str_eq(r.lines[0].text, "Reading configuration from /tmp/birdrec/bad.conf");
	ck_assert_str_eq(r.lines[1].text,
			 "/tmp/birdrec/bad.conf:5:1 syntax error, unexpected '}', expecting ';' or '{'");
	bird_reply_free(&r);
	free(data);
}
END_TEST

START_TEST(test_async_line_skipped)
{
	size_t len;
	char *data = load("async_undo_then_show_status.txt", &len);
	ck_assert(data[0] == '+');
	struct bird_reply r;
	parse_chunked(data, len, 5, &r);
	ck_assert_int_eq(r.code, 13);
	ck_assert_int_eq(r.lines[0].code, 1000);
	bird_reply_free(&r);
	free(data);

	/* Inside a reply, between a line and its continuation. */
	const char *mid = "1007-Table master4:\n+Config timeout expired, starting undo\n"
			  " 192.0.2.0/24 blackhole\n0000 \n";
	parse_chunked(mid, strlen(mid), 0, &r);
	ck_assert_uint_eq(r.n_lines, 3);
	ck_assert_int_eq(r.lines[1].code, 1007);
	ck_assert_str_eq(r.lines[1].text, "192.0.2.0/24 blackhole");
	bird_reply_free(&r);
}
END_TEST

/* Two replies in one read: the first feed stops after the first one. */
START_TEST(test_two_replies_in_one_buffer)
{
	size_t l1, l2;
	char *a = load("configure_in_progress.txt", &l1);
	char *b = load("configure_queued.txt", &l2);
	char *both = malloc(l1 + l2);
	memcpy(both, a, l1);
	memcpy(both + l1, b, l2);
	struct bird_parser p;
	struct bird_reply r;
	struct err e;
	size_t used;
	bird_parser_init(&p);
	ck_assert_int_eq(bird_parser_feed(&p, both, l1 + l2, &used, &r, &e), 1);
	ck_assert_uint_eq(used, l1);
	ck_assert_int_eq(r.code, 4);
	bird_reply_free(&r);
	ck_assert_int_eq(bird_parser_feed(&p, both + used, l1 + l2 - used, &used, &r, &e), 1);
	ck_assert_uint_eq(used, l2);
	ck_assert_int_eq(r.code, 5);
	ck_assert_str_eq(r.lines[1].text,
			 "Reconfiguration already in progress, queueing new config");
	bird_reply_free(&r);
	bird_parser_free(&p);
	free(a);
	free(b);
	free(both);
}
END_TEST

/*
 * Malformed input
 */

START_TEST(test_bad_lines)
{
	expect_bad("hello\n", 6, "does not start with a reply code");
	expect_bad("123 abc\n", 8, "fewer than 4 digits");
	expect_bad("0001xBIRD\n", 10, "neither '-' nor ' '");
	expect_bad("00001 BIRD\n", 11, "more than 4 digits");
	expect_bad("0000\n", 5, "without '-' or ' '");
	expect_bad("\n", 1, "is empty");
	expect_bad(" text\n0000 \n", 12, "continuation before any code");
	expect_bad("0001 BI\0RD\n", 11, "NUL byte");
	expect_bad("1000-a\n12x4 b\n", 14, "line 2 ");
	/* Unprintable bytes are escaped in the message. */
	expect_bad("\x01\x7f\n", 3, "\\x01\\x7f");
}
END_TEST

START_TEST(test_continuation_after_final)
{
	const char *s = "0001 hi\n continued\n";
	struct bird_parser p;
	struct bird_reply r;
	struct err e;
	size_t used;
	bird_parser_init(&p);
	ck_assert_int_eq(bird_parser_feed(&p, s, strlen(s), &used, &r, &e), 1);
	ck_assert_uint_eq(used, 8);
	bird_reply_free(&r);
	ck_assert_int_eq(bird_parser_feed(&p, s + used, strlen(s) - used, &used, &r, &e),
			 -ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.msg, "continuation before any code"));
	bird_parser_free(&p);
}
END_TEST

START_TEST(test_line_length_bound)
{
	/* BIRD_LINE_MAX bytes are fine, one more is not, with or without the
	 * newline in sight. */
	size_t n = BIRD_LINE_MAX;
	char *s = malloc(n + 2);
	memcpy(s, "1000 ", 5);
	memset(s + 5, 'x', n - 5);
	s[n] = '\n';
	struct bird_reply r;
	parse_chunked(s, n + 1, 4096, &r);
	ck_assert_uint_eq(strlen(r.lines[0].text), n - 5);
	bird_reply_free(&r);

	memset(s + 5, 'x', n + 1 - 5);
	s[n + 1] = '\n';
	expect_bad(s, n + 2, "longer than BIRD_LINE_MAX");

	/* Fed in pieces with no newline at all: fails once past the bound
	 * instead of buffering without end. */
	struct bird_parser p;
	struct err e;
	size_t used;
	bird_parser_init(&p);
	int rc = 0;
	for (int i = 0; i < 100 && rc == 0; i++)
		rc = bird_parser_feed(&p, s, 1000, &used, &r, &e);
	ck_assert_int_eq(rc, -ERR_PROTOCOL);
	ck_assert_uint_le(p.pending_len, BIRD_LINE_MAX);
	bird_parser_free(&p);
	free(s);
}
END_TEST

START_TEST(test_eof_mid_reply)
{
	/* The parser has no EOF of its own: it keeps asking for more, and
	 * bird_command turns the EOF into -ERR_CONNECT (tested below). */
	const char *s = "1000-BIRD 2.0.12\n1011-Router ID is 10.2";
	struct bird_parser p;
	struct bird_reply r;
	struct err e;
	size_t used;
	bird_parser_init(&p);
	ck_assert_int_eq(bird_parser_feed(&p, s, strlen(s), &used, &r, &e), 0);
	ck_assert_uint_eq(used, strlen(s));
	ck_assert_uint_eq(p.cur.n_lines, 1);
	bird_parser_free(&p);
}
END_TEST

START_TEST(test_too_many_lines)
{
	size_t n = (size_t)BIRD_REPLY_MAX_LINES + 1;
	char *s = malloc(n * 7 + 1);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * 7, "1007-x\n", 7);
	struct bird_parser p;
	struct bird_reply r;
	struct err e;
	bird_parser_init(&p);
	size_t off = 0;
	int rc = 0;
	while (off < n * 7 && rc == 0) {
		size_t used, k = n * 7 - off < 65536 ? n * 7 - off : 65536;
		rc = bird_parser_feed(&p, s + off, k, &used, &r, &e);
		off += used;
	}
	ck_assert_int_eq(rc, -ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.msg, "limit of lines"));
	ck_assert_ptr_nonnull(strstr(e.msg, "line 2000001 "));
	bird_parser_free(&p);
	free(s);
}
END_TEST

START_TEST(test_too_many_bytes)
{
	/* Long lines reach the byte bound before the line bound. */
	size_t ll = BIRD_LINE_MAX;
	char *line = malloc(ll + 1);
	memcpy(line, "1007-", 5);
	memset(line + 5, 'y', ll - 5);
	line[ll] = '\n';
	struct bird_parser p;
	struct bird_reply r;
	struct err e;
	bird_parser_init(&p);
	int rc = 0;
	size_t lines = 0, used;
	while (rc == 0 && lines < BIRD_REPLY_MAX_BYTES / (ll - 5) + 2) {
		rc = bird_parser_feed(&p, line, ll + 1, &used, &r, &e);
		lines++;
	}
	ck_assert_int_eq(rc, -ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.msg, "limit of bytes"));
	ck_assert_uint_eq(lines, BIRD_REPLY_MAX_BYTES / (ll - 5) + 1);
	bird_parser_free(&p);
	free(line);
}
END_TEST

/*
 * show route export
 */

static void parse_export_file(const char *name, struct bird_export **v, size_t *n)
{
	size_t len;
	char *data = load(name, &len);
	struct bird_reply r;
	struct err e;
	parse_chunked(data, len, 0, &r);
	int rc = bird_parse_export(&r, v, n, &e);
	ck_assert_msg(rc == 0, "%s: %s", name, e.msg);
	bird_reply_free(&r);
	free(data);
}

static const struct bird_export *find_export(const struct bird_export *v, size_t n,
					     const char *pfx)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].prefix.text, pfx) == 0)
			return &v[i];
	return NULL;
}

static void assert_sorted(const struct bird_export *v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		ck_assert_int_le(prefix_cmp(&v[i - 1].prefix, &v[i].prefix), 0);
}

START_TEST(test_export_small)
{
	struct bird_export *v;
	size_t n;
	parse_export_file("show_route_export_all.txt", &v, &n);
	/* BIRD prints 198.51.100.0/24 first; the result is sorted. */
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(v[0].prefix.text, "192.0.2.0/24");
	ck_assert_uint_eq(v[0].path_len, 0);
	ck_assert_uint_eq(v[0].first_asn_run, 0);
	ck_assert_str_eq(v[1].prefix.text, "198.51.100.0/24");
	ck_assert_int_eq(v[1].prefix.family, 4);
	ck_assert_uint_eq(v[1].path_len, 2);
	ck_assert_uint_eq(v[1].first_asn_run, 2);
	ck_assert_int_eq(v[1].path_truncated, 0);
	free(v);

	parse_export_file("show_route_export_plain.txt", &v, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(v[1].path_len, 0);
	free(v);

	parse_export_file("show_route_export_empty.txt", &v, &n);
	ck_assert_uint_eq(n, 0);
	free(v);
}
END_TEST

START_TEST(test_export_big)
{
	struct bird_export *v;
	size_t n;
	/* 2,002 static routes: 100.64/16 prepended 3 times, 100.65/16 and
	 * 2001:db8:1::/48 rejected (tests/data/bird/README.md). */
	parse_export_file("show_route_export_big.txt", &v, &n);
	ck_assert_uint_eq(n, 2002 - 256);
	assert_sorted(v, n);
	unsigned three = 0;
	for (size_t i = 0; i < n; i++) {
		ck_assert(strncmp(v[i].prefix.text, "100.65.", 7) != 0);
		if (strncmp(v[i].prefix.text, "100.64.", 7) == 0) {
			ck_assert_uint_eq(v[i].path_len, 3);
			ck_assert_uint_eq(v[i].first_asn_run, 3);
			three++;
		} else if (strcmp(v[i].prefix.text, "198.51.100.0/24") == 0) {
			ck_assert_uint_eq(v[i].path_len, 2);
		} else {
			ck_assert_uint_eq(v[i].path_len, 0);
		}
	}
	ck_assert_uint_eq(three, 256);
	/* IPv4 nets are read by a fast path: same result as prefix_parse. */
	for (size_t i = 0; i < n; i++) {
		struct prefix p;
		ck_assert_int_eq(prefix_parse(v[i].prefix.text, &p, NULL, 0), 0);
		ck_assert_int_eq(prefix_cmp(&p, &v[i].prefix), 0);
		ck_assert_str_eq(p.text, v[i].prefix.text);
	}
	free(v);

	/* Both tables: "Table master6:" after an empty 1007 line. */
	parse_export_file("show_route_export_big_both.txt", &v, &n);
	ck_assert_uint_eq(n, 2002 - 256 + 299);
	assert_sorted(v, n);
	ck_assert_int_eq(v[0].prefix.family, 4);
	ck_assert_int_eq(v[n - 1].prefix.family, 6);
	ck_assert_ptr_null(find_export(v, n, "2001:db8:1::/48"));
	const struct bird_export *x = find_export(v, n, "2001:db8:2::/48");
	ck_assert_ptr_nonnull(x);
	ck_assert_uint_eq(x->path_len, 1);
	ck_assert_uint_eq(x->first_asn_run, 1);
	x = find_export(v, n, "2001:db8:12c::/48");
	ck_assert_ptr_nonnull(x);
	ck_assert_uint_eq(x->path_len, 0);
	free(v);
}
END_TEST

START_TEST(test_export_two_routes_one_net)
{
	struct bird_export *v;
	size_t n;
	/* The second route of a net has no prefix on its line. */
	parse_export_file("show_route_all_two_routes.txt", &v, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(v[0].prefix.text, "192.0.2.0/24");
	ck_assert_str_eq(v[1].prefix.text, "192.0.2.0/24");
	free(v);
}
END_TEST

static int export_of(const char *text, struct bird_export **v, size_t *n, struct err *e)
{
	struct bird_reply r;
	parse_chunked(text, strlen(text), 0, &r);
	int rc = bird_parse_export(&r, v, n, e);
	bird_reply_free(&r);
	return rc;
}

static void path_case(const char *path, unsigned len, unsigned run, int truncated)
{
	char text[1024];
	snprintf(text, sizeof text,
		 "1007-Table master4:\n 192.0.2.0/24 blackhole [x 10:00:00.000] * (200)\n"
		 "1008-\tType: static univ\n1012-\tBGP.origin: IGP\n \tBGP.as_path:%s\n"
		 " \tBGP.next_hop: 192.0.2.1\n0000 \n", path);
	struct bird_export *v;
	size_t n;
	struct err e;
	int rc = export_of(text, &v, &n, &e);
	ck_assert_msg(rc == 0, "path \"%s\": %s", path, e.msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_msg(v[0].path_len == len && v[0].first_asn_run == run &&
		      v[0].path_truncated == truncated,
		      "path \"%s\": len %u run %u truncated %d, want %u %u %d", path,
		      v[0].path_len, v[0].first_asn_run, v[0].path_truncated, len, run,
		      truncated);
	free(v);
}

static void path_bad(const char *path)
{
	char text[1024];
	snprintf(text, sizeof text,
		 "1007-192.0.2.0/24 blackhole [x 10:00:00.000] * (200)\n"
		 "1012-\tBGP.as_path:%s\n0000 \n", path);
	struct bird_export *v;
	size_t n;
	struct err e;
	ck_assert_msg(export_of(text, &v, &n, &e) == -ERR_PROTOCOL, "path \"%s\" accepted", path);
	ck_assert_ptr_nonnull(strstr(e.msg, "BGP.as_path"));
}

START_TEST(test_export_as_paths)
{
	path_case(" 65001", 1, 1, 0);
	path_case(" 65001 65001 65000 65001", 4, 2, 0);
	path_case(" 4200000000 4200000000 4200000000", 3, 3, 0);
	path_case("", 0, 0, 0);
	path_case(" ", 0, 0, 0);
	path_case(" {65002 65003} 65001", 2, 0, 0);
	path_case(" 65001 65001 {1 2}", 3, 2, 0);
	path_case(" (65010 65011) 65001 65001", 2, 0, 0);
	path_case(" 65001 65001 650...", 2, 2, 1);
	path_case(" 65001 65001 ...", 2, 2, 1);
	path_case(" 65001 {65002 6...", 2, 1, 1);
	path_bad(" 65001 x");
	path_bad(" 4294967296");
	path_bad(" {65001");
	path_bad(" 65001}");
	path_bad(" 65001 ..");
	path_bad(" 65001 ... 65002");
}
END_TEST

START_TEST(test_export_bad)
{
	struct bird_export *v;
	size_t n;
	struct err e;
	ck_assert_int_eq(export_of("1007-300.1.2.0/24 blackhole [x]\n0000 \n", &v, &n, &e),
			 -ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.msg, "300.1.2.0/24"));
	ck_assert_int_eq(export_of("1007-192.0.2.1/24 blackhole [x]\n0000 \n", &v, &n, &e),
			 -ERR_PROTOCOL);
	ck_assert_int_eq(export_of("1007-10.0.0.0/33 blackhole [x]\n0000 \n", &v, &n, &e),
			 -ERR_PROTOCOL);
	ck_assert_int_eq(export_of("1007-10.0.0/8 blackhole [x]\n0000 \n", &v, &n, &e),
			 -ERR_PROTOCOL);
	/* Forms the fast path leaves to prefix_parse. */
	ck_assert_int_eq(export_of("1007-0.0.0.0/0 blackhole [x]\n"
				   "1007-10.0.0.0/08 blackhole [x]\n"
				   "1007-255.255.255.255/32 blackhole [x]\n0000 \n", &v, &n, &e), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(v[0].prefix.text, "0.0.0.0/0");
	ck_assert_str_eq(v[1].prefix.text, "10.0.0.0/8");
	ck_assert_uint_eq(v[1].prefix.len, 8);
	ck_assert_uint_eq(v[2].prefix.addr[3], 255);
	free(v);
	ck_assert_int_eq(export_of("1012-\tBGP.as_path: 1\n0000 \n", &v, &n, &e), -ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.msg, "before any route"));
	ck_assert_int_eq(export_of("1007-Table master4:\n  unreachable [x]\n0000 \n", &v, &n, &e),
			 -ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.msg, "without a net"));
}
END_TEST

/* The shape of BIRD's `show route export ... all`, in BIRD's hash order. */
static char *synthetic_export(unsigned routes, size_t *len)
{
	size_t cap = (size_t)routes * 160 + 64, o = 0;
	char *s = malloc(cap);
	o += (size_t)sprintf(s + o, "1007-Table master4:\n");
	for (unsigned k = 0; k < routes; k++) {
		unsigned i = (unsigned)(((unsigned long)k * 7919u) % routes);
		char pfx[32];
		snprintf(pfx, sizeof pfx, "10.%u.%u.0/24", i / 256, i % 256);
		o += (size_t)sprintf(s + o, "%s%-20s blackhole [routectl_v4 10:36:01.554] * (200)\n"
				     "1008-\tType: static univ\n", k ? "1007-" : " ", pfx);
		if (i % 3 == 0)
			o += (size_t)sprintf(s + o, "1012-\tBGP.as_path: 65001 65001 65001\n");
	}
	o += (size_t)sprintf(s + o, "0000 \n");
	*len = o;
	return s;
}

START_TEST(test_export_speed)
{
	size_t len;
	char *s = synthetic_export(10000, &len);
	int64_t best = INT64_MAX;
	struct timespec t0, t1;
	for (int round = 0; round < 5; round++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		struct bird_parser p;
		struct bird_reply r;
		struct err e;
		bird_parser_init(&p);
		size_t off = 0, used;
		int rc = 0;
		/* In read-sized pieces, as bird_command feeds it. */
		while (rc == 0 && off < len) {
			size_t k = len - off < 65536 ? len - off : 65536;
			rc = bird_parser_feed(&p, s + off, k, &used, &r, &e);
			off += used;
		}
		ck_assert_int_eq(rc, 1);
		struct bird_export *v;
		size_t n;
		ck_assert_int_eq(bird_parse_export(&r, &v, &n, &e), 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ck_assert_uint_eq(n, 10000);
		assert_sorted(v, n);
		ck_assert_uint_eq(v[0].path_len, 3);
		ck_assert_uint_eq(v[1].path_len, 0);
		int64_t us = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
		if (us < best)
			best = us;
		free(v);
		bird_reply_free(&r);
		bird_parser_free(&p);
	}
	printf("bird: 10000 routes with `all` (%zu bytes) parsed in %.2f ms (best of 5)\n", len,
	       (double)best / 1000);
	/* A few ms in an optimized build; generous here so that sanitizer
	 * builds and a busy machine pass, tight enough to catch a quadratic. */
	ck_assert_int_lt(best, 150000);
	free(s);
}
END_TEST

/*
 * show protocols
 */

static void parse_protocols_file(const char *name, struct bird_protocol **v, size_t *n)
{
	size_t len;
	char *data = load(name, &len);
	struct bird_reply r;
	struct err e;
	parse_chunked(data, len, 0, &r);
	ck_assert_msg(bird_parse_protocols(&r, v, n, &e) == 0, "%s: %s", name, e.msg);
	bird_reply_free(&r);
	free(data);
}

START_TEST(test_protocols)
{
	struct bird_protocol *v;
	size_t n;
	parse_protocols_file("show_protocols.txt", &v, &n);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(v[0].name, "device1");
	ck_assert_str_eq(v[0].proto, "Device");
	ck_assert_str_eq(v[0].info, "");
	ck_assert_str_eq(v[1].name, "routectl_v4");
	ck_assert_str_eq(v[1].table, "master4");
	ck_assert_str_eq(v[3].name, "isp");
	ck_assert_str_eq(v[3].proto, "BGP");
	ck_assert_str_eq(v[3].table, "---");
	ck_assert_str_eq(v[3].state, "up");
	ck_assert_str_eq(v[3].since, "10:36:06.115");
	ck_assert_str_eq(v[3].info, "Established");
	free(v);

	parse_protocols_file("show_protocols_bgp_down.txt", &v, &n);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(v[3].state, "start");
	ck_assert_str_eq(v[3].info, "Active        Received: Administrative shutdown");
	free(v);

	parse_protocols_file("show_protocols_bgp_disabled.txt", &v, &n);
	ck_assert_str_eq(v[3].state, "down");
	ck_assert_str_eq(v[3].info, "");
	free(v);
}
END_TEST

START_TEST(test_protocols_formats)
{
	struct bird_reply r;
	struct bird_protocol *v;
	size_t n;
	struct err e;
	/* `timeformat protocol iso long`: the since column has a space. */
	const char *iso = "2002-Name       Proto      Table      State  Since         Info\n"
			  "1002-isp        BGP        ---        up     2026-11-25 10:36:06  "
			  "Established   \n0000 \n";
	parse_chunked(iso, strlen(iso), 0, &r);
	ck_assert_int_eq(bird_parse_protocols(&r, &v, &n, &e), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(v[0].since, "2026-11-25 10:36:06");
	ck_assert_str_eq(v[0].info, "Established");
	free(v);
	bird_reply_free(&r);

	const char *few = "1002-isp BGP --- up\n0000 \n";
	parse_chunked(few, strlen(few), 0, &r);
	ck_assert_int_eq(bird_parse_protocols(&r, &v, &n, &e), -ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.msg, "fewer than 5 columns"));
	bird_reply_free(&r);

	char longname[200];
	snprintf(longname, sizeof longname, "1002-%070d BGP --- up 10:00:00.000 Established\n0000 \n", 7);
	parse_chunked(longname, strlen(longname), 0, &r);
	ck_assert_int_eq(bird_parse_protocols(&r, &v, &n, &e), -ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.msg, "too long"));
	bird_reply_free(&r);
}
END_TEST

/*
 * bird_command against a fake server on a temporary Unix socket
 */

struct exch {
	const char *cmd;     /* expected command line, without the newline */
	const char *reply;   /* bytes to send back (a file name if file is set) */
	int file;
};

enum after { AFTER_WAIT_EOF, AFTER_CLOSE };

struct fake {
	char dir[64];
	char path[128];
	int lfd;
	pthread_t th;
	const char *greeting;        /* NULL: none, just wait */
	const struct exch *ex;
	size_t n_ex;
	const char *partial;         /* sent instead of the last exchange's reply */
	enum after after;
	char bad[512];               /* what the server saw that it did not expect */
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	if (fd < 0) {
		snprintf(f->bad, sizeof f->bad, "accept: %s", strerror(errno));
		return NULL;
	}
	if (f->greeting)
		tu_write_all(fd, f->greeting, strlen(f->greeting));
	for (size_t i = 0; f->greeting && i < f->n_ex; i++) {
		char *line = tu_read_line(fd);
		if (!line) {
			snprintf(f->bad, sizeof f->bad, "EOF before command %zu", i);
			break;
		}
		if (strcmp(line, f->ex[i].cmd) != 0)
			snprintf(f->bad, sizeof f->bad, "got command '%s', want '%s'", line,
				 f->ex[i].cmd);
		free(line);
		if (i + 1 == f->n_ex && f->partial) {
			tu_write_all(fd, f->partial, strlen(f->partial));
			break;
		}
		if (f->ex[i].file) {
			size_t len;
			char *d = load(f->ex[i].reply, &len);
			tu_write_all(fd, d, len);
			free(d);
		} else {
			tu_write_all(fd, f->ex[i].reply, strlen(f->ex[i].reply));
		}
	}
	if (f->after == AFTER_WAIT_EOF) {
		char c;
		while (read(fd, &c, 1) > 0)
			;
	}
	close(fd);
	return NULL;
}

static void fake_start(struct fake *f)
{
	snprintf(f->dir, sizeof f->dir, "/tmp/routectl-test-bird-XXXXXX");
	ck_assert(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/bird.ctl", f->dir);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(f->lfd, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", f->path);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(f->lfd, 4), 0);
	ck_assert_int_eq(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	pthread_join(f->th, NULL);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	ck_assert_msg(f->bad[0] == '\0', "fake server: %s", f->bad);
}

#define GREETING "0001 BIRD 2.0.12 ready.\n"

static struct bird_conn *fake_open(struct fake *f)
{
	struct bird_conn *c = NULL;
	struct err e;
	int rc = bird_open(f->path, 2000, &c, &e);
	ck_assert_msg(rc == 0, "bird_open: %s", e.msg);
	ck_assert(bird_alive(c));
	return c;
}

START_TEST(test_cmd_ok)
{
	static const struct exch ex[] = {
		{ "show status", "show_status.txt", 1 },
		{ "show protocols", "show_protocols.txt", 1 },
	};
	struct fake f = { .greeting = GREETING, .ex = ex, .n_ex = 2 };
	fake_start(&f);
	struct bird_conn *c = fake_open(&f);
	ck_assert_str_eq(bird_version(c), "2.0.12");
	ck_assert_str_eq(bird_socket_path(c), f.path);
	ck_assert_int_ge(bird_fd(c), 0);
	struct bird_reply r;
	struct err e;
	ck_assert_int_eq(bird_command(c, "show status", 1000, &r, &e), 0);
	ck_assert_int_eq(r.code, 13);
	ck_assert_uint_eq(r.n_lines, 7);
	bird_reply_free(&r);
	struct bird_protocol *pv;
	size_t n;
	ck_assert_int_eq(bird_show_protocols(c, 1000, &pv, &n, &e), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(pv[3].info, "Established");
	free(pv);
	/* Commands that could smuggle a second line are refused unsent. */
	ck_assert_int_eq(bird_command(c, "show status\nconfigure", 1000, &r, &e), -ERR_INVALID);
	ck_assert_int_eq(bird_command(c, "", 1000, &r, &e), -ERR_INVALID);
	ck_assert(bird_alive(c));
	bird_close(c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_cmd_timeout)
{
	static const struct exch ex[] = { { "show status", NULL, 0 } };
	struct fake f = { .greeting = GREETING, .ex = ex, .n_ex = 1,
			  .partial = "1000-BIRD 2.0.12\n1011-Router" };
	fake_start(&f);
	struct bird_conn *c = fake_open(&f);
	struct bird_reply r;
	struct err e;
	int64_t t0 = now_ms();
	ck_assert_int_eq(bird_command(c, "show status", 200, &r, &e), -ERR_TIMEOUT);
	int64_t took = now_ms() - t0;
	ck_assert_int_ge(took, 190);
	ck_assert_int_lt(took, 2000);
	ck_assert_ptr_nonnull(strstr(e.msg, "show status"));
	ck_assert_ptr_nonnull(strstr(e.msg, f.path));
	/* The stream is out of sync: the connection is dead. */
	ck_assert(!bird_alive(c));
	ck_assert_int_eq(bird_fd(c), -1);
	ck_assert_int_eq(bird_command(c, "show status", 200, &r, &e), -ERR_CONNECT);
	ck_assert_uint_eq(r.n_lines, 0);
	bird_close(c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_cmd_peer_closes_mid_reply)
{
	static const struct exch ex[] = { { "show route export isp protocol routectl_v4 all",
					    NULL, 0 } };
	struct fake f = { .greeting = GREETING, .ex = ex, .n_ex = 1,
			  .partial = "1007-Table master4:\n 192.0.", .after = AFTER_CLOSE };
	fake_start(&f);
	struct bird_conn *c = fake_open(&f);
	struct bird_export *v;
	size_t n;
	struct err e;
	ck_assert_int_eq(bird_show_export(c, "isp", "routectl_v4", 1000, &v, &n, &e),
			 -ERR_CONNECT);
	ck_assert_ptr_nonnull(strstr(e.msg, "in the middle of the reply"));
	ck_assert(!bird_alive(c));
	bird_close(c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_cmd_peer_closes_before_reply)
{
	static const struct exch ex[] = { { "configure check", NULL, 0 } };
	struct fake f = { .greeting = GREETING, .ex = ex, .n_ex = 1, .partial = "",
			  .after = AFTER_CLOSE };
	fake_start(&f);
	struct bird_conn *c = fake_open(&f);
	struct err e;
	ck_assert_int_eq(bird_configure_check(c, 1000, &e), -ERR_CONNECT);
	ck_assert_ptr_nonnull(strstr(e.msg, "instead of the reply to 'configure check'"));
	ck_assert(!bird_alive(c));
	bird_close(c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_cmd_write_to_closed)
{
	struct fake f = { .greeting = GREETING, .after = AFTER_CLOSE };
	fake_start(&f);
	struct bird_conn *c = fake_open(&f);
	pthread_join(f.th, NULL);
	/* The peer is gone: either the write (EPIPE) or the read (EOF) fails,
	 * without a SIGPIPE. */
	struct bird_reply r;
	struct err e;
	ck_assert_int_eq(bird_command(c, "show status", 1000, &r, &e), -ERR_CONNECT);
	ck_assert(!bird_alive(c));
	bird_close(c);
	close(f.lfd);
	unlink(f.path);
	rmdir(f.dir);
}
END_TEST

START_TEST(test_cmd_protocol_error_kills)
{
	static const struct exch ex[] = { { "show status", "1000-BIRD\ngarbage\n", 0 } };
	struct fake f = { .greeting = GREETING, .ex = ex, .n_ex = 1 };
	fake_start(&f);
	struct bird_conn *c = fake_open(&f);
	struct bird_reply r;
	struct err e;
	ck_assert_int_eq(bird_command(c, "show status", 1000, &r, &e), -ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.msg, "reply to 'show status'"));
	ck_assert_ptr_nonnull(strstr(e.msg, "\"garbage\""));
	ck_assert(!bird_alive(c));
	bird_close(c);
	fake_stop(&f);
}
END_TEST

static int open_greeting(const char *greeting, int timeout_ms, enum after after, struct err *e)
{
	struct fake f = { .greeting = greeting, .after = after };
	fake_start(&f);
	struct bird_conn *c = NULL;
	int rc = bird_open(f.path, timeout_ms, &c, e);
	ck_assert(rc < 0 || c);
	bird_close(c);
	fake_stop(&f);
	return rc;
}

START_TEST(test_open_bad_greetings)
{
	struct err e;
	ck_assert_int_eq(open_greeting("HTTP/1.1 400 Bad Request\r\n\r\n", 1000, AFTER_WAIT_EOF, &e),
			 -ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.msg, "greeting"));
	ck_assert_int_eq(open_greeting("0001 Hello there\n", 1000, AFTER_WAIT_EOF, &e),
			 -ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.msg, "does not greet like BIRD"));
	ck_assert_int_eq(open_greeting("9999 BIRD 2.0.12 ready.\n", 1000, AFTER_WAIT_EOF, &e),
			 -ERR_PROTOCOL);
	ck_assert_int_eq(open_greeting("0001 BIRD ready.\n", 1000, AFTER_WAIT_EOF, &e),
			 -ERR_PROTOCOL);
	ck_assert_int_eq(open_greeting("0001-BIRD 2.0.12\n", 300, AFTER_WAIT_EOF, &e),
			 -ERR_TIMEOUT);
	ck_assert_int_eq(open_greeting(NULL, 300, AFTER_WAIT_EOF, &e), -ERR_TIMEOUT);
	ck_assert_ptr_nonnull(strstr(e.msg, "greeting"));
	ck_assert_int_eq(open_greeting("", 1000, AFTER_CLOSE, &e), -ERR_CONNECT);
	ck_assert_int_eq(open_greeting("0001 BIRD 2.0.12 ready.\n", 1000, AFTER_WAIT_EOF, &e), 0);
}
END_TEST

START_TEST(test_open_no_socket)
{
	struct bird_conn *c = (struct bird_conn *)1;
	struct err e;
	ck_assert_int_eq(bird_open("/nonexistent/routectl/bird.ctl", 500, &c, &e), -ERR_CONNECT);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/routectl/bird.ctl"));
	ck_assert_ptr_nonnull(strstr(e.msg, "No such file"));
	char longp[200];
	memset(longp, 'a', sizeof longp - 1);
	longp[sizeof longp - 1] = '\0';
	ck_assert_int_eq(bird_open(longp, 500, &c, &e), -ERR_INVALID);
}
END_TEST

START_TEST(test_open_backlog_full)
{
	/* Nobody accepts and the queue is full: connect says EAGAIN until the
	 * deadline. */
	char dir[] = "/tmp/routectl-test-bird-XXXXXX", path[128];
	ck_assert(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/bird.ctl", dir);
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(lfd, 0), 0);
	int fds[4], queued = 0;
	for (int i = 0; i < 4; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(fds[i], (struct sockaddr *)&sa, sizeof sa) == 0)
			queued++;
	}
	ck_assert_int_ge(queued, 1);
	struct bird_conn *c = NULL;
	struct err e;
	int64_t t0 = now_ms();
	ck_assert_int_eq(bird_open(path, 200, &c, &e), -ERR_TIMEOUT);
	ck_assert_int_ge(now_ms() - t0, 190);
	ck_assert_ptr_nonnull(strstr(e.msg, "listen queue"));
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	close(lfd);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_configure_replies)
{
	static const struct exch ex[] = {
		{ "configure check", "configure_check_ok.txt", 1 },
		{ "configure check", "configure_check_syntax_error.txt", 1 },
		{ "configure check", "configure_check_missing_include.txt", 1 },
		{ "configure timeout 30", "configure_timeout.txt", 1 },
		{ "configure confirm", "configure_confirm.txt", 1 },
		{ "configure confirm", "configure_confirm_nothing.txt", 1 },
		{ "configure undo", "configure_undo.txt", 1 },
		{ "configure undo", "configure_undo_nothing.txt", 1 },
		{ "configure undo", "configure_undo_in_progress.txt", 1 },
		{ "configure", "configure.txt", 1 },
		{ "configure", "configure_in_progress.txt", 1 },
		{ "configure", "configure_queued.txt", 1 },
		{ "configure", "0002-Reading configuration from x\n"
			       "0006 Reconfiguration ignored, shutting down\n", 0 },
		{ "configure", "configure_check_ok.txt", 1 },
		{ "configure timeout 5", "configure_check_syntax_error.txt", 1 },
		{ "show status", "show_status.txt", 1 },
		{ "frobnicate", "unknown_command.txt", 1 },
	};
	struct fake f = { .greeting = GREETING, .ex = ex, .n_ex = sizeof ex / sizeof ex[0] };
	fake_start(&f);
	struct bird_conn *c = fake_open(&f);
	struct err e;
	ck_assert_int_eq(bird_configure_check(c, 1000, &e), 0);
	ck_assert_int_eq(bird_configure_check(c, 1000, &e), -ERR_BIRD);
	ck_assert_str_eq(e.msg, "BIRD: /tmp/birdrec/bad.conf:5:1 syntax error, unexpected '}', "
				"expecting ';' or '{' (command 'configure check')");
	ck_assert_int_eq(bird_configure_check(c, 1000, &e), -ERR_BIRD);
	ck_assert_ptr_nonnull(strstr(e.msg, "BIRD: /tmp/birdrec/badinc.conf:2:10 Unable to open "
					    "included file /tmp/birdrec/missing.conf"));
	ck_assert_int_eq(bird_configure_timeout(c, 0, 1000, &e), -ERR_INVALID);
	ck_assert_int_eq(bird_configure_timeout(c, 30, 1000, &e), 0);
	ck_assert_int_eq(bird_configure_confirm(c, 1000, &e), 0);
	/* 0019: nothing was pending, the caller must not take it for confirmed. */
	ck_assert_int_eq(bird_configure_confirm(c, 1000, &e), BIRD_NOTHING_PENDING);
	ck_assert_int_eq(bird_configure_undo(c, 1000, &e), 0);
	ck_assert_int_eq(bird_configure_undo(c, 1000, &e), 0);
	ck_assert_int_eq(bird_configure_undo(c, 1000, &e), 0);
	ck_assert_int_eq(bird_configure(c, 1000, &e), 0);
	ck_assert_int_eq(bird_configure(c, 1000, &e), 0);     /* 0004 */
	ck_assert_int_eq(bird_configure(c, 1000, &e), 0);     /* 0005 */
	ck_assert_int_eq(bird_configure(c, 1000, &e), -ERR_BIRD);
	ck_assert_ptr_nonnull(strstr(e.msg, "BIRD: Reconfiguration ignored, shutting down"));
	ck_assert_int_eq(bird_configure(c, 1000, &e), -ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.msg, "0020 Configuration OK"));
	ck_assert_int_eq(bird_configure_timeout(c, 5, 1000, &e), -ERR_BIRD);
	ck_assert_ptr_nonnull(strstr(e.msg, "bad.conf:5:1"));
	ck_assert_int_eq(bird_wake(c, 1000, &e), 0);
	struct bird_reply r;
	ck_assert_int_eq(bird_command(c, "frobnicate", 1000, &r, &e), -ERR_BIRD);
	/* The reply is there too. */
	ck_assert_int_eq(r.code, 9001);
	ck_assert_str_eq(e.msg, "BIRD: syntax error, unexpected CF_SYM_UNDEFINED "
				"(command 'frobnicate')");
	bird_reply_free(&r);
	/* Not a protocol error: the connection is still good. */
	ck_assert(bird_alive(c));
	bird_close(c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_show_export_replies)
{
	static const struct exch ex[] = {
		{ "show route export isp protocol routectl_v4 all", "show_route_export_all.txt", 1 },
		{ "show route export isp protocol routectl_v4 all",
		  "show_route_export_bgp_down.txt", 1 },
		{ "show route export nosuch protocol routectl_v4 all",
		  "show_route_export_unknown_proto.txt", 1 },
		{ "show route export isp protocol nosuch all", "show_route_export_unknown_from.txt",
		  1 },
		{ "show route export routectl_export protocol routectl_v4 all",
		  "show_route_export_not_a_proto.txt", 1 },
		{ "show route export isp protocol routectl_v4 all", "show_route_count.txt", 1 },
		{ "show route export isp protocol routectl_v4 all",
		  "1007-garbage/99 blackhole\n0000 \n", 0 },
	};
	struct fake f = { .greeting = GREETING, .ex = ex, .n_ex = sizeof ex / sizeof ex[0] };
	fake_start(&f);
	struct bird_conn *c = fake_open(&f);
	struct bird_export *v;
	size_t n;
	struct err e;
	ck_assert_int_eq(bird_show_export(c, "isp", "routectl_v4", 1000, &v, &n, &e), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(v[1].first_asn_run, 2);
	free(v);
	ck_assert_int_eq(bird_show_export(c, "isp", "routectl_v4", 1000, &v, &n, &e),
			 -ERR_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(e.msg, "'isp' has no export channel up"));
	ck_assert_ptr_null(v);
	ck_assert_int_eq(bird_show_export(c, "nosuch", "routectl_v4", 1000, &v, &n, &e),
			 -ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(e.msg, "no protocol 'nosuch'"));
	ck_assert_int_eq(bird_show_export(c, "isp", "nosuch", 1000, &v, &n, &e), -ERR_INVALID);
	ck_assert_int_eq(bird_show_export(c, "routectl_export", "routectl_v4", 1000, &v, &n, &e),
			 -ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(e.msg, "not a protocol"));
	ck_assert_int_eq(bird_show_export(c, "isp", "routectl_v4", 1000, &v, &n, &e),
			 -ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.msg, "0014"));
	ck_assert_int_eq(bird_show_export(c, "isp", "routectl_v4", 1000, &v, &n, &e),
			 -ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.msg, "garbage/99"));
	/* Names are checked before anything is sent. */
	ck_assert_int_eq(bird_show_export(c, "isp all\nconfigure", "x", 1000, &v, &n, &e),
			 -ERR_INVALID);
	ck_assert_int_eq(bird_show_export(c, "1isp", "x", 1000, &v, &n, &e), -ERR_INVALID);
	ck_assert_int_eq(bird_show_export(c, "isp", "", 1000, &v, &n, &e), -ERR_INVALID);
	bird_close(c);
	fake_stop(&f);
}
END_TEST

/* `show protocols all`: Local AS and channels per protocol (BIRD 2.0.12). */
START_TEST(test_protocols_all)
{
	struct bird_protocol *v;
	size_t n;
	parse_protocols_file("show_protocols_all.txt", &v, &n);
	ck_assert_uint_eq(n, 6);
	ck_assert_str_eq(v[0].name, "routectl_v4");
	ck_assert_int_eq(v[0].has_local_as, 0);
	ck_assert_uint_eq(v[0].n_channels, 1);
	ck_assert_int_eq(v[0].channels[0].family, 4);
	ck_assert_uint_eq(v[2].n_channels, 0);   /* device1 */
	/* isp: one session, both families */
	ck_assert_str_eq(v[3].name, "isp");
	ck_assert_int_eq(v[3].has_local_as, 1);
	ck_assert_uint_eq(v[3].local_as, 65001);
	ck_assert_uint_eq(v[3].n_channels, 2);
	ck_assert_str_eq(bird_protocol_channel(&v[3], 4)->table, "master4");
	ck_assert_str_eq(bird_protocol_channel(&v[3], 4)->state, "UP");
	ck_assert_str_eq(bird_protocol_channel(&v[3], 6)->table, "master6");
	/* isp6: a native IPv6 session, IPv6 only */
	ck_assert_str_eq(v[4].name, "isp6");
	ck_assert_ptr_null(bird_protocol_channel(&v[4], 4));
	ck_assert_ptr_nonnull(bird_protocol_channel(&v[4], 6));
	/* bad: IPv4 only */
	ck_assert_str_eq(v[5].name, "bad");
	ck_assert_ptr_nonnull(bird_protocol_channel(&v[5], 4));
	ck_assert_ptr_null(bird_protocol_channel(&v[5], 6));
	free(v);

	parse_protocols_file("show_protocols_all_isp6.txt", &v, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(v[0].n_channels, 1);
	ck_assert_int_eq(v[0].channels[0].family, 6);
	free(v);

	/* A session that is down still lists its channels, DOWN. */
	parse_protocols_file("show_protocols_all_bgp_down.txt", &v, &n);
	ck_assert_str_eq(v[0].state, "start");
	ck_assert_uint_eq(v[0].local_as, 65001);
	ck_assert_str_eq(bird_protocol_channel(&v[0], 4)->state, "DOWN");
	free(v);
	parse_protocols_file("show_protocols_all_bgp_disabled.txt", &v, &n);
	ck_assert_str_eq(v[0].state, "down");
	ck_assert_str_eq(bird_protocol_channel(&v[0], 4)->state, "DOWN");
	free(v);

	/* BIRD's own AS is not the one routectl was told. */
	parse_protocols_file("show_protocols_all_other_as.txt", &v, &n);
	ck_assert_uint_eq(v[0].local_as, 64512);
	free(v);
}
END_TEST

static int parse_protocols_text(const char *text, struct bird_protocol **v, size_t *n,
				struct err *e)
{
	struct bird_reply r;
	parse_chunked(text, strlen(text), 0, &r);
	int rc = bird_parse_protocols(&r, v, n, e);
	bird_reply_free(&r);
	return rc;
}

START_TEST(test_protocols_all_bad)
{
	struct bird_protocol *v;
	size_t n;
	struct err e;
	ck_assert_int_eq(parse_protocols_text("1006-  Channel ipv4\n     Table: master4\n0000 \n",
					      &v, &n, &e), -ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.msg, "before any protocol row"));
	ck_assert_int_eq(parse_protocols_text("1002-x BGP --- up 10:00:00 Est\n"
					      "1006-  Local AS: 99999999999\n0000 \n",
					      &v, &n, &e), -ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.msg, "not an AS number"));
	ck_assert_int_eq(parse_protocols_text("1002-x BGP --- up 10:00:00 Est\n"
					      "1006-  Local AS: 65001x\n0000 \n",
					      &v, &n, &e), -ERR_PROTOCOL);
	ck_assert_int_eq(parse_protocols_text("1002-x BGP --- up 10:00:00 Est\n"
					      "1006-  Local AS:\n0000 \n", &v, &n, &e),
			 -ERR_PROTOCOL);
	ck_assert_int_eq(parse_protocols_text("1002-x BGP --- up 10:00:00 Est\n"
					      "1006-  Channel ipv4\n     Table: "
					      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
					      "aaaaaaaaaaaaaaaaaaaa\n0000 \n", &v, &n, &e),
			 -ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(e.msg, "too long"));
	ck_assert_int_eq(parse_protocols_text("1002-x BGP --- up 10:00:00 Est\n"
					      "1006-  Channel\n0000 \n", &v, &n, &e), 0);
	ck_assert_uint_eq(v[0].n_channels, 0);
	free(v);
	/* Channels of other types are not kept; one family is kept once. */
	ck_assert_int_eq(parse_protocols_text("1002-x BGP --- up 10:00:00 Est\n"
					      "1006-  Channel flow4\n     Table: flowtab4\n"
					      "   Channel ipv4\n     Table: t4\n     State: UP\n"
					      "   Channel ipv4\n     Table: other\n"
					      "   Channel ipv6\n     State: DOWN\n0000 \n",
					      &v, &n, &e), 0);
	ck_assert_uint_eq(v[0].n_channels, 2);
	ck_assert_str_eq(bird_protocol_channel(&v[0], 4)->table, "t4");
	ck_assert_str_eq(bird_protocol_channel(&v[0], 6)->state, "DOWN");
	ck_assert_str_eq(bird_protocol_channel(&v[0], 6)->table, "");
	free(v);
}
END_TEST

START_TEST(test_count)
{
	static const struct {
		const char *file;
		unsigned long want;
	} ok[] = {
		{ "show_route_export_count.txt", 2 },
		{ "show_route_export_count_two_tables.txt", 1 },
		{ "show_route_export_no_channel.txt", 0 },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		size_t len;
		char *data = load(ok[i].file, &len);
		struct bird_reply r;
		struct err e;
		parse_chunked(data, len, 0, &r);
		unsigned long n = 99;
		ck_assert_msg(bird_parse_count(&r, &n, &e) == 0, "%s: %s", ok[i].file, e.msg);
		ck_assert_uint_eq(n, ok[i].want);
		bird_reply_free(&r);
		free(data);
	}
	static const char *const bad[] = {
		"1007-12 of 3 routes for 2 networks in table master4\n0000 \n",
		"1007-x of 3 routes for 2 networks in table master4\n0000 \n",
		"1007-1 of 3 routes for 2 networks in table master4 extra\n0000 \n",
		"1007-Table master4:\n 192.0.2.0/24 blackhole\n0000 \n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct bird_reply r;
		struct err e;
		parse_chunked(bad[i], strlen(bad[i]), 0, &r);
		unsigned long n = 99;
		ck_assert_int_eq(bird_parse_count(&r, &n, &e), -ERR_PROTOCOL);
		ck_assert_ptr_nonnull(strstr(e.msg, "not a route count"));
		bird_reply_free(&r);
	}
}
END_TEST

START_TEST(test_error_file)
{
	char f[64];
	ck_assert_int_eq(bird_parse_error_file("/etc/bird/bird.conf:12:3 syntax error", f,
					       sizeof f), 1);
	ck_assert_str_eq(f, "/etc/bird/bird.conf");
	ck_assert_int_eq(bird_parse_error_file("/a:b/x.conf:4:1 syntax error, unexpected ':'", f,
					       sizeof f), 1);
	ck_assert_str_eq(f, "/a:b/x.conf");
	ck_assert_int_eq(bird_parse_error_file("/tmp/x/nonexistent-bird.conf: No such file or "
					       "directory", f, sizeof f), 1);
	ck_assert_str_eq(f, "/tmp/x/nonexistent-bird.conf");
	ck_assert_int_eq(bird_parse_error_file("Reconfiguration ignored, shutting down", f,
					       sizeof f), 0);
	ck_assert_str_eq(f, "");
	ck_assert_int_eq(bird_parse_error_file("syntax error, unexpected CF_SYM_UNDEFINED", f,
					       sizeof f), 0);
	ck_assert_int_eq(bird_parse_error_file(":1:2 x", f, sizeof f), 0);
	ck_assert_int_eq(bird_parse_error_file("/x.conf:1: x", f, sizeof f), 0);
	/* Does not fit: not cut. */
	ck_assert_int_eq(bird_parse_error_file("/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
					       "aaaaaaaaaaaaaaaaaaa.conf:1:1 x", f, sizeof f), 0);
	ck_assert_str_eq(f, "");
}
END_TEST

/* Busy BIRD, sentinels, counts and the file of a config error, over a socket. */
START_TEST(test_busy_and_prefix_replies)
{
	static const struct exch ex[] = {
		{ "show route export isp protocol routectl_v4 all", "show_route_busy.txt", 1 },
		{ "show route export isp protocol routectl_v4 all", "show_route_export_all.txt", 1 },
		{ "show route 240.0.0.1/32 export bad", "show_route_sentinel_export_bad.txt", 1 },
		{ "show route 240.0.0.1/32 export isp", "show_route_sentinel_export_isp.txt", 1 },
		{ "show route 100::1/128 export bad", "show_route_sentinel_no_channel.txt", 1 },
		{ "show route 240.0.0.1/32 protocol routectl_v4", "show_route_sentinel_present.txt",
		  1 },
		{ "show route 240.0.0.1/32 protocol routectl_v4", "show_route_prefix_not_found.txt",
		  1 },
		{ "show route export bad protocol routectl_v4 count", "show_route_export_count.txt",
		  1 },
		{ "show route export isp protocol routectl_v4 count",
		  "show_route_export_count_two_tables.txt", 1 },
		{ "show route export bad protocol routectl_v6 count",
		  "show_route_export_bgp_down.txt", 1 },
		{ "show protocols all", "show_route_busy.txt", 1 },
		{ "show protocols all", "show_protocols_all.txt", 1 },
		{ "configure timeout 30", "configure_timeout_queued.txt", 1 },
		{ "configure undo", "configure_undo_queued.txt", 1 },
		{ "configure timeout 30", "configure_check_syntax_error.txt", 1 },
		{ "configure timeout 30", "configure_missing_file.txt", 1 },
		{ "configure timeout 30", "configure_timeout.txt", 1 },
	};
	struct fake f = { .greeting = GREETING, .ex = ex, .n_ex = sizeof ex / sizeof ex[0] };
	fake_start(&f);
	struct bird_conn *c = fake_open(&f);
	struct bird_export *v;
	size_t n;
	struct err e;
	ck_assert_int_eq(bird_show_export(c, "isp", "routectl_v4", 1000, &v, &n, &e), -ERR_BUSY);
	ck_assert_ptr_nonnull(strstr(e.msg, "busy reconfiguring"));
	ck_assert_ptr_nonnull(strstr(e.msg, "8004 Stopped due to reconfiguration"));
	ck_assert(bird_alive(c));
	/* ... and the same question answers once BIRD is done. */
	ck_assert_int_eq(bird_show_export(c, "isp", "routectl_v4", 1000, &v, &n, &e), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(v[1].first_asn, 65001);
	free(v);
	int found = -1;
	ck_assert_int_eq(bird_prefix_exported(c, "240.0.0.1/32", "bad", 1000, &found, &e), 0);
	ck_assert_int_eq(found, 1);
	ck_assert_int_eq(bird_prefix_exported(c, "240.0.0.1/32", "isp", 1000, &found, &e), 0);
	ck_assert_int_eq(found, 0);
	ck_assert_int_eq(bird_prefix_exported(c, "100::1/128", "bad", 1000, &found, &e),
			 -ERR_NOTFOUND);
	ck_assert_int_eq(bird_prefix_present(c, "240.0.0.1/32", "routectl_v4", 1000, &found, &e),
			 0);
	ck_assert_int_eq(found, 1);
	/* An include without the sentinel: no such net at all (8001). */
	ck_assert_int_eq(bird_prefix_present(c, "240.0.0.1/32", "routectl_v4", 1000, &found, &e),
			 0);
	ck_assert_int_eq(found, 0);
	unsigned long cnt = 0;
	ck_assert_int_eq(bird_export_count(c, "bad", "routectl_v4", 1000, &cnt, &e), 0);
	ck_assert_uint_eq(cnt, 2);
	ck_assert_int_eq(bird_export_count(c, "isp", "routectl_v4", 1000, &cnt, &e), 0);
	ck_assert_uint_eq(cnt, 1);
	ck_assert_int_eq(bird_export_count(c, "bad", "routectl_v6", 1000, &cnt, &e), -ERR_NOTFOUND);
	struct bird_protocol *pv;
	ck_assert_int_eq(bird_show_protocols_all(c, 1000, &pv, &n, &e), -ERR_BUSY);
	ck_assert_int_eq(bird_show_protocols_all(c, 1000, &pv, &n, &e), 0);
	ck_assert_uint_eq(n, 6);
	free(pv);
	/* 0005: queued behind a reconfiguration in progress; still taken. */
	ck_assert_int_eq(bird_configure_timeout(c, 30, 1000, &e), 0);
	ck_assert_int_eq(bird_configure_undo(c, 1000, &e), 0);   /* 0017 */
	ck_assert_int_eq(bird_configure_timeout(c, 30, 1000, &e), -ERR_BIRD);
	ck_assert_str_eq(bird_error_file(c), "/tmp/birdrec/bad.conf");
	ck_assert_int_eq(bird_configure_timeout(c, 30, 1000, &e), -ERR_BIRD);
	ck_assert_str_eq(bird_error_file(c), "/tmp/contract-rec/nonexistent-bird.conf");
	ck_assert_int_eq(bird_configure_timeout(c, 30, 1000, &e), 0);
	ck_assert_str_eq(bird_error_file(c), "");
	/* Bad input is refused before anything is sent. */
	ck_assert_int_eq(bird_prefix_exported(c, "240.0.0.1/24", "isp", 1000, &found, &e),
			 -ERR_INVALID);
	ck_assert_int_eq(bird_prefix_exported(c, "240.0.0.1/32 all", "isp", 1000, &found, &e),
			 -ERR_INVALID);
	ck_assert_int_eq(bird_prefix_present(c, "240.0.0.1/32", "x;y", 1000, &found, &e),
			 -ERR_INVALID);
	ck_assert_int_eq(bird_export_count(c, "isp count", "routectl_v4", 1000, &cnt, &e),
			 -ERR_INVALID);
	bird_close(c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_read_idle)
{
	struct fake f = { .greeting = GREETING "+Config timeout expired, starting undo\n",
			  .after = AFTER_CLOSE };
	static const struct exch ex[] = { { "show status", "show_status.txt", 1 } };
	f.ex = ex;
	f.n_ex = 1;
	fake_start(&f);
	struct bird_conn *c = fake_open(&f);
	struct err e;
	/* The asynchronous line may have come with the greeting or after it. */
	ck_assert_int_eq(bird_read_idle(c, &e), 0);
	ck_assert(bird_alive(c));
	struct bird_reply r;
	ck_assert_int_eq(bird_command(c, "show status", 1000, &r, &e), 0);
	ck_assert_int_eq(r.code, 13);
	bird_reply_free(&r);
	pthread_join(f.th, NULL);
	/* The server has closed: idle reading sees it. */
	int rc = bird_read_idle(c, &e);
	ck_assert_int_eq(rc, -ERR_CONNECT);
	ck_assert(!bird_alive(c));
	bird_close(c);
	close(f.lfd);
	unlink(f.path);
	rmdir(f.dir);
}
END_TEST

/*
 * A real BIRD
 */

static const char *find_bird(void)
{
	static char found[4096];
	const char *path = getenv("PATH");
	char *dirs = strdup(path ? path : "");
	char *save = NULL;
	const char *hit = NULL;
	char *all = NULL;
	if (asprintf(&all, "%s:/usr/sbin:/usr/local/sbin:/sbin", dirs) < 0)
		abort();
	for (char *d = strtok_r(all, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(found, sizeof found, "%s/bird", d);
		if (access(found, X_OK) == 0) {
			hit = found;
			break;
		}
	}
	free(all);
	free(dirs);
	return hit;
}

static pid_t start_bird(const char *bird, const char *dir, const char *name)
{
	char conf[512], sock[512], pidf[512];
	snprintf(conf, sizeof conf, "%s/%s.conf", dir, name);
	snprintf(sock, sizeof sock, "%s/%s.ctl", dir, name);
	snprintf(pidf, sizeof pidf, "%s/%s.pid", dir, name);
	pid_t parent = getpid();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* BIRD goes with the test process, even if an assertion ends it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		execl(bird, bird, "-f", "-c", conf, "-s", sock, "-P", pidf, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void stop_bird(pid_t pid)
{
	kill(pid, SIGTERM);
	int st;
	waitpid(pid, &st, 0);
}

static struct bird_conn *open_retry(const char *sock)
{
	struct bird_conn *c = NULL;
	struct err e;
	for (int i = 0; i < 100; i++) {
		if (bird_open(sock, 1000, &c, &e) == 0)
			return c;
		usleep(50 * 1000);
	}
	ck_abort_msg("cannot reach BIRD at %s: %s", sock, e.msg);
	return NULL;
}

static const char routectl_conf_fmt[] =
	"# generated\n"
	"protocol static routectl_v4 {\n"
	"\tipv4;\n"
	"\troute 192.0.2.0/24 blackhole;\n"
	"\troute 198.51.100.0/24 blackhole;\n"
	"}\n"
	"protocol static routectl_v6 {\n"
	"\tipv6;\n"
	"\troute 2001:db8:1::/48 blackhole;\n"
	"}\n"
	"function routectl_export() {\n"
	"\tif net ~ [198.51.100.0/24] then {\n"
	"%s"
	"\t}\n"
	"\tif net ~ [2001:db8:1::/48] then reject;\n"
	"}\n";

static void write_routectl_conf(const char *dir, unsigned prepends)
{
	char body[512] = "", text[2048];
	for (unsigned i = 0; i < prepends; i++)
		strcat(body, "\t\tbgp_path.prepend(65001);\n");
	snprintf(text, sizeof text, routectl_conf_fmt, body);
	tu_write_file(dir, "routectl.conf", text);
}

START_TEST(test_real_bird)
{
	const char *bird = find_bird();
	if (!bird) {
		printf("SKIP test_real_bird: the bird binary (Debian package bird2) is not "
		       "installed\n");
		return;
	}
	char dir[] = "/tmp/routectl-test-bird-XXXXXX";
	ck_assert(mkdtemp(dir));
	/* Loopback addresses and ports of our own, so that parallel runs do
	 * not meet. */
	unsigned tag = (unsigned)getpid();
	unsigned a = 100 + tag % 100, b = (tag / 100) % 250 + 1;
	unsigned port = 20000 + tag % 20000;
	char site[2048], isp[1024], text[4096];
	snprintf(site, sizeof site,
		 "router id 10.255.0.1;\n"
		 "log \"%s/site.log\" all;\n"
		 "include \"%s/routectl.conf\";\n"
		 "protocol bgp isp {\n"
		 "\tlocal 127.%u.%u.1 port %u as 65001;\n"
		 "\tneighbor 127.%u.%u.2 port %u as 65000;\n"
		 "\tmultihop;\n\tstrict bind yes;\n"
		 "\tconnect delay time 1;\n\tconnect retry time 1;\n"
		 "\tipv4 { import none; export filter { if proto = \"routectl_v4\" then "
		 "{ routectl_export(); accept; } reject; }; };\n"
		 "\tipv6 { import none; export filter { if proto = \"routectl_v6\" then "
		 "{ routectl_export(); bgp_next_hop = 2001:db8:ffff::1; accept; } reject; }; };\n"
		 "}\n", dir, dir, a, b, port, a, b, port + 1);
	snprintf(isp, sizeof isp,
		 "router id 10.255.0.2;\n"
		 "log \"%s/isp.log\" all;\n"
		 "protocol bgp site {\n"
		 "\tlocal 127.%u.%u.2 port %u as 65000;\n"
		 "\tneighbor 127.%u.%u.1 port %u as 65001;\n"
		 "\tmultihop;\n\tstrict bind yes;\n"
		 "\tconnect delay time 1;\n\tconnect retry time 1;\n"
		 "\tipv4 { import all; export none; };\n"
		 "\tipv6 { import all; export none; };\n"
		 "}\n", dir, a, b, port + 1, a, b, port);
	tu_write_file(dir, "site.conf", site);
	tu_write_file(dir, "isp.conf", isp);
	write_routectl_conf(dir, 2);

	pid_t isp_pid = start_bird(bird, dir, "isp");
	pid_t site_pid = start_bird(bird, dir, "site");
	char sock[512];
	snprintf(sock, sizeof sock, "%s/site.ctl", dir);
	struct bird_conn *c = open_retry(sock);
	struct err e;
	struct bird_reply r;
	ck_assert_msg(strncmp(bird_version(c), "2.", 2) == 0, "version %s", bird_version(c));

	ck_assert_int_eq(bird_command(c, "show status", 2000, &r, &e), 0);
	ck_assert_int_eq(r.code, 13);
	ck_assert_str_eq(r.lines[1].text, "Router ID is 10.255.0.1");
	bird_reply_free(&r);
	ck_assert_int_eq(bird_wake(c, 2000, &e), 0);
	ck_assert_msg(bird_configure_check(c, 2000, &e) == 0, "%s", e.msg);

	/* A protocol that is down gives -ERR_NOTFOUND, an unknown one -ERR_INVALID. */
	struct bird_export *v;
	size_t n;
	ck_assert_int_eq(bird_command(c, "disable isp", 2000, &r, &e), 0);
	bird_reply_free(&r);
	ck_assert_int_eq(bird_show_export(c, "isp", "routectl_v4", 2000, &v, &n, &e),
			 -ERR_NOTFOUND);
	ck_assert_int_eq(bird_show_export(c, "nosuch", "routectl_v4", 2000, &v, &n, &e),
			 -ERR_INVALID);
	ck_assert_int_eq(bird_command(c, "enable isp", 2000, &r, &e), 0);
	bird_reply_free(&r);

	/* Until the session is up. */
	int up = 0;
	for (int i = 0; i < 300 && !up; i++) {
		struct bird_protocol *pv;
		ck_assert_msg(bird_show_protocols(c, 2000, &pv, &n, &e) == 0, "%s", e.msg);
		for (size_t k = 0; k < n; k++)
			if (strcmp(pv[k].name, "isp") == 0 && strcmp(pv[k].state, "up") == 0 &&
			    strcmp(pv[k].info, "Established") == 0)
				up = 1;
		free(pv);
		if (!up)
			usleep(50 * 1000);
	}
	ck_assert_msg(up, "BGP session isp did not come up in 15 s");

	ck_assert_msg(bird_show_export(c, "isp", "routectl_v4", 2000, &v, &n, &e) == 0, "%s",
		      e.msg);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(v[0].prefix.text, "192.0.2.0/24");
	ck_assert_uint_eq(v[0].path_len, 0);
	ck_assert_str_eq(v[1].prefix.text, "198.51.100.0/24");
	ck_assert_uint_eq(v[1].path_len, 2);
	ck_assert_uint_eq(v[1].first_asn_run, 2);
	free(v);
	/* The only IPv6 route is rejected by the export function. */
	ck_assert_int_eq(bird_show_export(c, "isp", "routectl_v6", 2000, &v, &n, &e), 0);
	ck_assert_uint_eq(n, 0);
	free(v);
	/* The running function itself gives the same answer, peer or not. */
	ck_assert_msg(bird_show_through_function(c, "routectl_v4", "routectl_export", 2000, &v,
						 &n, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(v[0].path_len, 0);
	ck_assert_uint_eq(v[1].path_len, 2);
	free(v);
	ck_assert_int_eq(bird_show_through_function(c, "routectl_v6", "routectl_export", 2000, &v,
						    &n, &e), 0);
	ck_assert_uint_eq(n, 0);
	free(v);
	ck_assert_int_eq(bird_show_through_function(c, "routectl_v4", "nosuch", 2000, &v, &n, &e),
			 -ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(e.msg, "function 'nosuch'"));
	ck_assert_int_eq(bird_show_through_function(c, "routectl_v4", "f(); configure", 2000, &v,
						    &n, &e), -ERR_INVALID);

	/* A broken include: -ERR_BIRD naming the file and line. */
	snprintf(text, sizeof text, "protocol static routectl_v4 {\n\tipv4;\n\troute 192.0.2.0/24 "
		 "blackhole\n}\n");
	tu_write_file(dir, "routectl.conf", text);
	ck_assert_int_eq(bird_configure_check(c, 2000, &e), -ERR_BIRD);
	char want[600];
	snprintf(want, sizeof want, "BIRD: %s/routectl.conf:4:1 syntax error", dir);
	ck_assert_msg(strncmp(e.msg, want, strlen(want)) == 0, "message: %s", e.msg);
	ck_assert_int_eq(bird_configure(c, 2000, &e), -ERR_BIRD);
	ck_assert_ptr_nonnull(strstr(e.msg, "routectl.conf:4:1"));
	ck_assert(bird_alive(c));

	/* Apply with an undo timer, confirm, undo. */
	write_routectl_conf(dir, 4);
	ck_assert_msg(bird_configure_check(c, 2000, &e) == 0, "%s", e.msg);
	ck_assert_msg(bird_configure_timeout(c, 30, 2000, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(bird_show_export(c, "isp", "routectl_v4", 2000, &v, &n, &e), 0);
	ck_assert_uint_eq(v[1].path_len, 4);
	ck_assert_uint_eq(v[1].first_asn_run, 4);
	ck_assert_uint_eq(v[1].first_asn, 65001);
	free(v);
	/* The protocol's details: its Local AS and both families. */
	struct bird_protocol *pa;
	ck_assert_msg(bird_show_protocols_all(c, 2000, &pa, &n, &e) == 0, "%s", e.msg);
	const struct bird_protocol *isp_p = NULL;
	for (size_t k = 0; k < n; k++)
		if (strcmp(pa[k].name, "isp") == 0)
			isp_p = &pa[k];
	ck_assert_ptr_nonnull(isp_p);
	ck_assert_int_eq(isp_p->has_local_as, 1);
	ck_assert_uint_eq(isp_p->local_as, 65001);
	ck_assert_ptr_nonnull(bird_protocol_channel(isp_p, 4));
	ck_assert_ptr_nonnull(bird_protocol_channel(isp_p, 6));
	free(pa);
	int found = -1;
	ck_assert_int_eq(bird_prefix_present(c, "192.0.2.0/24", "routectl_v4", 2000, &found, &e),
			 0);
	ck_assert_int_eq(found, 1);
	ck_assert_int_eq(bird_prefix_exported(c, "203.0.113.0/24", "isp", 2000, &found, &e), 0);
	ck_assert_int_eq(found, 0);
	unsigned long cnt = 0;
	ck_assert_msg(bird_export_count(c, "isp", "routectl_v4", 2000, &cnt, &e) == 0, "%s",
		      e.msg);
	ck_assert_uint_eq(cnt, 2);
	ck_assert_msg(bird_configure_confirm(c, 2000, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(bird_configure_confirm(c, 2000, &e), BIRD_NOTHING_PENDING);
	ck_assert_msg(bird_configure_undo(c, 2000, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(bird_show_export(c, "isp", "routectl_v4", 2000, &v, &n, &e), 0);
	ck_assert_uint_eq(v[1].path_len, 2);
	free(v);
	ck_assert_msg(bird_configure_undo(c, 2000, &e) == 0, "%s", e.msg);

	bird_close(c);
	stop_bird(site_pid);
	stop_bird(isp_pid);
	const char *names[] = { "site.conf", "isp.conf", "routectl.conf", "site.log", "isp.log",
				"site.pid", "isp.pid", "site.ctl", "isp.ctl" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char p[600];
		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		unlink(p);
	}
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *bird_suite(void)
{
	Suite *s = suite_create("bird");
	TCase *t = tcase_create("parser");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, test_transcripts_all_chunkings);
	tcase_add_test(t, test_transcript_show_status);
	tcase_add_test(t, test_transcript_config_error);
	tcase_add_test(t, test_async_line_skipped);
	tcase_add_test(t, test_two_replies_in_one_buffer);
	tcase_add_test(t, test_bad_lines);
	tcase_add_test(t, test_continuation_after_final);
	tcase_add_test(t, test_line_length_bound);
	tcase_add_test(t, test_eof_mid_reply);
	tcase_add_test(t, test_too_many_lines);
	tcase_add_test(t, test_too_many_bytes);
	suite_add_tcase(s, t);

	t = tcase_create("parse");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, test_export_small);
	tcase_add_test(t, test_export_big);
	tcase_add_test(t, test_export_two_routes_one_net);
	tcase_add_test(t, test_export_as_paths);
	tcase_add_test(t, test_export_bad);
	tcase_add_test(t, test_export_speed);
	tcase_add_test(t, test_protocols);
	tcase_add_test(t, test_protocols_formats);
	tcase_add_test(t, test_protocols_all);
	tcase_add_test(t, test_protocols_all_bad);
	tcase_add_test(t, test_count);
	tcase_add_test(t, test_error_file);
	suite_add_tcase(s, t);

	t = tcase_create("socket");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, test_cmd_ok);
	tcase_add_test(t, test_cmd_timeout);
	tcase_add_test(t, test_cmd_peer_closes_mid_reply);
	tcase_add_test(t, test_cmd_peer_closes_before_reply);
	tcase_add_test(t, test_cmd_write_to_closed);
	tcase_add_test(t, test_cmd_protocol_error_kills);
	tcase_add_test(t, test_open_bad_greetings);
	tcase_add_test(t, test_open_no_socket);
	tcase_add_test(t, test_open_backlog_full);
	tcase_add_test(t, test_configure_replies);
	tcase_add_test(t, test_show_export_replies);
	tcase_add_test(t, test_busy_and_prefix_replies);
	tcase_add_test(t, test_read_idle);
	suite_add_tcase(s, t);

	t = tcase_create("real_bird");
	tcase_set_timeout(t, 90);
	tcase_add_test(t, test_real_bird);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_run_suite(bird_suite());
}
