/* The libyang context with routectl's YANG modules (built into the binary,
 * see embedded.h) loaded and implemented, and the one place that parses a
 * YANG-modelled JSON document (RFC 7951) with every error collected. */
#ifndef ROUTECTL_YANGCTX_H
#define ROUTECTL_YANGCTX_H

#include <stddef.h>
#include <stdint.h>

struct ly_ctx;
struct lyd_node;
struct lysc_node;
struct json_t;
struct err;

/* Creates a context with routectl-config, routectl-state, routectl-policy and
 * routectl-fleet (and the ietf types they import). Free with ly_ctx_destroy(ctx).
 * Also tells libyang to store its errors instead of printing them. */
int yangctx_new(struct ly_ctx **out, struct err *e);

/* Collects every error libyang recorded in ctx into e, one line each, as
 * "PATH: MESSAGE", each prefixed with what ("config FILE"). Returns -ERR_INVALID. */
int yangctx_errors(struct ly_ctx *ctx, const char *what, struct err *e);

/* Appends one line "WHAT: PATH: REASON" to e (code ERR_INVALID). */
void yangctx_report(struct err *e, const char *what, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* What a module adds to YANG: rules that YANG cannot say, or that libyang
 * would only report one at a time. Both hooks are optional. */
struct yangctx_checks {
	/* Called for every leaf and leaf-list value of the right JSON type,
	 * with the text as written (libyang canonicalizes some values, e.g.
	 * it clears the host bits of an inet:ipv4-prefix) and libyang's
	 * reason to reject it (NULL when the YANG type accepts it). Writing a
	 * reason into why rejects the value, or replaces libyang's reason
	 * with a plainer one. */
	void (*value)(void *arg, const struct lysc_node *schema, const char *value,
		      const char *ly_reason, char *why, size_t why_size);
	/* Called once with the whole document (a jansson object), also when
	 * other errors were found, so it must check the JSON types it
	 * relies on. Reports with yangctx_report(e, what, ...). */
	void (*document)(void *arg, struct json_t *doc, const char *what, struct err *e);
	void *arg;
};

/* Parses json as a document of the YANG module `module` and validates it.
 * Every error goes into e, one line each, "WHAT: PATH: REASON" (or
 * "WHAT: line L, column C: REASON" when the text is not JSON): unknown
 * members, wrong JSON types, values their type rejects, missing mandatory
 * nodes, duplicate list keys and leaf-list values, then what checks
 * reports. When that finds nothing, libyang parses (strict) and validates
 * the module (when, must, defaults) as the final word.
 * On success *tree holds the data with defaults (lyd_free_all). */
int yangctx_parse_json(struct ly_ctx *ctx, const char *json, const char *module,
		       const char *what, const struct yangctx_checks *checks,
		       struct lyd_node **tree, struct err *e);

/* Fills the caller's structure from a validated tree. */
typedef int (*yangctx_fill_fn)(const struct lyd_node *tree, const char *what, void *arg,
			       struct err *e);

/* The whole read of a document: a fresh context, yangctx_parse_json, then
 * fill(tree, what, arg, e); frees the tree and the context. */
int yangctx_read_document(const char *json, const char *module, const char *what,
			  const struct yangctx_checks *checks, yangctx_fill_fn fill, void *arg,
			  struct err *e);

/* How many children of parent have the schema name `name`. */
size_t yangctx_count_children(const struct lyd_node *parent, const char *name);

/* Reading a validated tree: the canonical value of the terminal node at
 * relative path `path` under node (e.g. "bird/include"), or NULL. */
const char *yangctx_get(const struct lyd_node *node, const char *path);
/* Same as an unsigned integer; returns dflt when absent. */
uint64_t yangctx_get_uint(const struct lyd_node *node, const char *path, uint64_t dflt);

/* Builds the data path of a list entry, "PARENT/NAME[KEY='VALUE']". */
void yangctx_entry_path(char *out, size_t size, const char *parent, const char *name,
			const char *key, const char *value);

#endif
