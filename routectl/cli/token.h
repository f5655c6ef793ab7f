/* `routectl token new NAME ROLE`: makes a bearer token for the API over TCP
 * on this machine, without routectld (conf/tokens.h does the work). */
#ifndef ROUTECTL_CLI_TOKEN_H
#define ROUTECTL_CLI_TOKEN_H

#include "cli/args.h"

#include <stdio.h>

#define CLI_DEFAULT_TOKEN_FILE "/etc/routectl/tokens"
#define CLI_TOKEN_FILE_ENV "ROUTECTL_TOKEN_FILE"

/* The token file of req: --token-file, else env_file (the value of
 * ROUTECTL_TOKEN_FILE; NULL or "" when unset), else CLI_DEFAULT_TOKEN_FILE. */
const char *cli_token_file(const struct cli_request *req, const char *env_file);

/* Runs `token new` (req->cmd CMD_TOKEN_NEW): appends the token's hash line
 * to the token file (tokens_new) and prints the secret as the one line on
 * out, and on errout a note that it is not stored and where its hash went.
 * Returns CLI_EXIT_OK, or CLI_EXIT_FAILED with a message on errout (the name
 * is taken, the file cannot be written or does not load, or the secret
 * could not be printed: then the message says which line to remove). */
enum cli_exit cli_token_new(const struct cli_request *req, const char *env_file, FILE *out,
			    FILE *errout);

#endif
