/* pg.c - the store's PostgreSQL driver (libpq): one connection per handle, statements
 * translated from the store's SQL once and prepared per connection, reconnection with
 * backoff, retries of serialization failures and deadlocks, errors without the password */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "rollgate/util.h"
#include "store/store_private.h"

/* The most parameters one store statement binds (rollout insert: 19). */
#define PG_MAX_PARAMS 32
/* Attempts of one statement outside a transaction: a dropped connection or a retryable
 * conflict (40001, 40P01) is retried with backoff this many times. */
#define PG_ATTEMPTS 8
/* Connection attempts of a reconnect (and of the open), 50 ms doubling to 2 s. */
#define PG_CONNECT_ATTEMPTS 6
/* The database's clock in epoch ms, for RG_STORE__DB_NOW. */
#define PG_NOW "CAST(floor(extract(epoch FROM now()) * 1000) AS BIGINT)"

struct rg_store__pg {
    PGconn *conn;
    char *uri;           /* with its password: only ever handed to libpq */
    char *display;       /* the URI without a password, for messages */
    char *secret;        /* the password, to scrub from libpq's messages; NULL without one */
    unsigned generation; /* bumped at every (re)connection: statements prepare again */
    int stmt_seq;
    int in_tx;   /* a BEGIN is open (the connection may since have dropped) */
    int guarded; /* the open transaction is the caller's: each write gets a savepoint */
    int readonly;
    int64_t changes;
    int64_t last_id;
};

struct rg_store__pg_stmt {
    rg_store__pg *pg;
    char *sql; /* translated */
    int nparams;
    int is_select;
    char name[24];
    unsigned prepared_generation; /* 0: never prepared */
    unsigned types[PG_MAX_PARAMS];
    const char *values[PG_MAX_PARAMS];
    char bufs[PG_MAX_PARAMS][40];
    PGresult *res;
    int ran;
    int row;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- the connection string, without its secret ---- */

/* Writes `uri` with the password of "user:password@" and of "password=" replaced by "***". */
static void redact(char *out, size_t outlen, const char *uri, char **out_secret)
{
    const char *scheme = strstr(uri, "://"), *at, *colon, *slash, *pw;
    size_t n;

    if (out_secret)
        *out_secret = NULL;
    snprintf(out, outlen, "%s", uri);
    if (scheme == NULL)
        return;
    slash = strpbrk(scheme + 3, "/?");
    at = strchr(scheme + 3, '@');
    if (at && (slash == NULL || at < slash)) {
        colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3));
        if (colon) {
            if (out_secret)
                *out_secret = rg_strndup(colon + 1, (size_t)(at - colon - 1));
            n = (size_t)(colon + 1 - uri);
            snprintf(out, outlen, "%.*s***%s", (int)n, uri, at);
        }
    }
    pw = strstr(out, "password=");
    if (pw && (pw == out || pw[-1] == '?' || pw[-1] == '&')) {
        const char *end = pw + 9 + strcspn(pw + 9, "&");
        char tail[1024];
        if (out_secret && *out_secret == NULL)
            *out_secret = rg_strndup(pw + 9, (size_t)(end - pw - 9));
        snprintf(tail, sizeof(tail), "%s", end);
        snprintf((char *)pw + 9, outlen - (size_t)(pw + 9 - out), "***%s", tail);
    }
}

int rg_store_location_display(char *out, size_t outlen, const char *location)
{
    if (out == NULL || outlen == 0 || location == NULL)
        return rg_error_set(RG_EINVALID, "store: location display: missing argument");
    if (rg_store__is_pg_location(location))
        redact(out, outlen, location, NULL);
    else
        snprintf(out, outlen, "%s", location);
    return 0;
}

int rg_store_location_is_postgresql(const char *location)
{
    return rg_store__is_pg_location(location);
}

/* libpq's message, one line, with the password (if it ever appears) masked. */
static void scrubbed(char *out, size_t outlen, const rg_store__pg *pg, const char *msg)
{
    char *hit;
    snprintf(out, outlen, "%s", msg ? msg : "");
    out[strcspn(out, "\n")] = '\0';
    if (pg->secret && pg->secret[0])
        while ((hit = strstr(out, pg->secret)) != NULL)
            memset(hit, '*', strlen(pg->secret));
}

