/* engine_cli.c - opening the store and engine for rollout commands; ids, actors, output */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/engine_cli.h"
#include "rollgate/util.h"

/* Why the database at `path` cannot be opened for writing, from the system's own answer:
 * the file, or the directory its -wal and -shm files go in. Empty when no cause shows. */
static void open_failure_cause(char *out, size_t outlen, const char *path)
{
    char dir[PATH_MAX], probe[PATH_MAX + 32];
    const char *slash = strrchr(path, '/');
    int fd = -1;

    out[0] = '\0';
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash == path ? 1 : slash - path), path);
    if (access(path, F_OK) == 0) {
        if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
            snprintf(out, outlen, "%s", strerror(errno));
            return;
        }
        close(fd);
    }
    snprintf(probe, sizeof(probe), "%s/.rollgate-probe-XXXXXX", dir);
    if ((fd = mkstemp(probe)) < 0) {
        snprintf(out, outlen,
                 "directory %s: %s (the database and its -wal and -shm files "
                 "are written there)",
                 dir, strerror(errno));
        return;
    }
    close(fd);
    unlink(probe);
}

static int open_engine(rg_cli *cli, rg_engine **out_engine, const rg_engine_options *opts,
                       int readonly)
{
    /* Only the store can fail here: the commands validate the options they set. */
    int rc = rg_engine_open(out_engine, cli->db_path, readonly, opts);

    if (rc < 0) {
        const char *msg = rg_error_last();
        char cause[PATH_MAX + 200], shown[1024];
        size_t plen;
        /* A PostgreSQL URI is named without its password, everywhere. */
        rg_engine_db_display(shown, sizeof(shown), cli->db_path);
        plen = strlen(shown);
        /* The store names the path first; say it once, then the system's reason. */
        if (strncmp(msg, shown, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0)
            msg += plen + 2;
        /* A read-only open of an absent or old database falls back to a write open, so the
         * same probe explains both. A URI has no file to probe. */
        cause[0] = '\0';
        if (!rg_engine_db_is_postgresql(cli->db_path))
            open_failure_cause(cause, sizeof(cause), cli->db_path);
        if (cause[0])
            rg_cli_error(cli, "database %s: cannot open it: %s", shown, cause);
        else
            rg_cli_error(cli, "database %s: %s", shown, msg);
        cli->error_code = "database";
        return RG_EXIT_INFRA;
    }
    return 0;
}

int rg_cli_open_engine(rg_cli *cli, rg_engine **out_engine, const rg_engine_options *opts)
{
    return open_engine(cli, out_engine, opts, 0);
}

int rg_cli_open_engine_readonly(rg_cli *cli, rg_engine **out_engine)
{
    return open_engine(cli, out_engine, NULL, 1);
}

void rg_cli_close_engine(rg_engine *engine)
{
    rg_engine_free(engine);
}

int rg_cli_rollout_tenant(rg_cli *cli, rg_engine *engine, const char *id, char **out_tenant)
{
    int rc = rg_engine_rollout_tenant(out_tenant, engine, id);
    if (rc == RG_ENOTFOUND) {
        rg_cli_error(cli, "unknown rollout '%s'", id);
        cli->error_code = "not_found";
        return RG_EXIT_USAGE;
    }
    return rc < 0 ? rg_cli_fail(cli) : 0;
}

const char *rg_cli_actor(const char *given)
{
    const char *env = getenv("ROLLGATE_ACTOR");
    struct passwd *pw;

    if (given && *given)
        return given;
    if (env && *env)
        return env;
    pw = getpwuid(getuid());
    return pw && pw->pw_name ? pw->pw_name : "unknown";
}

const rg_cli_command *rg_cli_self(int (*run)(rg_cli *, int, char **))
{
    for (const rg_cli_command *k = rg_cli_commands; k->name; k++)
        if (k->run == run)
            return k;
    return rg_cli_commands;
}

int rg_cli_outcome_exit(rg_rollout_state state)
{
    switch (state) {
    case RG_ROLLOUT_COMPLETED: return RG_EXIT_OK;
    case RG_ROLLOUT_ROLLED_BACK:
    case RG_ROLLOUT_ROLLBACK_INCOMPLETE: return RG_EXIT_NEGATIVE;
    default: return RG_EXIT_UNDECIDED;
    }
}

void rg_cli_narrate(const char *rollout_id, const char *kind, const char *line, void *payload)
{
    FILE *out = payload ? payload : stdout;
    time_t now = time(NULL);
    struct tm tm;
    char stamp[16];

    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
    fprintf(out, "%s %s %-8s %s\n", stamp, rollout_id, kind, line);
    fflush(out);
}
