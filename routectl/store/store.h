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
};

struct state {
	char *site;
	uint64_t generation;   /* +1 on every saved change */
	struct svc_state *svcs; /* sorted by name */
	size_t n;
};

/* Loads and validates. A missing file is -ERR_NOTFOUND; anything else that
 * does not parse or validate is -ERR_INVALID with every reason in e. */
int state_load(const char *path, struct state **out, struct err *e);
int state_parse(const char *json, const char *name, struct state **out, struct err *e);
/* Serializes (deterministic) into a heap string. */
int state_to_json(const struct state *st, char **out, struct err *e);
/* Validates then saves atomically. */
int state_save(const char *path, const struct state *st, struct err *e);

/* A fresh state for a config: every service at its initial mode. */
struct state *state_new(const struct conf *c, time_t now);
/* Adds services the config has and the state lacks (initial mode, actor
 * "routectld", reason "new in config"), drops those the config no longer
 * has. Returns how many changed. */
int state_sync_services(struct state *st, const struct conf *c, time_t now);

struct state *state_dup(const struct state *st);
void state_free(struct state *st);
struct svc_state *state_find(struct state *st, const char *name);

/* Sets one service's mode with its provenance; clears any next step. */
int svc_state_set(struct svc_state *s, enum svc_mode mode, unsigned prepend,
		  const char *actor, const char *reason, const char *change_id, time_t now);

/* A fresh change id: 16 lowercase hex digits from getrandom(). */
void change_id_new(char out[17]);

#endif