/* ---- errors ---- */

static int is_retryable(const char *state)
{
    return state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0);
}

static int code_of(const char *state)
{
    if (state == NULL)
        return RG_EDB;
    if (strcmp(state, "23505") == 0 || strcmp(state, "23000") == 0 || is_retryable(state))
        return RG_ECONFLICT;
    if (strcmp(state, "23503") == 0)
        return RG_ENOTFOUND;
    if (strcmp(state, "23514") == 0 || strcmp(state, "23502") == 0 || strncmp(state, "22", 2) == 0)
        return RG_EINVALID;
    if (strcmp(state, "53200") == 0)
        return RG_ENOMEM;
    return RG_EDB;
}

/* "store: <op>: <primary message> (SQLSTATE x)": the primary message names constraints and
 * types, never the key values (those are in the DETAIL, which is not used). */
static int result_error(rg_store__pg *pg, const PGresult *res, const char *op)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char msg[512];

    if (PQstatus(pg->conn) != CONNECTION_OK)
        return rg_error_set(RG_EDB, "store: %s: the connection to %s was lost%s", op, pg->display,
                            pg->in_tx ? "; the open transaction is rolled back" : "");
    scrubbed(msg, sizeof(msg), pg, primary ? primary : PQerrorMessage(pg->conn));
    return rg_error_set(code_of(state), "store: %s: %s (SQLSTATE %s)", op, msg,
                        state ? state : "none");
}

/* ---- connecting ---- */

static int connect_once(rg_store__pg *pg, char *why, size_t whylen)
{
    PGresult *res;

    if (pg->conn)
        PQfinish(pg->conn);
    pg->conn = PQconnectdb(pg->uri);
    if (pg->conn == NULL) {
        snprintf(why, whylen, "out of memory");
        return RG_ENOMEM;
    }
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        scrubbed(why, whylen, pg, PQerrorMessage(pg->conn));
        return RG_EDB;
    }
    /* Messages in one language and times in UTC whatever the server's settings. A host that
     * freezes inside a transaction (a paused VM, SIGSTOP) would hold its row locks, and so
     * every other host's takeover, for as long as it stays frozen: the server ends such a
     * session after 5 minutes idle in a transaction (longer than any batch a transaction
     * spans), releasing the locks; its lease has long expired by then. */
    res = PQexec(pg->conn, pg->readonly ? "SET TIME ZONE 'UTC'; SET client_min_messages = warning;"
                                          " SET default_transaction_read_only = on;"
                                          " SET idle_in_transaction_session_timeout = 300000"
                                        : "SET TIME ZONE 'UTC'; SET client_min_messages = warning;"
                                          " SET idle_in_transaction_session_timeout = 300000");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        scrubbed(why, whylen, pg, PQerrorMessage(pg->conn));
        PQclear(res);
        return RG_EDB;
    }
    PQclear(res);
    pg->generation++;
    pg->in_tx = 0;
    return 0;
}

/* Connects, retrying with backoff; "cannot connect" (RG_EDB) names the database. */
static int connect_retrying(rg_store__pg *pg, const char *op)
{
    char why[512] = "";
    int rc = RG_EDB, delay = 50;

    for (int attempt = 0; attempt < PG_CONNECT_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            if (attempt == 1)
                rg_log(RG_LOG_WARN, "store", "%s: cannot reach %s (%s); retrying", op, pg->display,
                       why);
            sleep_ms(delay);
            delay = delay * 2 > 2000 ? 2000 : delay * 2;
        }
        if ((rc = connect_once(pg, why, sizeof(why))) == 0)
            return 0;
        if (rc == RG_ENOMEM)
            break;
    }
    /* The database first, as SQLite's errors name their file first (the CLI says it once). */
    return rg_error_set(rc, "%s: store: %s: cannot connect to the database: %s", pg->display, op,
                        why);
}

