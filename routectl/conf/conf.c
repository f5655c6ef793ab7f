#include "conf/conf.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/yangctx.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <libyang/libyang.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONF_MODULE "routectl-config"
#define CONF_TOP "routectl-config:routectld"
#define CONF_ROOT "/" CONF_TOP

/* Prefixes are judged by prefix_parse, on the value as written: libyang
 * clears the host bits of an inet:ipv4-prefix without a word, and
 * "192.0.2.1/24" is almost always a typo for another prefix; and its
 * pattern-mismatch message (a page of regular expression) tells an
 * operator less than "is an IPv6 prefix". */
static void check_value(void *arg, const struct lysc_node *schema, const char *value,
			const char *ly_reason, char *why, size_t why_size)
{
	(void)arg;
	int family;
	if (strcmp(schema->name, "address") == 0 && ly_reason) {
		snprintf(why, why_size, "'%s' is not an IPv4 or IPv6 address (a name is not "
			 "resolved: write 127.0.0.1, ::1, 0.0.0.0 or ::)", value);
		return;
	}
	if (strcmp(schema->name, "ipv4-prefix") == 0)
		family = 4;
	else if (strcmp(schema->name, "ipv6-prefix") == 0)
		family = 6;
	else
		return;
	struct prefix p;
	if (prefix_parse(value, &p, why, (unsigned)why_size) < 0)
		return;
	if (p.family != family)
		snprintf(why, why_size, "'%s' is an IPv%d prefix; it belongs in ipv%d-prefix", value,
			 p.family, p.family);
	else if (ly_reason)
		why[0] = '\0';   /* libyang's reason stands */
}

static void service_path(char *out, size_t size, json_t *svc, size_t index)
{
	const char *name = json_string_value(json_object_get(svc, "name"));
	if (name && !(strchr(name, '\'') && strchr(name, '"')))
		yangctx_entry_path(out, size, CONF_ROOT, "service", "name", name);
	else
		snprintf(out, size, "%s/service[%zu]", CONF_ROOT, index + 1);
}

/* A prefix and where it is written: the path is made only for a report
 * (a path per prefix costs 50 MB and a third of the load at 100,000). */
struct owned_prefix {
	struct prefix p;
	const char *service;
	size_t svc_index;
	unsigned leaf;
};

static int owned_cmp(const void *a, const void *b)
{
	const struct owned_prefix *x = a, *y = b;
	int c = prefix_cmp(&x->p, &y->p);
	return c ? c : strcmp(x->service, y->service);
}

/* The out-of-band listeners are independent of the primary ones: their
 * tokens are another file (a primary token must not open the out-of-band
 * path, nor the reverse), and none of their addresses is a primary one (the
 * second bind would fail, and one address could not tell which set of
 * tokens a request is for). Addresses are compared as written (the document
 * before libyang makes them canonical), which catches the usual copy of
 * an entry; "::1" against "0:0::1" is left to the failing bind. */
/* Whether TCP listeners on addresses a and b (IP literals) with the same
 * port would take each other's connections: the same address, or a
 * wildcard (0.0.0.0, ::) of the same family, which the kernel binds across
 * every address of that family. IPv6 listeners are IPV6_V6ONLY, so the
 * families never overlap. */
static int listen_overlap(const char *a, const char *b)
{
	unsigned char x[16], y[16];
	static const unsigned char zero[16];
	int fam = strchr(a, ':') ? AF_INET6 : AF_INET;
	if ((strchr(b, ':') ? AF_INET6 : AF_INET) != fam || inet_pton(fam, a, x) != 1 ||
	    inet_pton(fam, b, y) != 1)
		return 0;
	size_t n = fam == AF_INET6 ? 16 : 4;
	return memcmp(x, y, n) == 0 || memcmp(x, zero, n) == 0 || memcmp(y, zero, n) == 0;
}

/* Two listeners (api/listen and api/out-of-band/listen, in any pairing)
 * that would take each other's connections: the same address and port
 * (also written two ways, "::1" and "0::1"), or a wildcard and another
 * address of its family on the same port. One of them could never bind
 * (routectld would keep retrying it), or the wildcard would answer for the
 * other, with the other's tokens refused. */
