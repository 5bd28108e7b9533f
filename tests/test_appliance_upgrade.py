"""Keeping every job across an upgrade and a backup, on the real image.

Upgrade: an image built from the previous release, on named volumes, with a finished run's
workspace holding two runs of history, one run going and two queued, is stopped and replaced by
this image on the same volumes (what `docker compose up -d` after a rebuild does): the queued runs
run, the run the stop cut is retried and finishes, the history lists both earlier runs and their
results open. Backup: `backup` taken while a run goes, restored with `restore` into new volumes
and a new container: the workspaces, the finished runs and the run that was going are back."""

from __future__ import annotations

import io
import json
import shlex
import shutil
import subprocess
import tarfile

import pytest

from tests.appliance_support import IMAGE, Box
from tests.conftest import DATA_DIR, REPO

pytestmark = [pytest.mark.slow, pytest.mark.container]

#: The previous release: main before the operating work (issue 21) began.
PREVIOUS_RELEASE = "648adee"
PREVIOUS_IMAGE = "openms-workflow-server:previous"
LONG = DATA_DIR / "NZ_20200227_025.mzML"  # FeatureFinderMetabo's defaults: a run of some seconds
DEMO = (  # also run on the previous release's image, whose workflow was not yet a package
    "try:\n"
    "    from src.workflows.metabolomics.demo_data import generate_runs\n"
    "except ImportError:\n"
    "    from src.workflows.demo_data import generate_runs\n"
    'generate_runs(workflow.files.input_dir("mzML-files"), 1, n_spectra=60)'
)
KEPT = """
import json
from pathlib import Path
from src.core.settings import load_settings
from src.workflows.metabolomics.results import load_table
from src.workflows.metabolomics import MetabolomicsWorkflow
workflow = MetabolomicsWorkflow(Path(load_settings().workspaces_dir) / "{ws}", load_settings())
kept = workflow.kept_runs()
tables = [r.results_root / "consensus-table" / "consensus_features.tsv" for r in kept]
print(json.dumps([[r.status.state.value, len(load_table(t))] for r, t in zip(kept, tables)]))
"""


def volumes(docker_client, request) -> dict:
    """Two new named volumes (workspaces, Redis), removed after the test."""
    made = [docker_client.volumes.create(), docker_client.volumes.create()]

    def remove() -> None:  # after the containers that still use them (the box fixture's go later)
        for volume in made:
            for container in docker_client.containers.list(all=True, filters={"volume": volume.name}):
                container.remove(force=True, v=True)
            volume.remove(force=True)

    request.addfinalizer(remove)
    return {
        made[0].name: {"bind": "/data/workspaces", "mode": "rw"},
        made[1].name: {"bind": "/data/redis", "mode": "rw"},
    }


def with_file(appliance: Box, ws: str, source) -> None:
    appliance.run(ws, "status", setup='workflow.files.input_dir("mzML-files")')
    folder = f"/data/workspaces/{ws}/topp-workflow/input-files/mzML-files"
    appliance.put(folder, source.name, source.read_bytes())


