"""docs/authoring.md is code that runs: its example package (the blocks marked ``file=...``) is
written out, linted, built into a wheel and installed as the guide says, found by the registry and
the start-up check, shown by the pages, and run on real mzML files locally and through a real
redis-server with real workers. Its results are checked against what pyOpenMS counts by itself."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyopenms as oms
import pytest
from streamlit.testing.v1 import AppTest

from src import runs
from src import workflows as registry
from src.core.run import RunState, read_log
from src.core.settings import load_settings
from src.core.workflow import WorkflowBase, load_workflow_class, workflow_ref
from tests.conftest import REPO, put_inputs, wait_for
from tests.test_pages import texts

GUIDE = REPO / "docs" / "authoring.md"
#: A fenced block whose info string names a file of the example: ```python file=peak_stats/workflow.py
BLOCK = re.compile(r"^```(\w+) file=(\S+)\n(.*?)^```$", re.M | re.S)
PACKAGE_FILES = {
    "pyproject.toml",
    "Dockerfile",
    "peak_stats/__init__.py",
    "peak_stats/workflow.py",
    "peak_stats/peak_table.py",
    "peak_stats/results.py",
    "peak_stats/demo.py",
}
WORKFLOW_ID = "peak-stats"
WHEEL = "peak_stats-0.1.0-py3-none-any.whl"
#: The tool the Configure page shows, and the threshold the tests set there.
MOWER, THRESHOLD = "SpectraFilterThresholdMower", 100.0


@dataclass(frozen=True)
class Example:
    package: Path  # the distribution's folder, as the guide lays it out
    site: Path  # where pip installed it

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a process that should see the installed package (WORKFLOWS unset)."""
        paths = [str(self.site), os.environ.get("PYTHONPATH", "")]
        env = {k: v for k, v in os.environ.items() if k != "WORKFLOWS"}
        return dict(env, PYTHONPATH=os.pathsep.join(filter(None, paths)), **extra)


def guide_files() -> dict[str, str]:
    return {name: body for _, name, body in BLOCK.findall(GUIDE.read_text(encoding="utf-8"))}


def run_checked(command: list[str], **options) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, **options)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Iterator[Example]:
    """The guide's package, its wheel built with the guide's command and installed with the
    Dockerfile's (``--target`` instead of the image's venv), on sys.path for this module's tests."""
    root = tmp_path_factory.mktemp("authoring")
    package = root / "peak-stats"
    for name, body in guide_files().items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(body, encoding="utf-8")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    wheels = package / "dist"
    run_checked(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheels), "."], cwd=package
    )
    site = root / "site"
    run_checked([*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheels / WHEEL)])
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(site))
        registry.installed.cache_clear()
        yield Example(package, site)
    for name in [name for name in sys.modules if name.partition(".")[0] == "peak_stats"]:
        del sys.modules[name]
    registry.installed.cache_clear()


def peak_stats(example: Example) -> type[WorkflowBase]:
    """The example's class, as the registry finds it once the package is installed."""
    return registry.by_id(WORKFLOW_ID)


def table_of(workflow: WorkflowBase) -> pd.DataFrame:
    from peak_stats.workflow import table_of

    return pd.read_csv(table_of(workflow.files.results_root), sep="\t")


def counted_by_hand(path: Path) -> dict[str, object]:
    """A row of the table as pyOpenMS sees the file: its spectra, and the peaks at or above the
    threshold (every spectrum of the files keeps some)."""
    experiment = oms.MSExperiment()
    oms.MzMLFile().load(str(path), experiment)
    peaks = [spectrum.get_peaks() for spectrum in experiment]
    mz = np.concatenate([m[i >= THRESHOLD] for m, i in peaks])
    intensity = np.concatenate([i[i >= THRESHOLD] for _, i in peaks])
    times = [spectrum.getRT() for spectrum in experiment]
    return {
        "file": path.stem,
        "spectra": len(times),
        "peaks": len(mz),
        "rt_min": min(times),
        "rt_max": max(times),
        "mz_min": mz.min(),
        "mz_max": mz.max(),
        "intensity_min": intensity.min(),
        "intensity_max": intensity.max(),
    }


