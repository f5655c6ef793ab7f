/* Unit tests of the token file (routectl/conf/tokens.c), the request
 * accessors (routectl/api/http_request.c) and authentication
 * (routectl/api/auth.c): good and bad token files with their messages,
 * tokens_new then tokens_load, constant-time matching of secrets, the
 * console's roles from peer credentials, bearer tokens over TCP, and a
 * reload that keeps the old tokens when the new file is broken. Token files
 * are written to a fresh temp directory per test. */
#include "api/auth.h"
#include "api/http.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "conf/tokens.h"
#include "testutil.h"

#include <check.h>
#include <grp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static char path[512];   /* dir/tokens */

static void setup(void)
{
	ck_assert_int_ge(sodium_init(), 0);
	tu_make_tmpdir(dir, sizeof dir, "routectl-auth");
	snprintf(path, sizeof path, "%s/tokens", dir);
}

static void teardown(void)
{
	tu_remove_tree(dir);
}

/* Writes len bytes of text to path with mode (replacing it). */
static void write_raw(const char *text, size_t len, mode_t mode)
{
	struct err e = { 0 };
	ck_assert_msg(fs_write_atomic(path, text, len, mode, &e) == 0, "%s", e.msg);
	/* fs_write_atomic's mode passes through the umask; set it exactly */
	ck_assert_int_eq(chmod(path, mode), 0);
}

static void write_tokens(const char *text)
{
	write_raw(text, strlen(text), 0600);
}

/* "sha256:" and the hex of SHA-256(secret), into out (at least 72 bytes). */
static void hash_field(const char *secret, char *out)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)secret, strlen(secret));
	memcpy(out, "sha256:", 7);
	sodium_bin2hex(out + 7, 65, h, sizeof h);
}

/* "NAME ROLE sha256:HEX\n" for secret, appended to b (size bytes). */
static void add_line(char *b, size_t size, const char *name, const char *role,
		     const char *secret)
{
	char h[80];
	hash_field(secret, h);
	size_t used = strlen(b);
	snprintf(b + used, size - used, "%s %s %s\n", name, role, h);
}

static const struct token *match(const struct token_set *s, const char *secret)
{
	return tokens_match(s, secret, strlen(secret));
}

/* ------------------------------------------------------------ token file */

START_TEST(roles_by_name)
{
	enum role r;
	ck_assert_str_eq(role_name(ROLE_NONE), "none");
	ck_assert_str_eq(role_name(ROLE_VIEWER), "viewer");
	ck_assert_str_eq(role_name(ROLE_OPERATOR), "operator");
	ck_assert_str_eq(role_name(ROLE_ADMIN), "admin");
	ck_assert_int_eq(role_parse("viewer", &r), 0);
	ck_assert_int_eq(r, ROLE_VIEWER);
	ck_assert_int_eq(role_parse("operator", &r), 0);
	ck_assert_int_eq(r, ROLE_OPERATOR);
	ck_assert_int_eq(role_parse("admin", &r), 0);
	ck_assert_int_eq(r, ROLE_ADMIN);
	ck_assert_int_eq(role_parse("none", &r), -ERR_INVALID);
	ck_assert_int_eq(role_parse("Admin", &r), -ERR_INVALID);
	ck_assert_int_eq(role_parse("admins", &r), -ERR_INVALID);
	ck_assert_int_eq(role_parse("", &r), -ERR_INVALID);
}
END_TEST

START_TEST(names_checked)
{
	struct err e;
	ck_assert_int_eq(tokens_check_name("chatops", &e), 0);
	ck_assert_int_eq(tokens_check_name("a", &e), 0);
	ck_assert_int_eq(tokens_check_name("9bot_v2.prod@ash-1", &e), 0);
	char longest[TOKEN_NAME_MAX + 2];
	memset(longest, 'n', TOKEN_NAME_MAX);
	longest[TOKEN_NAME_MAX] = '\0';
	ck_assert_int_eq(tokens_check_name(longest, &e), 0);

	longest[TOKEN_NAME_MAX] = 'n';
	longest[TOKEN_NAME_MAX + 1] = '\0';
	ck_assert_int_eq(tokens_check_name(longest, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "longer than 64"), "%s", e.msg);
	ck_assert_int_eq(tokens_check_name("", &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "empty"), "%s", e.msg);
	ck_assert_int_eq(tokens_check_name("-x", &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "\"-x\" must start with a letter or a digit"), "%s", e.msg);
	ck_assert_int_eq(tokens_check_name("a b", &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "contains ' '"), "%s", e.msg);
	ck_assert_int_eq(tokens_check_name("a/b", &e), -ERR_INVALID);
	ck_assert_int_eq(tokens_check_name("a\nb", &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "0x0a"), "%s", e.msg);
	ck_assert_int_eq(tokens_check_name("caf\xc3\xa9", &e), -ERR_INVALID);
}
END_TEST

