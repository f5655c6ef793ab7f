/* A unified diff of two texts, for dry runs. Lines common to the start and
 * end are trimmed; the rest is shown as one hunk with 3 lines of context. */
#ifndef ROUTECTL_DIFF_H
#define ROUTECTL_DIFF_H

#include "buf.h"

/* Appends nothing when the texts are equal. Returns 0 or -ERR_NOMEM. */
int diff_unified(const char *old_text, const char *new_text, const char *old_name,
		 const char *new_name, struct buf *out);

#endif
