/* libFuzzer target: the idempotency file at start-up (idem_open), which a
 * crash may have cut and which is read before any request is served.
 *
 * Oracles: any content loads (bad lines are skipped, never fatal); what
 * was kept is written back so that a second load changes nothing (same
 * bytes, no rewrite) and answers the same keys. */
#include "api/idempotency.h"
#include "common/err.h"
#include "common/fsutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fixed "now" near the times of the corpus, so that entries survive. */
#define NOW 1764486000

static char dir[64];

static void remove_dir(void)
{
	rmdir(dir);
}

static char *slurp(const char *path)
{
	char *text = NULL;
	struct err e;
	if (fs_read_file(path, 1u << 28, &text, NULL, &e) < 0)
		abort();
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		snprintf(dir, sizeof dir, "/tmp/routectl-fuzz-idem.XXXXXX");
		if (!mkdtemp(dir))
			abort();
		atexit(remove_dir);
	}
	char path[128];
	snprintf(path, sizeof path, "%s/idempotency.jsonl", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);

	struct err e = { 0 };
	struct idem *s = idem_open(path, NOW, &e);
	if (!s) {
		fprintf(stderr, "idem_open refused an input: %s\n", e.msg);
		abort();
	}
	idem_free(s);
	char *first = slurp(path);
	struct stat before, after;
	if (stat(path, &before) < 0)
		abort();
	s = idem_open(path, NOW, &e);
	if (!s)
		abort();
	idem_free(s);
	char *second = slurp(path);
	if (stat(path, &after) < 0 || before.st_ino != after.st_ino || strcmp(first, second) != 0) {
		fprintf(stderr, "a second load changed the file:\n%s\n---\n%s", first, second);
		abort();
	}
	free(first);
	free(second);
	unlink(path);
	return 0;
}