int rg_store__pg_open(rg_store__pg **out, const char *uri)
{
    rg_store__pg *pg = calloc(1, sizeof(*pg));
    char display[1024];
    int rc;

    if (pg == NULL)
        return rg_error_set(RG_ENOMEM, "store: open: out of memory");
    redact(display, sizeof(display), uri, &pg->secret);
    pg->uri = rg_strdup(uri);
    pg->display = rg_strdup(display);
    if (pg->uri == NULL || pg->display == NULL) {
        rg_store__pg_close(pg);
        return rg_error_set(RG_ENOMEM, "store: open: out of memory");
    }
    if ((rc = connect_retrying(pg, "open")) < 0) {
        rg_store__pg_close(pg);
        return rc;
    }
    *out = pg;
    return 0;
}

void rg_store__pg_set_readonly(rg_store__pg *pg)
{
    PGresult *res = PQexec(pg->conn, "SET default_transaction_read_only = on");
    PQclear(res);
    pg->readonly = 1;
}

void rg_store__pg_set_guarded(rg_store__pg *pg, int guarded)
{
    pg->guarded = guarded;
}

void rg_store__pg_close(rg_store__pg *pg)
{
    if (pg == NULL)
        return;
    if (pg->conn)
        PQfinish(pg->conn);
    free(pg->uri);
    free(pg->display);
    free(pg->secret);
    free(pg);
}

/* Before a statement outside a transaction: a dropped connection is made again. */
static int ensure_connected(rg_store__pg *pg, const char *op)
{
    if (PQstatus(pg->conn) == CONNECTION_OK)
        return 0;
    if (pg->in_tx)
        return rg_error_set(RG_EDB,
                            "store: %s: the connection to %s was lost; the open "
                            "transaction is rolled back",
                            op, pg->display);
    rg_log(RG_LOG_WARN, "store", "%s: the connection to %s dropped; reconnecting", op, pg->display);
    PQreset(pg->conn);
    if (PQstatus(pg->conn) == CONNECTION_OK) {
        char why[256];
        return connect_once(pg, why, sizeof(why)) == 0 ? 0 : connect_retrying(pg, op);
    }
    return connect_retrying(pg, op);
}

/* ---- plain SQL ---- */

static int is_word(const char *sql, const char *word)
{
    size_t n = strlen(word);
    while (isspace((unsigned char)*sql))
        sql++;
    return strncasecmp(sql, word, n) == 0 && !isalnum((unsigned char)sql[n]);
}

int rg_store__pg_exec(rg_store__pg *pg, const char *sql, const char *op)
{
    int begin = is_word(sql, "BEGIN"), commit = is_word(sql, "COMMIT"),
        rollback = is_word(sql, "ROLLBACK");
    PGresult *res;
    int rc = 0;

    if (rollback && PQstatus(pg->conn) != CONNECTION_OK) {
        pg->in_tx = pg->guarded = 0; /* the server rolled it back when the connection died */
        return 0;
    }
    if (!commit && !rollback && (rc = ensure_connected(pg, op)) < 0)
        return rc;
    res = PQexec(pg->conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = result_error(pg, res, op);
    else if (commit && strcmp(PQcmdStatus(res), "ROLLBACK") == 0)
        /* COMMIT of a failed transaction answers ROLLBACK: nothing was written. */
        rc = rg_error_set(RG_EDB, "store: %s: the transaction had failed and was rolled back", op);
    PQclear(res);
    if (begin && rc == 0)
        pg->in_tx = 1;
    if (commit || rollback)
        pg->in_tx = pg->guarded = 0;
    return rc;
}

int rg_store__pg_in_transaction(const rg_store__pg *pg)
{
    return pg->in_tx;
}

/* ---- statements ---- */

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

char *rg_store__pg_sql(const char *sql, int *out_nparams)
{
    size_t len = strlen(sql), cap = len * 2 + sizeof(PG_NOW) * 4 + 64, o = 0;
    char *out = malloc(cap);
    int max = 0;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len && o + 64 < cap;) {
        if (sql[i] == '\'') { /* a literal, '' included, copied as is */
            size_t j = i + 1;
            while (j < len && !(sql[j] == '\'' && sql[j + 1] != '\''))
                j += sql[j] == '\'' ? 2 : 1;
            j = j < len ? j + 1 : len;
            memcpy(out + o, sql + i, j - i);
            o += j - i;
            i = j;
        } else if (starts_with(sql + i, "/*pg:")) {
            const char *end = strstr(sql + i, "*/");
            size_t n = end ? (size_t)(end - (sql + i + 5)) : 0;
            memcpy(out + o, sql + i + 5, n);
            o += n;
            i = end ? (size_t)(end - sql) + 2 : len;
        } else if (starts_with(sql + i, RG_STORE__DB_NOW)) {
            memcpy(out + o, PG_NOW, sizeof(PG_NOW) - 1);
            o += sizeof(PG_NOW) - 1;
            i += sizeof(RG_STORE__DB_NOW) - 1;
        } else if (starts_with(sql + i, "VALUES (NULL,")) {
            memcpy(out + o, "VALUES (DEFAULT,", 16);
            o += 16;
            i += 13;
        } else if (sql[i] == '?') {
            int n = 0;
            i++;
            if (isdigit((unsigned char)sql[i])) {
                while (isdigit((unsigned char)sql[i]) && n < 1000)
                    n = n * 10 + (sql[i++] - '0');
            } else {
                n = max + 1;
            }
            if (n > max)
                max = n;
            o += (size_t)snprintf(out + o, cap - o, "$%d", n);
        } else {
            out[o++] = sql[i++];
        }
    }
    out[o] = '\0';
    *out_nparams = max;
    return out;
}

