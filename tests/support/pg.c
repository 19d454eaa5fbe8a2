/* pg.c - a throwaway PostgreSQL server for the tests (initdb, pg_ctl) on a private unix socket */
#define _GNU_SOURCE
#include <glob.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "support/pg.h"
#include "support/skip.h"
#include "support/testutil.h"

/* Only names a socket file in our own directory: no TCP listener, so any number will do. */
#define PG_PORT 54329

static char pg_bindir[PATH_MAX];
static char pg_dir[PATH_MAX];
static int pg_running;
static int pg_failed; /* a start failed: later calls fail at once, with its reason */
static char pg_failure[512];
static int pg_db_seq;
static pid_t pg_owner; /* the process that started it: a forked child never stops it */

static int executable_in(const char *dir, const char *name)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, X_OK) == 0;
}

static int usable_bindir(const char *dir)
{
    return executable_in(dir, "initdb") && executable_in(dir, "pg_ctl") &&
           executable_in(dir, "postgres");
}

/* $RG_PG_BINDIR, else the newest /usr/lib/postgresql/<major>/bin (Debian keeps the server
 * binaries there, off PATH), else `pg_config --bindir`. */
static int find_bindir(void)
{
    const char *env = getenv("RG_PG_BINDIR");
    glob_t g;
    long best = -1;
    FILE *p;

    if (env && *env) {
        snprintf(pg_bindir, sizeof(pg_bindir), "%s", env);
        return usable_bindir(pg_bindir) ? 0 : -1;
    }
    if (glob("/usr/lib/postgresql/*/bin", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            const char *v = g.gl_pathv[i] + strlen("/usr/lib/postgresql/");
            long major = strtol(v, NULL, 10);
            if (major > best && usable_bindir(g.gl_pathv[i])) {
                best = major;
                snprintf(pg_bindir, sizeof(pg_bindir), "%s", g.gl_pathv[i]);
            }
        }
        globfree(&g);
    }
    if (best >= 0)
        return 0;
    p = popen("pg_config --bindir 2>/dev/null", "r");
    if (p) {
        char line[PATH_MAX];
        if (fgets(line, sizeof(line), p)) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(pg_bindir, sizeof(pg_bindir), "%s", line);
        }
        pclose(p);
        if (pg_bindir[0] && usable_bindir(pg_bindir))
            return 0;
    }
    pg_bindir[0] = '\0';
    return -1;
}

/* PostgreSQL refuses to run as root: as root the server runs as the package's `postgres`
 * user (or nobody), which then owns the directory. */
static const struct passwd *server_user(void)
{
    const struct passwd *pw;
    if (geteuid() != 0)
        return NULL;
    pw = getpwnam("postgres");
    return pw ? pw : getpwnam("nobody");
}

