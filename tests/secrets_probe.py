"""A workflow for the image's tests whose one step does what a tool taken over by a crafted input
could: print its environment and try to read every other process's environment and the files
that hold the deployment's secrets. Copied into the image's /app by the test."""

from __future__ import annotations

import sys

from src.core.workflow import WorkflowBase

PROBE = """
import os
for name in sorted(os.environ):
    print(f"ENV {name}={os.environ[name]}")
print(f"UID {os.getuid()}")
targets = [f"/proc/{pid}/environ" for pid in os.listdir("/proc") if pid.isdigit() and int(pid) != os.getpid()]
targets += ["/tmp/openms-redis.conf", "/tmp/openms-runtime.env"]
targets += [f"/tmp/{name}/secrets.toml" for name in os.listdir("/tmp") if name.startswith("openms-auth-")]
targets += [f"/tmp/{name}" for name in os.listdir("/tmp") if name.startswith("openms-auth-")]
targets += ["/data/redis/password", "/data/workspaces/probe/secrets-probe/results/probe/probe.py"]
for path in targets:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        print(f"READ {path} {len(data)} bytes: {data[:4000]!r}")
    except OSError as err:
        print(f"REFUSED {path} ({err.strerror})")
for folder in ["/data/workspaces", "/data/redis", "/data/redis/appendonly"]:
    try:
        print(f"LISTED {folder}: {os.listdir(folder)}")
    except OSError as err:
        print(f"REFUSED-LIST {folder} ({err.strerror})")
import socket
try:  # what Redis answers a tool on the container's loopback
    with socket.create_connection(("127.0.0.1", 6379), timeout=5) as redis:
        redis.sendall(b"PING\\r\\nCONFIG GET requirepass\\r\\n")
        print(f"REDIS {redis.recv(4096)!r}")
except OSError as err:
    print(f"REDIS-REFUSED ({err.strerror})")
# Writing into the other probe workspace's run (the first probe run writes its own: allowed).
WS = "/data/workspaces/probe/secrets-probe"
for path in [f"{WS}/results/probe/planted", f"{WS}/results/probe/probe.py", f"{WS}/logs/planted",
             f"{WS}/input-files/planted", f"{WS}/run/status.json", "/data/workspaces/probe/planted",
             "/data/workspaces/planted", "/app/planted", "/home/openms/planted"]:
    try:
        with open(path, "a") as handle:
            handle.write("planted by a tool")
        print(f"WROTE {path}")
    except OSError as err:
        print(f"REFUSED-WRITE {path} ({err.strerror})")
"""


class SecretsProbe(WorkflowBase):
    name = "Secrets probe"
    id = "secrets-probe"

    def execution(self) -> None:
        script = self.files.result_dir("probe") / "probe.py"
        script.write_text(PROBE)
        self.executor.run_command([sys.executable, str(script)], step="Probe")
