"""Real faults inside the real image: a damaged AOF and an unstartable web server end the container
with a reason, a volume filling during a run fails it with a message, Redis restarts during a run
do not, and the image runs as an arbitrary uid in group 0 with a read-only root filesystem."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.appliance_support import Box
from tests.browser_support import go_to, shot
from tests.conftest import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.container]

MANIFEST = "/data/redis/appendonly/appendonly.aof.manifest"
LARGE = (
    "from src.workflows.metabolomics.demo_data import generate_large_run\n"
    'generate_large_run(workflow.files.input_dir("mzML-files"))'
)
DEMO = (
    "workflow.load_example()\n"
    'workflow.params.set_tool_value("FeatureFinderMetabo", "algorithm:common:noise_threshold_int", 100)'
)


def ws_dir(ws: str) -> str:
    return f"/data/workspaces/{ws}/topp-workflow"


def ended_with(appliance: Box, within: float) -> tuple[int, str, float]:
    """(exit code, logs, when it finished by the container's own clock, in seconds since the epoch)."""
    result = appliance.container.wait(timeout=within)
    finished = appliance.reload()["State"]["FinishedAt"]
    stamp = dt.datetime.fromisoformat(finished[:26].rstrip("Z") + "+00:00").timestamp()
    return result["StatusCode"], appliance.logs(), stamp


def test_a_damaged_aof_ends_the_container_with_the_repair_command(box):
    appliance = box(environment={"RQ_WORKER_COUNT": "1"})
    appliance.wait_healthy()
    appliance.sh(f"printf 'not a manifest\\n' > {MANIFEST}")
    killed = time.time()
    appliance.sh("kill -9 $(supervisorctl pid redis)")  # Redis now cannot load its data
    code, logs, finished = ended_with(appliance, 120)
    assert code == 70 and finished - killed < 60, (finished - killed, logs[-3000:])
    tail = "\n".join(logs.strip().splitlines()[-15:])
    assert "redis" in tail and "Redis cannot start" in tail, tail
    assert f"redis-check-aof --fix {MANIFEST}" in tail and "Nothing was repaired" in tail
    assert "loses" in tail  # what the repair costs


def test_a_web_server_that_cannot_start_ends_the_container(box):
    appliance = box(environment={"RQ_WORKER_COUNT": "1"})
    appliance.wait_healthy()
    appliance.sh("mv /app/src/web/server.py /app/src/web/server.off")  # the next start cannot find it
    killed = time.time()
    appliance.sh("kill -9 $(supervisorctl pid streamlit:streamlit-1)")
    code, logs, finished = ended_with(appliance, 120)
    assert code == 70 and finished - killed < 60, (finished - killed, logs[-3000:])
    assert "streamlit-1 (streamlit) is FATAL" in "\n".join(logs.strip().splitlines()[-15:])


def test_a_volume_filling_during_a_run_fails_it_with_a_message(box, new_page, request):
    appliance = box(
        environment={"RQ_WORKER_COUNT": "1", "MIN_FREE_DISK_GB": "0.01"},
        tmpfs={"/data/workspaces": "size=96m"},
    )
    appliance.wait_healthy()
    ws = uuid.uuid4().hex  # a workspace id a browser may open
    assert appliance.run(ws, setup=LARGE)["mode"] == "queue"
    appliance.wait_run(ws, ("running",), 60)
    wait_for(
        lambda: "FeatureFinderMetabo" in appliance.sh(f"cat {ws_dir(ws)}/logs/commands.log", check=False),
        60,
        interval=0.5,
        what="FeatureFinderMetabo to be at work",
    )
    appliance.sh("dd if=/dev/zero of=/data/workspaces/.filler bs=1M 2>/dev/null || true", user="openms")
    filled = time.monotonic()
    failed = appliance.wait_run(ws, ("failed",), 30)
    assert time.monotonic() - filled < 10
    assert "no space left on the workspaces volume" in failed["error"]
    assert appliance.sh("find /data/workspaces -name '*.tmp'").strip() == ""
    status = json.loads(appliance.sh(f"cat /data/workspaces/{ws}/topp-workflow/run/status.json"))
    assert status["state"] == "failed"

    page = new_page()
    page.goto(f"http://{appliance.ip}:8501/run?workspace={ws}")
    expect(page.get_by_text(re.compile("no space left on the workspaces volume")).first).to_be_visible()
    shot(page, "run-page-disk-full", request)
    go_to(page, "Queue admin")
    expect(page.get_by_text("Queue depth, last hour")).to_be_visible()
    assert page.get_by_test_id("stException").count() == 0 and "Traceback" not in page.content()

    appliance.sh(f"rm /data/workspaces/.filler /data/workspaces/{ws}/topp-workflow/input-files/mzML-files/*")
    again = appliance.run(ws, setup=DEMO)
    assert again["mode"] == "queue"
    assert appliance.wait_run(ws, ("finished", "failed"), 120)["state"] == "finished"


def test_redis_restarted_again_and_again_during_a_run_does_not_fail_it(box):
    appliance = box(environment={"RQ_WORKER_COUNT": "1"})
    appliance.wait_healthy()
    appliance.run("blips", setup=LARGE + "\n" + DEMO)
    appliance.wait_run("blips", ("running",), 60)
    status = f"cat {ws_dir('blips')}/run/status.json"
    for _ in range(3):  # progress goes to Redis at every step of the run: each restart meets a new one
        seen = appliance.sh(status)

        def moved(seen: str = seen) -> bool:
            now = appliance.sh(status)
            return now != seen or json.loads(now)["state"] in ("finished", "failed")

        wait_for(moved, 120, interval=0.5, what="the run to move on")
        appliance.sh("supervisorctl restart redis")
    final = appliance.wait_run("blips", ("finished", "failed"), 300)
    assert final["state"] == "finished", final["error"]
    table = "/data/workspaces/blips/topp-workflow/results/consensus-table/consensus_features.tsv"
    assert int(appliance.sh(f"wc -l < {table}")) > 1


def test_any_uid_in_group_0_with_a_read_only_root_filesystem(box):
    appliance = box(
        user="12345:0", read_only=True, tmpfs={"/tmp": "", "/run": ""}, environment={"RQ_WORKER_COUNT": "1"}
    )
    appliance.wait_healthy(120)
    info = appliance.sh("rq info", user="12345:0")
    assert re.search(r"^1 workers, ", info, re.MULTILINE), info
    processes = appliance.container.top(ps_args="-eo pid,uid,args")["Processes"]
    assert {uid for _, uid, _ in processes} == {"12345"}, processes  # supervisord and every program
    appliance.run("any-uid", setup=DEMO)
    final = appliance.wait_run("any-uid", ("finished", "failed"), 120)
    assert final["state"] == "finished", final["error"]
