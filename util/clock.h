/* clock: the one monotonic clock for timings and progress lines. */
#ifndef YOPO_CLOCK_H
#define YOPO_CLOCK_H

/* Seconds on CLOCK_MONOTONIC (arbitrary origin). */
double util_now(void);

/* Formats a duration in seconds as "12.3 s", "4 min 05 s" or "2 h 07 min" into buf; returns buf. */
const char *util_format_duration(char *buf, unsigned long cap, double seconds);

#endif