static void check_listen_overlap(json_t *api, json_t *oob, const char *what, struct err *e)
{
	json_t *lists[2] = { json_object_get(api, "listen"), json_object_get(oob, "listen") };
	static const char *const names[2] = { "api/listen", "api/out-of-band/listen" };
	for (size_t la = 0; la < 2; la++) {
		json_t *a, *b;
		size_t i, k;
		json_array_foreach(lists[la], i, a) {
			const char *addr = json_string_value(json_object_get(a, "address"));
			json_int_t port = json_integer_value(json_object_get(a, "port"));
			/* each pair once: later entries of the same list, then the other list */
			for (size_t lb = la; lb < 2; lb++) {
				json_array_foreach(lists[lb], k, b) {
					if (lb == la && k <= i)
						continue;
					const char *baddr = json_string_value(json_object_get(b, "address"));
					if (!addr || !baddr || !listen_overlap(addr, baddr) ||
					    port != json_integer_value(json_object_get(b, "port")))
						continue;
					char path[600];
					yangctx_entry_path(path, sizeof path,
							   lb ? CONF_ROOT "/api/out-of-band" : CONF_ROOT "/api",
							   "listen", "address", baddr);
					if (lb != la && strcmp(addr, baddr) == 0)
						yangctx_report(e, what, path,
							       "%s port %lld is also in api/listen; an "
							       "out-of-band address must be one of its own",
							       baddr, (long long)port);
					else
						yangctx_report(e, what, path,
							       "%s port %lld overlaps %s %s port %lld (the "
							       "same address, or a wildcard that binds every "
							       "address of its family): only one of them can "
							       "be bound; give each a port of its own",
							       baddr, (long long)port, names[la], addr,
							       (long long)port);
				}
			}
		}
	}
}

static void check_out_of_band(json_t *api, const char *what, struct err *e)
{
	json_t *oob = json_object_get(api, "out-of-band");
	check_listen_overlap(api, oob, what, e);
	if (!json_is_object(oob))
		return;
	const char *primary_tokens = json_string_value(json_object_get(api, "token-file"));
	const char *oob_tokens = json_string_value(json_object_get(oob, "token-file"));
	if (primary_tokens && oob_tokens && strcmp(primary_tokens, oob_tokens) == 0)
		yangctx_report(e, what, CONF_ROOT "/api/out-of-band/token-file",
			       "%s is also api/token-file; the out-of-band listeners need tokens "
			       "of their own (a primary token must not work there)", oob_tokens);
}

/* Rules YANG says with must and when, which libyang reports one at a
 * time, and one it cannot say: a prefix belongs to one service only (two
 * services cannot both own it: draining one would move the other's
 * traffic). */
static void check_document(void *arg, json_t *doc, const char *what, struct err *e)
{
	(void)arg;
	check_out_of_band(json_object_get(json_object_get(doc, CONF_TOP), "api"), what, e);
	json_t *svcs = json_object_get(json_object_get(doc, CONF_TOP), "service");
	if (!json_is_array(svcs))
		return;
	size_t cap = 0, n = 0, total = 0;
	struct owned_prefix *all = NULL;
	static const char *const leaves[] = { "ipv4-prefix", "ipv6-prefix" };
	for (size_t i = 0; i < json_array_size(svcs); i++) {
		json_t *svc = json_array_get(svcs, i);
		if (!json_is_object(svc))
			continue;
		const char *name = json_string_value(json_object_get(svc, "name"));
		char path[512];
		service_path(path, sizeof path, svc, i);
		size_t count = 0;
		for (size_t l = 0; l < 2; l++) {
			json_t *list = json_object_get(svc, leaves[l]);
			if (!json_is_array(list))
				continue;
			count += json_array_size(list);
			for (size_t k = 0; name && k < json_array_size(list); k++) {
				const char *text = json_string_value(json_array_get(list, k));
				struct prefix p;
				if (!text || prefix_parse(text, &p, NULL, 0) < 0)
					continue;
				if (n == cap) {
					size_t ncap = cap ? cap * 2 : 16;
					struct owned_prefix *na = realloc(all, ncap * sizeof *na);
					if (!na) {
						err_append(e, ERR_NOMEM, "%s: out of memory", what);
						free(all);
						return;
					}
					all = na;
					cap = ncap;
				}
				all[n].p = p;
				all[n].service = name;
				all[n].svc_index = i;
				all[n].leaf = (unsigned)l;
				n++;
			}
		}
		total += count;
		if (count == 0)
			yangctx_report(e, what, path,
				       "a service needs at least one prefix (ipv4-prefix or ipv6-prefix)");
		const char *initial = json_string_value(json_object_get(svc, "initial-state"));
		if (json_object_get(svc, "initial-prepend") && (!initial || strcmp(initial, "prepend") != 0)) {
			char ppath[600];
			snprintf(ppath, sizeof ppath, "%s/initial-prepend", path);
			yangctx_report(e, what, ppath, "only allowed when initial-state is prepend (it is %s)",
				       initial ? initial : "announce");
		}
	}
	if (n > 1)
		qsort(all, n, sizeof *all, owned_cmp);
	/* Equal prefixes are adjacent; the first of a run names the owner
	 * the others collide with. A prefix listed twice in one service is
	 * a duplicate leaf-list value, reported by the YANG walk. */
	for (size_t i = 1, first = 0; i < n; i++) {
		if (prefix_cmp(&all[i].p, &all[first].p) != 0) {
			first = i;
			continue;
		}
		if (strcmp(all[i].service, all[i - 1].service) == 0)
			continue;
		char path[600];
		service_path(path, sizeof path, json_array_get(svcs, all[i].svc_index),
			     all[i].svc_index);
		size_t used = strlen(path);
		snprintf(path + used, sizeof path - used, "/%s", leaves[all[i].leaf]);
		yangctx_report(e, what, path,
			       "%s is in service '%s' and in service '%s'; a prefix belongs to one service only",
			       all[i].p.text, all[first].service, all[i].service);
	}
	free(all);
	if (total > CONF_MAX_PREFIXES)
		yangctx_report(e, what, CONF_ROOT "/service",
			       "the services list %zu prefixes in all; a site can have at most %u",
			       total, CONF_MAX_PREFIXES);
}

