/* err: message helpers of the error convention. See err.h. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void err_clean(char *err)
{
	for (; err && *err; err++)
		if ((unsigned char)*err < 0x20 || *err == 0x7f)
			*err = '?';
}

int err_set(char *err, size_t errlen, int status, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return status;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	err_clean(err);
	return status;
}

int err_prefix(char *err, size_t errlen, int status, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return status;
	char old[ERR_MAX], pre[ERR_MAX];
	snprintf(old, sizeof old, "%s", err);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: %s", pre, old);
	err_clean(err);
	return status;
}
