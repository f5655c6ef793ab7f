/* routectld's BIRD worker: one thread that owns the BIRD connection and the
 * site controller (site/), and runs every change, staged step, reconcile,
 * verify and reconnect.
 *
 * Why a thread rather than a non-blocking BIRD client driven by the loop:
 * apply/ and site/ are straight-line sequences of blocking BIRD commands
 * with timeouts (precheck, configure timeout, verify until it matches,
 * confirm, undo on failure), shared with the CLI's emergency mode and the
 * tests. Turning them into state machines would duplicate each sequence;
 * one thread keeps them as they read, and the event loop never waits on
 * BIRD: a silent or slow BIRD costs the worker its timeouts, never a read.
 *
 * Single writer: only this thread changes the desired state (struct site).
 * After each step it publishes a view (a copy: desired state, BIRD's
 * connection state, last apply, repairs, the change in flight) under a
 * mutex; reads are answered from that view by the event loop. Changes are
 * queued in order and come back through a done queue and an eventfd that
 * the loop polls.
 *
 * Reconnects back off, 250 ms doubling to 30 s, and log one line per
 * change of BIRD's state (up, down, or a new reason for being down), not
 * one per attempt. After an apply that changed what BIRD runs, the worker
 * keeps waking BIRD with `show status` every 2 ms for 3 s: BIRD 2.0.12
 * sends the tail of a large update burst only when its I/O loop wakes
 * (shared BIRD facts, "Propagation speed").
 *
 * Before every step it looks for the emergency journal that `routectl
 * emergency --force` leaves beside a running routectld (one stat(2)), and
 * adopts it (site/emergency.h): the emergency state becomes the desired
 * state, so the reconciler never reverts it as drift; while a command is
 * writing the journal, the worker applies nothing on its own. The adopted
 * commands go to the loop for the audit log (worker_take_emergency). */
#ifndef ROUTECTL_WORKER_H
#define ROUTECTL_WORKER_H

#include "api/commands.h"
#include "site/site.h"

struct worker;

/* Starts the thread with s (taken: the caller must not touch it again).
 * Returns NULL with e set when the thread or its fds cannot be made (then
 * s is still the caller's). */
struct worker *worker_start(struct site *s, struct err *e);

/* The fd the event loop polls (POLLIN): finished jobs are waiting. */
int worker_done_fd(const struct worker *w);
/* In the loop's thread: hands every finished job to command_job_done(). */
void worker_collect(struct worker *w);

/* The command layer's backend (with_view, submit) over this worker. */
void worker_backend(struct worker *w, struct command_backend *b);

struct emergency_journal;

/* In the loop's thread: takes the emergency commands the worker adopted
 * (site/emergency.h; it looks for the journal before every step, and
 * applies nothing on its own while an emergency command is writing it), for
 * the audit log. Returns 1 with *out filled (free it with
 * emergency_journal_free), 0 when there are none. The done fd turns
 * readable when some are waiting. */
int worker_take_emergency(struct worker *w, struct emergency_journal *out);

/* In the loop's thread: takes the changes the worker made on its own
 * (site.h, "Automatic changes": staged steps, reverts at a confirm
 * deadline, reverts a guard kept), for the audit log. Returns 1 with *out
 * filled (free it with auto_changes_free), 0 when there are none. The done
 * fd turns readable when some are waiting. */
int worker_take_auto_changes(struct worker *w, struct auto_changes *out);

struct auth;

/* How a reload went, handed to the event loop. */
struct worker_reload_result {
	time_t at;                /* when it was decided */
	int ok;
	struct err err;           /* !ok: why, naming the file and the field */
	/* ok: settings the new config changes that take effect only on a
	 * restart (listen addresses, connection limits, console socket mode,
	 * audit log): the running ones stay; "" when none */
	char warning[ERR_MSG_MAX];
	/* ok: the tokens and admin group of the new config, for auth_replace;
	 * the callback takes it (sets it NULL) or it is freed after */
	struct auth *auth;
	struct auth *oob_auth;    /* the same for api/out-of-band/token-file */
	unsigned write_rate_per_min, write_burst;
};

/* Called on the loop's thread (from worker_collect) with the result. */
typedef void (*worker_reload_fn)(void *arg, struct worker_reload_result *r);

/* SIGHUP: queues a reload, validated as a whole before anything is
 * swapped: the worker loads the config, policy and template
 * (site_reload_load: the site, console socket and state directory must
 * not change) and the token files (primary and out-of-band) and admin
 * group the new config names (auth_new); only when all of them load does it swap the site's part in
 * (site_reload_swap, which also reloads the state file; then it
 * reconciles), and hands the API's part (tokens, write rates) to done(arg,
 * result) on the loop's thread, which puts it in force. A reload that
 * fails changes nothing: done gets ok 0 and why. Nothing is logged here:
 * done logs the result once the whole reload is in force. Loading runs on the
 * worker, never on the loop (a config of many prefixes takes a while). */
void worker_reload(struct worker *w, worker_reload_fn done, void *arg);

/* Stops the thread after its current step; queued changes are refused
 * ("routectld is stopping") and come back through the done queue, so call
 * worker_collect() after. Frees the site. */
void worker_stop(struct worker *w);
void worker_free(struct worker *w);

#endif
