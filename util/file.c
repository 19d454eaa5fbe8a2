/* file.c - private files: created 0600 whatever the umask, rewritten atomically, and read
 * only when no one but their owner can write them */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rollgate/util.h"

/* Drops group and other bits of a file we own; a shared file of someone else is refused.
 * By path, never by opening it: closing any descriptor of a file releases every POSIX lock
 * this process holds on it, and SQLite keeps its locks on the database and -shm that way. */
static int tighten(const char *path, const char *what)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? RG_ENOTFOUND
                               : rg_error_set(RG_EIO, "%s %s: %s", what, path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return rg_error_set(RG_EIO, "%s %s: not a regular file", what, path);
    if ((st.st_mode & 077) == 0)
        return 0;
    if (st.st_uid != geteuid())
        return rg_error_set(RG_EAUTH,
                            "%s %s has mode %04o and belongs to another user: "
                            "it must be private to the user rollgate runs as",
                            what, path, (unsigned)(st.st_mode & 07777));
    if (chmod(path, st.st_mode & 0700) != 0)
        return rg_error_set(RG_EIO, "chmod %s: %s", path, strerror(errno));
    return 0;
}

int rg_file_private_ensure(const char *path, const char *what)
{
    int fd, rc;

    if (path == NULL || *path == '\0')
        return rg_error_set(RG_EINVALID, "%s: no path", what);
    if ((rc = tighten(path, what)) != RG_ENOTFOUND)
        return rc;
    /* Absent: made here, 0600 whatever the umask (O_CREAT's mode is only ever narrowed by
     * it). O_EXCL: a file another thread made meanwhile is left to the check above. */
    fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    if (errno == EEXIST)
        return tighten(path, what);
    return rg_error_set(errno == EACCES ? RG_EAUTH : RG_EIO, "%s %s: %s", what, path,
                        strerror(errno));
}

int rg_file_private_tighten(const char *path, const char *what)
{
    int rc = tighten(path, what);
    return rc == RG_ENOTFOUND ? 0 : rc;
}

int rg_file_write_private(const char *path, const char *data, size_t len, const char *what)
{
    char tmp[PATH_MAX];
    size_t off = 0;
    int fd, rc = 0;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp))
        return rg_error_set(RG_EINVALID, "%s %s: path too long", what, path);
    if ((fd = mkstemp(tmp)) < 0) /* mkstemp creates 0600 */
        return rg_error_set(RG_EIO, "cannot create a file beside %s: %s", path, strerror(errno));
    if (fchmod(fd, 0600) != 0)
        rc = rg_error_set(RG_EIO, "chmod %s: %s", tmp, strerror(errno));
    while (rc == 0 && off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = rg_error_set(RG_EIO, "write %s: %s", tmp, strerror(errno));
        else
            off += (size_t)n;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = rg_error_set(RG_EIO, "fsync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = rg_error_set(RG_EIO, "close %s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = rg_error_set(RG_EIO, "rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    return rc;
}

int rg_file_read_private(char **out, size_t *out_len, const char *path, size_t max,
                         const char *what)
{
    struct stat st;
    rg_buf buf = RG_BUF_INIT;
    char chunk[8192];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = 0;

    if (fd < 0 && errno == ENOENT)
        return rg_error_set(RG_ENOTFOUND, "%s %s does not exist", what, path);
    if (fd < 0)
        return rg_error_set(RG_EIO, "%s %s: %s", what, path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        rc = rg_error_set(RG_EIO, "%s %s: not a regular file", what, path);
    else if ((st.st_mode & 077) != 0)
        rc = rg_error_set(RG_EAUTH,
                          "%s %s has mode %04o; it must be 0600 (only its owner may "
                          "read or write it): chmod 600 %s",
                          what, path, (unsigned)(st.st_mode & 07777), path);
    else if (st.st_uid != geteuid())
        rc = rg_error_set(RG_EAUTH,
                          "%s %s belongs to uid %u, not to the user rollgate runs "
                          "as (uid %u)",
                          what, path, (unsigned)st.st_uid, (unsigned)geteuid());
    while (rc == 0 && (n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = rg_error_set(RG_EIO, "%s %s: %s", what, path, strerror(errno));
        else if (buf.len + (size_t)n > max)
            rc = rg_error_set(RG_ELIMIT, "%s %s: larger than %zu bytes", what, path, max);
        else
            rc = rg_buf_put(&buf, chunk, (size_t)n);
    }
    close(fd);
    if (rc == 0) {
        if (out_len)
            *out_len = buf.len;
        if ((*out = rg_buf_detach(&buf)) == NULL)
            rc = rg_error_set(RG_ENOMEM, "out of memory");
    }
    rg_buf_dispose(&buf);
    return rc;
}