def assert_counts_as_by_hand(table: pd.DataFrame, files: list[Path]) -> None:
    expected = pd.DataFrame([counted_by_hand(path) for path in files])
    assert list(table.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(table[["file", "spectra", "peaks"]], expected[["file", "spectra", "peaks"]])
    # FileInfo writes the ranges with two decimals
    assert np.allclose(table.iloc[:, 3:].to_numpy(float), expected.iloc[:, 3:].to_numpy(float), atol=0.006)


def analysis(workflow_class: type[WorkflowBase], settings, name: str, files: list[Path]) -> WorkflowBase:
    workflow = workflow_class(settings.workspaces_dir / name, settings)
    put_inputs(workflow, files)
    workflow.params.set_tool_value(MOWER, "algorithm:threshold", THRESHOLD)  # as the Configure page does
    return workflow


# ---- the guide and the package ----------------------------------------------------------------


def test_the_guide_marks_every_file_of_the_example_and_says_the_test_runs_them():
    assert set(guide_files()) == PACKAGE_FILES
    text = GUIDE.read_text(encoding="utf-8")
    assert "tests/test_authoring.py" in text and "python file=peak_stats/workflow.py" in text


def test_the_example_is_ruff_clean_with_the_projects_rules(example):
    config = ["--config", str(REPO / "pyproject.toml"), "--no-cache"]
    code = str(example.package / "peak_stats")
    run_checked([sys.executable, "-m", "ruff", "check", *config, code])
    run_checked([sys.executable, "-m", "ruff", "format", "--check", *config, code])


def test_the_dockerfile_installs_the_wheel_the_guide_builds_without_network(example):
    dockerfile = (example.package / "Dockerfile").read_text()
    assert "FROM openms-workflow-server" in dockerfile.splitlines()
    assert f"COPY dist/{WHEEL} /tmp/" in dockerfile
    assert (example.package / "dist" / WHEEL).is_file()  # the name pip gave the wheel
    assert f"/opt/venv/bin/python -m pip install --no-deps --no-index /tmp/{WHEEL}" in dockerfile
    assert f"WORKFLOWS={WORKFLOW_ID} python -m src.workflows --check" in dockerfile


def test_the_workflow_modules_import_without_streamlit(example):
    code = (
        "import sys\n"
        "import src.workflows\n"
        f"cls = src.workflows.by_id({WORKFLOW_ID!r})\n"
        "import peak_stats.demo, peak_stats.peak_table\n"
        "assert 'streamlit' not in sys.modules, sorted(m for m in sys.modules if 'streamlit' in m)\n"
        "print(cls.__module__)\n"
    )
    done = run_checked([sys.executable, "-c", code], cwd=REPO, env=example.env())
    assert done.stdout.strip() == "peak_stats.workflow"


# ---- registering it ---------------------------------------------------------------------------


def test_the_registry_lists_the_installed_package_after_the_built_in_ones(example, settings):
    cls = peak_stats(example)
    assert workflow_ref(cls) == "peak_stats.workflow:PeakStatsWorkflow"
    installed = registry.installed()
    assert installed[-1] is cls and [c.id for c in installed[:-1]] == [
        load_workflow_class(ref).id for ref in registry.BUILT_IN
    ]
    chosen = load_settings(env={"WORKSPACES_DIR": str(settings.workspaces_dir), "WORKFLOWS": WORKFLOW_ID})
    assert registry.offered(chosen) == (cls,)
    assert registry.resolve(workflow_ref(cls)) is cls  # what a worker does with a job's reference
    assert cls(settings.workspaces_dir / "lab", settings).dir == settings.workspaces_dir / "lab" / WORKFLOW_ID


def test_python_m_src_workflows_lists_it_and_the_start_up_check_takes_its_id(example, settings):
    env = example.env(WORKSPACES_DIR=str(settings.workspaces_dir))
    command = [sys.executable, "-m", "src.workflows"]
    listing = run_checked(command, cwd=REPO, env=env).stdout
    line = next(line for line in listing.splitlines() if WORKFLOW_ID in line)
    assert line.split() == ["*", WORKFLOW_ID, "Peak", "statistics", "peak_stats.workflow:PeakStatsWorkflow"]
    checked = run_checked([*command, "--check"], cwd=REPO, env=dict(env, WORKFLOWS=WORKFLOW_ID))
    assert checked.stdout.strip() == f"workflows: offering {WORKFLOW_ID}"
    wrong = subprocess.run(
        [*command, "--check"],
        cwd=REPO,
        env=dict(env, WORKFLOWS=f"{WORKFLOW_ID},peak-stat"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert wrong.returncode == 2
    assert "names 'peak-stat', which is not installed. Installed: " in wrong.stderr
    assert WORKFLOW_ID in wrong.stderr and "Traceback" not in wrong.stderr


def a_distribution(site: Path, body: str, entry_point: str) -> None:
    """An installed distribution as importlib.metadata finds one: a module and its dist-info."""
    info = site / "other_lab-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "other_lab.py").write_text(body)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: other-lab\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\nother = {entry_point}\n")


@pytest.mark.parametrize(
    ("class_id", "message"),
    [
        (
            "Peak_Stats",
            r"The workflow 'other_lab:Other' has the id 'Peak_Stats': use lower-case letters, digits and "
            r"'-' \(it names a folder in every workspace\)\.",
        ),
        (  # the two in the order their folders are on the path
            WORKFLOW_ID,
            r"Two installed workflows use the id 'peak-stats' \((other_lab:Other|peak_stats\.workflow:"
            r"PeakStatsWorkflow) and (?!\1)(other_lab:Other|peak_stats\.workflow:PeakStatsWorkflow)\); "
            r"give one of them another id\.",
        ),
    ],
)
def test_the_rules_an_id_that_is_no_folder_name_or_is_taken_is_refused_with_a_message(
    example, tmp_path, monkeypatch, class_id, message
):
    body = (
        f"from src.core.workflow import WorkflowBase\n\n\nclass Other(WorkflowBase):\n    id = {class_id!r}\n"
    )
    a_distribution(tmp_path / "site", body, "other_lab:Other")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "other_lab", raising=False)
    registry.installed.cache_clear()
    try:
        with pytest.raises(registry.RegistryError) as refused:
            registry.installed()
        assert re.fullmatch(message, str(refused.value)), refused.value
    finally:
        sys.modules.pop("other_lab", None)
        registry.installed.cache_clear()


# ---- running it -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_local_run_counts_the_peaks_pyopenms_counts(example, settings, nz_files):
    workflow = analysis(peak_stats(example), settings, "local", nz_files)
    assert workflow.run() is RunState.FINISHED, workflow.last_error
    table = table_of(workflow)
    assert_counts_as_by_hand(table, nz_files)
    assert table["peaks"].between(10_000, 100_000).all()  # the threshold took most peaks, not all
    assert "Peak statistics of 3 file(s) written to peak_statistics.tsv" in read_log(
        workflow.logger.log_dir, "minimal"
    )
    [run] = workflow.kept_runs()
    assert workflow.describe_run(run) == {"files": 3}
    assert json.loads(workflow.params.path.read_text()) == {MOWER: {"algorithm:threshold": THRESHOLD}}


@pytest.mark.slow
def test_a_queued_run_spread_over_two_workers_gives_the_same_table(
    example, online_settings, workers, redis_url, nz_files
):
    workflow = analysis(peak_stats(example), online_settings, "queued", nz_files)
    # The workers import the workflow from its job's reference: they need the package's folder.
    workers.start(online_settings, redis_url, 2, PYTHONPATH=example.env()["PYTHONPATH"])
    view = runs.start(workflow, visitor="192.0.2.31")
    assert view.mode == "queue"
    final = wait_for(
        lambda: (seen := runs.status(workflow)).state.is_final and seen,
        60,
        interval=0.2,
        what="the queued run",
    )
    assert final.state is RunState.FINISHED, final.error
    assert_counts_as_by_hand(table_of(workflow), nz_files)
    commands = read_log(workflow.logger.log_dir, "commands")
    assert all(f"{MOWER} on {path.name} (piece " in commands for path in nz_files), commands


@pytest.mark.slow
def test_the_pages_load_the_example_save_a_parameter_run_it_and_show_the_table(
    example, monkeypatch, settings
):
    """The app as a visitor opens it (app.py's navigation), with the example as its one workflow."""
    for name, value in {
        "WORKSPACES_DIR": str(settings.workspaces_dir),
        "ONLINE_DEPLOYMENT": "false",
        "WORKFLOWS": WORKFLOW_ID,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(REPO)
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    app.query_params["workspace"] = "lab"
    app.run()

    def show(page: str) -> AppTest:
        app.switch_page(f"content/{page}.py").run()
        assert not app.exception, app.exception
        return app

    show("file_upload").button(key=f"lab-{WORKFLOW_ID}-example-mzML-files").click().run()
    assert "Example data loaded: peak_stats_demo_1.mzML, peak_stats_demo_2.mzML" in texts(app, "success")

    show("configure").number_input(key=f"lab-{WORKFLOW_ID}::{MOWER}::algorithm:threshold").set_value(
        THRESHOLD
    ).run()
    folder = settings.workspaces_dir / "lab" / WORKFLOW_ID
    assert json.loads((folder / "params.json").read_text()) == {MOWER: {"algorithm:threshold": THRESHOLD}}

    show("run").button(key="start").click().run()
    workflow = peak_stats(example)(settings.workspaces_dir / "lab", settings)
    wait_for(lambda: workflow.state.read().is_final, 60, interval=0.2, what="the local run to end")
    assert workflow.state.read().state is RunState.FINISHED, workflow.state.read().error
    history = show("run").dataframe[-1].value
    assert history["files"].tolist() == [2]  # describe_run's column

    [table] = show("results").dataframe
    assert table.value["file"].tolist() == ["peak_stats_demo_1", "peak_stats_demo_2"]
    assert table.value["peaks"].between(1, 30 * 200).all()
    assert len(app.get("plotly_chart")) == 1 and len(app.get("link_button")) == 1


@pytest.mark.slow
def test_every_bad_input_gets_a_message(example, settings, nz_files, tmp_path):
    workflow = peak_stats(example)(settings.workspaces_dir / "bad", settings)
    assert workflow.preflight() == [
        "There are no mzML files in this workspace. Upload some on the File Upload page or press "
        "'Load example data' there."
    ]
    broken = tmp_path / "broken.mzML"
    broken.write_bytes(nz_files[0].read_bytes()[:100_000])
    put_inputs(workflow, [broken])
    assert workflow.run() is RunState.FAILED
    assert workflow.last_error.startswith(f"{MOWER} failed on broken.mzML with exit code"), (
        workflow.last_error
    )

    not_a_summary = tmp_path / "notes.txt"
    not_a_summary.write_text("nothing FileInfo wrote\n")
    script = example.site / "peak_stats" / "peak_table.py"
    done = subprocess.run(
        [sys.executable, str(script), "--in", str(not_a_summary), "--out", str(tmp_path / "table.tsv")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("Error: notes.txt is not a FileInfo summary: it has no line like")
