/*
 * run-as-tool: runs one command (a TOPP tool or a workflow's script) as a tools' uid, confined to
 * its own run's folder.
 *
 * The app's processes (web servers, workers, supervisord) hold the deployment's secrets in
 * their environment and may read files with more (the Redis password). A tool that runs as the
 * same uid could read all of it (/proc/<pid>/environ, those files), and one taken over by a
 * crafted input could change every visitor's files. Installed setuid root, this helper lets the
 * app start a tool as a uid that owns nothing:
 *
 *   run-as-tool --check          exit 0 if the switch works here (no-new-privileges, or a
 *                                container without CAP_SETUID, rules it out); prints whether
 *                                Landlock confines the tools ("landlock N" or "landlock off: why")
 *   run-as-tool [--uid N] [--write DIR] [--read DIR] [--hide DIR] -- COMMAND ...
 *                                run COMMAND as uid N (and gid N; default TOOL_UID, the image's
 *                                "openms-tools") and exit as it did
 *
 * The uid of a run's tools is one of TOOL_UID_FIRST.. (the app picks it per workflow folder and
 * gives that uid, by an ACL, write access to the run's result folders and nothing else). Not in
 * the app's group 0: the rest of the workspaces volume is not theirs to write. With --write, the
 * kernel's Landlock (no privilege needed) also confines the command and its children: it may
 * write only under the --write folders, /tmp and /dev, and read nothing under --hide (the
 * workspaces root) but its own --read folder (the visitor's workspace). A kernel without Landlock
 * runs the command without that second fence (--check says so; the app logs it once).
 *
 * Every tool also gets ALLOC_WATCH preloaded (docker/alloc-watch.c), which says "out of memory"
 * on stderr when an allocation fails under the run's memory cap, whatever the tool says next.
 *
 * The app must still be able to stop a tool it cannot signal (another uid), so the helper
 * stays as the tool's parent: it keeps the caller's real uid (the app may signal it) and takes
 * the tool's uid as its effective one (it may signal the tool), forwards TERM/INT/HUP to the
 * tool's process group, and dies with its caller (the tool dies with it: both get SIGKILL
 * through the parent-death signal). A tool's uid may not use the helper at all. It never gives
 * anyone root or the app's uid; it only ever switches to a tools' uid.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/landlock.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TOOL_UID
#define TOOL_UID 10002
#endif
/* The uids the app gives runs' tools (src/core/execution/sandbox.py spells the same range). */
#ifndef TOOL_UID_FIRST
#define TOOL_UID_FIRST 20000
#endif
#ifndef TOOL_UID_COUNT
#define TOOL_UID_COUNT 40000
#endif
#define MAX_DIRS 8
/* Preloaded into every tool: says "out of memory" when an allocation fails (alloc-watch.c). */
#ifndef ALLOC_WATCH
#define ALLOC_WATCH "/usr/local/lib/openms/alloc-watch.so"
#endif
/* Where a tools' uid gets a home of its own (OpenMS writes ~/.OpenMS): a root-owned folder. */
#define HOMES "/tmp/openms-tools"

/* Landlock's file-system rights by ABI version (older kernel headers lack the newer ones). */
#define LL_READ ((1ULL << 0) | (1ULL << 2) | (1ULL << 3)) /* EXECUTE, READ_FILE, READ_DIR */
#define LL_FILE ((1ULL << 0) | (1ULL << 1) | (1ULL << 2) | (1ULL << 14)) /* + WRITE_FILE, TRUNCATE */
#define LL_ABI1 ((1ULL << 13) - 1)
#define LL_REFER (1ULL << 13)
#define LL_TRUNCATE (1ULL << 14)

static pid_t tool = 0;

struct confinement {
    const char *write[MAX_DIRS];
    const char *read[MAX_DIRS];
    const char *hide;
    int writes, reads;
};

static void forward(int sig) {
    if (tool > 0) kill(-tool, sig);
}

static void die(const char *what) {
    fprintf(stderr, "run-as-tool: %s: %s\n", what, strerror(errno));
    exit(126);
}

static void usage(void) {
    fputs("usage: run-as-tool --check | run-as-tool [--uid N] [--write DIR] [--read DIR] [--hide DIR] -- COMMAND [ARG ...]\n",
          stderr);
    exit(2);
}