def wrapped(name: str, data: bytes) -> bytes:
    """A tar holding one file, for put_archive."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return archive.getvalue()


def kept_runs(appliance: Box, ws: str) -> list[list]:
    out = appliance.sh(f"cd /app && python -c {shlex.quote(KEPT.format(ws=ws))}", user="openms")
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def previous_image(docker_client, tmp_path_factory) -> str:
    """The previous release's image, built from its commit (every layer up to the app's files comes
    from the build cache of this image: the same Dockerfile lines, requirements and CA bundle)."""
    git = shutil.which("git")
    if git is None or not (REPO / ".git").exists():
        pytest.fail("the upgrade test builds the previous release from git history: run it in a git clone")
    folder = tmp_path_factory.mktemp("previous-release")
    archive = subprocess.run([git, "-C", str(REPO), "archive", PREVIOUS_RELEASE], capture_output=True)
    assert archive.returncode == 0, f"commit {PREVIOUS_RELEASE} is not in this clone: {archive.stderr!r}"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tree:
        tree.extractall(folder, filter="data")
    bundle = REPO / "docker/ca-certificates/host-bundle.crt"  # what scripts/build-image.sh --host-ca added
    if bundle.exists():
        shutil.copy(bundle, folder / "docker/ca-certificates/host-bundle.crt")
    build = subprocess.run(["docker", "build", "-q", "-t", PREVIOUS_IMAGE, str(folder)], capture_output=True)
    assert build.returncode == 0, build.stderr.decode()[-3000:]
    return PREVIOUS_IMAGE


def test_an_upgrade_in_place_keeps_queued_cut_and_finished_runs(docker_client, box, request, previous_image):
    data = volumes(docker_client, request)
    cut_at_stop = {"RQ_WORKER_COUNT": "1", "WORKER_STOP_WAIT": "1"}  # the going run is cut, not let end
    old = box(image=previous_image, environment=cut_at_stop, volumes=data)
    old.wait_healthy()
    old.run("kept", "status", setup=DEMO)
    for _ in range(2):
        old.run("kept", "start")
        old.wait_run("kept", ("finished",), timeout=180)
    with_file(old, "cut", LONG)
    old.run("cut", "start")
    old.wait_run("cut", ("running",), timeout=120)
    for ws in ("queued-1", "queued-2"):
        old.run(ws, "status", setup=DEMO)
        assert old.run(ws, "start")["state"] == "queued"
    old.container.stop(timeout=30)  # as compose does before it recreates the container
    old.remove()

    new = box(environment={"RQ_WORKER_COUNT": "1"}, volumes=data)
    new.wait_healthy()
    for ws in ("queued-1", "queued-2", "cut"):
        ended = new.wait_run(ws, ("finished", "failed"), timeout=600)
        assert ended["state"] == "finished", (ws, ended, new.logs()[-3000:])
    runs = kept_runs(new, "kept")
    assert [state for state, _ in runs] == ["finished", "finished"], runs
    assert all(rows > 0 for _, rows in runs), runs


def test_a_backup_taken_during_a_run_restores_into_a_new_container(docker_client, box, request):
    source = box(environment={"RQ_WORKER_COUNT": "1"})
    source.wait_healthy()
    source.run("done", "status", setup=DEMO)
    source.run("done", "start")
    source.wait_run("done", ("finished",), timeout=180)
    with_file(source, "going", LONG)
    source.run("going", "start")
    source.wait_run("going", ("running",), timeout=120)
    taken = source.container.exec_run(["backup"], demux=True)
    stdout, stderr = taken.output
    assert taken.exit_code == 0, stderr
    assert b"2 workspace(s) written" in stderr, stderr
    with tarfile.open(fileobj=io.BytesIO(stdout)) as backup:
        names = backup.getnames()
    assert (
        "redis.rdb" in names and f"workspaces/going/topp-workflow/input-files/mzML-files/{LONG.name}" in names
    )

    data = volumes(docker_client, request)
    restorer = docker_client.containers.run(IMAGE, ["sleep", "600"], detach=True, volumes=data)
    try:
        restorer.put_archive("/tmp", wrapped("openms-backup.tar", stdout))
        restored = restorer.exec_run(["sh", "-c", "restore < /tmp/openms-backup.tar"], demux=True)
        assert restored.exit_code == 0, restored.output
        assert b"2 workspace(s) and the queue" in restored.output[0], restored.output
        again = restorer.exec_run(["sh", "-c", "restore < /tmp/openms-backup.tar"], demux=True)
        assert again.exit_code == 1 and b"already holds workspaces" in again.output[1], again.output
    finally:
        restorer.remove(force=True)

    back = box(environment={"RQ_WORKER_COUNT": "1"}, volumes=data)
    back.wait_healthy()
    assert back.run("done", "status")["state"] == "finished"
    assert [state for state, _ in kept_runs(back, "done")] == ["finished"]
    ended = back.wait_run("going", ("finished", "failed"), timeout=600)
    assert ended["state"] == "finished", (ended, back.logs()[-3000:])
