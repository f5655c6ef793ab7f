/* Emergency mode's side of the state directory: who holds the site (the
 * lock routectld keeps for its whole life), and the emergency journal that
 * `routectl emergency` leaves for routectld to adopt.
 *
 * The lock. routectld takes an exclusive flock(2) on STATE-DIR/SITE_LOCK_FILE
 * before it reads the state and keeps it until it exits (the kernel drops it
 * when the process dies, also on kill -9, so a stale lock cannot be left).
 * `routectl emergency` takes the same lock for its run: it finds a running
 * routectld that way (and says to use the normal path), and a routectld
 * starting meanwhile waits for the end of the emergency run.
 *
 * The journal, STATE-DIR/EMERGENCY_JOURNAL: one JSON object per line, each
 * written with one write(2) on an O_APPEND descriptor and fsync(2)ed (and the
 * directory fsync()ed when the file was created), so that a crash leaves
 * every record whole except, at worst, a torn last line, which the reader
 * skips. Per emergency command:
 *   {"type":"intent", "id", "time" (RFC 3339 UTC), "epoch_ms", "actor",
 *    "reason", "action" ("drain"|"undrain"), "force", "pid",
 *    "services": {NAME: {"state", "prepend"}}  (what is asked),
 *    "before":   {NAME: {"state", "prepend"}}}  (the desired state before)
 * written BEFORE anything is applied, and after it
 *   {"type":"outcome", "id", "time", "epoch_ms", "result"
 *    ("applied"|"failed"|"refused"), "error" (null or text), "generation",
 *    "ms", "override": [{"guard", "message"}] (the guards --force overrode)}.
 * A writer holds an exclusive flock on STATE-DIR/EMERGENCY_LOCK_FILE from
 * before it opens the journal until its outcome is written, so that a
 * routectld beside it (an emergency run with --force) never adopts half a
 * command.
 *
 * Adoption (site_emergency_adopt): routectld makes every intent whose
 * outcome is not "refused" the desired state of its services, attributed
 * to the emergency actor, reason and change id: an intent without an
 * outcome too (the writer was killed mid-apply: the operator's last word
 * stands, and the reconciler makes BIRD agree). A refused command (a guard,
 * an unknown service) changed nothing and is only reported. Then the state
 * is saved, and only after that the journal is renamed aside
 * (EMERGENCY_JOURNAL.adopted-TIME), so that a crash in between adopts the
 * same records again, to the same effect. */
#ifndef ROUTECTL_SITE_EMERGENCY_H
#define ROUTECTL_SITE_EMERGENCY_H

#include "common/model.h"
#include "site/guards.h"

#include <stddef.h>
#include <stdint.h>

struct err;
struct site;

#define SITE_LOCK_FILE "routectld.lock"
#define EMERGENCY_JOURNAL "emergency.jsonl"
#define EMERGENCY_LOCK_FILE "emergency.lock"
/* A journal larger than this is refused by the reader (a record is a few
 * KiB; this is thousands of emergency commands). */
#define EMERGENCY_JOURNAL_MAX (16u << 20)

/* ---- the site lock ---------------------------------------------------------- */

/* Takes the exclusive lock of the site whose state directory is state_dir,
 * waiting up to wait_ms (0: not at all) while another process holds it,
 * and writes "PID PROGRAM" into the lock file (for people, and for
 * site_lock_holder: "routectld" or "routectl", an emergency command). Returns
 * 0 with *fd (keep it open for as long as the lock is needed; close it to
 * drop it), -ERR_BUSY when still held after wait_ms (e names the holder's
 * PID when the file says it), -ERR_NOTFOUND when state_dir does not exist
 * (nothing is created: a missing state directory may be a file system that
 * did not mount), -ERR_IO naming the file. */
int site_lock_take(const char *state_dir, int wait_ms, int *fd, struct err *e);

/* Who wrote the site lock of state_dir last (the holder, while it is
 * held): its PID and program name ("" from a writer that gave none).
 * Returns 0, or -1 when the file is missing or says no PID. Informative
 * only: the holder may have exited since. */
int site_lock_holder(const char *state_dir, long *pid, char *prog, size_t size);

/* ---- the journal -------------------------------------------------------------- */

/* One service of an intent: the mode asked, and the desired mode before. */
struct emergency_service {
	char name[64];
	enum svc_mode mode;
	unsigned prepend;
	int has_before;
	enum svc_mode before_mode;
	unsigned before_prepend;
};

/* A guard that --force overrode (site/guards.h). */
struct emergency_override {
	char guard[32];
	char message[GUARD_MSG_MAX];
};