rg_store__pg_stmt *rg_store__pg_stmt_new(rg_store__pg *pg, const char *sql)
{
    rg_store__pg_stmt *st = calloc(1, sizeof(*st));

    if (st == NULL)
        return NULL;
    st->pg = pg;
    if ((st->sql = rg_store__pg_sql(sql, &st->nparams)) == NULL || st->nparams > PG_MAX_PARAMS) {
        free(st->sql);
        free(st);
        return NULL;
    }
    st->is_select = is_word(sql, "SELECT");
    snprintf(st->name, sizeof(st->name), "rg%d", ++pg->stmt_seq);
    st->row = -1;
    return st;
}

void rg_store__pg_stmt_free(rg_store__pg_stmt *st)
{
    if (st == NULL)
        return;
    PQclear(st->res);
    free(st->sql);
    free(st);
}

int rg_store__pg_bind(rg_store__pg_stmt *st, int index, unsigned type, const char *text)
{
    if (index < 1 || index > st->nparams)
        return rg_error_set(RG_EINVALID, "store: parameter %d of %d out of range", index,
                            st->nparams);
    st->types[index - 1] = type;
    if (text == NULL || (type != 20u && type != 701u)) {
        st->values[index - 1] = text; /* the caller's string outlives the step */
    } else {                          /* a number the binder formatted on its stack */
        snprintf(st->bufs[index - 1], sizeof(st->bufs[0]), "%s", text);
        st->values[index - 1] = st->bufs[index - 1];
    }
    return 0;
}

static int prepare(rg_store__pg *pg, rg_store__pg_stmt *st, const char *op)
{
    PGresult *res;
    int rc = 0;

    if (st->prepared_generation == pg->generation)
        return 0;
    res = PQprepare(pg->conn, st->name, st->sql, st->nparams, (const Oid *)st->types);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = result_error(pg, res, op);
    else
        st->prepared_generation = pg->generation;
    PQclear(res);
    return rc;
}

/* A wait this long for an answer is worth one line in the log, as SQLite's busy wait is. */
#define PG_WAIT_LOG_MS 1000

/* PQexecPrepared, waiting for the answer without a limit (as the SQLite driver waits for
 * the lock), and saying so once when it takes longer than PG_WAIT_LOG_MS: a statement
 * waits on a row or table another client locked. NULL when the connection failed. */
/* Waits for the connection's next result without a limit, saying so once when it takes
 * longer than PG_WAIT_LOG_MS. -1 when the connection failed. */
