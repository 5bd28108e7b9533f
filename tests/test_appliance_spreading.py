"""A study spread over the workers of the real image: Stop ends every piece on every worker within
2 s; kill -9 of a worker mid-piece costs that piece only (supervisord restarts the worker) and
the table is the same; six browser sessions from one address with two runs per visitor: two run,
four show Waiting, all six end Completed without anyone pressing Start again."""

from __future__ import annotations

import json
import shlex

import pytest
from playwright.sync_api import expect

from tests.appliance_support import Box
from tests.browser_support import completed_shown, shot, start_example_run, state_shown
from tests.conftest import DATA_DIR, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.container]

STUDY = [DATA_DIR / f"NZ_20200227_0{n}.mzML" for n in (25, 27, 29)] + sorted(
    (DATA_DIR / "study").glob("*.mzML")
)[:3]
NOISE = 'workflow.params.set_tool_value("FeatureFinderMetabo", "algorithm:common:noise_threshold_int", 100)'
TABLE = "results/consensus-table/consensus_features.tsv"


def with_study(appliance: Box, ws: str, noise: bool = True) -> None:
    """A workspace holding the six-file study, with the noise threshold the QC runs need (without:
    FeatureFinderMetabo's defaults, slower, so a probe from outside sees a piece running)."""
    appliance.run(ws, "status", setup='workflow.files.input_dir("mzML-files")\n' + (NOISE if noise else ""))
    folder = f"/data/workspaces/{ws}/topp-workflow/input-files/mzML-files"
    for source in STUDY:
        appliance.put(folder, source.name, source.read_bytes())


def tool_count(appliance: Box) -> int:
    """FeatureFinderMetabo processes in the container (the image has psutil, not procps)."""
    code = (
        "tools = [p for p in psutil.process_iter(['cmdline']) if (p.info['cmdline'] or [''])[0]"
        ".endswith('FeatureFinderMetabo')]\nprint(json.dumps({'count': len(tools)}))\n"
    )
    return in_app(appliance, code)["count"]


def in_app(appliance: Box, code: str) -> dict:
    """Python in the container with the app's settings and a Redis connection; prints one JSON line."""
    script = (
        "import json, time, psutil, redis\n"
        "from rq.job import Job\n"
        "from src.core.settings import load_settings\n"
        "settings = load_settings()\n"
        "connection = redis.Redis.from_url(settings.queue.redis_url)\n" + code
    )
    out = appliance.sh(f"cd /app && python -c {shlex.quote(script)}", user="openms")
    return json.loads(out.strip().splitlines()[-1])


STOP = """
from pathlib import Path
from src import runs
from src.workflows.metabolomics import MetabolomicsWorkflow
workflow = MetabolomicsWorkflow(Path(settings.workspaces_dir) / "{ws}", settings)
started = time.monotonic()
view = runs.stop(workflow)
def tools():
    found = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])]
    return [c for c in found if c and c[0].endswith("FeatureFinderMetabo")]
while tools() and time.monotonic() - started < 10:
    time.sleep(0.05)
print(json.dumps({{"state": view.state.value, "seconds": time.monotonic() - started, "left": len(tools())}}))
"""

#: The pid of a worker that runs a piece of the run in its own work-horse (not the run's own job).
PIECE_WORKER = """
from src.jobs import pieces
run_id = json.loads(open("/data/workspaces/{ws}/topp-workflow/run/job.json").read())["job_id"]
jobs = [j for j in Job.fetch_many(pieces.of_run(connection, run_id), connection=connection) if j]
busy = [j for j in jobs if j.get_status() == "started" and not j.meta.get(pieces.META_IN_RUN_JOB)]
print(json.dumps({{"pid": int(busy[0].worker_name.split("-")[-2]) if busy else 0}}))
"""


PIECE_STATES = """
from src.jobs import pieces
run_id = json.loads(open("/data/workspaces/{ws}/topp-workflow/run/job.json").read())["job_id"]
jobs = Job.fetch_many([run_id, *pieces.of_run(connection, run_id)], connection=connection)
rows = [[j.id[-4:], j.get_status(), j.worker_name, bool(j.meta.get("in_run_job"))] for j in jobs if j]
print(json.dumps(rows))
"""