START_TEST(good_file)
{
	char text[4096] = "# routectl tokens\n\n   \n";
	add_line(text, sizeof text, "chatops", "operator", "secret-one");
	strcat(text, "  # indented comment\n");
	/* tabs and several spaces between fields, blanks around the line */
	char h[80];
	hash_field("secret-two", h);
	snprintf(text + strlen(text), sizeof text - strlen(text), "\tviewer-1 \t viewer   %s  \n", h);
	/* upper-case hex is the same hash */
	hash_field("secret-three", h);
	for (char *p = h + 7; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	snprintf(text + strlen(text), sizeof text - strlen(text), "root@ash admin %s", h);
	/* no newline at the end of the last line */
	write_tokens(text);

	struct token_set s;
	struct err e;
	ck_assert_msg(tokens_load(path, &s, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_str_eq(s.v[0].name, "chatops");
	ck_assert_int_eq(s.v[0].role, ROLE_OPERATOR);
	ck_assert_str_eq(s.v[1].name, "viewer-1");
	ck_assert_int_eq(s.v[1].role, ROLE_VIEWER);
	ck_assert_str_eq(s.v[2].name, "root@ash");
	ck_assert_int_eq(s.v[2].role, ROLE_ADMIN);

	ck_assert_ptr_eq(match(&s, "secret-one"), &s.v[0]);
	ck_assert_ptr_eq(match(&s, "secret-two"), &s.v[1]);
	ck_assert_ptr_eq(match(&s, "secret-three"), &s.v[2]);
	ck_assert_ptr_null(match(&s, "secret-four"));
	tokens_free(&s);
	ck_assert_ptr_null(s.v);
	ck_assert_uint_eq(s.n, 0);

	/* an empty file (or only comments) has no tokens, and that is fine */
	write_tokens("# nobody yet\n");
	ck_assert_msg(tokens_load(path, &s, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(s.n, 0);
	ck_assert_ptr_null(match(&s, "secret-one"));
	tokens_free(&s);

	/* readable by the group is fine: only writing decides who is admin */
	write_raw(text, strlen(text), 0644);
	ck_assert_msg(tokens_load(path, &s, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(s.n, 3);
	tokens_free(&s);
}
END_TEST

/* A refused load: nothing returned, every line of the message names the
 * file, and each of want appears. */
static void expect_refused(int want_rc, const char *label, const char *const *want)
{
	struct token_set s = { (struct token *)1, 99 };
	struct err e;
	int rc = tokens_load(path, &s, &e);
	ck_assert_msg(rc == want_rc, "%s: rc %d, not %d (%s)", label, rc, want_rc, e.msg);
	ck_assert_ptr_null(s.v);
	ck_assert_uint_eq(s.n, 0);
	char head[600];
	snprintf(head, sizeof head, "token file %s: ", path);
	tu_assert_message(label, e.msg, head, want);
}

#define REFUSED(label, ...) \
	expect_refused(-ERR_INVALID, label, (const char *const[]){ __VA_ARGS__, NULL })

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* Each kind of bad line, on line 2 after a good one (line 1). */
static const struct bad_line {
	const char *line;
	const char *want;
} bad_lines[] = {
	{ "bob viewer", "line 2: expected NAME ROLE sha256:HEX, found 2 fields" },
	{ "bob", "line 2: expected NAME ROLE sha256:HEX, found 1 field" },
	{ "bob viewer sha256:" H64 " extra", "line 2: expected NAME ROLE sha256:HEX, found 4 fields" },
	{ "_bob viewer sha256:" H64, "line 2: token name \"_bob\" must start with a letter or a digit" },
	{ "bo!b viewer sha256:" H64, "line 2: token name \"bo!b\" contains '!'" },
	{ "b\xc3\xb6 viewer sha256:" H64, "line 2: token name \"b??\" contains the byte 0xc3" },
	{ "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb viewer sha256:" H64,
	  "line 2: token name \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb...\" "
	  "is longer than 64 characters" },
	{ "bob root sha256:" H64, "line 2: unknown role \"root\" (viewer, operator or admin)" },
	{ "bob none sha256:" H64, "line 2: unknown role \"none\"" },
	{ "bob Viewer sha256:" H64, "line 2: unknown role \"Viewer\"" },
	{ "bob viewer " H64, "line 2: hash \"" H64 "\" does not start with sha256:" },
	{ "bob viewer SHA256:" H64, "does not start with sha256:" },
	{ "bob viewer sha256:0123", "line 2: hash \"sha256:0123\" is not sha256: and 64 hex digits" },
	{ "bob viewer sha256:" H64 "00", "line 2: hash \"sha256:" },
	{ "bob viewer sha256:g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	  "is not sha256: and 64 hex digits" },
	{ "bob viewer sha256:" H64 "\r", "line 2: contains a carriage return" },
	{ "bob viewer\x01 sha256:" H64, "line 2: contains the control character 0x01" },
};

START_TEST(bad_line_kinds)
{
	const struct bad_line *b = &bad_lines[_i];
	char text[1024] = "";
	add_line(text, sizeof text, "alice", "admin", "secret-alice");
	snprintf(text + strlen(text), sizeof text - strlen(text), "%s\n# after\n", b->line);
	write_tokens(text);
	char label[32];
	snprintf(label, sizeof label, "bad line %d", _i);
	REFUSED(label, b->want);
}
END_TEST

START_TEST(nul_byte_is_a_bad_line)
{
	char text[512] = "";
	add_line(text, sizeof text, "alice", "admin", "secret-alice");
	size_t len = strlen(text);
	static const char tail[] = "bob\0viewer sha256:" H64 "\n";
	memcpy(text + len, tail, sizeof tail - 1);
	write_raw(text, len + sizeof tail - 1, 0600);
	REFUSED("NUL", "line 2: contains the control character 0x00");
}
END_TEST

START_TEST(every_bad_line_is_named)
{
	char text[8192] = "";
	strcat(text, "alice viewer\n");
	add_line(text, sizeof text, "bob", "viewer", "secret-bob");
	strcat(text, "carol boss sha256:" H64 "\n");
	write_tokens(text);
	REFUSED("two bad lines", "line 1: expected NAME ROLE", "line 3: unknown role \"boss\"");

	/* many: the first are shown, the rest counted */
	text[0] = '\0';
	for (int i = 0; i < 30; i++)
		strcat(text, "x\n");
	write_tokens(text);
	REFUSED("thirty bad lines", "line 1: ", "line 20: ", "10 more errors not shown");
	struct token_set s;
	struct err e;
	tokens_load(path, &s, &e);
	ck_assert_msg(!strstr(e.msg, "line 21:"), "%s", e.msg);
}
END_TEST

START_TEST(duplicates_refused)
{
	char text[2048] = "";
	add_line(text, sizeof text, "alice", "admin", "secret-alice");
	add_line(text, sizeof text, "bob", "viewer", "secret-bob");
	add_line(text, sizeof text, "alice", "viewer", "secret-other");
	write_tokens(text);
	REFUSED("duplicate name", "line 3: token name \"alice\" is already used on line 1");

	text[0] = '\0';
	add_line(text, sizeof text, "alice", "admin", "secret-alice");
	add_line(text, sizeof text, "bob", "viewer", "secret-bob");
	add_line(text, sizeof text, "carol", "viewer", "secret-alice");
	add_line(text, sizeof text, "dave", "viewer", "secret-alice");
	write_tokens(text);
	REFUSED("duplicate hash",
		"line 3: the hash of token \"carol\" is the hash of \"alice\" on line 1",
		"line 4: the hash of token \"dave\" is the hash of \"alice\" on line 1");
}
END_TEST

START_TEST(writable_by_others_refused)
{
	char text[512] = "";
	add_line(text, sizeof text, "alice", "admin", "secret-alice");

	write_raw(text, strlen(text), 0620);
	REFUSED("group-writable", "writable by its group (mode 0620)", "chmod go-w");
	write_raw(text, strlen(text), 0602);
	REFUSED("world-writable", "writable by others (mode 0602)");
	write_raw(text, strlen(text), 0666);
	REFUSED("0666", "writable by its group (mode 0666)");
}
END_TEST

START_TEST(missing_and_not_regular)
{
	expect_refused(-ERR_NOTFOUND, "missing",
		       (const char *const[]){ "no such file", NULL });
	ck_assert_int_eq(mkdir(path, 0700), 0);
	REFUSED("directory", "not a regular file");
	ck_assert_int_eq(rmdir(path), 0);

	/* a large file is not read at all (sparse: no disk used) */
	write_tokens("");
	FILE *f = fopen(path, "r+");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(ftruncate(fileno(f), (off_t)17 << 20), 0);
	fclose(f);
	REFUSED("large", "17825792 bytes, more than 16777216");
}
END_TEST

START_TEST(parse_in_memory)
{
	char text[512] = "";
	add_line(text, sizeof text, "alice", "admin", "secret-alice");
	size_t len = strlen(text);
	struct token_set s;
	struct err e;
	ck_assert_msg(tokens_parse(text, len, "mem", &s, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_ptr_eq(match(&s, "secret-alice"), &s.v[0]);
	tokens_free(&s);

	/* len counts, not the NUL: what follows one is a bad line */
	memcpy(text + len, "\0x", 3);
	ck_assert_int_eq(tokens_parse(text, len + 3, "mem", &s, &e), -ERR_INVALID);
	ck_assert_ptr_null(s.v);
	ck_assert_str_eq(e.msg, "token file mem: line 2: contains the control character 0x00");
}
END_TEST

START_TEST(too_many_tokens)
{
	size_t size = (size_t)(TOKENS_MAX + 2) * 100;
	char *text = calloc(1, size);
	ck_assert_ptr_nonnull(text);
	char *p = text;
	for (int i = 0; i <= TOKENS_MAX + 1; i++) {
		char secret[32], h[80];
		snprintf(secret, sizeof secret, "s%d", i);
		hash_field(secret, h);
		p += sprintf(p, "t%d viewer %s\n", i, h);
	}
	write_raw(text, (size_t)(p - text), 0600);
	char want[64];
	snprintf(want, sizeof want, "line %d: more than %d tokens", TOKENS_MAX + 1, TOKENS_MAX);
	REFUSED("too many", want);
	/* said once, not for every line after */
	struct token_set s;
	struct err e;
	tokens_load(path, &s, &e);
	ck_assert_msg(!strchr(e.msg, '\n'), "%s", e.msg);

	/* exactly TOKENS_MAX is fine */
	for (int cut = 0; cut < 2; cut++) {
		char *last = text + strlen(text) - 1;
		while (last > text && last[-1] != '\n')
			last--;
		*last = '\0';
	}
	write_raw(text, strlen(text), 0600);
	ck_assert_msg(tokens_load(path, &s, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(s.n, TOKENS_MAX);
	ck_assert_ptr_eq(match(&s, "s9999"), &s.v[9999]);
	tokens_free(&s);
	free(text);
}
END_TEST

static int is_base64url(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return 0;
	return 1;
}

START_TEST(new_then_load)
{
	char s1[TOKEN_SECRET_MAX], s2[TOKEN_SECRET_MAX], s3[TOKEN_SECRET_MAX];
	struct err e;
	/* the file does not exist yet: created 0600 */
	ck_assert_msg(tokens_new(path, "chatops", ROLE_OPERATOR, s1, sizeof s1, &e) == 0, "%s",
		      e.msg);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_msg(tokens_new(path, "oob", ROLE_ADMIN, s2, sizeof s2, &e) == 0, "%s", e.msg);
	ck_assert_msg(tokens_new(path, "grafana", ROLE_VIEWER, s3, sizeof s3, &e) == 0, "%s",
		      e.msg);

	/* rct_ and 43 base64url characters (256 bits) */
	const char *secrets[] = { s1, s2, s3 };
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(strlen(secrets[i]), 4 + 43);
		ck_assert_int_eq(strncmp(secrets[i], "rct_", 4), 0);
		ck_assert_msg(is_base64url(secrets[i] + 4), "%s", secrets[i]);
	}
	ck_assert_str_ne(s1, s2);
	ck_assert_str_ne(s2, s3);

	/* only hashes are in the file, one line each */
	char *text = tu_read_file(dir, "tokens");
	ck_assert_ptr_null(strstr(text, s1 + 4));
	ck_assert_ptr_null(strstr(text, s2 + 4));
	char h[80], want[256];
	hash_field(s2, h);
	snprintf(want, sizeof want, "oob admin %s\n", h);
	ck_assert_msg(strstr(text, want), "%s", text);
	free(text);

	struct token_set s;
	ck_assert_msg(tokens_load(path, &s, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_str_eq(s.v[0].name, "chatops");
	ck_assert_int_eq(s.v[0].role, ROLE_OPERATOR);
	ck_assert_str_eq(s.v[1].name, "oob");
	ck_assert_int_eq(s.v[1].role, ROLE_ADMIN);
	ck_assert_str_eq(s.v[2].name, "grafana");
	ck_assert_int_eq(s.v[2].role, ROLE_VIEWER);

	ck_assert_ptr_eq(match(&s, s1), &s.v[0]);
	ck_assert_ptr_eq(match(&s, s2), &s.v[1]);
	ck_assert_ptr_eq(match(&s, s3), &s.v[2]);
	/* wrong secret: the last character changed */
	char wrong[TOKEN_SECRET_MAX];
	snprintf(wrong, sizeof wrong, "%s", s2);
	wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == 'A' ? 'B' : 'A';
	ck_assert_ptr_null(match(&s, wrong));
	/* a prefix of the secret, and the secret with more after it */
	ck_assert_ptr_null(tokens_match(&s, s2, strlen(s2) - 1));
	ck_assert_ptr_null(tokens_match(&s, s2, 4));
	snprintf(wrong, sizeof wrong, "%sA", s2);
	ck_assert_ptr_null(match(&s, wrong));
	/* empty */
	ck_assert_ptr_null(tokens_match(&s, "", 0));
	ck_assert_ptr_null(tokens_match(&s, s2, 0));
	ck_assert_ptr_null(tokens_match(NULL, s2, strlen(s2)));
	tokens_free(&s);
}
END_TEST

/* A secret longer than TOKEN_SECRET_MAX is refused even when its hash is in
 * the file: nobody hashes a megabyte per request on our time. */
START_TEST(secret_length_limit)
{
	char at_max[TOKEN_SECRET_MAX + 1], over[TOKEN_SECRET_MAX + 2];
	memset(at_max, 'm', TOKEN_SECRET_MAX);
	at_max[TOKEN_SECRET_MAX] = '\0';
	memset(over, 'o', TOKEN_SECRET_MAX + 1);
	over[TOKEN_SECRET_MAX + 1] = '\0';
	char text[1024] = "";
	add_line(text, sizeof text, "longest", "viewer", at_max);
	add_line(text, sizeof text, "toolong", "viewer", over);
	write_tokens(text);
	struct token_set s;
	struct err e;
	ck_assert_msg(tokens_load(path, &s, &e) == 0, "%s", e.msg);
	ck_assert_ptr_eq(match(&s, at_max), &s.v[0]);
	ck_assert_ptr_null(match(&s, over));
	tokens_free(&s);
}
END_TEST

START_TEST(new_refusals_leave_the_file_alone)
{
	char secret[TOKEN_SECRET_MAX];
	struct err e;
	ck_assert_msg(tokens_new(path, "alice", ROLE_ADMIN, secret, sizeof secret, &e) == 0,
		      "%s", e.msg);
	char *before = tu_read_file(dir, "tokens");

	ck_assert_int_eq(tokens_new(path, "alice", ROLE_VIEWER, secret, sizeof secret, &e),
			 -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "line 1: a token named \"alice\" is already there"), "%s",
		      e.msg);
	ck_assert_msg(strstr(e.msg, path), "%s", e.msg);
	ck_assert_str_eq(secret, "");
	ck_assert_int_eq(tokens_new(path, "bad name", ROLE_VIEWER, secret, sizeof secret, &e),
			 -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "token name \"bad name\""), "%s", e.msg);
	ck_assert_int_eq(tokens_new(path, "nobody", ROLE_NONE, secret, sizeof secret, &e),
			 -ERR_INVALID);
	ck_assert_int_eq(tokens_new(path, "small", ROLE_VIEWER, secret, 16, &e), -ERR_INVALID);

	char *after = tu_read_file(dir, "tokens");
	ck_assert_str_eq(before, after);
	free(after);

	/* group-writable: refused for writing as for reading */
	ck_assert_int_eq(chmod(path, 0660), 0);
	ck_assert_int_eq(tokens_new(path, "bob", ROLE_VIEWER, secret, sizeof secret, &e),
			 -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "writable by its group"), "%s", e.msg);
	ck_assert_int_eq(chmod(path, 0600), 0);

	/* a broken file gets no more lines */
	char broken[1024];
	snprintf(broken, sizeof broken, "%sbob viewer\n", before);
	write_tokens(broken);
	ck_assert_int_eq(tokens_new(path, "carol", ROLE_VIEWER, secret, sizeof secret, &e),
			 -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "line 2: expected NAME ROLE"), "%s", e.msg);
	after = tu_read_file(dir, "tokens");
	ck_assert_str_eq(broken, after);
	free(after);

	/* a directory that does not exist */
	char nodir[600];
	snprintf(nodir, sizeof nodir, "%s/missing/tokens", dir);
	ck_assert_int_eq(tokens_new(nodir, "carol", ROLE_VIEWER, secret, sizeof secret, &e),
			 -ERR_NOTFOUND);
	ck_assert_msg(strstr(e.msg, nodir), "%s", e.msg);
	free(before);
}
END_TEST

START_TEST(new_after_a_last_line_without_newline)
{
	char text[512] = "";
	add_line(text, sizeof text, "alice", "admin", "secret-alice");
	text[strlen(text) - 1] = '\0';
	write_tokens(text);
	char secret[TOKEN_SECRET_MAX];
	struct err e;
	ck_assert_msg(tokens_new(path, "bob", ROLE_VIEWER, secret, sizeof secret, &e) == 0, "%s",
		      e.msg);
	struct token_set s;
	ck_assert_msg(tokens_load(path, &s, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_ptr_eq(match(&s, "secret-alice"), &s.v[0]);
	ck_assert_ptr_eq(match(&s, secret), &s.v[1]);
	ck_assert_str_eq(s.v[1].name, "bob");
	tokens_free(&s);
}
END_TEST

/* ------------------------------------------------------- request helpers */

START_TEST(request_accessors)
{
	const struct http_kv headers[] = {
		{ "Host", "localhost" },
		{ "X-Request-Id", "first" },
		{ "x-request-id", "second" },
	};
	const struct http_kv args[] = {
		{ "site", "ash" },
		{ "Site", "chi" },
		{ "site", "later" },
	};
	struct http_request rq = { .headers = headers, .n_headers = 3, .args = args, .n_args = 3 };
	ck_assert_str_eq(http_request_header(&rq, "host"), "localhost");
	ck_assert_str_eq(http_request_header(&rq, "HOST"), "localhost");
	ck_assert_str_eq(http_request_header(&rq, "X-REQUEST-ID"), "first");
	ck_assert_ptr_null(http_request_header(&rq, "Authorization"));
	ck_assert_ptr_null(http_request_header(&rq, "Hos"));
	ck_assert_str_eq(http_request_arg(&rq, "site"), "ash");
	ck_assert_str_eq(http_request_arg(&rq, "Site"), "chi");
	ck_assert_ptr_null(http_request_arg(&rq, "SITE"));
	ck_assert_ptr_null(http_request_arg(&rq, "service"));

	struct http_request none = { 0 };
	ck_assert_ptr_null(http_request_header(&none, "Host"));
	ck_assert_ptr_null(http_request_arg(&none, "site"));

	ck_assert_str_eq(http_transport_name(HTTP_CONSOLE), "console");
	ck_assert_str_eq(http_transport_name(HTTP_TCP), "http");
	ck_assert_str_eq(http_transport_name(HTTP_TLS), "https");
}
END_TEST

/* ---------------------------------------------------------------- console */

static gid_t gid_of(const char *group)
{
	struct group *g = getgrnam(group);
	ck_assert_msg(g != NULL, "group %s is missing on this machine", group);
	return g->gr_gid;
}

static struct principal console_call(const struct auth *a, int has_cred, uid_t uid, gid_t gid,
				     const gid_t *groups, size_t n_groups)
{
	struct http_request rq = {
		.method = "GET", .path = "/v1/status", .transport = HTTP_CONSOLE,
		.has_cred = has_cred, .uid = uid, .gid = gid, .pid = 4242,
		.groups = groups, .n_groups = n_groups,
	};
	struct principal p;
	memset(&p, 0x5a, sizeof p);
	auth_identify(a, &rq, &p);
	return p;
}

/* An admin group every Debian has (base-passwd). */
#define ADMIN_GROUP "daemon"

START_TEST(console_roles)
{
	struct err e;
	struct auth *a = auth_new(NULL, ADMIN_GROUP, &e);
	ck_assert_msg(a != NULL, "%s", e.msg);
	gid_t admin = gid_of(ADMIN_GROUP);
	gid_t other = admin + 1000;

	struct principal p = console_call(a, 1, 0, 0, NULL, 0);
	ck_assert_int_eq(p.role, ROLE_ADMIN);
	ck_assert_int_eq(p.fail, AUTH_OK);
	ck_assert_str_eq(p.name, "uid 0");

	/* the admin group as the primary group */
	p = console_call(a, 1, 30001, admin, NULL, 0);
	ck_assert_int_eq(p.role, ROLE_ADMIN);
	ck_assert_str_eq(p.name, "uid 30001");

	/* ... or as a supplementary one */
	gid_t groups[] = { other, other + 1, admin };
	p = console_call(a, 1, 30002, other, groups, 3);
	ck_assert_int_eq(p.role, ROLE_ADMIN);
	ck_assert_str_eq(p.name, "uid 30002");

	/* anyone else is a viewer */
	p = console_call(a, 1, 30003, other, groups, 2);
	ck_assert_int_eq(p.role, ROLE_VIEWER);
	ck_assert_int_eq(p.fail, AUTH_OK);
	ck_assert_str_eq(p.name, "uid 30003");
	p = console_call(a, 1, 30003, other, NULL, 0);
	ck_assert_int_eq(p.role, ROLE_VIEWER);

	/* no credentials: nobody */
	p = console_call(a, 0, 0, 0, NULL, 0);
	ck_assert_int_eq(p.role, ROLE_NONE);
	ck_assert_int_eq(p.fail, AUTH_MISSING);
	ck_assert_str_eq(p.name, "");
	auth_free(a);

	/* without an admin group, the group makes nobody admin */
	a = auth_new(NULL, NULL, &e);
	ck_assert_msg(a != NULL, "%s", e.msg);
	p = console_call(a, 1, 30001, admin, groups, 3);
	ck_assert_int_eq(p.role, ROLE_VIEWER);
	p = console_call(a, 1, 0, 0, NULL, 0);
	ck_assert_int_eq(p.role, ROLE_ADMIN);
	auth_free(a);
}
END_TEST

/* routectld's own uid is admin. Run as root, the test takes another
 * effective uid while auth_new looks, so that "own uid" is not "root". */
START_TEST(console_own_uid_is_admin)
{
	uid_t own = geteuid();
	struct err e;
	struct auth *a;
	if (own == 0) {
		own = 30100;
		ck_assert_int_eq(seteuid(own), 0);
		a = auth_new(NULL, NULL, &e);
		ck_assert_int_eq(seteuid(0), 0);
	} else {
		a = auth_new(NULL, NULL, &e);
	}
	ck_assert_msg(a != NULL, "%s", e.msg);
	struct principal p = console_call(a, 1, own, 30999, NULL, 0);
	ck_assert_int_eq(p.role, ROLE_ADMIN);
	p = console_call(a, 1, own + 1, 30999, NULL, 0);
	ck_assert_int_eq(p.role, ROLE_VIEWER);
	auth_free(a);
}
END_TEST

START_TEST(unknown_admin_group)
{
	struct err e;
	ck_assert_ptr_null(auth_new(NULL, "routectl-no-such-group", &e));
	ck_assert_int_eq(e.code, ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "\"routectl-no-such-group\": no such group"), "%s", e.msg);
}
END_TEST

/* ---------------------------------------------------------------- bearer */

#define SECRET_VIEWER "rct_viewer-secret-0123456789"
#define SECRET_OPERATOR "rct_operator-secret-0123456789"
#define SECRET_ADMIN "rct_admin-secret-0123456789"

static void write_three_tokens(void)
{
	char text[1024] = "";
	add_line(text, sizeof text, "grafana", "viewer", SECRET_VIEWER);
	add_line(text, sizeof text, "chatops", "operator", SECRET_OPERATOR);
	add_line(text, sizeof text, "oob-admin", "admin", SECRET_ADMIN);
	write_tokens(text);
}

/* A TCP request with the given headers (name, value, name, value, ...,
 * NULL); transport HTTP_TCP. */
static struct principal tcp_call_on(const struct auth *a, enum http_transport t,
				    const char *const *hv)
{
	struct http_kv h[8];
	size_t n = 0;
	for (; hv[2 * n] && n < 8; n++) {
		h[n].name = hv[2 * n];
		h[n].value = hv[2 * n + 1];
	}
	/* credentials of root on a TCP request mean nothing */
	struct http_request rq = {
		.method = "GET", .path = "/v1/status", .transport = t,
		.headers = h, .n_headers = n, .remote = "127.0.0.1:40000",
		.has_cred = 1, .uid = 0, .gid = 0,
	};
	struct principal p;
	memset(&p, 0x5a, sizeof p);
	auth_identify(a, &rq, &p);
	return p;
}

#define TCP(a, ...) tcp_call_on(a, HTTP_TCP, (const char *const[]){ __VA_ARGS__, NULL })
#define AUTHZ(a, value) TCP(a, "Host", "x", "Authorization", value)

static void expect_fail(struct principal p, enum auth_fail f, const char *label)
{
	ck_assert_msg(p.role == ROLE_NONE, "%s: role %s", label, role_name(p.role));
	ck_assert_msg(p.fail == f, "%s: fail %s, not %s", label, auth_fail_name(p.fail),
		      auth_fail_name(f));
	ck_assert_msg(p.name[0] == '\0', "%s: name \"%s\"", label, p.name);
}

static void expect_role(struct principal p, enum role r, const char *name, const char *label)
{
	ck_assert_msg(p.role == r, "%s: role %s, not %s (fail %s)", label, role_name(p.role),
		      role_name(r), auth_fail_name(p.fail));
	ck_assert_int_eq(p.fail, AUTH_OK);
	ck_assert_str_eq(p.name, name);
}

START_TEST(bearer_tokens)
{
	write_three_tokens();
	struct err e;
	struct auth *a = auth_new(path, ADMIN_GROUP, &e);
	ck_assert_msg(a != NULL, "%s", e.msg);

	expect_fail(TCP(a, "Host", "x"), AUTH_MISSING, "no header");
	struct principal p = tcp_call_on(a, HTTP_TCP, (const char *const[]){ NULL });
	expect_fail(p, AUTH_MISSING, "no headers at all");

	expect_fail(AUTHZ(a, "Basic x"), AUTH_MALFORMED, "Basic");
	expect_fail(AUTHZ(a, "Basic " SECRET_ADMIN), AUTH_MALFORMED, "Basic with a secret");
	expect_fail(AUTHZ(a, "Bearer"), AUTH_MALFORMED, "Bearer alone");
	expect_fail(AUTHZ(a, "Bearer "), AUTH_MALFORMED, "Bearer and a space");
	expect_fail(AUTHZ(a, "Bearer    "), AUTH_MALFORMED, "Bearer and spaces");
	expect_fail(AUTHZ(a, ""), AUTH_MALFORMED, "empty");
	expect_fail(AUTHZ(a, SECRET_ADMIN), AUTH_MALFORMED, "secret without scheme");
	expect_fail(AUTHZ(a, "Bearer" SECRET_ADMIN), AUTH_MALFORMED, "no space");
	expect_fail(AUTHZ(a, "Bearer\t" SECRET_ADMIN), AUTH_MALFORMED, "tab is not SP");
	expect_fail(AUTHZ(a, "Bearer \t" SECRET_ADMIN), AUTH_MALFORMED, "tab after the space");
	expect_fail(AUTHZ(a, "Bearer " SECRET_ADMIN " x"), AUTH_MALFORMED, "two words");
	expect_fail(AUTHZ(a, "Bearer rct_a,b"), AUTH_MALFORMED, "not token68");
	expect_fail(AUTHZ(a, "Bearer ==="), AUTH_MALFORMED, "padding only");
	expect_fail(AUTHZ(a, "Bearer rct_a=b"), AUTH_MALFORMED, "= inside");
	expect_fail(AUTHZ(a, "Bearerx " SECRET_ADMIN), AUTH_MALFORMED, "other scheme");

	expect_fail(AUTHZ(a, "Bearer rct_nosuchtoken"), AUTH_INVALID, "bad token");
	expect_fail(AUTHZ(a, "Bearer " SECRET_ADMIN "x"), AUTH_INVALID, "secret plus one");
	expect_fail(AUTHZ(a, "Bearer rct_admin-secret-012345678"), AUTH_INVALID, "prefix");
	expect_fail(AUTHZ(a, "Bearer " SECRET_ADMIN "=="), AUTH_INVALID, "padded");

	expect_role(AUTHZ(a, "Bearer " SECRET_VIEWER), ROLE_VIEWER, "grafana", "viewer");
	expect_role(AUTHZ(a, "Bearer " SECRET_OPERATOR), ROLE_OPERATOR, "chatops", "operator");
	expect_role(AUTHZ(a, "Bearer " SECRET_ADMIN), ROLE_ADMIN, "oob-admin", "admin");

	/* the scheme in any case, one space or more, the header name in any case */
	expect_role(AUTHZ(a, "bearer " SECRET_ADMIN), ROLE_ADMIN, "oob-admin", "lower case");
	expect_role(AUTHZ(a, "BEARER   " SECRET_OPERATOR), ROLE_OPERATOR, "chatops", "spaces");
	expect_role(AUTHZ(a, "Bearer " SECRET_VIEWER " "), ROLE_VIEWER, "grafana", "trailing");
	expect_role(TCP(a, "authorization", "Bearer " SECRET_VIEWER), ROLE_VIEWER, "grafana",
		    "header name in lower case");

	/* sent twice: which one would count? */
	expect_fail(TCP(a, "Authorization", "Bearer " SECRET_VIEWER, "AUTHORIZATION",
			"Bearer " SECRET_ADMIN), AUTH_MALFORMED, "two headers");

	/* TLS is TCP */
	p = tcp_call_on(a, HTTP_TLS,
			(const char *const[]){ "Authorization", "Bearer " SECRET_ADMIN, NULL });
	expect_role(p, ROLE_ADMIN, "oob-admin", "tls");
	p = tcp_call_on(a, HTTP_TLS, (const char *const[]){ "Host", "x", NULL });
	expect_fail(p, AUTH_MISSING, "tls without header");

	/* the console does not look at tokens: a viewer's uid stays a viewer */
	const struct http_kv h[] = { { "Authorization", "Bearer " SECRET_ADMIN } };
	struct http_request rq = {
		.transport = HTTP_CONSOLE, .headers = h, .n_headers = 1,
		.has_cred = 1, .uid = 30003, .gid = 30003,
	};
	auth_identify(a, &rq, &p);
	ck_assert_int_eq(p.role, ROLE_VIEWER);
	ck_assert_str_eq(p.name, "uid 30003");
	rq.has_cred = 0;
	auth_identify(a, &rq, &p);
	expect_fail(p, AUTH_MISSING, "console without credentials, with a token");
	auth_free(a);

	/* no token file: nobody gets in over TCP */
	a = auth_new(NULL, NULL, &e);
	ck_assert_msg(a != NULL, "%s", e.msg);
	expect_fail(AUTHZ(a, "Bearer " SECRET_ADMIN), AUTH_INVALID, "no token file");
	expect_fail(TCP(a, "Host", "x"), AUTH_MISSING, "no token file, no header");
	auth_free(a);
}
END_TEST

START_TEST(fail_names)
{
	ck_assert_str_eq(auth_fail_name(AUTH_MISSING), "missing");
	ck_assert_str_eq(auth_fail_name(AUTH_MALFORMED), "malformed");
	ck_assert_str_eq(auth_fail_name(AUTH_INVALID), "invalid");
}
END_TEST

START_TEST(new_fails_on_a_bad_token_file)
{
	struct err e;
	ck_assert_ptr_null(auth_new(path, NULL, &e));
	ck_assert_int_eq(e.code, ERR_NOTFOUND);
	ck_assert_msg(strstr(e.msg, path), "%s", e.msg);
	write_tokens("alice viewer\n");
	ck_assert_ptr_null(auth_new(path, NULL, &e));
	ck_assert_msg(strstr(e.msg, "line 1: expected NAME ROLE"), "%s", e.msg);
}
END_TEST

/* ---------------------------------------------------------------- reload */

START_TEST(reload_keeps_old_tokens_on_failure)
{
	write_three_tokens();
	struct err e;
	struct auth *a = auth_new(path, ADMIN_GROUP, &e);
	ck_assert_msg(a != NULL, "%s", e.msg);
	gid_t admin = gid_of(ADMIN_GROUP);

	/* a good new file replaces the tokens */
	char text[1024] = "";
	add_line(text, sizeof text, "newbot", "operator", "rct_newbot-secret");
	write_tokens(text);
	ck_assert_msg(auth_reload(a, path, ADMIN_GROUP, &e) == 0, "%s", e.msg);
	expect_role(AUTHZ(a, "Bearer rct_newbot-secret"), ROLE_OPERATOR, "newbot", "new token");
	expect_fail(AUTHZ(a, "Bearer " SECRET_ADMIN), AUTH_INVALID, "old token gone");

	/* a broken file: refused, the tokens in force stay */
	char broken[1200];
	snprintf(broken, sizeof broken, "%sintruder admin sha256:1234\n", text);
	write_tokens(broken);
	ck_assert_int_eq(auth_reload(a, path, ADMIN_GROUP, &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "line 2: hash"), "%s", e.msg);
	expect_role(AUTHZ(a, "Bearer rct_newbot-secret"), ROLE_OPERATOR, "newbot", "kept");

	/* group-writable, missing: the same */
	write_raw(text, strlen(text), 0664);
	ck_assert_int_eq(auth_reload(a, path, ADMIN_GROUP, &e), -ERR_INVALID);
	expect_role(AUTHZ(a, "Bearer rct_newbot-secret"), ROLE_OPERATOR, "newbot", "kept 2");
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(auth_reload(a, path, ADMIN_GROUP, &e), -ERR_NOTFOUND);
	expect_role(AUTHZ(a, "Bearer rct_newbot-secret"), ROLE_OPERATOR, "newbot", "kept 3");

	/* an unknown group: the tokens and the old group stay */
	write_three_tokens();
	ck_assert_int_eq(auth_reload(a, path, "routectl-no-such-group", &e), -ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "routectl-no-such-group"), "%s", e.msg);
	expect_role(AUTHZ(a, "Bearer rct_newbot-secret"), ROLE_OPERATOR, "newbot", "kept 4");
	ck_assert_int_eq(console_call(a, 1, 30001, admin, NULL, 0).role, ROLE_ADMIN);

	/* a reload without the group drops it */
	ck_assert_msg(auth_reload(a, path, NULL, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(console_call(a, 1, 30001, admin, NULL, 0).role, ROLE_VIEWER);
	expect_role(AUTHZ(a, "Bearer " SECRET_ADMIN), ROLE_ADMIN, "oob-admin", "reloaded");
	auth_free(a);
}
END_TEST

static Suite *auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *t = tcase_create("tokens");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, roles_by_name);
	tcase_add_test(t, names_checked);
	tcase_add_test(t, good_file);
	tcase_add_loop_test(t, bad_line_kinds, 0, (int)(sizeof bad_lines / sizeof bad_lines[0]));
	tcase_add_test(t, nul_byte_is_a_bad_line);
	tcase_add_test(t, every_bad_line_is_named);
	tcase_add_test(t, duplicates_refused);
	tcase_add_test(t, writable_by_others_refused);
	tcase_add_test(t, missing_and_not_regular);
	tcase_add_test(t, parse_in_memory);
	tcase_add_test(t, too_many_tokens);
	tcase_add_test(t, new_then_load);
	tcase_add_test(t, secret_length_limit);
	tcase_add_test(t, new_refusals_leave_the_file_alone);
	tcase_add_test(t, new_after_a_last_line_without_newline);
	suite_add_tcase(s, t);

	t = tcase_create("auth");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, request_accessors);
	tcase_add_test(t, console_roles);
	tcase_add_test(t, console_own_uid_is_admin);
	tcase_add_test(t, unknown_admin_group);
	tcase_add_test(t, bearer_tokens);
	tcase_add_test(t, fail_names);
	tcase_add_test(t, new_fails_on_a_bad_token_file);
	tcase_add_test(t, reload_keeps_old_tokens_on_failure);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_run_suite(auth_suite());
}
