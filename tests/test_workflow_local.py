"""The example workflow in local mode: a multiprocessing.Process running real TOPP tools."""

from __future__ import annotations

import pandas as pd
import pyopenms as oms
import pytest

from src.core.run import RunState, ended_with, read_log
from src.core.workflow import LocalRunner
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.paths import table_in
from tests.conftest import processes_mentioning, put_inputs, set_noise_threshold, wait_for

pytestmark = pytest.mark.slow


def feature_count(path) -> int:
    features = oms.FeatureMap()
    oms.FeatureXMLFile().load(str(path), features)
    return features.size()


def run_locally(workflow: MetabolomicsWorkflow, timeout: float = 180) -> RunState:
    runner = LocalRunner(workflow)
    runner.start()
    assert runner.is_running() or workflow.state.read().is_final
    wait_for(lambda: not runner.is_running(), timeout, interval=0.2, what="the local run to end")
    return ended_with(workflow.logger.log_dir)


def test_real_nz_files_in_a_local_process(settings, nz_files):
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "nz", settings)
    put_inputs(workflow, nz_files)
    set_noise_threshold(workflow)
    assert workflow.preflight() == []

    assert run_locally(workflow) is RunState.FINISHED
    status = workflow.state.read()
    assert status.state == "finished" and status.progress == 1.0 and status.error == ""

    feature_files = sorted((workflow.files.results_root / "feature-detection").glob("*.featureXML"))
    assert [p.stem for p in feature_files] == [p.stem for p in nz_files]
    counts = [feature_count(p) for p in feature_files]
    assert all(count > 120 for count in counts), counts

    table = pd.read_csv(table_in(workflow.files.results_root), sep="\t")
    assert len(table) > 250
    assert {"rt", "mz", "n_samples"} <= set(table.columns)
    assert (table["n_samples"] == 3).sum() > 30

    commands = read_log(workflow.logger.log_dir, "commands")
    assert commands.count("Running: /usr/bin/FeatureFinderMetabo") == 3
    assert "-algorithm:common:noise_threshold_int 100" in commands
    assert "Running: /usr/bin/FeatureLinkerUnlabeledKD" in commands
    # Alignment is on by default: the reference's command and the other two in as many commands as
    # the run has threads (one or two), then a transformer each.
    aligners = commands.count("Running: /usr/bin/MapAlignerPoseClustering")
    assert aligners == 1 + commands.count("-reference:file") and aligners in (2, 3)
    assert commands.count("Running: /usr/bin/MapRTTransformer") == 3
    assert commands.count("finished in") == 8 + aligners  # 3 FFM, the aligners, 3 transformers, linker, table
    assert commands.rstrip().endswith("=== WORKFLOW FINISHED ===")
    assert "Running: " not in read_log(workflow.logger.log_dir, "minimal")


def test_a_single_file_run_skips_linking_and_still_gives_a_table(settings, nz_files):
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "single", settings)
    put_inputs(workflow, nz_files[:1])
    set_noise_threshold(workflow)
    assert workflow.run() is RunState.FINISHED, workflow.state.read().error
    table = pd.read_csv(table_in(workflow.files.results_root), sep="\t")
    assert len(table) > 120 and set(table["n_samples"]) == {1}
    commands = read_log(workflow.logger.log_dir, "commands")
    assert "FeatureLinkerUnlabeledKD" not in commands and "Running: /usr/bin/FileConverter" in commands
    assert "nothing to link" in read_log(workflow.logger.log_dir, "minimal")


def test_generated_demo_data_runs_through(settings):
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "demo", settings)
    demo_files = workflow.load_example()
    assert len(demo_files) >= 3
    set_noise_threshold(workflow)
    assert workflow.run() is RunState.FINISHED  # in-process this time: the same engine
    table = pd.read_csv(table_in(workflow.files.results_root), sep="\t")
    assert len(table) >= 20
    assert (table["n_samples"] == len(demo_files)).sum() >= 10