static int wait_ready(rg_store__pg *pg, const char *op, int64_t started, int *said)
{
    while (PQisBusy(pg->conn)) {
        struct pollfd pfd = {PQsocket(pg->conn), POLLIN, 0};
        int ready = poll(&pfd, 1, *said ? -1 : 100);
        if (ready < 0 && errno != EINTR)
            return -1;
        if (ready > 0 && !PQconsumeInput(pg->conn))
            return -1;
        if (!*said && rg_time_mono_ms() - started > PG_WAIT_LOG_MS) {
            rg_log(RG_LOG_WARN, "store",
                   "%s: the database is locked by another client (no answer for %d ms); "
                   "waiting for it (no limit)",
                   op, PG_WAIT_LOG_MS);
            *said = 1;
        }
    }
    return 0;
}

/* PQexecPrepared, waiting for the answer without a limit (as the SQLite driver waits for
 * the lock): a statement waits on a row or table another client locked. NULL when the
 * connection failed. */
static PGresult *exec_waiting(rg_store__pg *pg, rg_store__pg_stmt *st, const char *op)
{
    PGresult *res, *last = NULL;
    int said = 0;

    if (!PQsendQueryPrepared(pg->conn, st->name, st->nparams, st->values, NULL, NULL, 0) ||
        wait_ready(pg, op, rg_time_mono_ms(), &said) < 0)
        return NULL;
    while ((res = PQgetResult(pg->conn)) != NULL) {
        if (last == NULL || PQresultStatus(res) == PGRES_FATAL_ERROR) {
            PQclear(last);
            last = res;
        } else {
            PQclear(res);
        }
    }
    return last;
}

/* As exec_waiting, between SAVEPOINT rg_stmt and RELEASE SAVEPOINT rg_stmt, the three in one
 * round trip (libpq's pipeline mode). The statement's result, or the savepoint's failure,
 * or NULL when the connection failed; after a failure the savepoint is still open (the
 * RELEASE was skipped) and the transaction waits for ROLLBACK TO SAVEPOINT. */
static PGresult *exec_guarded(rg_store__pg *pg, rg_store__pg_stmt *st, const char *op)
{
    static const char take[] = "SAVEPOINT rg_stmt", give[] = "RELEASE SAVEPOINT rg_stmt";
    PGresult *res, *mine = NULL;
    int64_t started = rg_time_mono_ms();
    int query = 0, said = 0, broken = 0;

    if (!PQenterPipelineMode(pg->conn))
        return NULL;
    if (!PQsendQueryParams(pg->conn, take, 0, NULL, NULL, NULL, NULL, 0) ||
        !PQsendQueryPrepared(pg->conn, st->name, st->nparams, st->values, NULL, NULL, 0) ||
        !PQsendQueryParams(pg->conn, give, 0, NULL, NULL, NULL, NULL, 0) ||
        !PQpipelineSync(pg->conn))
        broken = 1;
    while (!broken) {
        if (wait_ready(pg, op, started, &said) < 0) {
            broken = 1;
            break;
        }
        if ((res = PQgetResult(pg->conn)) == NULL) {
            query++; /* the end of one query's results */
            continue;
        }
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            break;
        }
        /* Keep the statement's result, or the first failure before it, or the release's
         * failure (then the statement's work is not safe). */
        if (query == 1 || (mine == NULL && PQresultStatus(res) == PGRES_FATAL_ERROR) ||
            (query == 2 && PQresultStatus(res) == PGRES_FATAL_ERROR &&
             PQresultStatus(mine) != PGRES_FATAL_ERROR)) {
            PQclear(mine);
            mine = res;
        } else {
            PQclear(res);
        }
    }
    if (!broken)
        PQexitPipelineMode(pg->conn);
    if (broken) {
        PQclear(mine);
        mine = NULL;
    }
    return mine;
}

static int savepoint(rg_store__pg *pg, const char *sql, const char *op)
{
    PGresult *res = PQexec(pg->conn, sql);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : result_error(pg, res, op);
    PQclear(res);
    return rc;
}

