/* clock: monotonic seconds. See clock.h. */
#include "clock.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

double util_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *util_format_duration(char *buf, unsigned long cap, double s)
{
	if (!(s >= 0) || !isfinite(s))
		snprintf(buf, cap, "?");
	else if (s < 60)
		snprintf(buf, cap, "%.1f s", s);
	else if (s < 3600)
		snprintf(buf, cap, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
	else
		snprintf(buf, cap, "%d h %02d min", (int)(s / 3600), (int)fmod(s / 60, 60));
	return buf;
}
