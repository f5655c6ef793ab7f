/* libFuzzer target: the audit log read back (audit_history), a file that a
 * full disk, a crash or a hand edit may have broken anywhere.
 *
 * Oracles: any content reads without error; the answer is an array of
 * objects, at most limit long; a shorter limit gives a prefix of a longer
 * one (newest first, the same records); no "intent" shown has a later
 * "outcome" of the same request_id; a service filter keeps only records
 * that name the service. The input goes to a memfd, read by its
 * /proc/self/fd path, so no file is left behind. */
#include "api/audit.h"
#include "common/err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void check_records(json_t *h, size_t limit, const char *service)
{
	size_t i;
	json_t *r;
	if (!json_is_array(h) || json_array_size(h) > limit)
		abort();
	json_array_foreach(h, i, r) {
		if (!json_is_object(r))
			abort();
		if (service) {
			bool named = false;
			size_t k;
			json_t *s;
			json_array_foreach(json_object_get(r, "services"), k, s)
				named |= json_is_string(s) && strcmp(json_string_value(s), service) == 0;
			if (!named)
				abort();
		}
		const char *phase = json_string_value(json_object_get(r, "phase"));
		const char *result = json_string_value(json_object_get(r, "result"));
		if (phase && strcmp(phase, "intent") == 0 && (!result || strcmp(result, "unknown") != 0))
			abort();
	}
}

static json_t *history(const char *path, size_t limit, const char *service, size_t *skipped)
{
	json_t *h = NULL;
	struct err e = { 0 };
	if (audit_history(path, limit, service, &h, skipped, &e) < 0) {
		fprintf(stderr, "audit_history refused an input: %s\n", e.msg);
		abort();
	}
	check_records(h, limit, service);
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("audit", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t done = 0;
	while (done < size) {
		ssize_t k = write(fd, data + done, size - done);
		if (k <= 0) {
			close(fd);
			return 0;
		}
		done += (size_t)k;
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

	size_t skipped_all, skipped_few;
	json_t *all = history(path, 1000, NULL, &skipped_all);
	json_t *few = history(path, 2, NULL, &skipped_few);
	for (size_t i = 0; i < json_array_size(few); i++)
		if (!json_equal(json_array_get(few, i), json_array_get(all, i)))
			abort();
	if (json_array_size(all) < 1000 && skipped_few > skipped_all)
		abort();
	json_decref(few);
	json_decref(history(path, 1000, "web", NULL));

	/* an intent shown has no later outcome (earlier in the answer) */
	size_t i;
	json_t *r;
	json_array_foreach(all, i, r) {
		const char *phase = json_string_value(json_object_get(r, "phase"));
		const char *rid = json_string_value(json_object_get(r, "request_id"));
		if (!phase || strcmp(phase, "intent") != 0 || !rid)
			continue;
		size_t j;
		json_t *o;
		json_array_foreach(all, j, o) {
			if (j >= i)
				break;
			const char *p2 = json_string_value(json_object_get(o, "phase"));
			const char *r2 = json_string_value(json_object_get(o, "request_id"));
			if (p2 && r2 && strcmp(p2, "outcome") == 0 && strcmp(r2, rid) == 0)
				abort();
		}
	}
	json_decref(all);
	close(fd);
	return 0;
}
