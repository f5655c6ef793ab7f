/* libFuzzer target: state files (state_parse), the input the daemon trusts
 * least, since a file that does not load puts it in safe mode.
 *
 * Oracles: a refused input gives -ERR_INVALID and a message whose every line
 * names the file; an accepted one serializes to a document that parses back
 * to the same bytes (state_to_json is deterministic and its output valid). */
#include "common/err.h"
#include "store/store.h"

#define TESTUTIL_NO_CHECK
#include "../unit/testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME "fuzz"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = tu_fuzz_text(data, size);
	if (!text)
		return 0;

	struct state *st = NULL;
	struct err e = { 0 };
	int rc = state_parse(text, NAME, &st, &e);
	free(text);
	if (rc < 0) {
		tu_fuzz_check_refusal(rc, st, e.msg, "state " NAME ": ");
		return 0;
	}

	char *first = NULL, *second = NULL;
	struct state *again = NULL;
	if (state_to_json(st, &first, &e) < 0) {
		fprintf(stderr, "accepted state does not serialize: %s\n", e.msg);
		abort();
	}
	if (state_parse(first, NAME, &again, &e) < 0) {
		fprintf(stderr, "serialized state does not parse: %s\n%s", e.msg, first);
		abort();
	}
	if (state_to_json(again, &second, &e) < 0 || strcmp(first, second) != 0) {
		fprintf(stderr, "round trip changed the bytes:\n%s\n%s", first, second ? second : "");
		abort();
	}
	for (size_t i = 1; i < st->n; i++)
		if (strcmp(st->svcs[i - 1].name, st->svcs[i].name) >= 0)
			abort();
	free(first);
	free(second);
	state_free(again);
	state_free(st);
	return 0;
}
