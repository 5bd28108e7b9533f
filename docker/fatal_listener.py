"""supervisord event listener: end the container when a critical program goes FATAL.

supervisord gives up on a program after its start retries and then simply carries on; for
an appliance a dead Redis, web server or worker must instead end the container, so that the
restart policy or the orchestrator brings up a fresh one and operators see why. This
listener writes the reason to FATAL_FILE (entrypoint.sh prints it and exits with code 70
once supervisord is gone), asks supervisord to shut down, and kills it after
STOP_SECONDS if a busy worker holds the shutdown up. It runs as supervisord's user.

For Redis it also says why it cannot start when its append-only file is damaged, names
the file and the repair command, and what the repair costs. It never repairs anything.
Usage: fatal_listener.py GROUP [GROUP ...]   (supervisord program or group names)
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from supervisor import childutils

#: Where the reason goes for entrypoint.sh (the container's exit code and last log lines).
#: entrypoint.sh hands over where (src/core/settings/check.py holds the path and the exit code).
FATAL_FILE = Path(os.environ["FATAL_FILE"])
EXIT_FATAL = os.environ.get("EXIT_FATAL", "")
#: After asking supervisord to stop, it is killed after this many seconds.
STOP_SECONDS = 10
AOF_MANIFEST = Path("/data/redis/appendonly/appendonly.aof.manifest")  # see docker/redis.conf


def aof_diagnosis(manifest: Path = AOF_MANIFEST) -> str:
    """Why Redis cannot load its append-only file, with the repair command; "" if it can."""
    if not manifest.exists():
        return ""
    try:
        check = subprocess.run(
            ["redis-check-aof", str(manifest)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=manifest.parent,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"its append-only file could not be checked ({err})"
    if check.returncode == 0:
        return ""
    bad = re.findall(r"AOF (\S+) is not valid", check.stdout) or [manifest.name]
    cut = re.search(r"size=(\d+), ok_up_to=(\d+)", check.stdout)
    loss = (
        f"the last {int(cut.group(1)) - int(cut.group(2))} bytes of it" if cut else "what follows the damage"
    )
    damaged = manifest.parent / Path(bad[-1]).name
    return (
        f"its append-only file {damaged} is damaged (redis-check-aof: not valid). Nothing was repaired. "
        f"To repair it, stop the container and run `redis-check-aof --fix {manifest}` on the Redis "
        f"volume (e.g. docker run --rm -v <redis volume>:/data/redis <image> redis-check-aof --fix "
        f"{manifest}); that cuts the file at the first damaged record and loses {loss}: jobs queued, "
        "started or finished since then are forgotten (their workspaces and results stay). For a "
        "damaged manifest, the repair can leave Redis with no queue at all."
    )


def reason(group: str) -> str:
    if group == "redis":
        why = aof_diagnosis()
        if why:
            return f"Redis cannot start: {why}"
        return "Redis could not be kept running (see its log lines above)"
    return f"{group} could not be kept running (see its log lines above)"


def shut_down(supervisord: int) -> None:
    """Ask supervisord to stop everything; kill it if that takes longer than STOP_SECONDS."""
    os.kill(supervisord, signal.SIGTERM)
    subprocess.Popen(  # detached: it outlives this listener, which supervisord stops first
        ["sh", "-c", f"sleep {STOP_SECONDS}; kill -KILL {supervisord} 2>/dev/null"], start_new_session=True
    )


def main(critical: set[str]) -> None:
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        fields, _ = childutils.eventdata(payload + "\n")
        group = fields.get("groupname", "")
        if headers.get("eventname") == "PROCESS_STATE_FATAL" and group in critical:
            message = (
                f"fatal-exit: {fields.get('processname')} ({group}) is FATAL: {reason(group)}. "
                f"Stopping the container (exit code {EXIT_FATAL})."
            )
            print(message, file=sys.stderr, flush=True)
            FATAL_FILE.write_text(message + "\n", encoding="utf-8")
            childutils.listener.ok(sys.stdout)
            shut_down(os.getppid())  # our parent is supervisord
            continue
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main(set(sys.argv[1:]))