static int landlock_abi(void) {
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi < 0 ? -errno : (int)abi;
}

static uint64_t handled_rights(int abi) {
    uint64_t rights = LL_ABI1;
    if (abi >= 2) rights |= LL_REFER;
    if (abi >= 3) rights |= LL_TRUNCATE;
    return rights;
}

/* Allow `rights` beneath `path` (only the file rights when it is not a folder); a path that does
 * not exist is skipped. */
static void allow(int ruleset, const char *path, uint64_t rights, uint64_t handled) {
    struct landlock_path_beneath_attr rule = {0};
    struct stat st;
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return;
    if (fstat(fd, &st) == 0) {
        rule.parent_fd = fd;
        rule.allowed_access = rights & handled & (S_ISDIR(st.st_mode) ? ~0ULL : LL_FILE);
        if (rule.allowed_access != 0
            && syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0)
            die("landlock_add_rule");
    }
    close(fd);
}

/* Read access to the whole tree except `hide`: every sibling along the path down to it. */
static void allow_reading_all_but(int ruleset, const char *hide, uint64_t handled) {
    char prefix[PATH_MAX] = "";
    const char *rest = hide;
    while (*rest == '/') rest++;
    while (*rest) {
        const char *slash = strchr(rest, '/');
        size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
        char here[PATH_MAX];
        DIR *dir;
        struct dirent *entry;
        snprintf(here, sizeof here, "%s/", prefix);
        dir = opendir(here);
        if (!dir) die("opendir");
        while ((entry = readdir(dir)) != NULL) {
            char path[PATH_MAX];
            if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
            if (strlen(entry->d_name) == len && !strncmp(entry->d_name, rest, len)) continue;
            snprintf(path, sizeof path, "%s/%s", prefix, entry->d_name);
            allow(ruleset, path, LL_READ, handled);
        }
        closedir(dir);
        snprintf(prefix + strlen(prefix), sizeof prefix - strlen(prefix), "/%.*s", (int)len, rest);
        rest += len;
        while (*rest == '/') rest++;
    }
}

/* Confine this process and its children (Landlock): write only the --write folders, /tmp and
 * /dev; read everything but the --hide folder, except the --read ones. Returns 0, or the reason
 * Landlock is not there (the command then runs with the uid's fence alone). */
static int confine(const struct confinement *c) {
    struct landlock_ruleset_attr attr = {0};
    int abi = landlock_abi(), ruleset, i;
    if (abi < 1) return abi < 0 ? -abi : ENOSYS;
    attr.handled_access_fs = handled_rights(abi);
    ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (ruleset < 0) return errno;
    if (c->hide) allow_reading_all_but(ruleset, c->hide, attr.handled_access_fs);
    else allow(ruleset, "/", LL_READ, attr.handled_access_fs);
    for (i = 0; i < c->reads; i++) allow(ruleset, c->read[i], LL_READ, attr.handled_access_fs);
    for (i = 0; i < c->writes; i++) allow(ruleset, c->write[i], ~0ULL, attr.handled_access_fs);
    allow(ruleset, "/tmp", ~0ULL, attr.handled_access_fs);
    allow(ruleset, "/dev", ~0ULL, attr.handled_access_fs);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("no_new_privs");
    if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) die("landlock_restrict_self");
    close(ruleset);
    return 0;
}