def diagnosis(appliance: Box, ws: str) -> str:
    """What a stuck study looks like: its jobs' states, the programs, the run's and the workers' logs."""
    states = in_app(appliance, PIECE_STATES.format(ws=ws))
    programs = appliance.sh("supervisorctl status || true")
    minimal = appliance.sh(f"tail -n 30 /data/workspaces/{ws}/topp-workflow/logs/all.log || true")
    return f"jobs {states}\n{programs}\n{minimal}\n{appliance.logs()[-6000:]}"


@pytest.fixture
def two_workers(box) -> Box:
    appliance = box(environment={"RQ_WORKER_COUNT": "2"})
    appliance.wait_healthy()
    return appliance


def test_stop_mid_study_ends_every_piece_on_every_worker_within_two_seconds(two_workers):
    appliance = two_workers
    with_study(appliance, "stop-me", noise=False)  # pieces of seconds: the probe sees two at once
    appliance.run("stop-me")
    wait_for(lambda: tool_count(appliance) == 2, 90, interval=0.2, what="a piece running on each worker")
    stopped = in_app(appliance, STOP.format(ws="stop-me"))
    assert stopped["state"] == "cancelled" and stopped["left"] == 0, stopped
    assert stopped["seconds"] < 2.0, stopped
    assert tool_count(appliance) == 0
    assert appliance.wait_run("stop-me", ("cancelled",), 5)["state"] == "cancelled"
    info = appliance.sh("rq info 2>&1 || true", user="openms")
    assert "openms-waiting" in info


def test_a_worker_killed_mid_piece_costs_that_piece_only(two_workers):
    appliance = two_workers
    with_study(appliance, "reference", noise=False)
    appliance.run("reference")
    assert appliance.wait_run("reference", ("finished", "failed"), 240)["state"] == "finished"

    with_study(appliance, "survivor", noise=False)
    appliance.run("survivor")
    try:
        pid = wait_for(
            lambda: in_app(appliance, PIECE_WORKER.format(ws="survivor"))["pid"],
            90,
            interval=0.3,
            what="a piece on the other worker",
        )
    except pytest.fail.Exception:
        pytest.fail(f"no piece seen on the other worker: {diagnosis(appliance, 'survivor')}")
    appliance.sh(f"kill -9 {pid}")
    try:
        final = appliance.wait_run("survivor", ("finished", "failed"), 300)
    except pytest.fail.Exception:
        pytest.fail(
            f"the study did not end after kill -9 of worker pid {pid}: {diagnosis(appliance, 'survivor')}"
        )
    assert final["state"] == "finished", final["error"]
    reference = appliance.sh(f"cat /data/workspaces/reference/topp-workflow/{TABLE}")
    survivor = appliance.sh(f"cat /data/workspaces/survivor/topp-workflow/{TABLE}")
    assert survivor == reference and len(survivor.splitlines()) > 250
    assert "Retry" not in appliance.sh("cat /data/workspaces/survivor/topp-workflow/logs/minimal.log")


def test_six_sessions_from_one_address_two_run_four_wait_all_complete(box, new_page, request):
    appliance = box(environment={"RQ_WORKER_COUNT": "2", "RUNNING_RUNS_PER_CLIENT": "2"})
    appliance.wait_healthy()
    appliance.sh("supervisorctl stop 'worker:*'")  # all six are in line before any starts

    class Site:
        url = f"http://{appliance.ip}:8501"

    pages = [start_example_run(new_page(), Site) for _ in range(6)]
    for page in pages[:2]:
        expect(state_shown(page, "Queued")).to_be_visible()
    for page in pages[2:]:
        expect(state_shown(page, "Waiting")).to_be_visible()
        expect(
            page.get_by_text("Held: starts by itself when one of the 2 runs from your network ends")
        ).to_be_visible()
    shot(pages[5], "held-run", request)

    appliance.sh("supervisorctl start 'worker:*'")
    for page in pages[:2]:
        expect(state_shown(page, "Running", "Completed")).to_be_visible(timeout=60_000)
    for page in pages[2:]:
        expect(state_shown(page, "Waiting", "Queued", "Running", "Completed")).to_be_visible()
    for page in pages:
        expect(completed_shown(page)).to_be_visible(timeout=300_000)
    shot(pages[5], "held-run-completed", request)