static int copy_str(char **dst, const char *src)
{
	if (!src) {
		*dst = NULL;
		return 0;
	}
	*dst = strdup(src);
	return *dst ? 0 : -1;
}

static int cmp_service(const void *a, const void *b)
{
	return strcmp(((const struct conf_service *)a)->name, ((const struct conf_service *)b)->name);
}

static int cmp_prefix(const void *a, const void *b)
{
	return prefix_cmp(a, b);
}

static int fill_service(const struct lyd_node *node, struct conf_service *s, const char *what,
			struct err *e)
{
	if (copy_str(&s->name, yangctx_get(node, "name")) < 0)
		return err_append(e, ERR_NOMEM, "%s: out of memory", what);
	size_t n = yangctx_count_children(node, "ipv4-prefix") + yangctx_count_children(node, "ipv6-prefix");
	s->prefixes = calloc(n ? n : 1, sizeof *s->prefixes);
	if (!s->prefixes)
		return err_append(e, ERR_NOMEM, "%s: out of memory", what);
	for (const struct lyd_node *c = lyd_child(node); c; c = c->next) {
		if (!c->schema || (strcmp(c->schema->name, "ipv4-prefix") != 0 &&
				   strcmp(c->schema->name, "ipv6-prefix") != 0))
			continue;
		char why[256];
		if (prefix_parse(lyd_get_value(c), &s->prefixes[s->n_prefixes], why, sizeof why) < 0)
			return err_append(e, ERR_INVALID, "%s: " CONF_ROOT "/service[name='%s']/%s: %s",
					  what, s->name, c->schema->name, why);
		s->n_prefixes++;
	}
	/* IPv4 sorts before IPv6 (prefix_cmp orders by family first). */
	qsort(s->prefixes, s->n_prefixes, sizeof *s->prefixes, cmp_prefix);
	const char *mode = yangctx_get(node, "initial-state");
	if (!mode || svc_mode_parse(mode, &s->initial_mode) < 0)
		s->initial_mode = MODE_ANNOUNCE;
	s->initial_prepend = 0;
	if (s->initial_mode == MODE_PREPEND)
		s->initial_prepend = (unsigned)yangctx_get_uint(node, "initial-prepend", 3);
	return 0;
}

/* The listen entries under node (api or api/out-of-band) into *out. */
static int fill_listen(const struct lyd_node *node, struct conf_listen **out, size_t *n_out)
{
	size_t n = node ? yangctx_count_children(node, "listen") : 0;
	*out = calloc(n ? n : 1, sizeof **out);
	if (!*out)
		return -1;
	for (const struct lyd_node *l = node ? lyd_child(node) : NULL; l; l = l->next) {
		if (!l->schema || strcmp(l->schema->name, "listen") != 0)
			continue;
		struct conf_listen *x = &(*out)[(*n_out)++];
		x->port = (unsigned)yangctx_get_uint(l, "port", 0);
		const char *mo = yangctx_get(l, "metrics-only");
		x->metrics_only = mo && strcmp(mo, "true") == 0;
		if (copy_str(&x->address, yangctx_get(l, "address")) < 0 ||
		    copy_str(&x->tls_cert, yangctx_get(l, "tls-certificate")) < 0 ||
		    copy_str(&x->tls_key, yangctx_get(l, "tls-key")) < 0)
			return -1;
	}
	return 0;
}

