/*
 * run-as-tool: runs one command (a TOPP tool or a workflow's script) as the tools' own user.
 *
 * The app's processes (web servers, workers, supervisord) hold the deployment's secrets in
 * their environment and may read files with more (the Redis password). A tool that runs as the
 * same uid could read all of it (/proc/<pid>/environ, those files). Installed setuid root, this
 * helper lets the app start tools as TOOL_UID (the image's "openms-tools", group 0 like the
 * app, so it reads inputs and writes results in the workspaces) and nothing else:
 *
 *   run-as-tool --check          exit 0 if the switch works here (no-new-privileges, or a
 *                                container without CAP_SETUID, rules it out)
 *   run-as-tool -- COMMAND ...   run COMMAND as TOOL_UID and exit as it did
 *
 * The app must still be able to stop a tool it cannot signal (another uid), so the helper
 * stays as the tool's parent: it keeps the caller's real uid (the app may signal it) and takes
 * the tool's uid as its effective one (it may signal the tool), forwards TERM/INT/HUP to the
 * tool's process group, and dies with its caller (the tool dies with it: both get SIGKILL
 * through the parent-death signal). A tool (TOOL_UID) may not use the helper at all. It never
 * gives anyone root or the app's uid; it only ever switches to TOOL_UID.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TOOL_UID
#define TOOL_UID 10002
#endif
#define TOOL_GID 0

static pid_t tool = 0;

static void forward(int sig) {
    if (tool > 0) kill(-tool, sig);
}

static void die(const char *what) {
    fprintf(stderr, "run-as-tool: %s: %s\n", what, strerror(errno));
    exit(126);
}

/* The caller's real uid stays (so the app can signal this process); the rest becomes TOOL_UID. */
static void drop_to_tool(uid_t keep_real) {
    if (setgroups(0, NULL) != 0) die("setgroups");
    if (setresgid(TOOL_GID, TOOL_GID, TOOL_GID) != 0) die("setresgid");
    if (setresuid(keep_real, TOOL_UID, TOOL_UID) != 0) die("setresuid");
}

static int check(void) {
    uid_t caller = getuid();
    drop_to_tool(caller);
    if (setresuid(TOOL_UID, TOOL_UID, TOOL_UID) != 0) die("setresuid");
    return geteuid() == TOOL_UID ? 0 : 126;
}

int main(int argc, char **argv) {
    uid_t caller = getuid();
    pid_t caller_pid = getppid();
    int status;
    if (caller == TOOL_UID) {
        fputs("run-as-tool: not for the tools' own user\n", stderr);
        return 126;
    }
    if (argc == 2 && strcmp(argv[1], "--check") == 0) return check();
    if (argc < 3 || strcmp(argv[1], "--") != 0) {
        fputs("usage: run-as-tool --check | run-as-tool -- COMMAND [ARG ...]\n", stderr);
        return 2;
    }
    drop_to_tool(caller);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("prctl");
    if (getppid() != caller_pid) return 126; /* the caller died before the request took effect */
    signal(SIGTERM, forward);
    signal(SIGINT, forward);
    signal(SIGHUP, forward);
    tool = fork();
    if (tool < 0) die("fork");
    if (tool == 0) {
        /* The tool: all three uids are the tool's, in a process group of its own. */
        if (setresuid(TOOL_UID, TOOL_UID, TOOL_UID) != 0) die("setresuid");
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) die("prctl");
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        setpgid(0, 0);
        execvp(argv[2], &argv[2]);
        fprintf(stderr, "run-as-tool: %s: %s\n", argv[2], strerror(errno));
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
