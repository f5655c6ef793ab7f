/* libFuzzer target: the emergency journal (emergency_journal_parse), which
 * routectld reads at start and adopts as its desired state: a file that
 * `routectl emergency` may have left half written.
 *
 * Oracles: it never fails but for memory; every record it keeps has an id,
 * an action, an actor, a reason and services whose modes are valid (a
 * prepend count within 1..10); records and skipped lines together are at
 * most the lines of the input; and the input with a torn line appended
 * keeps the same records and skips one more line. */
#include "common/err.h"
#include "site/emergency.h"

#define TESTUTIL_NO_CHECK
#include "../unit/testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_journal(const struct emergency_journal *j, size_t lines)
{
	if (j->n + j->skipped > lines) {
		fprintf(stderr, "%zu records and %zu skipped from %zu lines\n", j->n, j->skipped,
			lines);
		abort();
	}
	for (size_t i = 0; i < j->n; i++) {
		const struct emergency_record *r = &j->recs[i];
		if (!r->id[0] || !r->action[0] || !r->actor || !r->reason)
			abort();
		for (size_t k = 0; k < r->n_svcs; k++) {
			const struct emergency_service *s = &r->svcs[k];
			if (!s->name[0] || s->mode > MODE_WITHDRAW)
				abort();
			if ((s->mode == MODE_PREPEND) != (s->prepend >= PREPEND_MIN &&
							  s->prepend <= PREPEND_MAX))
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = tu_fuzz_text(data, size);
	if (!text)
		return 0;
	size_t len = strlen(text), lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	lines += len > 0 && text[len - 1] != '\n';

	struct emergency_journal j, torn;
	struct err e = { 0 };
	if (emergency_journal_parse(text, len, "fuzz", &j, &e) < 0) {
		fprintf(stderr, "parse failed: %s\n", e.msg);
		abort();
	}
	check_journal(&j, lines);

	/* a complete journal, then a write torn by a crash */
	if (len > 0 && text[len - 1] == '\n') {
		static const char tail[] = "{\"type\":\"intent\",\"id\":\"t";
		char *more = malloc(len + sizeof tail);
		if (!more)
			abort();
		memcpy(more, text, len);
		memcpy(more + len, tail, sizeof tail);
		if (emergency_journal_parse(more, len + sizeof tail - 1, "fuzz", &torn, &e) < 0)
			abort();
		if (torn.n != j.n || torn.skipped != j.skipped + 1) {
			fprintf(stderr, "a torn last line changed the records: %zu/%zu -> %zu/%zu\n",
				j.n, j.skipped, torn.n, torn.skipped);
			abort();
		}
		emergency_journal_free(&torn);
		free(more);
	}
	emergency_journal_free(&j);
	free(text);
	return 0;
}
