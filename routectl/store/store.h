/* Desired state of every service at this site: what routectld wants BIRD to
 * export. A JSON document of YANG module routectl-state
 * (api/routectl-state.yang), saved atomically (temp, fsync, rename, fsync of
 * the directory) so that a crash leaves the old or the new file, never a mix. */
#ifndef ROUTECTL_STORE_H
#define ROUTECTL_STORE_H

#include "common/model.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct err;
struct conf;

/* In a state from state_parse, state_new or state_dup no string is NULL
 * (reason may be empty). state_save refuses what state_load would refuse:
 * strings that are not UTF-8 or hold characters that YANG (like XML) does
 * not allow (control characters other than tab, newline and carriage
 * return; U+FFFE, U+FFFF), an actor longer than 512 characters, a reason
 * longer than 4096, a change id outside [0-9A-Za-z][0-9A-Za-z._:-]{0,63}. */
/* A change an operator made to a service (for the flap budget). */
struct recent_change {
	time_t at;
	char change_id[65];
};

struct svc_state {
	char *name;
	enum svc_mode mode;
	unsigned prepend;      /* 1..10 when mode is MODE_PREPEND, else 0 */
	char *actor;           /* who asked: "alice (uid 1000) via console" */
	char *reason;
	char *change_id;
	time_t since;
	/* A staged drain or undrain leaves the next step here. */
	int has_next;
	enum svc_mode next_mode;
	unsigned next_prepend;
	time_t next_at;
	/* The changes operators made to it lately, oldest first (not staged
	 * steps): at most STATE_RECENT_MAX; svc_state_set keeps them. */
	struct recent_change *recent;
	size_t n_recent;
	/* Commit-confirm: the change confirm_change_id (which set this mode,
	 * or began the staged plan that did) goes back to revert_mode /
	 * revert_prepend at confirm_deadline unless confirmed by then. */
	int has_confirm;
	char confirm_change_id[65];
	time_t confirm_deadline;
	enum svc_mode revert_mode;
	unsigned revert_prepend;
	/* In struct state's removed list only: when it left the config. */
	time_t removed_at;
};

/* How the wait for a confirmation ended. */
enum confirm_outcome { CONFIRM_CONFIRMED, CONFIRM_REVERTED, CONFIRM_SUPERSEDED, CONFIRM_KEPT };

/* "confirmed", "reverted", "superseded", "kept". */
const char *confirm_outcome_name(enum confirm_outcome o);

/* The last confirmations that ended, kept so that a late confirm says what
 * became of the change. */
#define STATE_CONFIRMS_ENDED_MAX 16

struct confirm_end {
	char change_id[65];
	enum confirm_outcome outcome;
	time_t at;
};

/* The most recent changes a state file keeps per service (the largest flap
 * budget a policy may set). */
#define STATE_RECENT_MAX 1000

/* At most this many services that left the config are remembered. */
#define STATE_REMOVED_MAX 64

struct state {
	char *site;
	uint64_t generation;   /* +1 on every saved change */
	struct svc_state *svcs; /* sorted by name */
	size_t n;
	/* Services that left the config, with the mode they had (name, mode,
	 * prepend, actor, reason, change_id, since; no staged step, no
	 * confirmation, no recent changes) and removed_at: at most
	 * STATE_REMOVED_MAX, the newest kept. */
	struct svc_state *removed;
	size_t n_removed;
	struct confirm_end ended[STATE_CONFIRMS_ENDED_MAX];  /* oldest first */
	size_t n_ended;
};

/* Loads and validates. A missing file is -ERR_NOTFOUND. routectld writes
 * the file by rename(), which always leaves a regular file, so anything else
 * at path is refused at once with -ERR_INVALID naming what it is: a symbolic
 * link (dangling or not: never followed, see "Lost state" below), a FIFO
 * (never opened in a way that blocks), a socket, a device, a directory.
 * Anything that does not parse or validate is -ERR_INVALID with every reason
 * in e; -ERR_IO when it cannot be read. */
int state_load(const char *path, struct state **out, struct err *e);
int state_parse(const char *json, const char *name, struct state **out, struct err *e);
/* Serializes (deterministic) into a heap string. */
int state_to_json(const struct state *st, char **out, struct err *e);
/* Validates then saves atomically. */
int state_save(const char *path, const struct state *st, struct err *e);

/* A fresh state for a config: every service at its initial mode. */
struct state *state_new(const struct conf *c, time_t now);
/* Adds services the config has and the state lacks, moves those the
 * config no longer has to st->removed (with removed_at now), and returns
 * how many changed. A service new in the config starts in its initial mode
 * (actor "routectld", reason "new in config"), unless it is one that left
 * the config earlier: then it comes back in the more drained of its
 * remembered mode and its initial mode (withdraw before prepend, a longer
 * prepend before a shorter, before announce), with the remembered actor,
 * reason and change id when that is the one kept, so that taking a service
 * out of the config and back never announces what an operator took
 * away. -ERR_NOMEM leaves st as it was. */
int state_sync_services(struct state *st, const struct conf *c, time_t now);

struct state *state_dup(const struct state *st);
void state_free(struct state *st);
struct svc_state *state_find(struct state *st, const char *name);

/* Sets one service's mode with its provenance; clears any next step and any
 * pending confirmation (a later change supersedes both). */
int svc_state_set(struct svc_state *s, enum svc_mode mode, unsigned prepend,
		  const char *actor, const char *reason, const char *change_id, time_t now);

