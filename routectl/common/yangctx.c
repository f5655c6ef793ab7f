#include "yangctx.h"
#include "embedded.h"
#include "err.h"

#include <jansson.h>
#include <libyang/libyang.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* In dependency order: routectl-state imports routectl-config. */
static const char *const modules[] = {
	"routectl-config",
	"routectl-state",
	"routectl-policy",
	"routectl-fleet",
};

/* A document with thousands of mistakes is not read line by line; past
 * this many, one line says that there are more. */
#define MAX_REPORTED 40

#define PATH_SIZE 1024

/* Serves imports from the modules built into the binary, so that the
 * order of loading does not matter and no directory is searched. */
static LY_ERR import_embedded(const char *mod_name, const char *mod_rev, const char *submod_name,
			      const char *submod_rev, void *user_data, LYS_INFORMAT *format,
			      const char **module_data, ly_module_imp_data_free_clb *free_module_data)
{
	(void)mod_rev;
	(void)submod_rev;
	(void)user_data;
	char name[256];
	snprintf(name, sizeof name, "%s.yang", submod_name ? submod_name : mod_name);
	const struct embedded_file *f = embedded_find(name);
	if (!f)
		return LY_ENOTFOUND;
	*format = LYS_IN_YANG;
	*module_data = f->data;
	*free_module_data = NULL;
	return LY_SUCCESS;
}

int yangctx_new(struct ly_ctx **out, struct err *e)
{
	/* Store every error (they become our messages) and print none:
	 * a daemon's stderr is its log, and it gets one line per problem
	 * from us, with the file name. */
	ly_log_options(LY_LOSTORE);
	/* libyang gives yang:date-and-time values back converted to local time
	 * (and drops the seconds of historic offsets). routectl keeps, prints
	 * and logs every time in UTC, so the process works in UTC. */
	if (!getenv("TZ") || strcmp(getenv("TZ"), "UTC") != 0) {
		setenv("TZ", "UTC", 1);
		tzset();
	}

	struct ly_ctx *ctx = NULL;
	if (ly_ctx_new(NULL, LY_CTX_DISABLE_SEARCHDIRS | LY_CTX_NO_YANGLIBRARY, &ctx) != LY_SUCCESS)
		return err_set(e, ERR_NOMEM, "cannot create a libyang context");
	ly_ctx_set_module_imp_clb(ctx, import_embedded, NULL);

	for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++) {
		if (ly_ctx_get_module_implemented(ctx, modules[i]))
			continue;
		char name[64];
		snprintf(name, sizeof name, "%s.yang", modules[i]);
		const struct embedded_file *f = embedded_find(name);
		if (!f) {
			ly_ctx_destroy(ctx);
			return err_set(e, ERR_NOTFOUND, "YANG module %s is not built in", name);
		}
		if (lys_parse_mem(ctx, f->data, LYS_IN_YANG, NULL) != LY_SUCCESS) {
			err_clear(e);
			char what[128];
			snprintf(what, sizeof what, "built-in YANG module %s", name);
			int rc = yangctx_errors(ctx, what, e);
			ly_ctx_destroy(ctx);
			return rc;
		}
	}
	*out = ctx;
	return 0;
}

/* libyang puts where an error is into its path field as text:
 * 'Schema location "/a/b", data location "/a/b[x='1']", line number 3.'
 * Keeps the data path (the schema path when there is none) and the line. */
static void error_location(const char *raw, char *out, size_t size)
{
	out[0] = '\0';
	if (!raw || !*raw)
		return;
	const char *loc = strstr(raw, "ata location \"");
	if (!loc)
		loc = strstr(raw, "chema location \"");
	const char *line = strstr(raw, "line number ");
	if (!loc && !line) {
		snprintf(out, size, "%s", raw);
		return;
	}
	size_t used = 0;
	if (loc) {
		loc = strchr(loc, '"') + 1;
		const char *end = strchr(loc, '"');
		size_t n = end ? (size_t)(end - loc) : strlen(loc);
		used = (size_t)snprintf(out, size, "%.*s", (int)n, loc);
	}
	if (line && used < size) {
		unsigned long l = strtoul(line + strlen("line number "), NULL, 10);
		snprintf(out + used, size - used, used ? " (line %lu)" : "line %lu", l);
	}
}

