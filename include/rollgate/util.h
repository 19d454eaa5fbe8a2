/* util.h - small shared helpers: growable buffer, logging, checked parsing,
 * ISO-8601 time, SHA-256. */
#ifndef RG_UTIL_H
#define RG_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "rollgate/error.h"

/* ---- growable buffer (NUL-terminated at all times once used) ---- */
typedef struct {
    char *ptr;  /* owned; NULL until the first append */
    size_t len; /* bytes used, excluding the NUL */
    size_t cap;
} rg_buf;

#define RG_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void rg_buf_init(rg_buf *buf);
void rg_buf_dispose(rg_buf *buf);
void rg_buf_clear(rg_buf *buf);
int rg_buf_grow(rg_buf *buf, size_t extra);
int rg_buf_put(rg_buf *buf, const void *data, size_t len);
int rg_buf_puts(rg_buf *buf, const char *s);
int rg_buf_printf(rg_buf *buf, const char *fmt, ...) RG_PRINTF(2, 3);
/* Hands the string to the caller (who frees it); the buffer is emptied.
 * Never NULL on success: an empty buffer yields "". */
char *rg_buf_detach(rg_buf *buf);
/* The contents, "" for an unused buffer; lives until the next change. */
const char *rg_buf_cstr(const rg_buf *buf);

/* ---- logging: the library never prints, it logs through one sink ---- */
typedef enum {
    RG_LOG_ERROR = 0,
    RG_LOG_WARN = 1,
    RG_LOG_INFO = 2,
    RG_LOG_DEBUG = 3,
} rg_log_level;

typedef void (*rg_log_sink)(rg_log_level level, const char *component, const char *message,
                            void *payload);

/* Installs the process-wide sink (NULL discards) and the most verbose level passed to it. */
void rg_log_set_sink(rg_log_sink sink, void *payload, rg_log_level max_level);
int rg_log_enabled(rg_log_level level);
/* Formats only when the level is enabled. */
void rg_log(rg_log_level level, const char *component, const char *fmt, ...) RG_PRINTF(3, 4);
const char *rg_log_level_name(rg_log_level level);
/* The built-in stderr sink: "2026-11-22T10:00:00Z level component: message". */
void rg_log_stderr_sink(rg_log_level level, const char *component, const char *message,
                        void *payload);

/* ---- checked parsing (never atoi/strtol unchecked) ---- */
/* Whole string must be a base-10 integer within [min, max]. */
int rg_parse_int64(int64_t *out, const char *s, int64_t min, int64_t max);
/* Whole string must be a finite decimal number. */
int rg_parse_double(double *out, const char *s);
/* A duration: "15m", "10s", "1h30m", "250ms", "2d" or ISO-8601 "PT1M", "PT0.5S", "P1DT2H".
 * Result in milliseconds; must be >= 0 and fit in int64. */
int rg_parse_duration_ms(int64_t *out, const char *s);
/* Writes a duration in the short form ("15m", "1h30m", "500ms"). */
int rg_format_duration(rg_buf *out, int64_t ms);
/* Writes an ISO-8601 duration ("PT1M", "PT0.5S") suitable for a granularity. */
int rg_format_iso_duration(rg_buf *out, int64_t ms);

/* ---- time (milliseconds since the Unix epoch, UTC) ---- */
int64_t rg_time_now_ms(void);
/* Monotonic clock, for deadlines and backoff, never for stored facts. */
int64_t rg_time_mono_ms(void);
/* "2026-11-22T10:00:00.000Z"; out must hold RG_TIME_ISO_LEN bytes. */
#define RG_TIME_ISO_LEN 32
void rg_time_format(char *out, int64_t epoch_ms);
/* Accepts "YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm)". */
int rg_time_parse(int64_t *out, const char *s);
/* "start/end" as used by analytics intervals. */
int rg_interval_parse(int64_t *start_ms, int64_t *end_ms, const char *s);
void rg_interval_format(char *out, size_t outlen, int64_t start_ms, int64_t end_ms);

/* ---- SHA-256 ---- */
#define RG_SHA256_LEN 32
void rg_sha256(uint8_t out[RG_SHA256_LEN], const void *data, size_t len);
/* Lowercase hex digest; out must hold 65 bytes. */
void rg_sha256_hex(char out[65], const void *data, size_t len);
/* HMAC-SHA-256 (webhook signatures). */
void rg_hmac_sha256(uint8_t out[RG_SHA256_LEN], const void *key, size_t keylen, const void *data,
                    size_t len);
/* A short stable pseudonym for an identifier in logs: first 12 hex digits of its hash. */
void rg_hash_id(char out[13], const char *id);

/* ---- private files (util/file.c); `what` names the file in errors ("database") ---- */
/* Creates `path` with mode 0600 whatever the umask when absent; an existing regular file of
 * ours loses its group and other bits (by path: no descriptor of it is opened, so the
 * process's POSIX locks on it, SQLite's, stay). RG_EAUTH for a shared file of another
 * user. */
int rg_file_private_ensure(const char *path, const char *what);
/* As rg_file_private_ensure for a file that may be absent (then nothing is done). */
int rg_file_private_tighten(const char *path, const char *what);
/* Writes a fresh 0600 file beside `path`, fsyncs it and renames it over `path`. */
int rg_file_write_private(const char *path, const char *data, size_t len, const char *what);
/* Reads a regular file (not a symlink) that is ours and mode 0600 or stricter, at most `max`
 * bytes; RG_ENOTFOUND when absent, RG_EAUTH naming the mode or owner otherwise.
 * @param[out] out NUL-terminated, caller frees; out_len may be NULL. */
int rg_file_read_private(char **out, size_t *out_len, const char *path, size_t max,
                         const char *what);

/* ---- JSON text ---- */
struct json_t;
/* The shortest decimal that reads back (strtod) as exactly `value`, with ".0" added when it
 * would read as an integer: 0.05, 1e-07, 5.0. RG_EINVALID for NaN and infinities. */
int rg_format_double(char *out, size_t outlen, double value);
/* json_dumps with every real in the rg_format_double form. Honours JSON_INDENT(n),
 * JSON_SORT_KEYS and JSON_ENSURE_ASCII; compact otherwise. Caller frees; NULL on error. */
char *rg_json_dumps(const struct json_t *doc, size_t flags);
/* json_equal, but numbers compare by value: a platform may answer 50.0 for the 50 that was
 * sent (one built on doubles), which is no change and no person's edit. NULLs equal only
 * each other. (Named for its first use, strategy bodies; the platform's 412 path uses it.) */
int rg_body_same(const struct json_t *a, const struct json_t *b);

/* ---- strings ---- */
/* strdup that sets RG_ENOMEM on failure. */
char *rg_strdup(const char *s);
char *rg_strndup(const char *s, size_t n);
/* Constant-time comparison of two byte strings of equal length. */
int rg_consttime_eq(const void *a, const void *b, size_t len);

#endif
