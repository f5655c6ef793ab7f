/* routectl emergency drain|undrain|status: the site's announcements changed
 * on the router host with no routectld, for when the daemon is down.
 *
 * It reads routectld's config and drives the same site controller
 * (site/site.h: site_open, then site_change with the same renderer, apply
 * and verify) straight over BIRD's control socket, with --now semantics:
 * in an emergency the drain is immediate (withdraw; undrain: announce),
 * never staged. The guards are judged as routectld judges them, with the
 * fleet document of the config when there is one (fleet/fleetview.h);
 * --force overrides them (and says so). The actor is "emergency: USER (uid
 * N) on HOST". Every command leaves an intent record in the emergency
 * journal before it applies anything and an outcome record after
 * (site/emergency.h), which routectld adopts when it starts.
 *
 * It runs as routectld's user (the owner of the state directory): root
 * becomes that user, with the group of BIRD's control socket, so that the
 * state file, include and journal it writes stay routectld's; another user
 * is refused. It holds routectld's site lock for its run. When routectld runs (the lock
 * is held, or its console socket answers) it refuses and names the normal
 * path, unless --force: then it goes on beside routectld, which adopts the
 * journal within a second and does not revert the change. status changes
 * nothing: it shows the desired state from the state file, whether the
 * include on disk is the render of it, what BIRD's running routectl_export()
 * does per service, and the journal records routectld has not adopted yet. */
#ifndef ROUTECTL_CLI_EMERGENCY_H
#define ROUTECTL_CLI_EMERGENCY_H

#include "cli/args.h"

#include <stdio.h>

/* Runs req (cmd CMD_EMERGENCY), printing to out and err. Returns the exit
 * status: CLI_EXIT_OK (applied, or status shown), CLI_EXIT_FAILED (refused,
 * failed, routectld runs, the config does not load). */
int cli_emergency(const struct cli_request *req, FILE *out, FILE *err);

#endif