/* One error, one line: a folded YANG error-message, or a member name or
 * value with a newline in it, must not start a line of its own (nor
 * write control characters to a terminal). */
static void clean_copy(char *out, size_t size, const char *in)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p && o + 5 < size; p++) {
		if (*p >= 0x20 && *p != 0x7f)
			out[o++] = (char)*p;
		else if (*p == '\n' || *p == '\t' || *p == '\r')
			out[o++] = ' ';
		else
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", *p);
	}
	out[o] = '\0';
}

/* Appends "WHAT: WHERE: REASON" (or "WHAT: REASON"), whole lines only: a
 * line cut by the end of the buffer could lose the name of the file. */
static void append_line(struct err *e, enum err_code code, const char *what, const char *where,
			const char *reason)
{
	if (!e)
		return;
	static const char more[] = "more errors not shown";
	size_t used = strlen(e->msg), ml = strlen(more);
	size_t need = strlen(what) + 2 + strlen(where) + 2 + strlen(reason) + 1;
	if (used + need >= sizeof e->msg) {
		if (used + strlen(what) + 3 + ml < sizeof e->msg &&
		    !(used >= ml && strcmp(e->msg + used - ml, more) == 0))
			err_append(e, code, "%s: %s", what, more);
		else if (e->code == ERR_OK)
			e->code = code;
		return;
	}
	if (where[0])
		err_append(e, code, "%s: %s: %s", what, where, reason);
	else
		err_append(e, code, "%s: %s", what, reason);
}

int yangctx_errors(struct ly_ctx *ctx, const char *what, struct err *e)
{
	enum err_code code = ERR_INVALID;
	unsigned n = 0;
	for (struct ly_err_item *i = ly_err_first(ctx); i; i = i->next) {
		if (i->level != LY_LLERR)
			continue;
		if (i->no == LY_EMEM)
			code = ERR_NOMEM;
		char where[PATH_SIZE];
		error_location(i->path, where, sizeof where);
		const char *msg = i->msg ? i->msg : "error";
		/* libyang ends its sentences with a period; ours do not. */
		int len = (int)strlen(msg);
		if (len > 0 && msg[len - 1] == '.')
			len--;
		char raw[1024], line[1024], place[PATH_SIZE];
		snprintf(raw, sizeof raw, "%.*s", len, msg);
		clean_copy(line, sizeof line, raw);
		clean_copy(place, sizeof place, where);
		append_line(e, code, what, place, line);
		n++;
	}
	ly_err_clean(ctx, NULL);
	if (n == 0)
		err_append(e, code, "%s: rejected by libyang, which gave no reason", what);
	return e ? -(int)e->code : -(int)code;
}

