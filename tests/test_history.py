"""Run history: every run keeps its parameters, inputs, logs, outcome and results; a cap prunes."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from src.core.run import RunState, read_log
from src.core.run.history import new_run_id
from src.core.settings import load_settings
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.paths import table_in
from tests.conftest import put_inputs

pytestmark = pytest.mark.slow

NOISE = "algorithm:common:noise_threshold_int"


def run_with_noise(workflow: MetabolomicsWorkflow, noise: float) -> None:
    workflow.params.set_tool_value("FeatureFinderMetabo", NOISE, noise)
    assert workflow.run() is RunState.FINISHED, workflow.state.read().error


def test_two_runs_are_both_kept_with_their_parameters_and_results(settings, nz_files):
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "two", settings)
    put_inputs(workflow, nz_files[:2])
    run_with_noise(workflow, 100)
    run_with_noise(workflow, 1000)

    latest, first = workflow.kept_runs()
    assert latest.latest and not first.latest
    assert first.params == {"FeatureFinderMetabo": {NOISE: 100.0}}
    assert latest.params == {"FeatureFinderMetabo": {NOISE: 1000.0}}
    assert [item["name"] for item in first.inputs] == [p.name for p in nz_files[:2]]
    assert first.status.state is RunState.FINISHED and first.status.ended_at > first.status.started_at
    assert first.status.started_at < latest.status.started_at

    table = "consensus-table/consensus_features.tsv"
    first_count = len(pd.read_csv(first.results_root / table, sep="\t"))
    latest_count = len(pd.read_csv(latest.results_root / table, sep="\t"))
    assert first_count > latest_count > 0  # a higher noise threshold keeps fewer features
    assert read_log(first.log_dir, "minimal").rstrip().endswith("=== WORKFLOW FINISHED ===")
    assert first.folder == workflow.layout.history / first.id
    assert (
        table_in(workflow.files.results_root) == latest.results_root / table
    )  # the latest stays where it was


def test_the_cap_removes_the_oldest_run_first(tmp_path, shared_cache, nz_files):
    root = tmp_path / "workspaces"
    root.mkdir()
    (root / ".cache").symlink_to(shared_cache, target_is_directory=True)
    settings = load_settings(
        env={"WORKSPACES_DIR": str(root), "ONLINE_DEPLOYMENT": "false", "RUNS_KEPT": "2"}
    )
    workflow = MetabolomicsWorkflow(root / "capped", settings)
    put_inputs(workflow, nz_files[:1])
    for noise in (100, 200, 300):
        run_with_noise(workflow, noise)
    kept = workflow.kept_runs()
    assert [run.params["FeatureFinderMetabo"][NOISE] for run in kept] == [300.0, 200.0]
    assert len(list((workflow.layout.history).iterdir())) == 1


def test_a_workspace_from_before_run_history_still_opens_and_archives(settings, nz_files):
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "old", settings)
    put_inputs(workflow, nz_files[:1])
    run_with_noise(workflow, 100)
    (workflow.state.run_dir / "record.json").unlink()  # as a run of the previous version left it
    (latest,) = workflow.kept_runs()
    assert latest.params is None and latest.status.state is RunState.FINISHED

    run_with_noise(workflow, 200)
    latest, old = workflow.kept_runs()
    assert old.params is None and old.status.state is RunState.FINISHED
    assert (old.results_root / "consensus-table" / "consensus_features.tsv").is_file()


def test_a_failed_run_is_kept_with_its_error(settings, nz_files, tmp_path):
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "failed", settings)
    broken = workflow.files.input_dir("mzML-files") / "broken.mzML"
    broken.write_bytes(nz_files[0].read_bytes()[:100_000])
    assert workflow.run() is RunState.FAILED
    broken.unlink()
    put_inputs(workflow, nz_files[:1])
    run_with_noise(workflow, 100)
    latest, failed = workflow.kept_runs()
    assert failed.status.state is RunState.FAILED and "FeatureFinderMetabo failed" in failed.status.error
    record = json.loads((failed.folder / "record.json").read_text())
    assert record["inputs"] == [{"name": "broken.mzML", "bytes": 100_000}]


def test_history_counts_against_the_workspace_quota(settings, nz_files):
    from src.core.workspace import used_bytes

    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "quota", settings)
    put_inputs(workflow, nz_files[:1])
    run_with_noise(workflow, 100)
    one_run = used_bytes(workflow.workspace)
    run_with_noise(workflow, 100)
    archived = used_bytes(workflow.layout.history)
    assert archived > 100_000  # the first run's results and logs
    assert used_bytes(workflow.workspace) >= one_run + archived * 0.9


def test_runs_started_in_the_same_second_sort_by_age():
    """One-file runs take less than a second: ids of runs a few milliseconds apart keep their order."""
    start = 1_764_600_000.0
    ids = [new_run_id(start + offset) for offset in (0.001, 0.2, 0.999, 1.0, 61.5)]
    assert sorted(ids) == ids and len(set(ids)) == len(ids)
    same_second = time.strftime("%Y%m%d-%H%M%S", time.localtime(start))
    old_style = f"{same_second}-3f9a1c"  # an earlier version's id: no microseconds
    assert sorted([new_run_id(start + 0.5), old_style])[0] == old_style