/* console/admin-group and the api container. */
static int fill_api(const struct lyd_node *root, struct conf *c)
{
	if (copy_str(&c->console_admin_group, yangctx_get(root, "console/admin-group")) < 0 ||
	    copy_str(&c->token_file, yangctx_get(root, "api/token-file")) < 0 ||
	    copy_str(&c->audit_log, yangctx_get(root, "api/audit-log")) < 0)
		return -1;
	if (!c->audit_log && c->state_dir &&
	    asprintf(&c->audit_log, "%s/audit.log", c->state_dir) < 0) {
		c->audit_log = NULL;
		return -1;
	}
	c->max_connections = (unsigned)yangctx_get_uint(root, "api/max-connections", 256);
	c->max_per_address = (unsigned)yangctx_get_uint(root, "api/max-connections-per-address", 32);
	c->write_rate_per_min = (unsigned)yangctx_get_uint(root, "api/write-rate", 60);
	c->write_burst = (unsigned)yangctx_get_uint(root, "api/write-burst", 20);
	struct lyd_node *api = NULL, *oob = NULL;
	lyd_find_path(root, "api", 0, &api);
	if (fill_listen(api, &c->listen, &c->n_listen) < 0)
		return -1;
	lyd_find_path(root, "api/out-of-band", 0, &oob);
	if (copy_str(&c->oob_token_file, yangctx_get(root, "api/out-of-band/token-file")) < 0)
		return -1;
	c->oob_max_connections =
		(unsigned)yangctx_get_uint(root, "api/out-of-band/max-connections", 64);
	c->oob_max_per_address =
		(unsigned)yangctx_get_uint(root, "api/out-of-band/max-connections-per-address", 16);
	return fill_listen(oob, &c->oob_listen, &c->n_oob_listen);
}

static int fill_conf(const struct lyd_node *tree, const char *what, void *arg, struct err *e)
{
	struct conf *c = arg;
	struct lyd_node *root = NULL;
	if (lyd_find_path(tree, CONF_ROOT, 0, &root) != LY_SUCCESS || !root)
		return err_append(e, ERR_INVALID, "%s: no %s", what, CONF_TOP);

	if (copy_str(&c->site, yangctx_get(root, "site")) < 0 ||
	    copy_str(&c->bird_socket, yangctx_get(root, "bird/control-socket")) < 0 ||
	    copy_str(&c->include_path, yangctx_get(root, "bird/include")) < 0 ||
	    copy_str(&c->template_path, yangctx_get(root, "bird/template")) < 0 ||
	    copy_str(&c->state_dir, yangctx_get(root, "state-dir")) < 0 ||
	    copy_str(&c->console_socket, yangctx_get(root, "console/socket")) < 0 ||
	    copy_str(&c->policy_path, yangctx_get(root, "policy-file")) < 0 ||
	    copy_str(&c->fleet_path, yangctx_get(root, "fleet-file")) < 0)
		return err_append(e, ERR_NOMEM, "%s: out of memory", what);
	c->local_as = (uint32_t)yangctx_get_uint(root, "local-as", 0);
	c->configure_timeout_s = (unsigned)yangctx_get_uint(root, "bird/configure-timeout", 30);
	c->bird_timeout_ms = (unsigned)yangctx_get_uint(root, "bird/command-timeout-ms", 5000);
	c->verify_timeout_ms = (unsigned)yangctx_get_uint(root, "bird/verify-timeout-ms", 5000);
	c->reconcile_interval_s = (unsigned)yangctx_get_uint(root, "reconcile-interval", 30);
	unsigned min_s = conf_min_configure_timeout(c->bird_timeout_ms, c->verify_timeout_ms);
	int too_short = c->configure_timeout_s < min_s;
	if (too_short)
		yangctx_report(e, what, CONF_ROOT "/bird/configure-timeout",
			       "%u s leaves no room to verify and confirm: BIRD undoes the change "
			       "by itself after configure-timeout, and a configure (command-timeout-ms "
			       "%u), verify (verify-timeout-ms %u) and a confirm (command-timeout-ms "
			       "%u) with a %u ms margin need at least %u s; raise configure-timeout "
			       "to %u or lower the other two",
			       c->configure_timeout_s, c->bird_timeout_ms, c->verify_timeout_ms,
			       c->bird_timeout_ms, CONF_CONFIRM_MARGIN_MS, min_s, min_s);
	const char *mode = yangctx_get(root, "console/mode");
	c->console_mode = mode ? (unsigned)strtoul(mode, NULL, 8) : 0660;
	if (fill_api(root, c) < 0)
		return err_append(e, ERR_NOMEM, "%s: out of memory", what);

	struct lyd_node *bird = NULL;
	lyd_find_path(root, "bird", 0, &bird);
	size_t n = yangctx_count_children(bird, "bgp-protocol");
	c->bgp_protocols = calloc(n ? n : 1, sizeof *c->bgp_protocols);
	if (!c->bgp_protocols)
		return err_append(e, ERR_NOMEM, "%s: out of memory", what);
	for (const struct lyd_node *p = lyd_child(bird); p; p = p->next) {
		if (!p->schema || strcmp(p->schema->name, "bgp-protocol") != 0)
			continue;
		if (copy_str(&c->bgp_protocols[c->n_bgp_protocols], lyd_get_value(p)) < 0)
			return err_append(e, ERR_NOMEM, "%s: out of memory", what);
		c->n_bgp_protocols++;
	}

	n = yangctx_count_children(root, "service");
	c->services = calloc(n ? n : 1, sizeof *c->services);
	if (!c->services)
		return err_append(e, ERR_NOMEM, "%s: out of memory", what);
	for (const struct lyd_node *s = lyd_child(root); s; s = s->next) {
		if (!s->schema || strcmp(s->schema->name, "service") != 0)
			continue;
		/* Counted first so that conf_free frees a half-filled entry. */
		c->n_services++;
		int rc = fill_service(s, &c->services[c->n_services - 1], what, e);
		if (rc < 0)
			return rc;
	}
	qsort(c->services, c->n_services, sizeof *c->services, cmp_service);
	return too_short ? -ERR_INVALID : 0;
}