void yangctx_report(struct err *e, const char *what, const char *path, const char *fmt, ...)
{
	char raw[1024], reason[1024], where[PATH_SIZE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	clean_copy(reason, sizeof reason, raw);
	clean_copy(where, sizeof where, path ? path : "");
	append_line(e, ERR_INVALID, what, where, reason);
}

void yangctx_entry_path(char *out, size_t size, const char *parent, const char *name,
			const char *key, const char *value)
{
	char quote = strchr(value, '\'') ? '"' : '\'';
	snprintf(out, size, "%s/%s[%s=%c%s%c]", parent, name, key, quote, value, quote);
}

const char *yangctx_get(const struct lyd_node *node, const char *path)
{
	struct lyd_node *match = NULL;
	if (!node || lyd_find_path(node, path, 0, &match) != LY_SUCCESS || !match)
		return NULL;
	if (!(match->schema && (match->schema->nodetype & LYD_NODE_TERM)))
		return NULL;
	return lyd_get_value(match);
}

uint64_t yangctx_get_uint(const struct lyd_node *node, const char *path, uint64_t dflt)
{
	const char *v = yangctx_get(node, path);
	if (!v)
		return dflt;
	return strtoull(v, NULL, 10);
}

/*
 * The document walk.
 *
 * libyang 2.1 stops at the first error it meets, in the parser and in
 * validation alike. An operator who fixes a config one error per run
 * learns to hate the tool, so we walk the JSON document along the compiled
 * schema ourselves and report everything at once: unknown members, JSON
 * types that RFC 7951 does not allow for the node, values that the YANG
 * type rejects (checked by libyang itself, lyd_value_validate), missing
 * mandatory nodes, duplicate list keys and leaf-list values. What the walk
 * does not cover (when, must) is left to libyang's own validation, which
 * runs once the walk finds nothing.
 */

struct walk {
	struct ly_ctx *ctx;
	const char *what;
	const struct yangctx_checks *checks;
	struct err *e;
	unsigned errors;
};

static void walk_report(struct walk *w, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void walk_report(struct walk *w, const char *path, const char *fmt, ...)
{
	w->errors++;
	if (w->errors > MAX_REPORTED) {
		if (w->errors == MAX_REPORTED + 1)
			yangctx_report(w->e, w->what, NULL, "more errors not shown");
		return;
	}
	char reason[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	yangctx_report(w->e, w->what, path, "%s", reason);
}

/* The last error libyang stored, without its final period, then forgets
 * them all. */
static void take_ly_error(struct ly_ctx *ctx, char *out, size_t size)
{
	struct ly_err_item *last = ly_err_last(ctx);
	const char *msg = last && last->msg ? last->msg : "invalid value";
	int len = (int)strlen(msg);
	if (len > 0 && msg[len - 1] == '.')
		len--;
	snprintf(out, size, "%.*s", len, msg);
	ly_err_clean(ctx, NULL);
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "a number";
	case JSON_REAL: return "a number with a fraction or exponent";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "something else";
}

static const char *type_name(LY_DATA_TYPE t)
{
	switch (t) {
	case LY_TYPE_BINARY: return "binary";
	case LY_TYPE_UINT8: return "uint8";
	case LY_TYPE_UINT16: return "uint16";
	case LY_TYPE_UINT32: return "uint32";
	case LY_TYPE_UINT64: return "uint64";
	case LY_TYPE_STRING: return "string";
	case LY_TYPE_BITS: return "bits";
	case LY_TYPE_BOOL: return "boolean";
	case LY_TYPE_DEC64: return "decimal64";
	case LY_TYPE_EMPTY: return "empty";
	case LY_TYPE_ENUM: return "enumeration";
	case LY_TYPE_IDENT: return "identityref";
	case LY_TYPE_INST: return "instance-identifier";
	case LY_TYPE_LEAFREF: return "leafref";
	case LY_TYPE_UNION: return "union";
	case LY_TYPE_INT8: return "int8";
	case LY_TYPE_INT16: return "int16";
	case LY_TYPE_INT32: return "int32";
	case LY_TYPE_INT64: return "int64";
	default: return "unknown";
	}
}

/* Turns a JSON scalar into the text libyang checks, enforcing the JSON
 * type that RFC 7951 section 6 gives each YANG type. Returns NULL (and
 * reports) when the JSON type is wrong. */
static const char *value_text(struct walk *w, const struct lysc_type *type, const json_t *v,
			      const char *path, char *buf, size_t size)
{
	LY_DATA_TYPE bt = type->basetype;
	if (bt == LY_TYPE_LEAFREF && ((const struct lysc_type_leafref *)type)->realtype)
		bt = ((const struct lysc_type_leafref *)type)->realtype->basetype;
	switch (bt) {
	case LY_TYPE_INT8: case LY_TYPE_INT16: case LY_TYPE_INT32:
	case LY_TYPE_UINT8: case LY_TYPE_UINT16: case LY_TYPE_UINT32:
		if (json_is_integer(v)) {
			snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			return buf;
		}
		if (json_is_string(v))
			walk_report(w, path, "expected a JSON number (%s), got the string \"%s\"",
				    type_name(bt), json_string_value(v));
		else if (json_is_real(v))
			walk_report(w, path, "expected an integer (%s), got %.17g",
				    type_name(bt), json_real_value(v));
		else
			walk_report(w, path, "expected a JSON number (%s), got %s",
				    type_name(bt), json_kind(v));
		return NULL;
	case LY_TYPE_BOOL:
		if (json_is_boolean(v))
			return json_is_true(v) ? "true" : "false";
		walk_report(w, path, "expected true or false, got %s", json_kind(v));
		return NULL;
	case LY_TYPE_EMPTY:
		if (json_is_array(v) && json_array_size(v) == 1 && json_is_null(json_array_get(v, 0)))
			return "";
		walk_report(w, path, "expected [null] (type empty), got %s", json_kind(v));
		return NULL;
	case LY_TYPE_UNION:
		if (json_is_string(v))
			return json_string_value(v);
		if (json_is_integer(v)) {
			snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			return buf;
		}
		if (json_is_real(v)) {
			snprintf(buf, size, "%.17g", json_real_value(v));
			return buf;
		}
		if (json_is_boolean(v))
			return json_is_true(v) ? "true" : "false";
		walk_report(w, path, "expected a value, got %s", json_kind(v));
		return NULL;
	default:
		/* Strings, enumerations, identities, and the 64-bit numbers,
		 * which RFC 7951 writes as strings so that no JSON reader
		 * rounds them. */
		if (json_is_string(v))
			return json_string_value(v);
		walk_report(w, path, "expected a JSON string (%s), got %s%s",
			    type_name(bt), json_kind(v),
			    json_is_integer(v) && (bt == LY_TYPE_INT64 || bt == LY_TYPE_UINT64) ?
			    " (RFC 7951 writes 64-bit numbers as strings)" : "");
		return NULL;
	}
}

static const struct lysc_type *node_type(const struct lysc_node *s)
{
	if (s->nodetype == LYS_LEAF)
		return ((const struct lysc_node_leaf *)s)->type;
	return ((const struct lysc_node_leaflist *)s)->type;
}

/* Checks one leaf or leaf-list value. Returns its canonical text (the
 * caller frees it) or NULL when it is wrong (reported). */
static char *check_value(struct walk *w, const struct lysc_node *s, const json_t *v, const char *path)
{
	char buf[64];
	const char *text = value_text(w, node_type(s), v, path, buf, sizeof buf);
	if (!text)
		return NULL;
	const char *canon = NULL;
	ly_err_clean(w->ctx, NULL);
	LY_ERR r = lyd_value_validate(w->ctx, s, text, strlen(text), NULL, NULL, &canon);
	int rejected = r != LY_SUCCESS && r != LY_EINCOMPLETE;
	char msg[1024] = "";
	if (rejected)
		take_ly_error(w->ctx, msg, sizeof msg);
	char why[512] = "";
	if (w->checks && w->checks->value)
		w->checks->value(w->checks->arg, s, text, rejected ? msg : NULL, why, sizeof why);
	if (why[0]) {
		walk_report(w, path, "%s", why);
	} else if (rejected) {
		/* libyang's own messages quote the value; the error-message
		 * strings of our modules do not. */
		char quoted[600];
		snprintf(quoted, sizeof quoted, "\"%s\"", text);
		if (strstr(msg, quoted))
			walk_report(w, path, "%s", msg);
		else if (json_is_string(v))
			walk_report(w, path, "%s: %s", quoted, msg);
		else
			walk_report(w, path, "%s: %s", text, msg);
	}
	char *copy = NULL;
	if (!rejected && !why[0])
		copy = strdup(canon ? canon : text);
	if (canon)
		lydict_remove(w->ctx, canon);
	return copy;
}

struct seen {
	char *key;
	size_t index;
};

static int seen_cmp(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

static void seen_free(struct seen *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].key);
	free(s);
}

static void walk_object(struct walk *w, const struct lysc_node *parent,
			const struct lys_module *mod, json_t *obj, const char *path);

/* The member of obj that holds schema node s, written "name" or "module:name". */
static json_t *member_for(json_t *obj, const struct lysc_node *s)
{
	json_t *v = json_object_get(obj, s->name);
	if (v)
		return v;
	char qualified[256];
	snprintf(qualified, sizeof qualified, "%s:%s", s->module->name, s->name);
	return json_object_get(obj, qualified);
}

static void walk_list(struct walk *w, const struct lysc_node *s, json_t *arr, const char *path)
{
	size_t n = json_array_size(arr);
	struct seen *keys = calloc(n ? n : 1, sizeof *keys);
	size_t n_keys = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *entry = json_array_get(arr, i);
		char epath[PATH_SIZE];
		snprintf(epath, sizeof epath, "%s[%zu]", path, i + 1);
		if (!json_is_object(entry)) {
			walk_report(w, epath, "expected a JSON object (a list entry), got %s",
				    json_kind(entry));
			continue;
		}
		/* Name the entry by its keys when they are valid, as libyang
		 * does; by its position otherwise. */
		char pred[PATH_SIZE] = "";
		size_t used = 0;
		int keys_ok = 1;
		for (const struct lysc_node *k = lysc_node_child(s); k && (k->flags & LYS_KEY);
		     k = k->next) {
			json_t *kv = member_for(entry, k);
			char buf[64];
			const char *text = NULL;
			if (kv && (json_is_string(kv) || json_is_integer(kv))) {
				if (json_is_string(kv)) {
					text = json_string_value(kv);
				} else {
					snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT,
						 json_integer_value(kv));
					text = buf;
				}
			}
			const char *canon = NULL;
			if (!text || lyd_value_validate(w->ctx, k, text, strlen(text), NULL, NULL,
							&canon) != LY_SUCCESS ||
			    (strchr(canon, '\'') && strchr(canon, '"'))) {
				keys_ok = 0;
				if (canon)
					lydict_remove(w->ctx, canon);
				ly_err_clean(w->ctx, NULL);
				break;
			}
			char quote = strchr(canon, '\'') ? '"' : '\'';
			used += (size_t)snprintf(pred + used, used < sizeof pred ? sizeof pred - used : 0,
						 "[%s=%c%s%c]", k->name, quote, canon, quote);
			lydict_remove(w->ctx, canon);
			if (used >= sizeof pred) {
				keys_ok = 0;
				break;
			}
		}
		if (keys_ok && pred[0])
			snprintf(epath, sizeof epath, "%s%s", path, pred);
		/* Out of memory, duplicates go unseen here; libyang still
		 * refuses them. */
		if (keys && keys_ok && pred[0]) {
			keys[n_keys].key = strdup(pred);
			keys[n_keys].index = i;
			if (keys[n_keys].key)
				n_keys++;
		}
		walk_object(w, s, s->module, entry, epath);
	}
	if (n_keys > 1)
		qsort(keys, n_keys, sizeof *keys, seen_cmp);
	for (size_t i = 1; i < n_keys; i++) {
		if (strcmp(keys[i].key, keys[i - 1].key) == 0) {
			char epath[PATH_SIZE];
			snprintf(epath, sizeof epath, "%s%s", path, keys[i].key);
			walk_report(w, epath, "duplicate %s entry: #%zu and #%zu have the same key",
				    s->name, keys[i - 1].index + 1, keys[i].index + 1);
		}
	}
	seen_free(keys, n_keys);
}

