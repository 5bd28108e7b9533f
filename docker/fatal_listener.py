"""supervisord event listener: shut the container down when a critical program goes FATAL.

supervisord gives up on a program after its start retries and then simply carries on;
for an appliance a dead Redis or web server must instead end the container, so the
restart policy brings up a fresh one and operators see the event.
Usage: fatal_listener.py GROUP [GROUP ...]   (supervisord program or group names)
"""

from __future__ import annotations

import os
import signal
import sys

from supervisor import childutils


def main(critical: set[str]) -> None:
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        fields, _ = childutils.eventdata(payload + "\n")
        group = fields.get("groupname", "")
        if headers.get("eventname") == "PROCESS_STATE_FATAL" and group in critical:
            print(
                f"fatal-exit: {fields.get('processname')} ({group}) could not be kept running; "
                "stopping the container",
                file=sys.stderr,
                flush=True,
            )
            childutils.listener.ok(sys.stdout)
            os.kill(os.getppid(), signal.SIGTERM)  # our parent is supervisord
            continue
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main(set(sys.argv[1:]))
