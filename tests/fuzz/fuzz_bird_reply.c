/* libFuzzer target: BIRD's control-socket replies, fed to the parser in
 * chunks whose sizes come from the input's hash (so that the fuzzer also
 * moves where reads split lines), then parsed as routes and protocols.
 *
 * Oracle: the same bytes fed in one piece must give the same replies and the
 * same outcome; sanitizers catch the rest. */
#include "bird/bird.h"
#include "common/err.h"
#include "common/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct outcome {
	uint64_t hash;      /* over every reply's code, lines and texts */
	unsigned replies;
	int error;          /* the parser's error code, 0 if none */
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ull;
	return h;
}

static void check_reply(const struct bird_reply *r, struct outcome *o)
{
	if (r->n_lines == 0 || r->lines[r->n_lines - 1].code != r->code)
		abort();
	o->hash = fnv(o->hash, &r->code, sizeof r->code);
	for (size_t i = 0; i < r->n_lines; i++) {
		const struct bird_line *l = &r->lines[i];
		if (l->code < 0 || l->code > 9999 || strlen(l->text) > BIRD_LINE_MAX)
			abort();
		o->hash = fnv(o->hash, &l->code, sizeof l->code);
		o->hash = fnv(o->hash, l->text, strlen(l->text) + 1);
	}
	char *t = bird_reply_text(r);
	free(t);

	struct err e;
	struct bird_export *v;
	size_t n;
	if (bird_parse_export(r, &v, &n, &e) == 0) {
		for (size_t i = 1; i < n; i++)
			if (prefix_cmp(&v[i - 1].prefix, &v[i].prefix) > 0)
				abort();
		for (size_t i = 0; i < n; i++)
			if (v[i].first_asn_run > v[i].path_len)
				abort();
		free(v);
	}
	struct bird_protocol *pv;
	if (bird_parse_protocols(r, &pv, &n, &e) == 0) {
		for (size_t i = 0; i < n; i++)
			if (!memchr(pv[i].name, '\0', sizeof pv[i].name) ||
			    !memchr(pv[i].info, '\0', sizeof pv[i].info) ||
			    pv[i].n_channels > BIRD_CHANNELS_MAX)
				abort();
		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; k < pv[i].n_channels; k++)
				if ((pv[i].channels[k].family != 4 && pv[i].channels[k].family != 6) ||
				    !memchr(pv[i].channels[k].table, '\0',
					    sizeof pv[i].channels[k].table))
					abort();
		free(pv);
	}
	unsigned long count;
	bird_parse_count(r, &count, &e);
	if (r->n_lines) {
		char file[256];
		if (bird_parse_error_file(r->lines[0].text, file, sizeof file) &&
		    (!file[0] || strlen(file) >= sizeof file))
			abort();
	}
}

/* chunk_seed 0: everything in one call. */
static void run(const uint8_t *data, size_t size, uint64_t chunk_seed, struct outcome *o)
{
	memset(o, 0, sizeof *o);
	o->hash = 14695981039346656037ull;
	struct bird_parser p;
	bird_parser_init(&p);
	size_t off = 0;
	uint64_t s = chunk_seed;
	while (off < size) {
		size_t chunk = size - off;
		if (chunk_seed) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			size_t want = (s >> 33) & 1 ? 1 + (size_t)((s >> 40) % 8)
						    : 1 + (size_t)((s >> 40) % 300);
			if (want < chunk)
				chunk = want;
		}
		struct bird_reply r;
		struct err e;
		size_t used = (size_t)-1;
		int rc = bird_parser_feed(&p, (const char *)data + off, chunk, &used, &r, &e);
		if (used > chunk)
			abort();
		if (rc < 0) {
			o->error = rc;
			break;
		}
		off += used;
		if (rc == 1) {
			o->replies++;
			check_reply(&r, o);
			bird_reply_free(&r);
		} else if (used != chunk) {
			abort();
		}
	}
	bird_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet) {
		log_set_level(LOG_LVL_ERROR);
		quiet = 1;
	}
	struct outcome whole, chunked;
	run(data, size, 0, &whole);
	run(data, size, fnv(14695981039346656037ull, data, size) | 1, &chunked);
	if (whole.hash != chunked.hash || whole.replies != chunked.replies ||
	    whole.error != chunked.error)
		abort();
	return 0;
}
