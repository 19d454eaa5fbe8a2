/* error.c - the thread-local error record behind rg_error_set / rg_error_last */
#include <stdio.h>
#include <string.h>

#include "rollgate/error.h"

#undef rg_error_set /* the analyzer-only macro of error.h: this file defines the function */

#define RG_ERROR_MAX 1024

static _Thread_local char error_message[RG_ERROR_MAX];
static _Thread_local int error_code;

int rg_error_setv(int code, const char *fmt, va_list ap)
{
    vsnprintf(error_message, sizeof(error_message), fmt, ap);
    error_code = code;
    return code;
}

int rg_error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rg_error_setv(code, fmt, ap);
    va_end(ap);
    return code;
}

int rg_error_prefix(const char *fmt, ...)
{
    char prefix[RG_ERROR_MAX];
    size_t plen, olen;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix) - 2, fmt, ap);
    va_end(ap);
    plen = strlen(prefix);
    prefix[plen++] = ':';
    prefix[plen++] = ' ';
    olen = strlen(error_message);
    if (plen + olen >= RG_ERROR_MAX)
        olen = RG_ERROR_MAX - 1 - plen;
    memmove(error_message + plen, error_message, olen);
    memcpy(error_message, prefix, plen);
    error_message[plen + olen] = '\0';
    return error_code;
}

const char *rg_error_last(void)
{
    return error_message;
}

int rg_error_code(void)
{
    return error_code;
}

void rg_error_clear(void)
{
    error_message[0] = '\0';
    error_code = 0;
}

const char *rg_error_name(int code)
{
    switch (code) {
    case RG_OK: return "OK";
    case RG_EINVALID: return "EINVALID";
    case RG_ENOTFOUND: return "ENOTFOUND";
    case RG_ECONFLICT: return "ECONFLICT";
    case RG_EPLATFORM: return "EPLATFORM";
    case RG_EDB: return "EDB";
    case RG_ENOMEM: return "ENOMEM";
    case RG_EIO: return "EIO";
    case RG_EAUTH: return "EAUTH";
    case RG_ELIMIT: return "ELIMIT";
    case RG_ETIMEOUT: return "ETIMEOUT";
    case RG_ELEASE: return "ELEASE";
    case RG_ECLAIMED: return "ECLAIMED";
    case RG_EUNREACHABLE: return "EUNREACHABLE";
    default: return "ERROR";
    }
}