unsigned conf_min_configure_timeout(unsigned command_timeout_ms, unsigned verify_timeout_ms)
{
	uint64_t ms = 2 * (uint64_t)command_timeout_ms + verify_timeout_ms + CONF_CONFIRM_MARGIN_MS;
	return (unsigned)((ms + 999) / 1000);
}

int conf_parse(const char *json, const char *name, struct conf **out, struct err *e)
{
	char what[512];
	snprintf(what, sizeof what, "config %s", name);
	const struct yangctx_checks checks = {
		.value = check_value,
		.document = check_document,
	};
	struct conf *c = calloc(1, sizeof *c);
	if (!c)
		return err_set(e, ERR_NOMEM, "%s: out of memory", what);
	int rc = yangctx_read_document(json, CONF_MODULE, what, &checks, fill_conf, c, e);
	if (rc < 0) {
		conf_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int conf_load(const char *path, struct conf **out, struct err *e)
{
	char *data = NULL;
	struct err fe;
	int rc = fs_read_file(path, CONF_MAX_FILE_SIZE, &data, NULL, &fe);
	if (rc < 0)
		return err_set(e, fe.code, "config %s", fe.msg);
	rc = conf_parse(data, path, out, e);
	free(data);
	return rc;
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	free(c->site);
	free(c->bird_socket);
	free(c->include_path);
	free(c->template_path);
	for (size_t i = 0; i < c->n_bgp_protocols; i++)
		free(c->bgp_protocols[i]);
	free(c->bgp_protocols);
	free(c->state_dir);
	free(c->console_socket);
	free(c->console_admin_group);
	for (size_t i = 0; i < c->n_listen; i++) {
		free(c->listen[i].address);
		free(c->listen[i].tls_cert);
		free(c->listen[i].tls_key);
	}
	free(c->listen);
	for (size_t i = 0; i < c->n_oob_listen; i++) {
		free(c->oob_listen[i].address);
		free(c->oob_listen[i].tls_cert);
		free(c->oob_listen[i].tls_key);
	}
	free(c->oob_listen);
	free(c->oob_token_file);
	free(c->token_file);
	free(c->audit_log);
	free(c->policy_path);
	free(c->fleet_path);
	for (size_t i = 0; i < c->n_services; i++) {
		free(c->services[i].name);
		free(c->services[i].prefixes);
	}
	free(c->services);
	free(c);
}

const struct conf_service *conf_find_service(const struct conf *c, const char *name)
{
	if (!c || !name)
		return NULL;
	struct conf_service key = { .name = (char *)name };
	return bsearch(&key, c->services, c->n_services, sizeof *c->services, cmp_service);
}
