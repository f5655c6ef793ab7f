#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <syslog.h>
#include <systemd/sd-journal.h>
#endif

/* A record's message is cut past this many bytes (before escaping). */
#define LOG_MSG_MAX 8192
#define LOG_LINE_MAX (4 * LOG_MSG_MAX + 64)

static int min_level = LOG_LVL_INFO;

void log_set_level(enum log_level lvl)
{
	__atomic_store_n(&min_level, (int)lvl, __ATOMIC_RELAXED);
}

size_t log_escape(const char *msg, char *out, size_t size)
{
	size_t need = 0, used = 0;
	int full = size == 0;
	for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
		char tmp[5];
		size_t n;
		switch (*p) {
		case '\n': memcpy(tmp, "\\n", 2); n = 2; break;
		case '\r': memcpy(tmp, "\\r", 2); n = 2; break;
		case '\t': memcpy(tmp, "\\t", 2); n = 2; break;
		case '\\': memcpy(tmp, "\\\\", 2); n = 2; break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				snprintf(tmp, sizeof tmp, "\\x%02x", *p);
				n = 4;
			} else {
				tmp[0] = (char)*p;
				n = 1;
			}
		}
		need += n;
		/* Either the whole escape fits, or none of it. */
		if (!full && used + n < size) {
			memcpy(out + used, tmp, n);
			used += n;
		} else {
			full = 1;
		}
	}
	if (size > 0)
		out[used] = '\0';
	return need;
}

static const char *const level_name[] = { "debug", "info", "warn", "error" };

size_t log_format_line(enum log_level lvl, long long epoch_ms, const char *msg, char *out,
		       size_t size)
{
	if (size < 64)
		return 0;
	time_t sec = (time_t)(epoch_ms / 1000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	char when[32];
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	int head = snprintf(out, size, "%s.%03lldZ %s: ", when, epoch_ms % 1000,
			    level_name[lvl]);
	size_t used = (size_t)head;
	/* Room for the message, "..." and the newline. */
	size_t room = size - used - 5;   /* "...", newline, NUL */
	size_t need = log_escape(msg, out + used, room + 1);
	if (need > room) {
		used = strlen(out);
		memcpy(out + used, "...", 3);
		used += 3;
	} else {
		used += need;
	}
	out[used++] = '\n';
	out[used] = '\0';
	return used;
}

#ifdef HAVE_LIBSYSTEMD
/* sd_journal_send() drops a record without an error when this socket does
 * not exist (systemd's journal-send.c: "fail silently"). */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/* Whether stderr is the journal's stream: JOURNAL_STREAM is "DEV:INODE" of
 * the stream systemd connected (systemd.exec(5)); a stderr redirected
 * elsewhere by a child's shell does not match; and the journal's socket
 * must be there. Decided once. */
static int to_journal(void)
{
	static int decided = -1;
	int d = __atomic_load_n(&decided, __ATOMIC_RELAXED);
	if (d >= 0)
		return d;
	int yes = 0;
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long long dev, ino;
	if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino &&
	    access(JOURNAL_SOCKET, W_OK) == 0)
		yes = 1;
	__atomic_store_n(&decided, yes, __ATOMIC_RELAXED);
	return yes;
}

/* Returns sd_journal_send's result: <0 when the journal did not take it. */
static int journal_send(enum log_level lvl, const struct log_fields *f, const char *msg)
{
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
	char p[16], mid[64] = "", cid[96] = "", site[128] = "", svc[128] = "";
	snprintf(p, sizeof p, "PRIORITY=%d", prio[lvl]);
	/* sd_journal_send takes a NULL-terminated list of "FIELD=value" formats;
	 * empty optional fields are sent as a harmless repeat of PRIORITY. */
	if (f && f->message_id)
		snprintf(mid, sizeof mid, "MESSAGE_ID=%s", f->message_id);
	if (f && f->change_id)
		snprintf(cid, sizeof cid, "CHANGE_ID=%s", f->change_id);
	if (f && f->site)
		snprintf(site, sizeof site, "SITE=%s", f->site);
	if (f && f->service)
		snprintf(svc, sizeof svc, "SERVICE=%s", f->service);
	return sd_journal_send("MESSAGE=%s", msg, "%s", p, "%s", mid[0] ? mid : p, "%s",
			cid[0] ? cid : p, "%s", site[0] ? site : p, "%s", svc[0] ? svc : p,
			"SYSLOG_IDENTIFIER=routectld", NULL);
}
#endif

static void log_vrecord(enum log_level lvl, const struct log_fields *f, const char *fmt,
			va_list ap)
{
	if ((int)lvl < __atomic_load_n(&min_level, __ATOMIC_RELAXED))
		return;
	int saved = errno;
	char msg[LOG_MSG_MAX];
	vsnprintf(msg, sizeof msg, fmt, ap);
#ifdef HAVE_LIBSYSTEMD
	/* A journal that does not take the record (socket gone) gets it on
	 * stderr instead: a record is never lost for the sake of its fields. */
	if (to_journal() && journal_send(lvl, f, msg) >= 0) {
		errno = saved;
		return;
	}
#else
	(void)f;
#endif
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char *line = malloc(LOG_LINE_MAX);
	if (line) {
		size_t n = log_format_line(lvl, (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
					   msg, line, LOG_LINE_MAX);
		/* One write per record: lines of two threads do not interleave. */
		size_t off = 0;
		while (off < n) {
			ssize_t w = write(STDERR_FILENO, line + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		free(line);
	}
	errno = saved;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vrecord(lvl, NULL, fmt, ap);
	va_end(ap);
}

void log_record(enum log_level lvl, const struct log_fields *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vrecord(lvl, f, fmt, ap);
	va_end(ap);
}
