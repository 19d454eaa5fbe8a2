/* parse.c - checked parsing of integers, decimals and durations */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"

int rg_parse_int64(int64_t *out, const char *s, int64_t min, int64_t max)
{
    char *end = NULL;
    long long v;

    if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
        return rg_error_set(RG_EINVALID, "expected an integer, got '%s'", s ? s : "");
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE || *end != '\0')
        return rg_error_set(RG_EINVALID, "expected an integer, got '%s'", s);
    if (v < min || v > max)
        return rg_error_set(RG_EINVALID, "%lld is out of range %lld..%lld", v, (long long)min,
                            (long long)max);
    *out = v;
    return 0;
}

int rg_parse_double(double *out, const char *s)
{
    char *end = NULL;
    double v;

    if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
        return rg_error_set(RG_EINVALID, "expected a number, got '%s'", s ? s : "");
    errno = 0;
    v = strtod(s, &end);
    if (*end != '\0' || !isfinite(v) || errno == ERANGE)
        return rg_error_set(RG_EINVALID, "expected a finite number, got '%s'", s);
    *out = v;
    return 0;
}

/* Reads a non-negative decimal number at *p (digits with an optional fraction). */
static int read_number(double *out, const char **p)
{
    const char *s = *p;
    double v = 0, scale = 1;
    int digits = 0;

    while (isdigit((unsigned char)*s)) {
        v = v * 10 + (*s - '0');
        s++;
        digits++;
    }
    if (*s == '.' || *s == ',') {
        s++;
        while (isdigit((unsigned char)*s)) {
            scale /= 10;
            v += (*s - '0') * scale;
            s++;
            digits++;
        }
    }
    if (digits == 0)
        return -1;
    *out = v;
    *p = s;
    return 0;
}

/* Durations are summed in double precision: past 2^53 ms (about 285,000 years) they would
 * no longer be exact, so a longer one is refused rather than silently rounded. */
#define RG_DURATION_MAX_MS 9007199254740992.0

static int too_long(const char *s)
{
    return rg_error_set(RG_EINVALID, "duration '%s' is out of range (at most 2^53 ms)", s);
}

static int parse_iso_duration(int64_t *out, const char *s)
{
    const char *p = s + 1; /* past 'P' */
    double total = 0, v;
    int in_time = 0, parts = 0;

    while (*p) {
        if (*p == 'T') {
            if (in_time)
                goto bad;
            in_time = 1;
            p++;
            continue;
        }
        if (read_number(&v, &p) < 0)
            goto bad;
        switch (*p) {
        case 'W':
            if (in_time)
                goto bad;
            total += v * 7 * 86400e3;
            break;
        case 'D':
            if (in_time)
                goto bad;
            total += v * 86400e3;
            break;
        case 'H':
            if (!in_time)
                goto bad;
            total += v * 3600e3;
            break;
        case 'M':
            if (!in_time)
                goto bad;
            total += v * 60e3;
            break;
        case 'S':
            if (!in_time)
                goto bad;
            total += v * 1e3;
            break;
        default: goto bad;
        }
        p++;
        parts++;
    }
    if (parts == 0)
        goto bad;
    if (total > RG_DURATION_MAX_MS)
        return too_long(s);
    *out = (int64_t)llround(total);
    return 0;
bad:
    return rg_error_set(RG_EINVALID,
                        "expected an ISO-8601 duration such as PT1M or PT30S, got '%s'", s);
}

int rg_parse_duration_ms(int64_t *out, const char *s)
{
    const char *p;
    double total = 0, v;
    int parts = 0;

    if (s == NULL || *s == '\0')
        return rg_error_set(RG_EINVALID, "expected a duration such as 15m or 10s, got ''");
    if (s[0] == 'P')
        return parse_iso_duration(out, s);
    p = s;
    while (*p) {
        double unit;
        if (read_number(&v, &p) < 0)
            goto bad;
        if (strncmp(p, "ms", 2) == 0) {
            unit = 1;
            p += 2;
        } else {
            switch (*p) {
            case 's': unit = 1e3; break;
            case 'm': unit = 60e3; break;
            case 'h': unit = 3600e3; break;
            case 'd': unit = 86400e3; break;
            default: goto bad;
            }
            p++;
        }
        total += v * unit;
        parts++;
    }
    if (parts == 0)
        goto bad;
    if (total > RG_DURATION_MAX_MS)
        return too_long(s);
    *out = (int64_t)llround(total);
    return 0;
bad:
    return rg_error_set(RG_EINVALID,
                        "expected a duration such as 15m, 10s, 1h30m, 250ms or PT1M, got '%s'", s);
}

int rg_format_duration(rg_buf *out, int64_t ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
    int rc = 0;

    if (ms < 0)
        return rg_error_set(RG_EINVALID, "negative duration");
    if (ms == 0)
        return rg_buf_puts(out, "0s");
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && ms > 0 && rc == 0; i++) {
        if (ms >= units[i].ms) {
            rc = rg_buf_printf(out, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            ms %= units[i].ms;
        }
    }
    return rc;
}

int rg_format_iso_duration(rg_buf *out, int64_t ms)
{
    if (ms <= 0)
        return rg_error_set(RG_EINVALID, "a granularity must be positive");
    if (ms % 3600000 == 0)
        return rg_buf_printf(out, "PT%lldH", (long long)(ms / 3600000));
    if (ms % 60000 == 0)
        return rg_buf_printf(out, "PT%lldM", (long long)(ms / 60000));
    if (ms % 1000 == 0)
        return rg_buf_printf(out, "PT%lldS", (long long)(ms / 1000));
    return rg_buf_printf(out, "PT%lld.%03lldS", (long long)(ms / 1000), (long long)(ms % 1000));
}
