#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const names[ERR__COUNT] = {
	[ERR_OK] = "ok",
	[ERR_INVALID] = "invalid",
	[ERR_NOTFOUND] = "not-found",
	[ERR_IO] = "io",
	[ERR_BIRD] = "bird",
	[ERR_TIMEOUT] = "timeout",
	[ERR_CONNECT] = "connect",
	[ERR_PROTOCOL] = "protocol",
	[ERR_REFUSED] = "refused",
	[ERR_NOMEM] = "nomem",
	[ERR_VERIFY] = "verify",
	[ERR_BUSY] = "busy",
	[ERR_UNAVAILABLE] = "unavailable",
	[ERR_POLICY] = "policy",
};

const char *err_code_name(enum err_code code)
{
	if (code < 0 || code >= ERR__COUNT)
		return "unknown";
	return names[code];
}

void err_clear(struct err *e)
{
	if (!e)
		return;
	e->code = ERR_OK;
	e->msg[0] = '\0';
}

int err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
	if (e) {
		/* Formatted aside first: the arguments may be e->msg itself
		 * ("%s: more", e->msg). */
		char msg[sizeof e->msg];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		e->code = code;
		memcpy(e->msg, msg, sizeof msg);
	}
	return -(int)code;
}

int err_append(struct err *e, enum err_code code, const char *fmt, ...)
{
	if (!e)
		return -(int)code;
	if (e->code == ERR_OK)
		e->code = code;
	size_t used = strlen(e->msg);
	if (used > 0 && used + 1 < sizeof e->msg)
		e->msg[used++] = '\n', e->msg[used] = '\0';
	if (used + 1 < sizeof e->msg) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg + used, sizeof e->msg - used, fmt, ap);
		va_end(ap);
	}
	return -(int)e->code;
}

int err_prefix(struct err *e, const char *fmt, ...)
{
	if (!e)
		return -ERR_INVALID;
	char head[512], old[ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(head, sizeof head, fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof old);
	snprintf(e->msg, sizeof e->msg, "%s: %s", head, old);
	if (e->code == ERR_OK)
		e->code = ERR_INVALID;
	return -(int)e->code;
}
