#include "model.h"
#include "err.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void why_set(char *why, unsigned size, const char *fmt, const char *arg)
{
	if (why && size)
		snprintf(why, size, fmt, arg);
}

int prefix_parse(const char *s, struct prefix *out, char *why, unsigned why_size)
{
	memset(out, 0, sizeof *out);
	const char *slash = strchr(s, '/');
	if (!slash) {
		why_set(why, why_size, "'%s' has no prefix length (expected ADDRESS/LENGTH)", s);
		return -ERR_INVALID;
	}
	char addr[64];
	size_t alen = (size_t)(slash - s);
	if (alen == 0 || alen >= sizeof addr) {
		why_set(why, why_size, "'%s' is not an IP prefix", s);
		return -ERR_INVALID;
	}
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	const char *lenstr = slash + 1;
	if (*lenstr == '\0' || strspn(lenstr, "0123456789") != strlen(lenstr) || strlen(lenstr) > 3) {
		why_set(why, why_size, "'%s' has a bad prefix length", s);
		return -ERR_INVALID;
	}
	unsigned len = (unsigned)atoi(lenstr);
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = 4;
		if (len > 32) {
			why_set(why, why_size, "'%s': an IPv4 prefix length is at most 32", s);
			return -ERR_INVALID;
		}
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = 6;
		if (len > 128) {
			why_set(why, why_size, "'%s': an IPv6 prefix length is at most 128", s);
			return -ERR_INVALID;
		}
	} else {
		why_set(why, why_size, "'%s' is not an IPv4 or IPv6 prefix", s);
		return -ERR_INVALID;
	}
	out->len = len;
	unsigned bytes = out->family == 4 ? 4 : 16;
	for (unsigned bit = len; bit < bytes * 8; bit++) {
		if (out->addr[bit / 8] & (0x80u >> (bit % 8))) {
			why_set(why, why_size, "'%s' has host bits set after the prefix length", s);
			return -ERR_INVALID;
		}
	}
	char text[INET6_ADDRSTRLEN];
	inet_ntop(out->family == 4 ? AF_INET : AF_INET6, out->addr, text, sizeof text);
	snprintf(out->text, sizeof out->text, "%s/%u", text, len);
	return 0;
}

int prefix_cmp(const struct prefix *a, const struct prefix *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	int c = memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16);
	if (c)
		return c < 0 ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return 0;
}

const char *svc_mode_name(enum svc_mode m)
{
	switch (m) {
	case MODE_ANNOUNCE: return "announce";
	case MODE_PREPEND: return "prepend";
	case MODE_WITHDRAW: return "withdraw";
	}
	return "unknown";
}

int svc_mode_parse(const char *s, enum svc_mode *out)
{
	if (strcmp(s, "announce") == 0)
		*out = MODE_ANNOUNCE;
	else if (strcmp(s, "prepend") == 0)
		*out = MODE_PREPEND;
	else if (strcmp(s, "withdraw") == 0)
		*out = MODE_WITHDRAW;
	else
		return -ERR_INVALID;
	return 0;
}
