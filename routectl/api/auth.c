#include "api/auth.h"
#include "api/http.h"
#include "common/err.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* What auth_identify needs, all of it resolved beforehand so that it never
 * waits on a file or the name service. */
struct auth {
	struct token_set tokens;
	int has_admin_gid;
	gid_t admin_gid;
	uid_t own_uid;      /* routectld's effective uid: it is admin of itself */
};

/* Buffer limit of getgrnam_r: a group with thousands of members needs
 * more than the usual 1 KiB, but not more than this. */
#define GROUP_BUF_MAX (1u << 20)

/* The gid of group name (getgrnam_r: may wait on the name service). */
static int resolve_group(const char *name, gid_t *gid, struct err *e)
{
	long hint = sysconf(_SC_GETGR_R_SIZE_MAX);
	size_t size = hint > 0 ? (size_t)hint : 1024;
	for (;;) {
		char *buf = malloc(size);
		if (!buf)
			return err_set(e, ERR_NOMEM, "console admin-group \"%s\": out of memory", name);
		struct group gr, *found = NULL;
		int rc = getgrnam_r(name, &gr, buf, size, &found);
		if (rc == 0 && found)
			*gid = found->gr_gid;
		free(buf);
		if (rc == ERANGE && size < GROUP_BUF_MAX) {
			size *= 2;
			continue;
		}
		if (rc != 0)
			return err_set(e, ERR_IO, "console admin-group \"%s\": cannot look it up: %s",
				       name, strerror(rc));
		if (!found)
			return err_set(e, ERR_INVALID,
				       "console admin-group \"%s\": no such group", name);
		return 0;
	}
}

/* Loads what a struct auth holds into *out; nothing of it on failure. */
static int load(struct auth *out, const char *token_file, const char *admin_group,
		struct err *e)
{
	memset(out, 0, sizeof *out);
	out->own_uid = geteuid();
	if (admin_group) {
		int rc = resolve_group(admin_group, &out->admin_gid, e);
		if (rc < 0)
			return rc;
		out->has_admin_gid = 1;
	}
	if (token_file) {
		int rc = tokens_load(token_file, &out->tokens, e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

struct auth *auth_new(const char *token_file, const char *admin_group, struct err *e)
{
	err_clear(e);
	struct auth *a = malloc(sizeof *a);
	if (!a) {
		err_set(e, ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (load(a, token_file, admin_group, e) < 0) {
		free(a);
		return NULL;
	}
	return a;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	tokens_free(&a->tokens);
	free(a);
}

int auth_reload(struct auth *a, const char *token_file, const char *admin_group,
		struct err *e)
{
	err_clear(e);
	struct auth fresh;
	int rc = load(&fresh, token_file, admin_group, e);
	if (rc < 0)
		return rc;
	tokens_free(&a->tokens);
	*a = fresh;
	return 0;
}

void auth_replace(struct auth *a, struct auth *fresh)
{
	tokens_free(&a->tokens);
	*a = *fresh;
	free(fresh);
}

const char *auth_fail_name(enum auth_fail f)
{
	switch (f) {
	case AUTH_OK: return "ok";
	case AUTH_MISSING: return "missing";
	case AUTH_MALFORMED: return "malformed";
	case AUTH_INVALID: return "invalid";
	}
	return "unknown";
}

static int is_token68_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

/* "Bearer SECRET": the scheme in any case (RFC 9110, section 11.1), one or
 * more spaces (11.4: 1*SP), then a token68 (RFC 6750, section 2.1:
 * b64token *"="). White space around the whole value is not part of it
 * (RFC 9110, section 5.5). */
static enum auth_fail parse_bearer(const char *v, const char **secret, size_t *len)
{
	static const char scheme[] = "Bearer";
	const size_t slen = sizeof scheme - 1;

	while (*v == ' ' || *v == '\t')
		v++;
	if (strncasecmp(v, scheme, slen) != 0 || v[slen] != ' ')
		return AUTH_MALFORMED;
	v += slen;
	while (*v == ' ')
		v++;
	const char *start = v;
	while (is_token68_char(*v))
		v++;
	if (v == start)
		return AUTH_MALFORMED;
	while (*v == '=')
		v++;
	const char *end = v;
	while (*v == ' ' || *v == '\t')
		v++;
	if (*v != '\0')
		return AUTH_MALFORMED;
	*secret = start;
	*len = (size_t)(end - start);
	return AUTH_OK;
}

/* The value of the one Authorization header; two are refused as malformed,
 * because which one counts would depend on who reads them (a proxy may
 * pick the other). */
static enum auth_fail authorization(const struct http_request *rq, const char **value)
{
	size_t n = 0;
	*value = NULL;
	for (size_t i = 0; i < rq->n_headers; i++)
		if (rq->headers[i].name && strcasecmp(rq->headers[i].name, "Authorization") == 0) {
			if (n++ == 0)
				*value = rq->headers[i].value;
		}
	if (n == 0)
		return AUTH_MISSING;
	if (n > 1 || !*value)
		return AUTH_MALFORMED;
	return AUTH_OK;
}

static int in_admin_group(const struct auth *a, const struct http_request *rq)
{
	if (!a->has_admin_gid)
		return 0;
	if (rq->gid == a->admin_gid)
		return 1;
	for (size_t i = 0; i < rq->n_groups; i++)
		if (rq->groups && rq->groups[i] == a->admin_gid)
			return 1;
	return 0;
}

static void identify_console(const struct auth *a, const struct http_request *rq,
			     struct principal *p)
{
	if (!rq->has_cred) {
		p->fail = AUTH_MISSING;
		return;
	}
	p->role = rq->uid == 0 || rq->uid == a->own_uid || in_admin_group(a, rq)
		  ? ROLE_ADMIN : ROLE_VIEWER;
	snprintf(p->name, sizeof p->name, "uid %lu", (unsigned long)rq->uid);
}

static void identify_bearer(const struct auth *a, const struct http_request *rq,
			    struct principal *p)
{
	const char *value, *secret = NULL;
	size_t len = 0;
	enum auth_fail f = authorization(rq, &value);
	if (f == AUTH_OK)
		f = parse_bearer(value, &secret, &len);
	if (f != AUTH_OK) {
		p->fail = f;
		return;
	}
	const struct token *t = tokens_match(&a->tokens, secret, len);
	if (!t) {
		p->fail = AUTH_INVALID;
		return;
	}
	p->role = t->role;
	snprintf(p->name, sizeof p->name, "%s", t->name);
}

void auth_identify(const struct auth *a, const struct http_request *rq, struct principal *p)
{
	memset(p, 0, sizeof *p);
	p->role = ROLE_NONE;
	p->fail = AUTH_OK;
	if (rq->transport == HTTP_CONSOLE)
		identify_console(a, rq, p);
	else
		identify_bearer(a, rq, p);
}
