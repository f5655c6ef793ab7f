/* The view of the other sites for the guards (see fleetview.h). */
#include "fleet/fleetview.h"

#include "common/err.h"
#include "fleet/fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One site of fleet_view's answer as the guards see it. */
static int convert_site(const struct fleet_view_site *fs, struct guard_view_site *gs,
			struct err *e)
{
	snprintf(gs->name, sizeof gs->name, "%s", fs->name);
	gs->reachable = fs->n_unreachable == 0 && fs->n_routers > 0;
	size_t used = 0;
	for (size_t r = 0; r < fs->n_routers && used < sizeof gs->why; r++) {
		const struct fleet_view_router *vr = &fs->routers[r];
		if (vr->answered)
			continue;
		used += (size_t)snprintf(gs->why + used, sizeof gs->why - used, "%srouter %s: %s",
					 used ? "; " : "", vr->router->name,
					 vr->error[0] ? vr->error : "no answer");
	}
	gs->services = calloc(fs->n_services + 1, sizeof *gs->services);
	if (!gs->services)
		return err_set(e, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < fs->n_services; i++) {
		const struct fleet_view_service *sv = &fs->services[i];
		if (!sv->known)
			continue;   /* no router that answered has a state for it */
		struct guard_view_service *g = &gs->services[gs->n_services++];
		snprintf(g->name, sizeof g->name, "%s", sv->name);
		g->mode = sv->mode;
		g->prepend = sv->prepend;
	}
	return 0;
}

int fleetview_ask(const char *fleet_path, const char *except_site, unsigned timeout_ms,
		  struct guard_view *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	struct fleet *f = NULL;
	int rc = fleet_load(fleet_path, &f, e);
	if (rc < 0)
		return err_prefix(e, "the fleet document does not load");
	/* A document without this site is another fleet's, or out of date:
	 * its other sites say nothing about what this change leaves. */
	if (!fleet_find_site(f, except_site)) {
		fleet_free(f);
		return err_set(e, ERR_INVALID,
			       "the fleet document %s has no site '%s' (this routectld's): "
			       "another fleet's document, or out of date",
			       fleet_path, except_site);
	}
	struct fleet_view v;
	rc = fleet_view(f, except_site, timeout_ms, &v, e);
	if (rc < 0) {
		fleet_free(f);
		return err_prefix(e, "cannot ask the other sites of %s", fleet_path);
	}
	rc = fleetview_from_view(&v, out, e);
	fleet_view_free(&v);
	fleet_free(f);
	return rc;
}

int fleetview_from_view(const struct fleet_view *v, struct guard_view *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	out->sites = calloc(v->n_sites + 1, sizeof *out->sites);
	int rc = out->sites ? 0 : err_set(e, ERR_NOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < v->n_sites; i++) {
		rc = convert_site(&v->sites[i], &out->sites[i], e);
		out->n_sites++;
	}
	if (rc < 0)
		guard_view_free(out);
	return rc;
}
