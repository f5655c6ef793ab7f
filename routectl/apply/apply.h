/* Apply: make BIRD export the desired state, or leave everything as it was.
 *
 *   precheck before touching BIRD: the listed BGP protocols exist, are BGP,
 *            run with the configured local AS; which families each carries;
 *            no listed peer exports a sentinel route; which unlisted BGP
 *            protocols export routectl's routes
 *   plan     render the candidate include, compare it with the file on disk
 *   apply    write it atomically, `configure timeout N`
 *   verify   BIRD's exports match the state, per peer and per family it carries
 *   confirm  `configure confirm`, and make sure it confirmed something
 *
 * There is no separate `configure check`: `configure` parses the whole config
 * first and, on a parse error, answers 8002 and leaves the running config
 * alone (BIRD 2.0.12; tests/integration/bird-contract-apply.sh proves it),
 * and the check cost as much again as the configure itself (0.38 vs 0.60 ms
 * at 10 prefixes, 9.3 vs 10.6 ms at 10,000).
 *
 * On any failure after the write: restore the previous file, `configure undo`
 * if BIRD had taken the candidate, and report BIRD's words. The caller keeps
 * its old desired state. Except when the commit callback had saved the new
 * state and BIRD then undid the change by itself (0019 twice) or the confirm
 * got no answer: the new include stays on disk, matching the saved state.
 * Nothing here needs the daemon's event loop.
 *
 * Peers that ignore or alter routectl's result. A correctly configured peer
 * exports exactly what routectl_export() makes of routectl's routes (BIRD runs
 * the export filter when asked, so `show route export PEER` and `show route
 * protocol routectl_vN filter { routectl_export(); accept; }` agree at once).
 * A listed peer that exports a sentinel route (which routectl_export() always
 * rejects) ignores the function; a listed peer whose exports differ from the
 * function's output while the function does what was asked alters the result
 * (e.g. prepends on its own). Neither can be fixed by applying again.
 *
 * The rule, for every change (drain, withdraw, prepend, undrain, announce):
 * verify passes when routectl_export() does what was asked and every
 * correctly configured peer exports it. Mismatches at misconfigured peers do
 * not roll back: the change stands where it took effect, is confirmed, and
 * the result is partial, naming each such peer. Only mismatches of the
 * function or at correctly configured peers roll back. For a change that
 * takes announcements away, rolling back would re-announce at the good peers
 * what was already taken away there, and fix nothing at the bad one. For a
 * change that adds announcements, the same rule holds: a peer that ignores
 * routectl announces regardless, and one that alters the path keeps doing
 * so whether or not the change is rolled back; undoing the change would only
 * undo the operator's intent where it worked. An unlisted BGP protocol that
 * exports routectl's routes makes a change that takes announcements away
 * partial too (routectld cannot see what that session announces); the policy
 * option unlisted-exporter refuse-drain refuses such changes instead. */
#ifndef ROUTECTL_APPLY_H
#define ROUTECTL_APPLY_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

struct bird_conn;
struct conf;
struct state;
struct err;

/* What the precheck and verify found about one BGP protocol (bits). */
enum peer_problem {
	PEER_MISSING = 1u << 0,   /* listed, not in BIRD's running config */
	PEER_NOT_BGP = 1u << 1,   /* listed, not a BGP protocol */
	PEER_LOCAL_AS = 1u << 2,  /* BIRD's Local AS is not the config's local-as */
	PEER_IGNORES = 1u << 3,   /* exports a sentinel: does not call routectl_export() */
	PEER_ALTERS = 1u << 4,    /* exports other than what routectl_export() made */
	PEER_UNLISTED = 1u << 5,  /* not listed in bird/bgp-protocol, exports routectl's routes */
};
/* Problems that stop every change before BIRD is touched. */
#define PEER_BLOCKING (PEER_MISSING | PEER_NOT_BGP | PEER_LOCAL_AS)
/* Listed peers whose export filter ignores or alters routectl's result. */
#define PEER_MISCONFIGURED (PEER_IGNORES | PEER_ALTERS)

#define APPLY_PEER_TEXT_MAX 512

struct apply_peer {
	char name[64];
	int listed;               /* in bird/bgp-protocol */
	int up;                   /* BIRD's protocol state is "up" */
	int has_v4, has_v6;       /* it has an ipv4 / ipv6 channel */
	int v4_up, v6_up;         /* ... and that channel is UP: verify checks it */
	unsigned problems;        /* enum peer_problem bits */
	unsigned long exported;   /* PEER_UNLISTED: routes of routectl it exports
				     (at least; counted after a change) */
	unsigned mismatches;      /* last verify: prefixes not as asked at this peer */
	char text[APPLY_PEER_TEXT_MAX]; /* one line: what is wrong, "" if nothing */
};

struct apply_peers {
	struct apply_peer *v;     /* the listed protocols, in config order, then the
				     unlisted BGP protocols that export routectl's routes */
	size_t n;
	unsigned problems;        /* union of the peers' problems */
	int no_sentinel_v4;       /* the include has no sentinel route of that family
				     in BIRD: peer filters could not be checked */
	int no_sentinel_v6;
};