/* Adds the change (id, at) to s's recent changes, keeping those later
 * than newer_than and of them at most keep (the most recent; keep is
 * capped at STATE_RECENT_MAX). Returns 0 or -ERR_NOMEM (s unchanged). */
int svc_recent_add(struct svc_state *s, const char *change_id, time_t at, time_t newer_than,
		   size_t keep);
/* Notes that the wait for change_id's confirmation ended (outcome, at):
 * replaces an earlier note of the same id, drops the oldest beyond
 * STATE_CONFIRMS_ENDED_MAX. */
void state_note_confirm_end(struct state *st, const char *change_id,
			    enum confirm_outcome outcome, time_t at);

/* The note of change_id's ended confirmation, or NULL. */
const struct confirm_end *state_find_confirm_end(const struct state *st,
						 const char *change_id);

/* A fresh change id: 16 lowercase hex digits from getrandom(). */
void change_id_new(char out[17]);

/* Whether id has the form change_id_new makes: 16 lowercase hex digits (the
 * form a caller that chooses the id of a change must use too). */
int change_id_valid(const char *id);

/* Whether change_id already names a change in st: the change that set a
 * service's state, one of its recent changes, a pending confirmation or one
 * that ended (STATE_CONFIRMS_ENDED_MAX). A change id chosen by a caller (one
 * change across the routers of a fleet) must not take one of these, or a
 * confirm of one would confirm the other. */
int state_names_change(const struct state *st, const char *change_id);

/*
 * Lost state: the desired state never resets by itself.
 *
 * A state file that is missing is a first start only if nothing shows that
 * routectld has run at this site before. The evidence is the generated
 * include (conf bird/include): routectld writes it before BIRD can start
 * with routectl's config, rewrites it on every change, and it lives outside
 * the state directory (usually /etc/bird), so it survives a state directory
 * whose file system did not mount and a state file deleted by mistake. Its
 * first line, from the template, says "Generated by routectld for site S,
 * generation N.", which gives the site and the last generation applied.
 *
 *   state dir or state file      include at bird/include    routectld
 *   --------------------------   ------------------------   ----------------
 *   state file loads             (any)                      runs
 *   missing (ENOENT)             absent                     first start: a
 *                                                           fresh state from
 *                                                           the config
 *   missing (ENOENT)             present (any content)      safe mode "lost"
 *   dangling symbolic link       (any)                      safe mode "lost"
 *   state dir missing            absent                     first start (the
 *                                                           directory is made)
 *   state dir missing            present                    safe mode "lost"
 *   state dir not a directory    (any)                      safe mode "lost"
 *   FIFO, socket, device, dir,   (any)                      safe mode
 *   other symlink, corrupt,                                 "unusable"
 *   other site
 *
 * An include without routectld's header (a template without it, a file
 * made by hand) still counts: something is there, and taking it for a
 * first start would overwrite it with "announce everything". BIRD itself is
 * the last witness: after a first start, the first time BIRD is connected,
 * routectld compares what BIRD's running routectl_export() does with the
 * fresh state and goes to safe mode "lost" if they differ (state and include
 * wiped together while BIRD kept a drained config). That first comparison
 * survives a restart: site/ writes a marker file (FIRST_START_MARKER) in
 * the state directory before the initial state and removes it once the
 * comparison is done, so a routectld restarted before it ever reached BIRD
 * still compares first. A state file whose
 * generation is below the include's continues from the include's. In safe mode
 * routectld leaves BIRD as it is; the operator restores the file (then
 * SIGHUP) or adopts what BIRD exports now (routectl adopt), which continues
 * the generation from the include's header.
 */

/* What was found of an earlier run of routectld at this site. */
struct state_evidence {
	int found;               /* 1: routectld (or someone) has been here */
	int has_header;          /* the include carries routectld's header */
	char site[64];           /* from the header */
	uint64_t generation;     /* from the header */
	char what[1024];         /* for people: "/etc/bird/routectl.conf
				    (generation 7 of site ash)" */
};

/* Looks for evidence of an earlier run at c's site (see above): whether
 * anything is at c->include_path (without following a symbolic link to
 * decide that it exists), and the site and generation in its header, read
 * from its first 4 KiB without blocking. Returns 0 (ev->found says), or
 * -ERR_NOMEM. An include that cannot be read is still evidence (ev->what
 * says why it could not be read). */
int state_find_evidence(const struct conf *c, struct state_evidence *ev, struct err *e);

/* Parses routectld's header ("# Generated by routectld for site S,
 * generation N.") from the start of an include. Returns 1 and fills site
 * (size bytes) and *generation when the first line is that header, else 0. */
int state_parse_include_header(const char *text, char *site, size_t size,
			       uint64_t *generation);

/* Checks the state directory without creating it. 0: it is a directory (a
 * symbolic link to one is fine: it is the operator's layout). -ERR_NOTFOUND:
 * nothing is there. -ERR_INVALID: something that is not a directory is there
 * (a file, a dangling symbolic link, ...), named in e with what it is;
 * *dangling is set to 1 for a dangling symbolic link (a mount that did not
 * come up). -ERR_IO when it cannot be looked at. */
int state_dir_check(const char *dir, int *dangling, struct err *e);

/* 1 when path is a symbolic link whose target does not exist, else 0. */
int state_is_dangling_link(const char *path);

#endif
