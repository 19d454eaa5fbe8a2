/* log.c - the process-wide log sink; the library's only way to say anything */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "rollgate/util.h"

/* The one piece of process-wide mutable state STYLE.md allows. Set once at start-up. */
static rg_log_sink log_sink;
static void *log_payload;
static rg_log_level log_max = RG_LOG_INFO;

void rg_log_set_sink(rg_log_sink sink, void *payload, rg_log_level max_level)
{
    log_sink = sink;
    log_payload = payload;
    log_max = max_level;
}

int rg_log_enabled(rg_log_level level)
{
    return log_sink != NULL && level <= log_max;
}

/* A message quotes what others wrote (a platform's error text, a tenant's values): its
 * control bytes are written as \xNN, so no one can forge a log line (a newline) or drive
 * the operator's terminal (an ANSI escape). */
static void escape_controls(char *out, size_t outlen, const char *in)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (; *in && o + 1 < outlen; in++) {
        unsigned char c = (unsigned char)*in;
        if (c >= 0x20 && c != 0x7f) {
            out[o++] = (char)c;
            continue;
        }
        if (o + 5 > outlen)
            break;
        out[o++] = '\\';
        out[o++] = 'x';
        out[o++] = hex[c >> 4];
        out[o++] = hex[c & 0xf];
    }
    out[o] = '\0';
}

void rg_log(rg_log_level level, const char *component, const char *fmt, ...)
{
    char message[2048], clean[2048];
    va_list ap;

    if (!rg_log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    escape_controls(clean, sizeof(clean), message);
    log_sink(level, component, clean, log_payload);
}

const char *rg_log_level_name(rg_log_level level)
{
    switch (level) {
    case RG_LOG_ERROR: return "error";
    case RG_LOG_WARN: return "warn";
    case RG_LOG_INFO: return "info";
    case RG_LOG_DEBUG: return "debug";
    }
    return "?";
}

void rg_log_stderr_sink(rg_log_level level, const char *component, const char *message,
                        void *payload)
{
    char now[RG_TIME_ISO_LEN];
    (void)payload;
    rg_time_format(now, rg_time_now_ms());
    fprintf(stderr, "%s %s %s: %s\n", now, rg_log_level_name(level), component, message);
}
