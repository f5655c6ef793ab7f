/* The command layer: one JSON request in, one JSON reply out. The console
 * (Unix socket) and, later, the TCP API serve the same commands. */
#ifndef ROUTECTL_COMMANDS_H
#define ROUTECTL_COMMANDS_H

#include <stddef.h>

struct daemon;
struct caller;

#define COMMAND_BODY_MAX (64u * 1024)

/* Handles METHOD PATH with an optional body. Sets *status (HTTP status) and
 * *reply (heap JSON text, always set). */
void commands_handle(struct daemon *d, const struct caller *who, const char *method,
		     const char *path, const char *body, size_t body_len, int *status,
		     char **reply);

#endif
