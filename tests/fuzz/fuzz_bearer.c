/* libFuzzer target: the Authorization header of a TCP request
 * (auth_identify), against a token file with one token of each role.
 *
 * Oracles: a request has a role exactly when nothing failed, and a name
 * exactly when it has a role; a role comes only from a value that is
 * "bearer" (any case) and spaces before the very secret of that token; the
 * header name's case does not matter; the console never looks at the
 * header. */
#include "api/auth.h"
#include "api/http.h"
#include "common/err.h"

#define TESTUTIL_NO_CHECK
#include "../unit/testutil.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const struct {
	const char *name, *role, *secret;
} known[] = {
	{ "fuzz-viewer", "viewer", "rct_fuzz-viewer" },
	{ "fuzz-operator", "operator", "rct_fuzz-operator" },
	{ "fuzz-admin", "admin", "rct_fuzz-admin" },
};
#define N_KNOWN (sizeof known / sizeof known[0])

/* The auth of the whole run, over a token file that exists only while
 * auth_new reads it. */
static struct auth *the_auth(void)
{
	static struct auth *a;
	if (a)
		return a;
	if (sodium_init() < 0)
		abort();
	char path[] = "/tmp/routectl-fuzz-tokens.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		abort();
	FILE *f = fdopen(fd, "w");
	for (size_t i = 0; f && i < N_KNOWN; i++) {
		unsigned char h[crypto_hash_sha256_BYTES];
		char hex[2 * sizeof h + 1];
		crypto_hash_sha256(h, (const unsigned char *)known[i].secret,
				   strlen(known[i].secret));
		sodium_bin2hex(hex, sizeof hex, h, sizeof h);
		fprintf(f, "%s %s sha256:%s\n", known[i].name, known[i].role, hex);
	}
	if (!f || fclose(f) != 0)
		abort();
	struct err e;
	a = auth_new(path, NULL, &e);
	unlink(path);
	if (!a) {
		fprintf(stderr, "%s\n", e.msg);
		abort();
	}
	return a;
}

static struct principal call(const char *header, const char *value, enum http_transport t)
{
	const struct http_kv h[] = { { "Host", "x" }, { header, value } };
	struct http_request rq = {
		.method = "GET", .path = "/v1/status", .transport = t,
		.headers = h, .n_headers = 2, .has_cred = 0,
	};
	struct principal p;
	auth_identify(the_auth(), &rq, &p);
	return p;
}

/* value is "bearer", one space or more, the secret, then only white space. */
static int is_bearer_of(const char *value, const char *secret)
{
	while (*value == ' ' || *value == '\t')
		value++;
	if (strncasecmp(value, "bearer ", 7) != 0)
		return 0;
	value += 7;
	while (*value == ' ')
		value++;
	size_t n = strlen(secret);
	if (strncmp(value, secret, n) != 0)
		return 0;
	for (value += n; *value; value++)
		if (*value != ' ' && *value != '\t')
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = tu_fuzz_text(data, size);
	if (!value)
		return 0;
	struct principal p = call("Authorization", value, HTTP_TCP);
	if ((p.role == ROLE_NONE) != (p.fail != AUTH_OK) ||
	    (p.role == ROLE_NONE) != (p.name[0] == '\0'))
		abort();
	if (p.fail == AUTH_MISSING)
		abort();
	if (p.role != ROLE_NONE) {
		size_t i = 0;
		while (i < N_KNOWN && strcmp(known[i].name, p.name) != 0)
			i++;
		if (i == N_KNOWN || strcmp(role_name(p.role), known[i].role) != 0 ||
		    !is_bearer_of(value, known[i].secret))
			abort();
	}
	struct principal q = call("aUTHORIZATION", value, HTTP_TLS);
	if (q.role != p.role || q.fail != p.fail || strcmp(q.name, p.name) != 0)
		abort();
	q = call("Authorization", value, HTTP_CONSOLE);
	if (q.role != ROLE_NONE || q.fail != AUTH_MISSING)
		abort();
	free(value);
	return 0;
}
