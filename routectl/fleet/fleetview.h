/* The view of the other sites for the guards across sites (site/guards.h),
 * as routectld and `routectl emergency` judge them: the fleet document
 * (config fleet-file) asked live, every router of every other site at once,
 * with fleet_view() (fleet/fleet.h).
 * The first backend of the fleet view; a later one (etcd) fills the same
 * struct guard_view. */
#ifndef ROUTECTL_FLEETVIEW_H
#define ROUTECTL_FLEETVIEW_H

#include "site/guards.h"

struct err;

/* Loads the fleet document at fleet_path (read at every call, so that an
 * edited document or a rotated token file counts without a SIGHUP) and asks
 * GET /v1/status of every router of every site but except_site, each
 * within timeout_ms. A site is reachable when every one of its routers
 * answered; its services carry the most drained state its routers have
 * (fleet_view's rule), and a service no router knows is left out (not
 * announced there). Returns 0 with *out filled (free with guard_view_free),
 * or <0 with e saying why there is no view at all (the document does not
 * load or does not list except_site, no router selected). Blocks up to about timeout_ms: call it from
 * routectld's BIRD worker (never from its event loop) or from the CLI. */
int fleetview_ask(const char *fleet_path, const char *except_site, unsigned timeout_ms,
		  struct guard_view *out, struct err *e);

struct fleet_view;

/* The guards' view of a fleet view (what fleetview_ask does once the
 * answers are in; public for tests): per site, reachable when every router
 * answered (why names the others and their errors), and the services whose
 * state is known. Returns 0 or -ERR_NOMEM (out empty). */
int fleetview_from_view(const struct fleet_view *v, struct guard_view *out, struct err *e);

#endif
