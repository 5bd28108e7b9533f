"""Many workflows (issue 31): the registry, the setting that picks what is offered, runs of two
workflows side by side in one workspace (real redis-server, real workers, real tools), and the
per-visitor limits counting the runs of every workflow."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from src import runs
from src.core.settings import load_settings
from src.core.workflow import workflow_ref
from src.workflows import RegistryError, build, installed, offered, resolve
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.demo_data import generate_runs
from src.workflows.metabolomics.paths import table_in
from src.workflows.proteomics import ProteomicsWorkflow
from tests.conftest import REPO, wait_for
from tests.gate_workflow import GateWorkflow, open_gate
from tests.queue_support import online_env
from tests.test_pages import all_text, page, texts, use_env

ONE = "198.51.100.9"


def test_the_registry_lists_every_built_in_workflow_once_with_a_folder_name_as_id():
    found = installed()
    assert found[:2] == (MetabolomicsWorkflow, ProteomicsWorkflow)
    assert len({cls.id for cls in found}) == len(found)
    for cls in found:
        assert cls.name and cls.description and cls.required_tools


def test_the_workflows_setting_picks_and_orders_what_is_offered(settings):
    assert offered(settings) == installed()  # empty: everything installed
    chosen = load_settings(
        env={"WORKSPACES_DIR": str(settings.workspaces_dir), "WORKFLOWS": "proteomics-lfq"}
    )
    assert offered(chosen) == (ProteomicsWorkflow,)
    both = load_settings(env={"WORKFLOWS": "proteomics-lfq, topp-workflow"})
    assert offered(both) == (ProteomicsWorkflow, MetabolomicsWorkflow)  # the first one first
    unknown = load_settings(env={"WORKFLOWS": "topp-workflow,lipidomics"})
    with pytest.raises(RegistryError, match="'lipidomics', which is not installed. Installed: topp-workflow"):
        offered(unknown)


def test_the_start_up_check_refuses_a_workflow_that_is_not_installed():
    env = dict(os.environ, WORKFLOWS="lipidomics")
    done = subprocess.run(
        [sys.executable, "-m", "src.workflows", "--check"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "'lipidomics', which is not installed" in done.stderr and "Traceback" not in done.stderr
    listing = subprocess.run(
        [sys.executable, "-m", "src.workflows"], cwd=REPO, capture_output=True, text=True
    )
    assert listing.returncode == 0
    assert "* topp-workflow" in listing.stdout and "* proteomics-lfq" in listing.stdout


def test_a_job_queued_before_the_upgrade_finds_its_workflow_by_its_former_name(settings):
    """Jobs of the first release name ``src.workflows.topp_workflow:TOPPWorkflow``."""
    assert resolve("src.workflows.topp_workflow:TOPPWorkflow") is MetabolomicsWorkflow
    assert resolve(workflow_ref(ProteomicsWorkflow)) is ProteomicsWorkflow
    built = build("src.workflows.topp_workflow:TOPPWorkflow", settings.workspaces_dir / "old", settings)
    assert built.dir == settings.workspaces_dir / "old" / "topp-workflow"
    with pytest.raises(RegistryError, match="cannot be loaded"):
        resolve("src.workflows.gone:Nothing")


def state(workflow) -> str:
    return runs.status(workflow).state.value


def two_in_one_workspace(settings, name: str) -> tuple[GateWorkflow, MetabolomicsWorkflow]:
    workspace = settings.workspaces_dir / name
    gate, features = GateWorkflow(workspace, settings), MetabolomicsWorkflow(workspace, settings)
    generate_runs(features.files.input_dir("mzML-files"), 2, n_spectra=60)
    return gate, features


@pytest.mark.slow
def test_a_run_of_one_workflow_does_not_wait_for_a_run_of_another_in_the_same_workspace(
    online_settings, workers, redis_url
):
    """Each workflow has its own folder, its one active run and its history."""
    workers.start(online_settings, redis_url, 2)
    gate, features = two_in_one_workspace(online_settings, "side-by-side")
    runs.start(gate, visitor=ONE)
    wait_for(lambda: state(gate) == "running", 60, interval=0.1, what="the gate's run")
    runs.start(features, visitor=ONE)
    wait_for(lambda: state(features) == "finished", 120, interval=0.2, what="the second workflow's run")
    assert state(gate) == "running"  # it never waited for the other workflow's run
    open_gate(gate)
    wait_for(lambda: state(gate) == "finished", 60, interval=0.1, what="the gate's end")
    assert gate.dir != features.dir and table_in(features.layout.results).is_file()
    assert [run.status.state.value for run in gate.kept_runs()] == ["finished"]
    assert [run.status.state.value for run in features.kept_runs()] == ["finished"]


@pytest.mark.slow
def test_a_clients_share_counts_the_runs_of_every_workflow(settings, workers, redis_url):
    """A share of one running run: the visitor's run of a second workflow in the same workspace is
    held, then starts by itself when the first one ends."""
    shared = load_settings(env=online_env(settings, redis_url, RUNNING_RUNS_PER_CLIENT="1"))
    workers.start(shared, redis_url, 2, RUNNING_RUNS_PER_CLIENT="1")
    gate, features = two_in_one_workspace(shared, "one-share")
    runs.start(gate, visitor=ONE)
    wait_for(lambda: state(gate) == "running", 60, interval=0.1, what="the gate's run")
    runs.start(features, visitor=ONE)
    wait_for(lambda: state(features) == "held", 10, interval=0.1, what="the second workflow's run held")
    open_gate(gate)
    wait_for(lambda: state(features) == "finished", 120, interval=0.2, what="the held run")
    assert features.state.read().started_at >= gate.state.read().ended_at


def test_the_quickstart_lists_the_offered_workflows_and_a_wrong_setting_gets_a_message(monkeypatch, settings):
    use_env(monkeypatch, settings)
    app = page("content/quickstart.py", workspace="lab")
    assert not app.exception
    text = all_text(app)
    for cls in installed():
        assert cls.description in text
    monkeypatch.setenv("WORKFLOWS", "proteomics-lfq")
    only = all_text(page("content/quickstart.py", workspace="lab"))
    assert ProteomicsWorkflow.description in only and MetabolomicsWorkflow.description not in only
    monkeypatch.setenv("WORKFLOWS", "lipidomics")
    wrong = page("content/quickstart.py", workspace="lab")
    assert not wrong.exception
    assert any("'lipidomics', which is not installed" in text for text in texts(wrong, "error"))


def test_a_page_serves_the_workflow_its_section_names(monkeypatch, settings):
    """The same page script serves each workflow (src/ui/navigation.py): its widgets, inputs and
    runs are that workflow's."""
    use_env(monkeypatch, settings)

    def configure_for_proteomics() -> None:
        import runpy
        from pathlib import Path

        import src
        from src.ui import navigation

        with navigation.serving("proteomics-lfq"):
            runpy.run_path(str(Path(src.__file__).resolve().parents[1] / "content" / "configure.py"))

    app = AppTest.from_function(configure_for_proteomics, default_timeout=60)
    app.query_params["workspace"] = "lab"
    app.run()
    assert not app.exception
    keys = [widget.key for widget in app.number_input] + [widget.key for widget in app.text_input]
    assert keys and all(key.startswith("lab-proteomics-lfq") for key in keys if key.startswith("lab-"))
    assert not any(key.startswith("lab-topp-workflow") for key in keys if key)
