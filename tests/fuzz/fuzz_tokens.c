/* libFuzzer target: token files (tokens_parse).
 *
 * Oracles: a refused input gives -ERR_INVALID and a message whose every line
 * names the file; an accepted one keeps the promises of tokens.h: at most
 * TOKENS_MAX tokens, each name valid, each role viewer, operator or admin,
 * no name and no hash twice; and the tokens written back as a file parse
 * to the same tokens. */
#include "common/buf.h"
#include "common/err.h"
#include "conf/tokens.h"

#define TESTUTIL_NO_CHECK
#include "../unit/testutil.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME "fuzz"

static void check_tokens(const struct token_set *s)
{
	if (s->n > TOKENS_MAX || (s->n == 0) != (s->v == NULL))
		abort();
	for (size_t i = 0; i < s->n; i++) {
		const struct token *t = &s->v[i];
		if (tokens_check_name(t->name, NULL) < 0)
			abort();
		if (t->role != ROLE_VIEWER && t->role != ROLE_OPERATOR && t->role != ROLE_ADMIN)
			abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->v[j].name, t->name) == 0 ||
			    memcmp(s->v[j].hash, t->hash, TOKEN_HASH_BYTES) == 0)
				abort();
	}
}

/* Writes s back in the file format and parses it again: same tokens. */
static void check_round_trip(const struct token_set *s)
{
	struct buf b = { 0 };
	for (size_t i = 0; i < s->n; i++) {
		char hex[2 * TOKEN_HASH_BYTES + 1];
		sodium_bin2hex(hex, sizeof hex, s->v[i].hash, TOKEN_HASH_BYTES);
		if (buf_printf(&b, "%s %s sha256:%s\n", s->v[i].name, role_name(s->v[i].role),
			       hex) < 0)
			abort();
	}
	struct token_set again;
	struct err e;
	if (tokens_parse(b.p ? b.p : "", b.len, NAME, &again, &e) < 0 || again.n != s->n)
		abort();
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(again.v[i].name, s->v[i].name) != 0 || again.v[i].role != s->v[i].role ||
		    memcmp(again.v[i].hash, s->v[i].hash, TOKEN_HASH_BYTES) != 0)
			abort();
	tokens_free(&again);
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct token_set s;
	struct err e = { 0 };
	int rc = tokens_parse((const char *)data, size, NAME, &s, &e);
	if (rc < 0) {
		tu_fuzz_check_refusal(rc, s.v, e.msg, "token file " NAME ": ");
		return 0;
	}
	check_tokens(&s);
	check_round_trip(&s);
	tokens_free(&s);
	return 0;
}