/* As root, before the switch: a home folder only `uid` can write, in a root-owned folder. */
static void make_home(uid_t uid) {
    char home[64];
    struct stat st;
    int fd;
    mkdir(HOMES, 0711);
    if (lstat(HOMES, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022)) return;
    snprintf(home, sizeof home, "%s/%u", HOMES, (unsigned)uid);
    mkdir(home, 0700);
    fd = open(home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;
    if (fstat(fd, &st) == 0 && (st.st_uid == 0 || st.st_uid == uid) && fchown(fd, uid, uid) == 0
        && fchmod(fd, 0700) == 0)
        setenv("HOME", home, 1);
    close(fd);
}

/* The caller's real uid stays (so the app can signal this process); the rest becomes `uid`. */
static void drop_to_tool(uid_t keep_real, uid_t uid) {
    if (setgroups(0, NULL) != 0) die("setgroups");
    if (setresgid(uid, uid, uid) != 0) die("setresgid");
    if (setresuid(keep_real, uid, uid) != 0) die("setresuid");
}

static int is_tool_uid(uid_t uid) {
    return uid == TOOL_UID || (uid >= TOOL_UID_FIRST && uid < TOOL_UID_FIRST + TOOL_UID_COUNT);
}

static int check(void) {
    uid_t caller = getuid();
    int abi = landlock_abi();
    drop_to_tool(caller, TOOL_UID);
    if (setresuid(TOOL_UID, TOOL_UID, TOOL_UID) != 0) die("setresuid");
    if (abi > 0) printf("landlock %d\n", abi);
    else printf("landlock off: %s\n", strerror(-abi));
    return geteuid() == TOOL_UID ? 0 : 126;
}

static uid_t parse_uid(const char *text) {
    char *end;
    unsigned long value = strtoul(text, &end, 10);
    if (*text == '\0' || *end != '\0' || !is_tool_uid((uid_t)value) || value > UINT32_MAX) {
        fprintf(stderr, "run-as-tool: --uid %s is not a tools' uid\n", text);
        exit(2);
    }
    return (uid_t)value;
}

/* Options up to "--"; returns the index of the command. */
static int parse(int argc, char **argv, uid_t *uid, struct confinement *c) {
    int i;
    for (i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--")) return i + 1;
        if (argv[i + 1][0] != '/' && strcmp(argv[i], "--uid")) usage(); /* folders are absolute */
        if (!strcmp(argv[i], "--uid")) *uid = parse_uid(argv[i + 1]);
        else if (!strcmp(argv[i], "--write") && c->writes < MAX_DIRS) c->write[c->writes++] = argv[i + 1];
        else if (!strcmp(argv[i], "--read") && c->reads < MAX_DIRS) c->read[c->reads++] = argv[i + 1];
        else if (!strcmp(argv[i], "--hide")) c->hide = argv[i + 1];
        else usage();
    }
    if (i < argc && !strcmp(argv[i], "--") && i + 1 < argc) return i + 1;
    usage();
    return 0;
}

int main(int argc, char **argv) {
    uid_t caller = getuid(), uid = TOOL_UID;
    pid_t caller_pid = getppid();
    struct confinement fence = {0};
    int status, command;
    if (is_tool_uid(caller)) {
        fputs("run-as-tool: not for the tools' own users\n", stderr);
        return 126;
    }
    if (argc == 2 && strcmp(argv[1], "--check") == 0) return check();
    command = parse(argc, argv, &uid, &fence);
    make_home(uid);
    drop_to_tool(caller, uid);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("prctl");
    if (getppid() != caller_pid) return 126; /* the caller died before the request took effect */
    signal(SIGTERM, forward);
    signal(SIGINT, forward);
    signal(SIGHUP, forward);
    tool = fork();
    if (tool < 0) die("fork");
    if (tool == 0) {
        /* The tool: all three uids are the tool's, in a process group of its own. */
        if (setresuid(uid, uid, uid) != 0) die("setresuid");
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("prctl");
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        setpgid(0, 0);
        if (fence.writes > 0 && (status = confine(&fence)) != 0 && getenv("RUN_AS_TOOL_DEBUG"))
            fprintf(stderr, "run-as-tool: no Landlock: %s\n", strerror(status));
        /* glibc dropped the caller's LD_PRELOAD for this setuid program; the tool gets ours. */
        if (access(ALLOC_WATCH, R_OK) == 0) setenv("LD_PRELOAD", ALLOC_WATCH, 1);
        execvp(argv[command], &argv[command]);
        fprintf(stderr, "run-as-tool: %s: %s\n", argv[command], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    setpgid(tool, tool);
    while (waitpid(tool, &status, 0) < 0) {
        if (errno != EINTR) die("waitpid");
    }
    if (WIFSIGNALED(status)) { /* end as the tool did, so the app sees e.g. "killed by SIGKILL" */
        signal(WTERMSIG(status), SIG_DFL);
        kill(getpid(), WTERMSIG(status));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 126;
}
