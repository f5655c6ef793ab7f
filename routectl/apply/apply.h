/* Apply: make BIRD export the desired state, or leave everything as it was.
 *
 *   plan     render the candidate include, compare it with the file on disk
 *   apply    write it atomically, `configure check`, `configure timeout N`
 *   verify   `show route export` of every listed BGP protocol matches the state
 *   confirm  `configure confirm`
 *
 * On any failure after the write: restore the previous file, `configure undo`
 * if BIRD had taken the candidate, and report BIRD's words. The caller keeps
 * its old desired state. Nothing here needs the daemon's event loop. */
#ifndef ROUTECTL_APPLY_H
#define ROUTECTL_APPLY_H

#include "common/buf.h"

#include <stdint.h>

struct bird_conn;
struct conf;
struct state;
struct err;

struct apply_report {
	int changed;          /* the include's bytes changed */
	int undone;           /* BIRD took the candidate and was made to undo it */
	int restored;         /* the previous include was put back */
	int confirm_failed;   /* committed, but `configure confirm` failed */
	int64_t ms_render, ms_check, ms_configure, ms_verify, ms_confirm, ms_total;
	unsigned verify_rounds;
};

/* Renders the candidate into out and reads the current include into *current
 * (heap, NULL if the file does not exist). */
int apply_plan(const struct conf *c, const struct state *st, const char *tmpl,
	       struct buf *out, char **current, struct err *e);

/* Called after verify and before `configure confirm`: the daemon saves the
 * desired state there. If it fails, the change is undone as any other
 * failure. Should the process die before confirming, BIRD undoes the change
 * by itself when `configure timeout` expires, so BIRD never keeps a change
 * the state file does not have. */
typedef int (*apply_commit_fn)(void *arg, struct err *e);

/* The whole sequence. force: configure even if the bytes did not change
 * (reconcile uses it to repair BIRD that runs an older config). commit may
 * be NULL. */
int apply_state(struct bird_conn *b, const struct conf *c, const struct state *st,
		const char *tmpl, int force, apply_commit_fn commit, void *commit_arg,
		struct apply_report *r, struct err *e);

/* Compares BIRD's exports with the state, once. 0 when they match; else
 * -ERR_VERIFY with the first mismatches named ("web 192.0.2.0/24 to isp:
 * expected withdrawn, exported with path length 0"). BGP protocols that are
 * not up are skipped (their export filter is not running). */
int verify_exports(struct bird_conn *b, const struct conf *c, const struct state *st,
		   int timeout_ms, struct err *e);

/* Retries verify_exports until it matches or timeout_ms passes; each round
 * is also a command on BIRD's socket, which wakes its I/O loop. */
int verify_until(struct bird_conn *b, const struct conf *c, const struct state *st,
		 int timeout_ms, unsigned *rounds, struct err *e);

#endif
