/* Test helper, preloaded into routectld (LD_PRELOAD) by bird-contract-apply.sh:
 * reproduces a routectld that stalls between `configure timeout` and
 * `configure confirm` (as a SIGSTOP at that instant would), deterministically.
 *
 * Between verify and confirm routectld saves the desired state (temp file,
 * then rename onto STATE-DIR/state.json). When the file named by
 * ROUTECTL_TEST_STALL_FILE exists at that rename, the file is removed and the
 * process stops itself (SIGSTOP) before renaming; the test sends SIGCONT once
 * BIRD's undo timer has fired. No BIRD command is in flight then, so no
 * command deadline runs out while it is stopped. */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int rename(const char *from, const char *to)
{
	static int (*real_rename)(const char *, const char *);
	if (!real_rename)
		*(void **)&real_rename = dlsym(RTLD_NEXT, "rename");
	static const char state[] = "/state.json";
	const char *trigger = getenv("ROUTECTL_TEST_STALL_FILE");
	size_t n = to ? strlen(to) : 0;
	if (trigger && n >= sizeof state - 1 && strcmp(to + n - (sizeof state - 1), state) == 0 &&
	    unlink(trigger) == 0)
		raise(SIGSTOP);
	return real_rename(from, to);
}
