/* Shared by the files of the daemon module (daemon.c, change.c,
 * reconcile.c); not an API for other modules. */
#ifndef ROUTECTL_DAEMON_INTERNAL_H
#define ROUTECTL_DAEMON_INTERNAL_H

#include "daemon/daemon.h"

#include <stdint.h>

struct state;

void set_last_apply(struct daemon *d, const char *trigger, int ok, const char *change_id,
		    const char *message, int64_t ms);
/* Keep waking BIRD for a while after an apply (see daemon.c). */
void start_wake_window(struct daemon *d);
/* Drops the BIRD connection; the event loop reconnects. */
void bird_disconnect(struct daemon *d, const char *why);
/* Applies new as the desired state (saved between verify and confirm); on
 * success it replaces d->state, else new is the caller's to free. */
int commit_state(struct daemon *d, struct state *new, const char *trigger,
		 const char *change_id, int64_t *ms, struct change_result *res,
		 struct err *e);
/* Keeps what a precheck found, for status (takes the peers over). */
void keep_peer_findings(struct daemon *d, struct apply_peers *peers);
/* When the next staged step is due (monotonic ms), INT64_MAX if none. */
int64_t earliest_step_ms(const struct daemon *d);

#endif