static void walk_leaflist(struct walk *w, const struct lysc_node *s, json_t *arr, const char *path)
{
	size_t n = json_array_size(arr);
	struct seen *vals = calloc(n ? n : 1, sizeof *vals);
	size_t n_vals = 0;
	for (size_t i = 0; i < n; i++) {
		char *canon = check_value(w, s, json_array_get(arr, i), path);
		if (canon && !vals) {
			free(canon);
		} else if (canon) {
			vals[n_vals].key = canon;
			vals[n_vals].index = i;
			n_vals++;
		}
	}
	/* YANG 1.1 (RFC 7950 7.7): the values of a configuration leaf-list
	 * are unique. */
	if (s->flags & LYS_CONFIG_W) {
		if (n_vals > 1)
			qsort(vals, n_vals, sizeof *vals, seen_cmp);
		for (size_t i = 1; i < n_vals; i++)
			if (strcmp(vals[i].key, vals[i - 1].key) == 0)
				walk_report(w, path, "duplicate value \"%s\"", vals[i].key);
	}
	seen_free(vals, n_vals);
}

static void walk_node(struct walk *w, const struct lysc_node *s, json_t *v, const char *path)
{
	switch (s->nodetype) {
	case LYS_CONTAINER:
		if (!json_is_object(v))
			walk_report(w, path, "expected a JSON object, got %s", json_kind(v));
		else
			walk_object(w, s, s->module, v, path);
		break;
	case LYS_LEAF:
		free(check_value(w, s, v, path));
		break;
	case LYS_LEAFLIST:
		if (!json_is_array(v))
			walk_report(w, path, "expected a JSON array (leaf-list), got %s", json_kind(v));
		else
			walk_leaflist(w, s, v, path);
		break;
	case LYS_LIST:
		if (!json_is_array(v))
			walk_report(w, path, "expected a JSON array (list), got %s", json_kind(v));
		else
			walk_list(w, s, v, path);
		break;
	case LYS_ANYDATA:
	case LYS_ANYXML:
		break;
	default:
		walk_report(w, path, "not allowed in this document");
		break;
	}
}