def test_stop_during_feature_detection_cancels_and_leaves_no_tool_running(settings):
    from src.workflows.metabolomics.demo_data import generate_large_run

    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "stop", settings)
    generate_large_run(workflow.files.input_dir("mzML-files"))
    runner = LocalRunner(workflow)
    runner.start()
    marker = str(workflow.dir)
    wait_for(
        lambda: any(
            "FeatureFinderMetabo" in " ".join(p.info["cmdline"] or []) for p in processes_mentioning(marker)
        ),
        60,
        what="FeatureFinderMetabo to be running",
    )
    runner.stop()
    assert not runner.is_running()
    assert ended_with(workflow.logger.log_dir) is RunState.CANCELLED
    assert workflow.state.read().state == "cancelled"
    assert processes_mentioning(marker) == []
    assert "stopped by the user" in read_log(workflow.logger.log_dir, "minimal")


@pytest.mark.parametrize(
    ("content", "expected_error"),
    [(b"", "File empty"), ("truncated", "Unable to read file")],
)
def test_corrupt_or_empty_mzml_fails_with_the_tools_error(settings, nz_files, content, expected_error):
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "bad", settings)
    bad = workflow.files.input_dir("mzML-files") / "bad.mzML"
    bad.write_bytes(nz_files[0].read_bytes()[:100_000] if content == "truncated" else content)
    assert run_locally(workflow) is RunState.FAILED
    minimal = read_log(workflow.logger.log_dir, "minimal")
    assert "FeatureFinderMetabo failed on bad.mzML with exit code" in minimal
    assert expected_error in minimal
    status = workflow.state.read()
    assert status.state == "failed" and expected_error in status.error


def test_a_run_without_inputs_fails_with_advice(settings):
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "empty", settings)
    assert any("no mzML files" in problem for problem in workflow.preflight())
    assert workflow.run() is RunState.FAILED
    assert "Upload files on the File Upload page" in workflow.state.read().error


def test_the_run_process_does_not_re_run_the_parents_main_script(settings, tmp_path):
    """Under Streamlit, __main__ is the app script; spawning must not execute it again in the child."""
    import subprocess
    import sys

    from tests.conftest import REPO

    counter = tmp_path / "main-executions"
    script = tmp_path / "fake_app.py"
    script.write_text(
        "import sys, time\n"
        f"open({str(counter)!r}, 'a').write('x')\n"
        "if __name__ == '__main__':\n"
        f"    sys.path.insert(0, {str(REPO)!r})\n"
        "    from src.core.workflow.local_runner import LocalRunner\n"
        "    from src.core.settings import load_settings\n"
        "    from src.workflows.metabolomics import MetabolomicsWorkflow\n"
        f"    settings = load_settings(env={{'WORKSPACES_DIR': {str(settings.workspaces_dir)!r}}})\n"
        "    runner = LocalRunner(MetabolomicsWorkflow(settings.workspaces_dir / 'main', settings))\n"
        "    runner.start()\n"
        "    while runner.is_running(): time.sleep(0.1)\n"
        "    print(runner.workflow.state.read().state, 'streamlit' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["failed", "False"]  # no inputs: the run itself ran and failed
    assert counter.read_text() == "x"  # the parent's main script ran once, not again in the child


def test_a_killed_run_process_takes_its_tools_along_and_is_reported(settings):
    import os
    import signal

    from src.workflows.metabolomics.demo_data import generate_large_run

    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "killed", settings)
    generate_large_run(workflow.files.input_dir("mzML-files"))
    runner = LocalRunner(workflow)
    pid = runner.start()
    marker = str(workflow.dir)
    wait_for(
        lambda: any(
            "FeatureFinderMetabo" in " ".join(p.info["cmdline"] or []) for p in processes_mentioning(marker)
        ),
        60,
        what="FeatureFinderMetabo to be running",
    )
    os.kill(pid, signal.SIGKILL)  # no chance to clean up: the tools must still die (PR_SET_PDEATHSIG)
    wait_for(lambda: not processes_mentioning(marker), 5, what="the tools of the killed run to die")
    wait_for(lambda: not runner.is_running(), 5, what="the runner to notice")
    status = workflow.state.read()
    assert status.state == "failed" and "stopped unexpectedly" in status.error
    assert ended_with(workflow.logger.log_dir) is RunState.FAILED
