/* Test helper, preloaded into routectld (LD_PRELOAD) by bird-contract-apply.sh:
 * reproduces a routectld that stalls between `configure timeout` and
 * `configure confirm` (as a SIGSTOP at that instant would), deterministically.
 *
 * Two triggers, each a file the test creates:
 *
 * ROUTECTL_TEST_STALL_FILE: between verify and confirm routectld saves the
 * desired state (temp file, then rename onto STATE-DIR/state.json). When this
 * file exists at that rename, it is removed and the process stops itself
 * (SIGSTOP) before renaming. No BIRD command is in flight then, so no command
 * deadline runs out while it is stopped.
 *
 * ROUTECTL_TEST_STALL_CONFIRMS: a file holding a count N. While N > 0, each
 * `configure confirm` routectld sends decrements it (the file is removed at
 * 0) and stops the process (SIGSTOP) just before the command goes out; this
 * also reaches the confirm of a second attempt, which saves nothing. The
 * command's deadline (command-timeout-ms) is already running then, and the
 * stop is meant to stand for one before the command: once continued, the
 * helper sends the command and waits (up to 2 s) until BIRD's whole answer
 * can be read (a line "DDDD text"; BIRD's asynchronous lines, "+Config
 * timeout expired, starting undo" among them, arrive first), so routectld
 * reads it at once instead of timing out on the stall.
 *
 * The test sends SIGCONT once BIRD's undo timer has fired. */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
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

/* 1 when the count file exists and held N > 0 (now N - 1), else 0. */
static int take_confirm_stall(void)
{
	const char *path = getenv("ROUTECTL_TEST_STALL_CONFIRMS");
	if (!path)
		return 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	long n = 0;
	int ok = fscanf(f, "%ld", &n) == 1;
	fclose(f);
	if (!ok || n <= 0) {
		unlink(path);
		return 0;
	}
	if (n == 1) {
		unlink(path);
	} else {
		f = fopen(path, "w");
		if (!f)
			return 0;
		fprintf(f, "%ld\n", n - 1);
		fclose(f);
	}
	return 1;
}

/* 1 when what can be read from fd holds a final reply line ("DDDD ..."). */
static int final_line_pending(int fd)
{
	char b[8192];
	ssize_t n = recv(fd, b, sizeof b - 1, MSG_PEEK | MSG_DONTWAIT);
	if (n <= 0)
		return 0;
	b[n] = '\0';
	for (char *l = b; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strlen(l) >= 5 && l[0] >= '0' && l[0] <= '9' && l[1] >= '0' && l[1] <= '9' &&
		    l[2] >= '0' && l[2] <= '9' && l[3] >= '0' && l[3] <= '9' && l[4] == ' ')
			return 1;
	}
	return 0;
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	static ssize_t (*real_send)(int, const void *, size_t, int);
	if (!real_send)
		*(void **)&real_send = dlsym(RTLD_NEXT, "send");
	static const char confirm[] = "configure confirm\n";
	if (len != sizeof confirm - 1 || memcmp(buf, confirm, len) != 0 || !take_confirm_stall())
		return real_send(fd, buf, len, flags);
	raise(SIGSTOP);
	ssize_t k = real_send(fd, buf, len, flags);
	for (int waited = 0; k == (ssize_t)len && waited < 2000; waited += 5) {
		if (final_line_pending(fd))
			break;
		struct timespec ts = { 0, 5 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return k;
}
