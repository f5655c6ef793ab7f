/* A growable byte buffer, always NUL-terminated. */
#ifndef ROUTECTL_BUF_H
#define ROUTECTL_BUF_H

#include <stddef.h>

struct buf {
	char *p;     /* NULL until the first append */
	size_t len;
	size_t cap;
};

/* All return 0, or -ERR_NOMEM. */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);   /* len = 0, keeps memory */
void buf_free(struct buf *b);
/* Hands the string over to the caller (who frees it) and empties b. */
char *buf_steal(struct buf *b);

#endif