/* Reports the mandatory nodes in s (absent from the document) and below
 * it, through containers that exist by themselves (non-presence). Nodes
 * under a when or in a choice are left to libyang, which knows whether
 * they apply. */
static void check_missing(struct walk *w, const struct lysc_node *s, const char *path)
{
	if (lysc_has_when(s) || (s->parent && s->parent->nodetype == LYS_CASE))
		return;
	if (s->nodetype == LYS_CONTAINER && !(s->flags & LYS_PRESENCE)) {
		for (const struct lysc_node *c = NULL; (c = lys_getnext(c, s, NULL, 0));) {
			char cpath[PATH_SIZE];
			snprintf(cpath, sizeof cpath, "%s/%s", path, c->name);
			check_missing(w, c, cpath);
		}
		return;
	}
	if (s->flags & LYS_KEY)
		walk_report(w, path, "missing; it is the key of %s", s->parent->name);
	else if (s->flags & LYS_MAND_TRUE)
		walk_report(w, path, "missing; it is mandatory");
}

static void walk_object(struct walk *w, const struct lysc_node *parent,
			const struct lys_module *mod, json_t *obj, const char *path)
{
	const char *key;
	json_t *val;
	json_object_foreach(obj, key, val) {
		char cpath[PATH_SIZE];
		const char *colon = strchr(key, ':');
		const struct lys_module *m = mod;
		const char *name = key;
		snprintf(cpath, sizeof cpath, "%s/%s", path, key);
		if (colon) {
			char modname[256];
			snprintf(modname, sizeof modname, "%.*s", (int)(colon - key), key);
			m = ly_ctx_get_module_implemented(w->ctx, modname);
			name = colon + 1;
			if (!m) {
				walk_report(w, cpath, "unknown member: no YANG module \"%s\"", modname);
				continue;
			}
			if (!parent && m != mod) {
				walk_report(w, cpath, "unexpected top-level member: this is a document of YANG module %s",
					    mod->name);
				continue;
			}
		} else if (!parent) {
			walk_report(w, cpath, "unknown member: a top-level member is named MODULE:NAME, here \"%s:%s\"",
				    mod->name, key);
			continue;
		}
		const struct lysc_node *s = lys_find_child(parent, m, name, 0, 0, 0);
		if (!s || !(s->nodetype & (LYD_NODE_INNER | LYD_NODE_TERM | LYD_NODE_ANY))) {
			walk_report(w, cpath, "unknown member \"%s\" (YANG module %s defines no such node here)",
				    key, m->name);
			continue;
		}
		if (!parent || s->module != parent->module)
			snprintf(cpath, sizeof cpath, "%s/%s:%s", path, s->module->name, s->name);
		else
			snprintf(cpath, sizeof cpath, "%s/%s", path, s->name);
		walk_node(w, s, val, cpath);
	}

	for (const struct lysc_node *s = NULL;
	     (s = lys_getnext(s, parent, parent ? NULL : mod->compiled, 0));) {
		if (member_for(obj, s))
			continue;
		char cpath[PATH_SIZE];
		if (!parent || s->module != parent->module)
			snprintf(cpath, sizeof cpath, "%s/%s:%s", path, s->module->name, s->name);
		else
			snprintf(cpath, sizeof cpath, "%s/%s", path, s->name);
		check_missing(w, s, cpath);
	}
}

