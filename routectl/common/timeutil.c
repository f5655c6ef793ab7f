#include "timeutil.h"
#include "err.h"

#include <stdio.h>
#include <string.h>

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void time_format_utc(time_t t, char *out, size_t size)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int time_parse_utc(const char *s, time_t *out)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return -ERR_INVALID;
	if (*rest == '.') {
		rest++;
		while (*rest >= '0' && *rest <= '9')
			rest++;
	}
	long offset = 0;
	if (*rest == 'Z') {
		rest++;
	} else if (*rest == '+' || *rest == '-') {
		int hh, mm;
		if (sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2)
			return -ERR_INVALID;
		offset = (hh * 3600L + mm * 60L) * (*rest == '-' ? -1 : 1);
		rest += 6;
	} else {
		return -ERR_INVALID;
	}
	if (*rest != '\0')
		return -ERR_INVALID;
	*out = timegm(&tm) - offset;
	return 0;
}