/* One execution; 0 with st->res holding its rows, or an RG_E* code (*out_state: SQLSTATE). */
static int run_once(rg_store__pg *pg, rg_store__pg_stmt *st, const char *op, int *out_retry)
{
    int guard = pg->in_tx && pg->guarded && !st->is_select;
    ExecStatusType status;
    const char *state;
    int rc;

    *out_retry = 0;
    if ((rc = ensure_connected(pg, op)) < 0)
        return rc;
    if ((rc = prepare(pg, st, op)) < 0) {
        *out_retry = !pg->in_tx && PQstatus(pg->conn) != CONNECTION_OK;
        return rc;
    }
    /* Inside the caller's transaction a failed write must not fail the transaction (SQLite
     * undoes only the statement): a savepoint around it makes PostgreSQL do the same. */
    st->res = guard ? exec_guarded(pg, st, op) : exec_waiting(pg, st, op);
    status = PQresultStatus(st->res);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        const char *tuples = PQcmdTuples(st->res);
        pg->changes = tuples && *tuples ? strtoll(tuples, NULL, 10) : 0;
        if (!st->is_select && status == PGRES_TUPLES_OK && PQntuples(st->res) > 0 &&
            PQnfields(st->res) > 0 && !PQgetisnull(st->res, 0, 0))
            pg->last_id = strtoll(PQgetvalue(st->res, 0, 0), NULL, 10);
        return 0;
    }
    state = PQresultErrorField(st->res, PG_DIAG_SQLSTATE);
    rc = result_error(pg, st->res, op);
    *out_retry = !pg->in_tx && (PQstatus(pg->conn) != CONNECTION_OK || is_retryable(state));
    PQclear(st->res);
    st->res = NULL;
    if (guard && PQstatus(pg->conn) == CONNECTION_OK) {
        char saved[1024];
        snprintf(saved, sizeof(saved), "%s", rg_error_last());
        /* The statement (or its savepoint) failed; the RELEASE was skipped. */
        if (savepoint(pg, "ROLLBACK TO SAVEPOINT rg_stmt; RELEASE SAVEPOINT rg_stmt", op) == 0)
            rg_error_set(rc, "%s", saved);
    }
    return rc;
}

int rg_store__pg_step(rg_store__pg *pg, rg_store__pg_stmt *st, const char *op)
{
    int rc = 0, retry = 0, delay = 10;

    if (!st->ran) {
        for (int attempt = 0; attempt < PG_ATTEMPTS; attempt++) {
            if (attempt > 0) {
                sleep_ms(delay);
                delay = delay * 2 > 1000 ? 1000 : delay * 2;
            }
            if ((rc = run_once(pg, st, op, &retry)) == 0 || !retry)
                break;
        }
        if (rc < 0)
            return rc;
        st->ran = 1;
        st->row = -1;
    }
    st->row++;
    return st->res && st->row < PQntuples(st->res) ? 1 : 0;
}

void rg_store__pg_reset(rg_store__pg_stmt *st)
{
    PQclear(st->res);
    st->res = NULL;
    st->ran = 0;
    st->row = -1;
}

int64_t rg_store__pg_changes(const rg_store__pg *pg)
{
    return pg->changes;
}

int64_t rg_store__pg_last_id(const rg_store__pg *pg)
{
    return pg->last_id;
}

const char *rg_store__pg_col(rg_store__pg_stmt *st, int col, size_t *len)
{
    if (st->res == NULL || st->row < 0 || st->row >= PQntuples(st->res) ||
        col >= PQnfields(st->res) || PQgetisnull(st->res, st->row, col))
        return NULL;
    *len = (size_t)PQgetlength(st->res, st->row, col);
    return PQgetvalue(st->res, st->row, col);
}

/* A query of one integer (the schema version); 0 when it returns no row. */
int rg_store__pg_query_int(int *out, rg_store__pg *pg, const char *sql, const char *op)
{
    PGresult *res;
    int rc = 0;

    if ((rc = ensure_connected(pg, op)) < 0)
        return rc;
    res = PQexec(pg->conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = result_error(pg, res, op);
    else
        *out = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)
                   ? (int)strtol(PQgetvalue(res, 0, 0), NULL, 10)
                   : 0;
    PQclear(res);
    return rc;
}
