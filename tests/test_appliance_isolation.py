"""A taken-over tool, on the image at its defaults (no REDIS_PASSWORD set): it gets nothing from
Redis, cannot read Redis's files or list the workspaces, and writes nothing but its own run's
result folder. The tool is a real step of a real run (tests/secrets_probe.py does what a tool
taken over by a crafted input could); a process of the tools' named uid started with `docker exec`
(outside any run, so outside Landlock) is held off by the file modes and Redis's password alone.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from src.core.execution.sandbox import TOOL_UID_COUNT, TOOL_UID_FIRST, tool_uid
from tests.appliance_support import Box, run_probe

WORKSPACES = "/data/workspaces"
RUN_DIR = f"{WORKSPACES}/probe/secrets-probe"


@pytest.fixture(scope="module")
def probed(docker_client):
    appliance = Box(docker_client, environment={"RQ_WORKER_COUNT": "1"})
    try:
        appliance.wait_healthy()
        appliance.sh(f"mkdir -p {RUN_DIR}/input-files/mzML-files", user="openms")  # a visitor's inputs
        yield appliance, run_probe(appliance, "probe"), run_probe(appliance, "other")
    finally:
        appliance.remove()


def test_redis_has_a_generated_password_only_the_app_can_read(probed):
    appliance, first, _ = probed
    assert "generated a Redis password" in appliance.logs()
    modes = appliance.sh("stat -c '%a %U %n' /data/redis /data/redis/password /data/redis/appendonly/*")
    for line in modes.splitlines():
        mode = line.split()[0]
        assert mode[-1] == "0", f"readable by others: {line}"  # AOF, base file, manifest, password
    assert re.search(r"^REDIS b'-NOAUTH", first, re.MULTILINE), first  # no PONG, no CONFIG
    assert "REFUSED /data/redis/password" in first and "REFUSED-LIST /data/redis" in first
    # The operator's tools still work without the password on the command line.
    assert re.search(r"^\d+ workers, ", appliance.sh("rq info"), re.MULTILINE)
    assert re.search(r"^\d+ workers, ", appliance.sh("rq info", user="openms"), re.MULTILINE)


def test_the_tools_named_uid_gets_no_answer_and_writes_nothing(probed):
    appliance, _, _ = probed
    as_tools = "openms-tools"
    ping = appliance.sh("redis-cli ping 2>&1; redis-cli keys '*' 2>&1", user=as_tools)
    assert "PONG" not in ping and "NOAUTH" in ping, ping
    assert "rq:" not in ping
    for path in ["/data/redis/password", "/tmp/openms-redis.conf", "/tmp/openms-runtime.env"]:
        assert "Permission denied" in appliance.sh(f"cat {path} 2>&1 || true", user=as_tools), path
    assert "Permission denied" in appliance.sh(f"ls {WORKSPACES} 2>&1 || true", user=as_tools)
    rq_info = appliance.sh("rq info 2>&1 || true", user=as_tools)
    assert not re.search(r"^\d+ workers, ", rq_info, re.MULTILINE) and "authenticated" in rq_info, rq_info
    for target in [
        f"{RUN_DIR}/results/probe/planted",
        f"{RUN_DIR}/results/probe/probe.py",
        f"{RUN_DIR}/input-files/planted",
        f"{RUN_DIR}/run/status.json",
        f"{WORKSPACES}/probe/planted",
        f"{WORKSPACES}/planted",
    ]:
        out = appliance.sh(f"sh -c 'echo x >> {target}' 2>&1 || true", user=as_tools)
        assert "Permission denied" in out, (target, out)
    out = appliance.sh(f"rm -f {RUN_DIR}/run/status.json 2>&1 || true", user=as_tools)
    assert "Permission denied" in out, out
    assert appliance.sh(f"test -f {RUN_DIR}/run/status.json && echo kept").strip() == "kept"


def test_a_runs_tool_writes_only_its_own_result_folder(probed):
    appliance, first, other = probed
    logs = {"probe": first, "other": other}
    uid_of = {name: int(re.search(r"^UID (\d+)$", log, re.MULTILINE)[1]) for name, log in logs.items()}
    assert uid_of["probe"] != uid_of["other"]
    for ws, uid in uid_of.items():
        assert TOOL_UID_FIRST <= uid < TOOL_UID_FIRST + TOOL_UID_COUNT
        assert uid == tool_uid(Path(f"{WORKSPACES}/{ws}/secrets-probe/results"))
    # The first run, in its own workspace: its result folder is its own, nothing else is.
    assert f"WROTE {RUN_DIR}/results/probe/planted" in first
    for refused in ("logs/planted", "input-files/planted", "run/status.json"):
        assert f"REFUSED-WRITE {RUN_DIR}/{refused}" in first, refused
    assert "REFUSED-LIST /data/workspaces" in first
    # The second run, in another workspace: not one path of the first one's, not even reading it.
    assert "WROTE " not in other, other
    assert f"REFUSED {RUN_DIR}/results/probe/probe.py" in other
    planted = appliance.sh(f"cat {RUN_DIR}/results/probe/planted")
    assert planted == "planted by a tool"  # once, by the first run; the second one added nothing
    # The first run's uid, outside any run (no Landlock): the ACL alone keeps it out of the other's.
    out = appliance.sh(
        f"setpriv --reuid={uid_of['probe']} --regid={uid_of['probe']} --clear-groups "
        f"sh -c 'echo x >> {WORKSPACES}/other/secrets-probe/results/probe/planted' 2>&1 || true"
    )
    assert "Permission denied" in out, out
    # What the tools wrote stays the app's to read and remove.
    appliance.sh(f"rm -r {WORKSPACES}/probe/secrets-probe/results", user="openms")
