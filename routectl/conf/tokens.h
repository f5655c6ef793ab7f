/* The token file of the API (config api/token-file): who may call the API
 * over TCP, and with which role. One token per line:
 *
 *   NAME ROLE sha256:HEX
 *
 * NAME is [A-Za-z0-9][A-Za-z0-9_.@-]{0,63}, ROLE is viewer, operator or
 * admin, HEX the 64 hex digits of SHA-256 (libsodium's crypto_hash_sha256)
 * of the secret. Blank lines and lines starting with '#' are ignored. Only
 * hashes are stored: the secret is printed once, by `routectl token new`,
 * and never kept. A secret is "rct_" followed by 43 base64url characters
 * (32 random bytes from libsodium's randombytes_buf), so it has 256 bits and
 * an unsalted fast hash is enough (nothing to brute-force).
 *
 * The file must not be writable by group or others (it decides who is
 * admin); a file that is, or a line that does not parse, fails the load with
 * a message naming the file, the line and what is wrong. */
#ifndef ROUTECTL_TOKENS_H
#define ROUTECTL_TOKENS_H

#include <stddef.h>
#include <stdint.h>

struct err;

#define TOKEN_NAME_MAX 64
#define TOKEN_HASH_BYTES 32          /* SHA-256 */
#define TOKEN_SECRET_PREFIX "rct_"
#define TOKEN_SECRET_MAX 128          /* a presented secret longer than this is invalid */
#define TOKENS_MAX 10000              /* lines in a token file */

enum role { ROLE_NONE = 0, ROLE_VIEWER, ROLE_OPERATOR, ROLE_ADMIN };

/* "viewer", "operator", "admin" ("none" for ROLE_NONE). */
const char *role_name(enum role r);
/* Parses a role name; -ERR_INVALID for anything else. */
int role_parse(const char *s, enum role *out);

struct token {
	char name[TOKEN_NAME_MAX + 1];
	enum role role;
	uint8_t hash[TOKEN_HASH_BYTES];
};

struct token_set {
	struct token *v;
	size_t n;
};

/* Checks a token name against [A-Za-z0-9][A-Za-z0-9_.@-]{0,63}; returns 0,
 * or -ERR_INVALID with a message that quotes the name and says what is
 * wrong with it. */
int tokens_check_name(const char *name, struct err *e);

/* Loads path into *out (replacing nothing: the caller swaps). A missing file
 * is an error (-ERR_NOTFOUND); so are a duplicate name, a duplicate hash, a
 * bad line, more than TOKENS_MAX tokens, a file larger than 16 MiB, and a
 * file writable by group or others (-ERR_INVALID), each named with file and
 * line (up to 20 bad lines in one message, the rest counted). */
int tokens_load(const char *path, struct token_set *out, struct err *e);
/* The parsing part of tokens_load, on text in memory (len bytes, NUL bytes
 * included: they are bad lines); name stands for the file in messages
 * ("token file NAME: line 3: ..."). Same errors but those of the file
 * itself (missing, mode). */
int tokens_parse(const char *text, size_t len, const char *name, struct token_set *out,
		 struct err *e);
void tokens_free(struct token_set *s);

/* The token whose hash is SHA-256(secret), or NULL. Compares the hash with
 * every token's in constant time (sodium_memcmp) and looks at all of them, so
 * the time taken says nothing about which token came close. */
const struct token *tokens_match(const struct token_set *s, const char *secret, size_t len);

/* Makes a fresh secret (NUL-terminated, "rct_..." ) into secret (at least
 * TOKEN_SECRET_MAX bytes) and appends "NAME ROLE sha256:HEX" to path
 * (created with mode 0600 when missing; fsynced, and its directory too when
 * created). The file is locked (flock) from reading to appending, so two at
 * once cannot both take a name. Refuses (-ERR_INVALID, nothing written) a
 * bad name, ROLE_NONE, a name already in the file, and a file that does not
 * load as it is (bad line, writable by group or others); -ERR_NOTFOUND when
 * the directory does not exist, -ERR_IO when a write fails (the file is cut
 * back to what it was). On failure secret is "". */
int tokens_new(const char *path, const char *name, enum role role, char *secret,
	       size_t secret_size, struct err *e);

#endif
