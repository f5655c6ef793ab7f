#include "cli/token.h"

#include "common/err.h"
#include "conf/tokens.h"

#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>

const char *cli_token_file(const struct cli_request *req, const char *env_file)
{
	if (req->token_file)
		return req->token_file;
	return env_file && env_file[0] ? env_file : CLI_DEFAULT_TOKEN_FILE;
}

enum cli_exit cli_token_new(const struct cli_request *req, const char *env_file, FILE *out,
			    FILE *errout)
{
	const char *path = cli_token_file(req, env_file);
	struct stat st;
	/* Only for the note below: tokens_new itself creates the file safely. */
	int existed = stat(path, &st) == 0;
	char secret[TOKEN_SECRET_MAX];
	struct err e;

	if (tokens_new(path, req->token_name, req->token_role, secret, sizeof secret, &e) < 0) {
		fprintf(errout, "routectl: token new: %s\n", e.msg);
		return CLI_EXIT_FAILED;
	}
	int printed = fprintf(out, "%s\n", secret) > 0 && fflush(out) == 0 && !ferror(out);
	sodium_memzero(secret, sizeof secret);
	if (!printed) {
		/* The hash is in the file and nobody has the secret: a token
		 * nobody can use, but one that holds a name. */
		fprintf(errout,
			"routectl: token new: token \"%s\" was added to %s, but its secret could "
			"not be printed (stdout): remove the line of \"%s\" there and make it again\n",
			req->token_name, path, req->token_name);
		return CLI_EXIT_FAILED;
	}
	fprintf(errout,
		"routectl: token \"%s\" (%s) added to %s as the SHA-256 hash of the secret "
		"printed above. The secret is not stored anywhere: keep it now. routectld "
		"reads the file at start and on SIGHUP.\n",
		req->token_name, role_name(req->token_role), path);
	if (!existed)
		fprintf(errout,
			"routectl: created %s with mode 0600: the user routectld runs as must be "
			"able to read it.\n", path);
	return CLI_EXIT_OK;
}
