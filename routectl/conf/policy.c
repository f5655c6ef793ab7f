/* Policy documents (YANG module routectl-policy), declared in conf.h. */
#include "conf/conf.h"
#include "common/embedded.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/yangctx.h"

#include <libyang/libyang.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_MAX_SIZE (256 * 1024)
#define POLICY_TOP "routectl-policy:policy"
#define POLICY_ROOT "/" POLICY_TOP
#define POLICY_DEFAULT "default.json"

static int fill_policy(const struct lyd_node *tree, const char *what, void *arg,
		       struct err *e)
{
	struct policy *out = arg;
	/* Validation added the defaults, so every leaf is there. */
	struct lyd_node *root = NULL;
	if (lyd_find_path(tree, POLICY_ROOT, 0, &root) != LY_SUCCESS || !root)
		return err_set(e, ERR_INVALID, "%s: no %s", what, POLICY_TOP);
	out->drain_prepend = (unsigned)yangctx_get_uint(root, "drain/prepend", 3);
	out->drain_wait_s = (unsigned)yangctx_get_uint(root, "drain/wait", 60);
	out->undrain_prepend = (unsigned)yangctx_get_uint(root, "undrain/prepend", 3);
	out->undrain_wait_s = (unsigned)yangctx_get_uint(root, "undrain/wait", 60);
	const char *unlisted = yangctx_get(root, "unlisted-exporter");
	out->refuse_drain_unlisted = unlisted && strcmp(unlisted, "refuse-drain") == 0;
	const char *last = yangctx_get(root, "guards/last-site");
	out->guard_last_site = !last || strcmp(last, "true") == 0;
	out->max_drained_sites = (unsigned)yangctx_get_uint(root, "guards/max-drained-sites", 1);
	const char *without = yangctx_get(root, "guards/without-fleet");
	out->stand_alone = without && strcmp(without, "stand-alone") == 0;
	out->ask_timeout_ms = (unsigned)yangctx_get_uint(root, "guards/ask-timeout-ms", 2000);
	out->flap_changes = (unsigned)yangctx_get_uint(root, "flap-budget/changes", 6);
	out->flap_window_s = (unsigned)yangctx_get_uint(root, "flap-budget/window", 3600);
	return 0;
}

int policy_parse(const char *json, const char *name, struct policy *out, struct err *e)
{
	char what[512];
	snprintf(what, sizeof what, "policy %s", name);
	return yangctx_read_document(json, "routectl-policy", what, NULL, fill_policy, out, e);
}

int policy_load(const char *path, struct policy *out, struct err *e)
{
	if (!path) {
		const struct embedded_file *f = embedded_find(POLICY_DEFAULT);
		if (!f)
			return err_set(e, ERR_NOTFOUND, "policy: the built-in %s is missing",
				       POLICY_DEFAULT);
		return policy_parse(f->data, "(built-in policies/" POLICY_DEFAULT ")", out, e);
	}
	char *data = NULL;
	struct err fe;
	int rc = fs_read_file(path, POLICY_MAX_SIZE, &data, NULL, &fe);
	if (rc < 0)
		return err_set(e, fe.code, "policy %s", fe.msg);
	rc = policy_parse(data, path, out, e);
	free(data);
	return rc;
}
