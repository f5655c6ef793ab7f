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
/* Sets the safe mode reason (printf) and kind, and logs it. */
void enter_safe_mode(struct daemon *d, enum safe_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Drops the BIRD connection; the event loop reconnects. */
void bird_disconnect(struct daemon *d, const char *why);
/* Applies new as the desired state (saved between verify and confirm); on
 * success it replaces d->state, else new is the caller's to free. */
int commit_state(struct daemon *d, struct state *new, const char *trigger,
		 const char *change_id, int64_t *ms, struct err *e);
/* Right after a first start (a fresh state, no include found), the first
 * time BIRD is connected: if BIRD already runs routectl's routes and exports
 * them otherwise than the fresh state says, an earlier state was lost with
 * its include; enter safe mode (state lost) instead of applying, and keep the
 * fresh state file aside so that a restart does not load it. Returns 0 to go
 * on, -1 when routectld is now in safe mode or BIRD could not be asked (the
 * check is then made again on the next connection). */
int daemon_check_first_start(struct daemon *d);

/* When the next staged step is due (monotonic ms), INT64_MAX if none. */
int64_t earliest_step_ms(const struct daemon *d);

#endif