/* Runs <bindir>/<prog> argv... as the server user, stdout and stderr to `log`; its exit code. */
static int run(const char *prog, char *const args[], const char *log)
{
    const struct passwd *pw = server_user();
    char path[PATH_MAX + 32];
    char *argv[16];
    pid_t pid;
    int status = 0, n = 0;

    snprintf(path, sizeof(path), "%s/%s", pg_bindir, prog);
    argv[n++] = path;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        FILE *out = NULL;
        /* The user first: the log must be the server user's, pg_ctl appends to it. */
        if (pw && (setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0))
            _exit(126);
        if ((out = fopen(log, "a")) != NULL) {
            dup2(fileno(out), 1);
            dup2(fileno(out), 2);
        }
        execv(path, argv);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void print_log(const char *log)
{
    char *text = rg_test_read_file(log, NULL);
    fprintf(stderr, "--- PostgreSQL log (%s) ---\n%s\n---\n", log, text ? text : "(none)");
    free(text);
}

static void stop_at_exit(void)
{
    rg_test_pg_stop();
}

static int start(char *why, size_t whylen);

int rg_test_pg_start(char *why, size_t whylen)
{
    int rc;

    if (pg_running)
        return 0;
    if (pg_failed) {
        snprintf(why, whylen, "%s", pg_failure);
        return pg_failed;
    }
    rc = start(why, whylen);
    if (rc != 0) {
        pg_failed = rc;
        snprintf(pg_failure, sizeof(pg_failure), "%s", why);
    }
    return rc;
}

static int start(char *why, size_t whylen)
{
    const struct passwd *pw;
    char data[PATH_MAX + 16], log[PATH_MAX + 16], opts[PATH_MAX + 128];

    if (find_bindir() != 0) {
        snprintf(why, whylen,
                 "PostgreSQL server binaries (initdb, pg_ctl) not found in "
                 "/usr/lib/postgresql/*/bin, $RG_PG_BINDIR or pg_config --bindir "
                 "(scripts/deps.sh installs postgresql)");
        return RG_TEST_SKIP_CODE;
    }
    if (rg_test_mkdtemp(pg_dir, sizeof(pg_dir)) != 0) {
        snprintf(why, whylen, "cannot create a temporary directory");
        return -1;
    }
    if ((pw = server_user()) != NULL && (chown(pg_dir, pw->pw_uid, pw->pw_gid) != 0)) {
        snprintf(why, whylen, "cannot hand %s to the server user", pg_dir);
        return -1;
    }
    snprintf(data, sizeof(data), "%s/data", pg_dir);
    snprintf(log, sizeof(log), "%s/server.log", pg_dir);
    {
        char *initdb[] = {
            "-D",   data,         "-U",        "rollgate",          "-A", "trust", "-E",
            "UTF8", "--locale=C", "--no-sync", "--no-instructions", NULL};
        if (run("initdb", initdb, log) != 0) {
            snprintf(why, whylen, "initdb failed (%s/initdb)", pg_bindir);
            print_log(log);
            rg_test_rmtree(pg_dir);
            return -1;
        }
    }
    /* The socket in our directory only, no TCP; fsync off: a test server holds nothing. */
    snprintf(opts, sizeof(opts),
             "-k %s -p %d -c listen_addresses= -c fsync=off -c synchronous_commit=off "
             "-c full_page_writes=off -c max_connections=100",
             pg_dir, PG_PORT);
    {
        char *start[] = {"-D", data, "-o", opts, "-l", log, "-w", "-t", "60", "start", NULL};
        if (run("pg_ctl", start, log) != 0) {
            snprintf(why, whylen, "pg_ctl start failed (%s/pg_ctl)", pg_bindir);
            print_log(log);
            rg_test_rmtree(pg_dir);
            return -1;
        }
    }
    pg_running = 1;
    pg_owner = getpid();
    atexit(stop_at_exit);
    return 0;
}

void rg_test_pg_stop(void)
{
    char data[PATH_MAX + 16], log[PATH_MAX + 16];

    if (!pg_running || getpid() != pg_owner)
        return;
    pg_running = 0;
    snprintf(data, sizeof(data), "%s/data", pg_dir);
    snprintf(log, sizeof(log), "%s/server.log", pg_dir);
    {
        char *stop[] = {"-D", data, "-m", "immediate", "-w", "stop", NULL};
        if (run("pg_ctl", stop, log) != 0)
            print_log(log);
    }
    rg_test_rmtree(pg_dir);
    pg_dir[0] = '\0';
}

const char *rg_test_pg_dir(void)
{
    return pg_dir;
}

int rg_test_pg_create_db(char *uri, size_t urilen, const char *name)
{
    char admin[PATH_MAX + 128], sql[160];
    PGconn *conn;
    PGresult *res;
    int rc = 0;

    if (!pg_running || strlen(name) > 60 ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name)) {
        fprintf(stderr, "rg_test_pg_create_db: no server, or a bad name '%s'\n", name);
        return -1;
    }
    snprintf(admin, sizeof(admin), "postgresql:///postgres?host=%s&port=%d&user=rollgate", pg_dir,
             PG_PORT);
    conn = PQconnectdb(admin);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "rg_test_pg_create_db: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return -1;
    }
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "rg_test_pg_create_db: %s", PQerrorMessage(conn));
        rc = -1;
    }
    PQclear(res);
    PQfinish(conn);
    if (rc == 0)
        snprintf(uri, urilen, "postgresql:///%s?host=%s&port=%d&user=rollgate", name, pg_dir,
                 PG_PORT);
    return rc;
}

int rg_test_pg_new_db(char *uri, size_t urilen)
{
    char name[64];
    snprintf(name, sizeof(name), "rg_%ld_%d", (long)getpid(), ++pg_db_seq);
    return rg_test_pg_create_db(uri, urilen, name);
}

int rg_test_pg_backend(void)
{
    const char *backend = getenv("RG_TEST_STORE_BACKEND");
    return backend && strcmp(backend, "postgresql") == 0;
}

int rg_test_pg_backend_missing(void)
{
    char why[512] = "";

    if (!rg_test_pg_backend() || rg_test_pg_start(why, sizeof(why)) != RG_TEST_SKIP_CODE)
        return 0;
    rg_test_note_skip("%s", why);
    return 1;
}
