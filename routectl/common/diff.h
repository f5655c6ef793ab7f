/* A unified diff of two texts, for dry runs: a minimal edit script (Myers)
 * shown as hunks with 3 lines of context, as `diff -u` writes them. Past
 * 2000 differing lines the differing middle is shown as one replaced block. */
#ifndef ROUTECTL_DIFF_H
#define ROUTECTL_DIFF_H

#include "buf.h"

/* Appends nothing when the texts are equal. Returns 0 or -ERR_NOMEM. */
int diff_unified(const char *old_text, const char *new_text, const char *old_name,
		 const char *new_name, struct buf *out);

#endif
