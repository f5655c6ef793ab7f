/* Words shared by every module: prefixes and the state of a service. */
#ifndef ROUTECTL_MODEL_H
#define ROUTECTL_MODEL_H

#include <stdint.h>

/* An IPv4 or IPv6 prefix in canonical form (host bits zero). */
struct prefix {
	int family;           /* 4 or 6 */
	uint8_t addr[16];     /* network byte order; IPv4 uses the first 4 */
	unsigned len;         /* prefix length */
	char text[64];        /* canonical text, "192.0.2.0/24", "2001:db8::/32" */
};

/* Parses "addr/len". Rejects host bits set, bad lengths, junk; on error
 * writes a reason into why (if not NULL) and returns -ERR_INVALID. */
int prefix_parse(const char *s, struct prefix *out, char *why, unsigned why_size);

/* Orders by family, then address, then length (for deterministic output). */
int prefix_cmp(const struct prefix *a, const struct prefix *b);

enum svc_mode {
	MODE_ANNOUNCE = 0,
	MODE_PREPEND,
	MODE_WITHDRAW,
};

#define PREPEND_MIN 1
#define PREPEND_MAX 10

/* "announce", "prepend", "withdraw" */
const char *svc_mode_name(enum svc_mode m);
/* Returns 0 and sets *out, or -ERR_INVALID. */
int svc_mode_parse(const char *s, enum svc_mode *out);

#endif
