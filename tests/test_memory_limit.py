"""A memory limit per run: every tool a run starts may map no more than RUN_MEMORY_GB and is the
kernel's first choice when memory runs out; a run that needed more ends Failed saying so, naming
the file and what to do, never with a bare exit code or std::bad_alloc. Real TOPP tools, real
limits (prlimit, choom), a real SIGKILL."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from src.core.errors import SettingsError
from src.core.execution import run_memory_bytes
from src.core.execution.memory import AUTO_FLOOR_BYTES, machine_memory_bytes
from src.core.run import RunState, read_log
from src.core.settings import GB, load_settings
from src.core.workflow import LocalRunner
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.demo_data import generate_large_run
from tests.conftest import put_inputs, set_noise_threshold, wait_for
from tests.test_workflow_local import run_locally

pytestmark = pytest.mark.slow

MESSAGE = "FeatureFinderMetabo needed more memory than the {} GB one run may use on this server"


def limited(settings, gigabytes: str):
    """Local-mode settings with this limit, one tool at a time (the files' order is the tools')."""
    env = {"WORKSPACES_DIR": str(settings.workspaces_dir), "RUN_MEMORY_GB": gigabytes, "MAX_THREADS": "1"}
    return load_settings(env=env)


def tool_process(workflow: MetabolomicsWorkflow) -> psutil.Process | None:
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if cmdline and cmdline[0].endswith("FeatureFinderMetabo") and str(workflow.dir) in " ".join(cmdline):
            return process
    return None


def test_a_file_that_needs_more_than_the_limit_fails_its_run_saying_so(settings, nz_files):
    """With its defaults FeatureFinderMetabo maps about 0.2 GB for an NZ file and over 0.3 GB for
    the large demo run: 0.25 GB fits the one and not the other."""
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "big", limited(settings, "0.25"))
    put_inputs(workflow, nz_files[:1])
    large = generate_large_run(workflow.files.input_dir("mzML-files"))
    assert run_locally(workflow, timeout=300) is RunState.FAILED
    error = workflow.state.read().error
    assert error.startswith(MESSAGE.format("0.25") + f" on {large.name}."), error
    assert "fewer or smaller files" in error and "RUN_MEMORY_GB" in error
    assert "bad_alloc" not in error and "exit code" not in error
    commands = read_log(workflow.logger.log_dir, "commands")
    assert "FeatureFinderMetabo (1/2) finished" in commands  # the NZ file fitted; only the large did not
    assert "bad_alloc" in read_log(workflow.logger.log_dir, "all")  # the tool's own words stay in the log


def test_every_tool_runs_under_the_limit_and_first_in_line_for_the_oom_killer(settings):
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "watched", limited(settings, "2"))
    set_noise_threshold(workflow)
    generate_large_run(workflow.files.input_dir("mzML-files"))
    runner = LocalRunner(workflow)
    runner.start()
    tool = wait_for(lambda: tool_process(workflow), 60, interval=0.05, what="FeatureFinderMetabo to run")
    limits = Path(f"/proc/{tool.pid}/limits").read_text()
    score = Path(f"/proc/{tool.pid}/oom_score_adj").read_text().strip()
    own_score = Path("/proc/self/oom_score_adj").read_text().strip()
    runner.stop()
    address_space = next(line for line in limits.splitlines() if line.startswith("Max address space"))
    assert address_space.split()[3:5] == [str(2 * GB), str(2 * GB)], address_space
    assert score == "1000" and own_score != "1000"  # the tool, not the process that runs the workflow


def test_a_tool_the_kernel_kills_is_reported_as_out_of_memory(settings):
    """The OOM killer ends a process with SIGKILL, and so does this test: the run says what to do."""
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "killed", limited(settings, "4"))
    set_noise_threshold(workflow)
    large = generate_large_run(workflow.files.input_dir("mzML-files"))
    runner = LocalRunner(workflow)
    runner.start()
    tool = wait_for(lambda: tool_process(workflow), 60, interval=0.05, what="FeatureFinderMetabo to run")
    os.kill(tool.pid, signal.SIGKILL)
    wait_for(lambda: workflow.state.read().is_final, 60, interval=0.1, what="the run to end")
    status = workflow.state.read()
    assert status.state is RunState.FAILED
    assert status.error.startswith(MESSAGE.format("4") + f" on {large.name}."), status.error


def test_the_limit_by_default_is_this_hosts_memory_shared_by_its_workers(settings):
    root = str(settings.workspaces_dir)
    local = load_settings(env={"WORKSPACES_DIR": root})
    online = load_settings(env={"WORKSPACES_DIR": root, "ONLINE_DEPLOYMENT": "true", "RQ_WORKER_COUNT": "4"})
    assert run_memory_bytes(local) == max(AUTO_FLOOR_BYTES, machine_memory_bytes())
    assert run_memory_bytes(online) == max(AUTO_FLOOR_BYTES, machine_memory_bytes() // 4)
    assert run_memory_bytes(limited(settings, "1.5")) == int(1.5 * GB)
    for nonsense in ("-1", "lots"):
        with pytest.raises(SettingsError, match="RUN_MEMORY_GB"):
            limited(settings, nonsense)