static int only_space(const char *s)
{
	return s[strspn(s, " \t\r\n")] == '\0';
}

int yangctx_parse_json(struct ly_ctx *ctx, const char *json, const char *module,
		       const char *what, const struct yangctx_checks *checks,
		       struct lyd_node **tree, struct err *e)
{
	struct err local;
	if (!e)
		e = &local;
	err_clear(e);
	*tree = NULL;

	const struct lys_module *mod = ly_ctx_get_module_implemented(ctx, module);
	if (!mod)
		return err_set(e, ERR_INVALID, "%s: YANG module %s is not loaded", what, module);

	if (only_space(json))
		return err_set(e, ERR_INVALID, "%s: empty; expected a JSON document of YANG module %s",
			       what, module);
	json_error_t jerr;
	json_t *doc = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		/* jansson quotes the text near the error, which may hold
		 * control characters: through yangctx_report. */
		yangctx_report(e, what, NULL, "line %d, column %d: not valid JSON: %s", jerr.line,
			       jerr.column, jerr.text);
		return -ERR_INVALID;
	}

	struct walk w = { .ctx = ctx, .what = what, .checks = checks, .e = e };
	if (!json_is_object(doc))
		walk_report(&w, NULL, "expected a JSON object (a document of YANG module %s), got %s",
			    module, json_kind(doc));
	else
		walk_object(&w, NULL, mod, doc, "");
	if (checks && checks->document)
		checks->document(checks->arg, doc, what, e);
	json_decref(doc);
	if (e->code != ERR_OK)
		return -(int)e->code;

	/* The walk found nothing: libyang has the last word, and fills in
	 * the defaults. */
	ly_err_clean(ctx, NULL);
	struct lyd_node *t = NULL;
	if (lyd_parse_data_mem(ctx, json, LYD_JSON, LYD_PARSE_STRICT | LYD_PARSE_ONLY, 0, &t) !=
		    LY_SUCCESS ||
	    lyd_validate_module(&t, mod, 0, NULL) != LY_SUCCESS) {
		lyd_free_all(t);
		return yangctx_errors(ctx, what, e);
	}
	ly_err_clean(ctx, NULL);
	*tree = t;
	return 0;
}

int yangctx_read_document(const char *json, const char *module, const char *what,
			  const struct yangctx_checks *checks, yangctx_fill_fn fill, void *arg,
			  struct err *e)
{
	struct ly_ctx *ctx = NULL;
	int rc = yangctx_new(&ctx, e);
	if (rc < 0)
		return err_prefix(e, "%s", what);
	struct lyd_node *tree = NULL;
	rc = yangctx_parse_json(ctx, json, module, what, checks, &tree, e);
	if (rc == 0)
		rc = fill(tree, what, arg, e);
	lyd_free_all(tree);
	ly_ctx_destroy(ctx);
	return rc;
}

size_t yangctx_count_children(const struct lyd_node *parent, const char *name)
{
	size_t n = 0;
	for (const struct lyd_node *c = lyd_child(parent); c; c = c->next)
		if (c->schema && strcmp(c->schema->name, name) == 0)
			n++;
	return n;
}
