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
for path in targets:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        print(f"READ {path} {len(data)} bytes: {data[:4000]!r}")
    except OSError as err:
        print(f"REFUSED {path} ({err.strerror})")
"""


class SecretsProbe(WorkflowBase):
    name = "Secrets probe"
    id = "secrets-probe"

    def execution(self) -> None:
        script = self.files.result_dir("probe") / "probe.py"
        script.write_text(PROBE)
        self.executor.run_command([sys.executable, str(script)], step="Probe")
