"""A run that needs more memory than it may use is told so, and costs that run only.

One run that outgrows the container's memory costs that run only: in a container started with
``--memory`` (no swap), a real FeatureFinderMetabo on a file too large for it is what the kernel's
OOM killer takes (its oom_score_adj is raised); Redis, the web server and the workers keep their
processes, another visitor's run at the same time finishes, and the large run ends Failed with the
memory message. RUN_MEMORY_GB is set above the container's memory on purpose, so that the kernel,
not the address-space limit, is what stops the tool. Under the address-space limit itself, a tool
whose allocation fails is reported as a memory failure whatever it prints (docker/alloc-watch.c)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyopenms as oms
import pytest

from src.workflows.metabolomics.demo_data import generate_runs
from tests.appliance_support import Box
from tests.conftest import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.container]

#: The appliance with 2 workers takes about 0.3 GB; FeatureFinderMetabo needs well over 0.4 GB more
#: for this file (about 8 million peaks) and is killed early, while it reads it.
CONTAINER_MEMORY = "700m"
HUGE = {"n_compounds": 200, "n_spectra": 1500, "noise_peaks": 5000, "noise_level": 60.0}
SMALL = (
    "from src.workflows.metabolomics.demo_data import generate_runs\n"
    'generate_runs(workflow.files.input_dir("mzML-files"), 1, n_spectra=60)'
)
PROGRAMS = ("redis", "streamlit:streamlit-1", "worker:worker-0", "worker:worker-1", "haproxy")


def pids(appliance: Box) -> dict[str, str]:
    return {name: appliance.sh(f"supervisorctl pid {name}").strip() for name in PROGRAMS}


def test_a_run_that_outgrows_the_containers_memory_fails_alone(box, tmp_path):
    appliance = box(
        environment={"RQ_WORKER_COUNT": "2", "RUN_MEMORY_GB": "16"},
        mem_limit=CONTAINER_MEMORY,
        memswap_limit=CONTAINER_MEMORY,
    )
    appliance.wait_healthy()
    huge = generate_runs(tmp_path, 1, prefix="too_large", **HUGE)[0]
    appliance.run("huge", "status", setup='workflow.files.input_dir("mzML-files")')
    appliance.put("/data/workspaces/huge/topp-workflow/input-files/mzML-files", huge.name, huge.read_bytes())
    appliance.run("other", "status", setup=SMALL)
    before = pids(appliance)
    assert all(re.fullmatch(r"\d+", pid) for pid in before.values()), before

    appliance.run("huge", "start")
    appliance.run("other", "start")
    assert appliance.wait_run("other", ("finished", "failed"), timeout=300)["state"] == "finished"
    ended = appliance.wait_run("huge", ("finished", "failed"), timeout=300)
    assert ended["state"] == "failed", ended
    assert ended["error"].startswith("FeatureFinderMetabo needed more memory than the 16 GB"), ended
    assert f"on {huge.name}" in ended["error"] and "RUN_MEMORY_GB" in ended["error"], ended

    assert pids(appliance) == before  # no program was killed or restarted
    wait_for(lambda: appliance.reload()["State"]["Health"]["Status"] == "healthy", 60, what="healthy")
    assert appliance.reload()["State"]["OOMKilled"] is False  # the container's main process lived
    memory_events = appliance.sh(
        "cat /sys/fs/cgroup/memory.events 2>/dev/null || cat /sys/fs/cgroup/memory/memory.oom_control"
    )
    assert re.search(r"oom_kill \d+", memory_events) and not re.search(r"oom_kill 0\b", memory_events), (
        memory_events
    )


def wide_run(folder: Path, spectra: int = 4, peaks: int = 1_500_000) -> Path:
    """A centroided mzML of a few very wide spectra (about 100 MB): it reads fine without a cap."""
    experiment = oms.MSExperiment()
    rng = np.random.default_rng(5)
    for index in range(spectra):
        spectrum = oms.MSSpectrum()
        spectrum.setMSLevel(1)
        spectrum.setRT(index * 0.5)
        spectrum.setType(oms.SpectrumSettings.SpectrumType.CENTROID)
        mz = np.sort(rng.uniform(100, 1500, peaks))
        spectrum.set_peaks((mz, rng.uniform(1e3, 1e5, peaks).astype(np.float32)))
        experiment.addSpectrum(spectrum)
    path = folder / "wide.mzML"
    oms.MzMLFile().store(str(path), experiment)
    return path


@pytest.mark.parametrize(
    ("cap_gb", "tool_said"),
    [
        ("0.2", "std::bad_alloc"),  # an allocation outside the reader fails: the tool aborts
        ("0.5", "Parsing error"),  # the reader's allocation fails: the tool calls the file broken
    ],
)
def test_a_tool_at_the_memory_cap_is_reported_as_memory_whatever_it_says(box, tmp_path, cap_gb, tool_said):
    """Under RUN_MEMORY_GB a tool whose allocation fails may say anything (here: a C++ bad_alloc, or
    OpenMS's XML reader's "Parsing error ... Unable to read file"); the run says memory either way,
    names the file and the setting, and the tool's own words stay in the log."""
    appliance = box(environment={"RQ_WORKER_COUNT": "1", "RUN_MEMORY_GB": cap_gb})
    appliance.wait_healthy()
    wide = wide_run(tmp_path)
    appliance.run("wide", "status", setup='workflow.files.input_dir("mzML-files")')
    appliance.put("/data/workspaces/wide/topp-workflow/input-files/mzML-files", wide.name, wide.read_bytes())
    appliance.run("wide", "start")
    ended = appliance.wait_run("wide", ("finished", "failed"), timeout=120)
    assert ended["state"] == "failed", ended
    cap = f"{float(cap_gb):g}"
    assert ended["error"].startswith(f"FeatureFinderMetabo needed more memory than the {cap} GB"), ended
    assert f"on {wide.name}" in ended["error"] and "RUN_MEMORY_GB" in ended["error"], ended
    log = appliance.sh("cat /data/workspaces/wide/topp-workflow/logs/all.log")
    assert tool_said in log and "openms-run: out of memory: an allocation of" in log, log[-3000:]