void apply_peers_free(struct apply_peers *p);
/* A deep copy of src into dst (for a status snapshot kept by another
 * thread); 0, or -ERR_NOMEM with dst empty. */
int apply_peers_copy(struct apply_peers *dst, const struct apply_peers *src);

/* Asks BIRD (`show protocols all`, then one `show route PREFIX ...` per
 * listed peer and family) and fills out. An unlisted BGP protocol that is up
 * exports routectl's routes when it exports the sentinel or the first prefix
 * that st announces (two one-prefix questions per family); with st NULL its
 * exports are counted instead (`show route export P protocol F count`, which
 * runs every route through its filter). Returns 0 whatever it found, or
 * BIRD's error (-ERR_BUSY when BIRD is reconfiguring: ask again). Changes
 * nothing in BIRD. */
int apply_precheck(struct bird_conn *b, const struct conf *c, const struct state *st,
		   int timeout_ms, struct apply_peers *out, struct err *e);

/* -ERR_REFUSED with one line naming every peer with a blocking problem and
 * why, or 0 when there is none. */
int apply_peers_blocking(const struct apply_peers *p, struct err *e);

/* One line naming the misconfigured listed peers that export other than asked
 * (mismatches > 0) and, when takes_away, the unlisted exporters; "" if none.
 * Returns the number of peers named. */
size_t apply_peers_partial(const struct apply_peers *p, int takes_away, char *out,
			   size_t size);

/* Copies msg into out on one line: each line break (and the indent after it)
 * becomes "; ", other control characters a space. For messages shown where a
 * line break does not fit (status, logs). */
void apply_one_line(const char *msg, char *out, size_t size);

struct apply_report {
	int changed;          /* the include's bytes changed */
	int undone;           /* BIRD took the candidate and was made to undo it */
	int restored;         /* the previous include was put back */
	int confirm_failed;   /* committed, but `configure confirm` failed (an
				 error: BIRD undoes it unless applied again) */
	int committed;        /* the commit callback saved the new state */
	int bird_undid;       /* a confirm found nothing pending: BIRD had undone it */
	int reapplied;        /* ... and the change was applied again */
	int partial;          /* applied, but misconfigured or unlisted peers named
				 in partial_text do not export what was asked */
	char partial_text[2048];
	struct apply_peers peers; /* the precheck's findings (apply_report_free) */
	int64_t ms_render, ms_precheck, ms_configure, ms_verify, ms_confirm, ms_total;
	unsigned verify_rounds;
};

void apply_report_free(struct apply_report *r);

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

struct apply_opts {
	int force;            /* configure even if the bytes did not change
				 (reconcile uses it to repair BIRD that runs an
				 older config) */
	int takes_away;       /* the change withdraws or prepends something */
	int refuse_unlisted;  /* with takes_away: refuse while an unlisted BGP
				 protocol exports routectl's routes */
	apply_commit_fn commit; /* may be NULL */
	void *commit_arg;
};

/* The whole sequence. Returns 0 when applied (r->partial tells whether only
 * in part), -ERR_REFUSED when the precheck found a blocking problem, -ERR_POLICY
 * when the policy refuses it (unlisted-exporter refuse-drain; nothing
 * touched either), or the failure with what happened and where in e. When BIRD
 * undid the change before the confirm (0019) and applying it again fails
 * too, or when `configure confirm` itself fails (no answer), the error says
 * so; if the commit had saved the state by then, r->committed is set: the
 * caller's desired state is the new one, and its reconciler applies it
 * again. Free r with apply_report_free. */
int apply_state(struct bird_conn *b, const struct conf *c, const struct state *st,
		const char *tmpl, const struct apply_opts *o, struct apply_report *r,
		struct err *e);

/* Compares BIRD's exports with the state, once, following the rule above.
 * peers comes from apply_precheck; verify adds PEER_ALTERS and mismatch
 * counts to it. 0 when the function and every correctly configured peer
 * export what was asked (misconfigured peers may still differ: see
 * apply_peers_partial); else -ERR_VERIFY with the first mismatches named
 * ("web 192.0.2.0/24 to isp: expected withdrawn, exported with AS path
 * length 0"), or BIRD's error (-ERR_BUSY: ask again). BGP protocols that are
 * not up are skipped (their export filter is not running), and so is a family
 * a peer has no channel for. */
int verify_exports(struct bird_conn *b, const struct conf *c, const struct state *st,
		   struct apply_peers *peers, int timeout_ms, struct err *e);

/* Retries verify_exports until it passes or timeout_ms passes, also while
 * BIRD answers busy (8004); each round is also a command on BIRD's socket,
 * which wakes its I/O loop. */
int verify_until(struct bird_conn *b, const struct conf *c, const struct state *st,
		 struct apply_peers *peers, int timeout_ms, unsigned *rounds, struct err *e);

#endif
