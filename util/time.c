/* time.c - wall and monotonic clocks, ISO-8601 UTC formatting and parsing */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rollgate/util.h"

int64_t rg_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rg_time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

void rg_time_format(char *out, int64_t epoch_ms)
{
    int64_t secs = epoch_ms >= 0 ? epoch_ms / 1000 : (epoch_ms - 999) / 1000;
    int ms = (int)(epoch_ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400;
    int64_t y;
    int m, d;

    civil_from_days(days, &y, &m, &d);
    if (y < 0)
        y = 0; /* ISO-8601 basic years only; times before year 0 are not facts we keep */
    if (y > 9999)
        y = 9999;
    snprintf(out, RG_TIME_ISO_LEN, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)y % 10000u,
             (unsigned)m % 13u, (unsigned)d % 32u, (unsigned)(rem / 3600) % 24u,
             (unsigned)(rem / 60 % 60), (unsigned)(rem % 60), (unsigned)ms % 1000u);
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int rg_time_parse(int64_t *out, const char *s)
{
    const char *p = s;
    int y, mo, d, h, mi, sec, ms = 0, off = 0;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (s == NULL)
        goto bad;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d) || (*p != 'T' && *p != 't'))
        goto bad;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &sec))
        goto bad;
    if (*p == '.') {
        int scale = 100, n = 0;
        p++;
        while (isdigit((unsigned char)*p)) {
            if (n < 3)
                ms += (*p - '0') * scale;
            scale /= 10;
            p++;
            n++;
        }
        if (n == 0)
            goto bad;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
            goto bad;
        off = sign * (oh * 60 + om);
    } else {
        goto bad;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        sec > 60)
        goto bad;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        goto bad;
    *out = ((days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec) -
            (int64_t)off * 60) *
               1000 +
           ms;
    return 0;
bad:
    return rg_error_set(RG_EINVALID,
                        "expected an ISO-8601 UTC time such as "
                        "2026-11-22T10:00:00.000Z, got '%s'",
                        s ? s : "");
}

int rg_interval_parse(int64_t *start_ms, int64_t *end_ms, const char *s)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    char left[64];
    int64_t a, b;

    if (slash == NULL || (size_t)(slash - s) >= sizeof(left))
        return rg_error_set(RG_EINVALID, "expected an interval START/END, got '%s'", s ? s : "");
    memcpy(left, s, (size_t)(slash - s));
    left[slash - s] = '\0';
    if (rg_time_parse(&a, left) < 0 || rg_time_parse(&b, slash + 1) < 0)
        return rg_error_set(RG_EINVALID, "expected an interval of two ISO-8601 times, got '%s'", s);
    if (b <= a)
        return rg_error_set(RG_EINVALID, "interval '%s' ends before it starts", s);
    *start_ms = a;
    *end_ms = b;
    return 0;
}

void rg_interval_format(char *out, size_t outlen, int64_t start_ms, int64_t end_ms)
{
    char a[RG_TIME_ISO_LEN], b[RG_TIME_ISO_LEN];
    rg_time_format(a, start_ms);
    rg_time_format(b, end_ms);
    snprintf(out, outlen, "%s/%s", a, b);
}
