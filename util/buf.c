/* buf.c - a growable, always NUL-terminated byte buffer */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollgate/util.h"

void rg_buf_init(rg_buf *buf)
{
    buf->ptr = NULL;
    buf->len = 0;
    buf->cap = 0;
}

void rg_buf_dispose(rg_buf *buf)
{
    if (buf == NULL)
        return;
    free(buf->ptr);
    rg_buf_init(buf);
}

void rg_buf_clear(rg_buf *buf)
{
    buf->len = 0;
    if (buf->ptr)
        buf->ptr[0] = '\0';
}

int rg_buf_grow(rg_buf *buf, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > SIZE_MAX - buf->len - 1)
        return rg_error_set(RG_ENOMEM, "buffer size overflow");
    need = buf->len + extra + 1;
    if (need <= buf->cap)
        return 0;
    cap = buf->cap ? buf->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    p = realloc(buf->ptr, cap);
    if (p == NULL)
        return rg_error_set(RG_ENOMEM, "out of memory growing a buffer to %zu bytes", cap);
    if (buf->ptr == NULL)
        p[0] = '\0';
    buf->ptr = p;
    buf->cap = cap;
    return 0;
}

int rg_buf_put(rg_buf *buf, const void *data, size_t len)
{
    int rc = rg_buf_grow(buf, len);
    if (rc < 0)
        return rc;
    if (len)
        memcpy(buf->ptr + buf->len, data, len);
    buf->len += len;
    buf->ptr[buf->len] = '\0';
    return 0;
}

int rg_buf_puts(rg_buf *buf, const char *s)
{
    return rg_buf_put(buf, s, strlen(s));
}

int rg_buf_printf(rg_buf *buf, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return rg_error_set(RG_EINVALID, "bad format string");
    if ((rc = rg_buf_grow(buf, (size_t)n)) < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(buf->ptr + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
    return 0;
}

char *rg_buf_detach(rg_buf *buf)
{
    char *p = buf->ptr;
    if (p == NULL) {
        p = calloc(1, 1);
        if (p == NULL)
            rg_error_set(RG_ENOMEM, "out of memory");
        return p;
    }
    rg_buf_init(buf);
    return p;
}

const char *rg_buf_cstr(const rg_buf *buf)
{
    return buf->ptr ? buf->ptr : "";
}

char *rg_strdup(const char *s)
{
    return rg_strndup(s, strlen(s));
}

char *rg_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL) {
        rg_error_set(RG_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int rg_consttime_eq(const void *a, const void *b, size_t len)
{
    const unsigned char *x = a, *y = b;
    unsigned char acc = 0;
    for (size_t i = 0; i < len; i++)
        acc |= (unsigned char)(x[i] ^ y[i]);
    return acc == 0;
}
