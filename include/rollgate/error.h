/* error.h - error codes and the thread-local error record */
#ifndef RG_ERROR_H
#define RG_ERROR_H

#include <stdarg.h>

#if defined(__GNUC__)
#define RG_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define RG_PRINTF(fmt, args)
#endif

/* Every function that can fail returns 0 or one of these (negative). */
enum {
    RG_OK = 0,
    RG_ERROR = -1,         /* generic; prefer a specific code */
    RG_EINVALID = -2,      /* bad input: manifest, policy, argument, document */
    RG_ENOTFOUND = -3,     /* no such rollout, org, strategy, file */
    RG_ECONFLICT = -4,     /* concurrent change: stale ETag, lease held, state forbids */
    RG_EPLATFORM = -5,     /* the platform answered with an error or could not be reached */
    RG_EDB = -6,           /* the database failed */
    RG_ENOMEM = -7,        /* out of memory */
    RG_EIO = -8,           /* file or socket I/O */
    RG_EAUTH = -9,         /* credentials refused or missing */
    RG_ELIMIT = -10,       /* a size or count limit was exceeded */
    RG_ETIMEOUT = -11,     /* a deadline passed */
    RG_ELEASE = -12,       /* lease lost: another driver took the rollout (its epoch moved) */
    RG_ECLAIMED = -13,     /* a resource is claimed by another active rollout */
    RG_EUNREACHABLE = -14, /* no HTTP answer: refused, DNS, TLS, resets or timeouts after
                            * every retry (an outage, not the platform's verdict) */
};

/* Sets the calling thread's error record; returns `code` so callers can
 * `return rg_error_set(RG_EINVALID, "...")`. */
int rg_error_set(int code, const char *fmt, ...) RG_PRINTF(2, 3);
int rg_error_setv(int code, const char *fmt, va_list ap) RG_PRINTF(2, 0);
#ifdef __clang_analyzer__
/* For clang-tidy's analyzer only (it defines __clang_analyzer__; builds never do): it cannot
 * see into util/error.c, so it would take every `return rg_error_set(RG_E..., ...)` as a
 * possible success and report the unset outputs of that path. This says the call returns
 * `code`, as the function does. */
static inline int rg__error_code(int ignored, int code)
{
    (void)ignored;
    return code;
}
#define rg_error_set(code, ...) rg__error_code((rg_error_set)((code), __VA_ARGS__), (code))
#endif

/* Prefixes the current message with "prefix: " (keeps the code). Returns the code. */
int rg_error_prefix(const char *fmt, ...) RG_PRINTF(1, 2);

/* The last error message of this thread ("" when none); valid until the next set. */
const char *rg_error_last(void);
/* The last error code of this thread (0 when none). */
int rg_error_code(void);
void rg_error_clear(void);

/* A short name for a code: "EINVALID", ... */
const char *rg_error_name(int code);

#endif