enum emergency_result {
	EMERGENCY_NO_OUTCOME = 0,  /* intent only: the writer died, or is still at it */
	EMERGENCY_APPLIED,
	EMERGENCY_FAILED,          /* tried; BIRD or the system failed (adopted) */
	EMERGENCY_REFUSED,         /* refused before anything changed (not adopted) */
};

/* "unknown", "applied", "failed", "refused". */
const char *emergency_result_name(enum emergency_result r);

/* One emergency command: its intent, and its outcome when there is one. */
struct emergency_record {
	char id[65];
	char action[16];           /* "drain", "undrain" */
	char *actor;
	char *reason;
	long long epoch_ms;        /* of the intent */
	int force;
	struct emergency_service *svcs;
	size_t n_svcs;
	enum emergency_result result;
	char *error;               /* NULL, or the outcome's error */
	uint64_t generation;       /* of the outcome; 0 when none */
	long long ms;              /* of the outcome */
	struct emergency_override *overrides;   /* of the outcome */
	size_t n_overrides;
};

struct emergency_journal {
	struct emergency_record *recs;   /* in the order of their intents */
	size_t n;
	size_t skipped;            /* lines that are not records (a torn last line,
				      an outcome without its intent) */
};

void emergency_journal_free(struct emergency_journal *j);

/* Parses a journal's text (name for messages). Lines that are not JSON
 * objects of the form above are skipped and counted (a torn last line is
 * what a crash mid-write leaves); an outcome is joined to the intent of
 * the same id. Returns 0 with j filled, or -ERR_NOMEM. */
int emergency_journal_parse(const char *text, size_t len, const char *name,
			    struct emergency_journal *j, struct err *e);

/* Reads path (at most EMERGENCY_JOURNAL_MAX bytes) and parses it. Returns
 * 0, -ERR_NOTFOUND when there is no journal, or fs_read_file's errors. */
int emergency_journal_read(const char *path, struct emergency_journal *j, struct err *e);

/* A writer of the journal in state_dir, for one emergency command. */
struct emergency_writer {
	int lock_fd;
	int fd;
	char path[4096];
};

/* Takes STATE-DIR/EMERGENCY_LOCK_FILE (waiting up to wait_ms for a
 * routectld that is adopting) and opens the journal for appending, creating
 * it (and fsyncing the directory) when missing. Returns 0, -ERR_BUSY (held
 * after wait_ms: another emergency command runs), -ERR_INVALID when the
 * journal is not a regular file (a symbolic link, a FIFO: refused at once,
 * never followed or waited on; fs_open_append), -ERR_IO naming the file. */
int emergency_writer_open(const char *state_dir, int wait_ms, struct emergency_writer *w,
			  struct err *e);

/* Appends the intent of r (its id, action, actor, reason, epoch_ms, force
 * and services are used) with one write and an fsync. 0 or -ERR_IO. */
int emergency_write_intent(struct emergency_writer *w, const struct emergency_record *r,
			   struct err *e);

/* Appends the outcome of the command id likewise. error may be NULL;
 * guards (may be NULL) gives the guards that were overridden. */
int emergency_write_outcome(struct emergency_writer *w, const char *id,
			    enum emergency_result result, const char *error, uint64_t generation,
			    long long ms, const struct guard_report *guards, struct err *e);

/* Appends the intent of r and a "refused" outcome (error says why)
 * together, in one write and one fsync: a command refused before anything
 * changed (its guards, found by a dry run before the intent is written) is
 * in the journal for the audit log, and is never adopted, even after a
 * crash. 0 or -ERR_IO. */
int emergency_write_refused(struct emergency_writer *w, const struct emergency_record *r,
			    const char *error, struct err *e);

/* Closes the journal and drops the lock. */
void emergency_writer_close(struct emergency_writer *w);

/* ---- adoption ---------------------------------------------------------------------- */

/* When routectld may adopt the journal of s: returns 0 when there is none
 * (one stat(2): cheap enough for every tick), 1 when records were adopted
 * (*adopted holds every record read, refused ones included, for the audit
 * log; the caller frees it; aside, size bytes, gets the name the journal
 * was renamed to), -ERR_BUSY while an emergency command writes it (try
 * again later; meanwhile apply nothing on your own: the command is changing
 * BIRD), -ERR_UNAVAILABLE in safe mode (there is no desired state to adopt
 * into; the journal stays), or -ERR_IO/-ERR_INVALID/-ERR_NOMEM with e
 * saying why (the journal stays, nothing changed). After an adoption the
 * desired state is saved with the next generation, s->bird_changed is not
 * touched, and s->next_reconcile_ms is now: the reconciler makes BIRD agree
 * at once (it already does when the command was applied). Logs what it
 * adopted. */
int site_emergency_adopt(struct site *s, struct emergency_journal *adopted, char *aside,
			 size_t size, struct err *e);

#endif
