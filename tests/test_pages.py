"""Every page renders in Streamlit's AppTest, in local and online mode, and its main actions work."""

from __future__ import annotations

import json
import re

import pytest
import redis
from rq.job import Job, JobStatus
from streamlit.testing.v1 import AppTest

from src.core import workspace as ws
from src.core.version import VERSION
from src.jobs.client import enqueue
from src.workflows.metabolomics import MetabolomicsWorkflow
from tests.conftest import FFM_NOISE, REPO, set_noise_threshold, wait_for

PAGES = [
    "app.py",
    "content/quickstart.py",
    "content/file_upload.py",
    "content/configure.py",
    "content/run.py",
    "content/results.py",
    "content/admin.py",
]


def use_env(monkeypatch, settings, **variables: str) -> None:
    """Point the pages at the test's workspaces directory and set the given environment."""
    monkeypatch.setenv("WORKSPACES_DIR", str(settings.workspaces_dir))
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(params=["local", "online"])
def mode_env(request, monkeypatch, settings):
    use_env(monkeypatch, settings, ONLINE_DEPLOYMENT="true" if request.param == "online" else "false")
    monkeypatch.chdir(REPO)
    return request.param


def page(path: str, workspace: str | None = None) -> AppTest:
    app = AppTest.from_file(str(REPO / path), default_timeout=60)
    if workspace:
        app.query_params["workspace"] = workspace
    return app.run()


def shown(markdown: object) -> str:
    """Markdown's text as a browser shows it, for the escapes literal() puts in (src/ui/text.py)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(markdown)).replace("  \n", "\n")


def texts(app: AppTest, kind: str) -> list[str]:
    """The texts of one kind of element (error, warning, ...) as shown."""
    return [shown(e.value) for e in getattr(app, kind)]


def all_text(app: AppTest) -> str:
    parts = [
        shown(e.value)
        for kind in (
            "markdown",
            "title",
            "subheader",
            "caption",
            "info",
            "warning",
            "error",
            "success",
            "code",
        )
        for e in getattr(app, kind)
    ]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_without_exception(mode_env, path):
    app = page(path)
    assert not app.exception, app.exception
    assert f"{mode_env} mode" in all_text(app)  # the sidebar says which mode this is
    assert f"OpenMS Workflow Server {VERSION}" in texts(app.sidebar, "caption")  # and the version
    if mode_env == "online" and path == "content/admin.py":
        assert "workspace" not in app.query_params  # the Queue admin page makes no workspace
        return
    workspace_id = (
        app.query_params["workspace"][0]
        if isinstance(app.query_params["workspace"], list)
        else app.query_params["workspace"]
    )
    if mode_env == "online":
        assert ws.is_valid_online_id(workspace_id)
    else:
        assert workspace_id == ws.DEFAULT_LOCAL_WORKSPACE


def test_online_forged_workspace_id_gets_a_fresh_workspace_and_a_message(monkeypatch, settings):
    use_env(monkeypatch, settings, ONLINE_DEPLOYMENT="true")
    app = page("content/quickstart.py", workspace="../../etc")
    assert not app.exception
    assert any("not valid" in text for text in texts(app, "warning"))
    assert not (settings.workspaces_dir.parent / "etc").exists()


def test_local_bad_workspace_name(monkeypatch, settings):
    use_env(monkeypatch, settings)
    app = page("content/quickstart.py", workspace="../escape")
    assert any("Workspace names" in text for text in texts(app, "warning"))
    assert (settings.workspaces_dir / "default").is_dir()


def test_load_example_data_then_configure_and_refuse_bad_values(monkeypatch, settings):
    use_env(monkeypatch, settings)
    app = page("content/file_upload.py", workspace="lab")
    app.button(key="lab-topp-workflow-example-mzML-files").click().run()
    assert any("Example data loaded" in text for text in texts(app, "success"))
    assert (
        len(list((settings.workspaces_dir / "lab/topp-workflow/input-files/mzML-files").glob("*.mzML"))) >= 3
    )

    app = page("content/configure.py", workspace="lab")
    key = "lab-topp-workflow::FeatureFinderMetabo::algorithm:common:noise_threshold_int"
    app.number_input(key=key).set_value(100.0).run()
    params = json.loads((settings.workspaces_dir / "lab/topp-workflow/params.json").read_text())
    assert params == {"FeatureFinderMetabo": FFM_NOISE}
    partitions = app.number_input(key="lab-topp-workflow::FeatureLinkerUnlabeledKD::algorithm:nr_partitions")
    assert partitions.min == 1  # the browser widget cannot go below the tool's minimum


def test_start_refuses_without_inputs_and_runs_with_them(monkeypatch, settings):
    use_env(monkeypatch, settings)
    app = page("content/run.py", workspace="runs")
    app.button(key="start").click().run()
    assert any("no mzML files" in text for text in texts(app, "error"))

    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "runs", settings)
    workflow.load_example()
    set_noise_threshold(workflow)
    app = page("content/run.py", workspace="runs")
    app.button(key="start").click().run()
    wait_for(lambda: workflow.state.read().is_final, 120, interval=0.5, what="the local run to end")
    app = page("content/run.py", workspace="runs")
    assert any("Completed" in text for text in texts(app, "success")), all_text(app)

    app = page("content/results.py", workspace="runs")
    assert not app.exception
    assert len(app.dataframe) == 1 and app.dataframe[0].value.shape[0] >= 20
    # features in RT/m/z, intensities, features per sample, and the alignment (on by default): the
    # deviations per sample before and after, and each sample's correction
    assert len(app.get("plotly_chart")) == 5
    [download] = app.get("link_button")
    assert download.proto.url.startswith("/download/")  # a link that expires, not a media file


def test_misconfigured_environment_is_shown_not_raised(monkeypatch, settings):
    use_env(monkeypatch, settings, ONLINE_DEPLOYMENT="sometimes")
    app = page("content/run.py")
    assert not app.exception
    assert any("ONLINE_DEPLOYMENT must be true or false" in text for text in texts(app, "error"))


def test_online_run_page_queues_and_shows_the_place_in_line(monkeypatch, settings, redis_url):
    use_env(monkeypatch, settings, ONLINE_DEPLOYMENT="true", REDIS_URL=redis_url)
    workspace = ws.resolve_online(settings.workspaces_dir, None)
    workflow = MetabolomicsWorkflow(workspace.path, settings)
    workflow.load_example()
    app = page("content/run.py", workspace=workspace.id)
    app.button(key="start").click().run()
    assert not app.exception
    text = all_text(app)
    assert "Queued" in text and "#1 in the queue" in text and "(1 total)" in text
    assert app.button(key="stop").label == "Cancel"
    app.button(key="stop").click().run()
    assert "Cancelled" in all_text(app)


def test_a_job_a_worker_has_just_taken_shows_running_and_nothing_else(monkeypatch, settings, redis_url):
    """The instant between RQ marking a job started and the job's own code writing its first step
    (seen on a slow machine as "Running" above a progress bar that still said "Queued")."""
    use_env(monkeypatch, settings, ONLINE_DEPLOYMENT="true", REDIS_URL=redis_url)
    workspace = ws.resolve_online(settings.workspaces_dir, None)
    workflow = MetabolomicsWorkflow(workspace.path, settings)
    workflow.load_example()
    app = page("content/run.py", workspace=workspace.id)
    app.button(key="start").click().run()  # no worker: it waits
    job = Job.fetch(enqueue.recorded_job_id(workflow), connection=redis.Redis.from_url(redis_url))
    assert job.meta["step"] == ""  # a waiting job has no step to show
    job.meta["step"] = "Queued"  # as jobs queued by earlier versions of the app say
    job.save_meta()
    job.set_status(JobStatus.STARTED)  # what RQ writes as a worker takes the job
    app = page("content/run.py", workspace=workspace.id)
    assert not app.exception
    shown = [e.value for e in app.markdown] + [str(p.proto.text) for p in app.get("progress")]
    assert "### Running" in shown and not any("Queued" in text for text in shown), shown
    assert any(p.proto.text == "Starting" for p in app.get("progress"))


def test_redis_down_at_start_runs_locally_and_says_so(monkeypatch, settings):
    use_env(monkeypatch, settings, ONLINE_DEPLOYMENT="true", REDIS_URL="redis://127.0.0.1:1/0")
    workspace = ws.resolve_online(settings.workspaces_dir, None)
    MetabolomicsWorkflow(workspace.path, settings).load_example()
    app = page("content/run.py", workspace=workspace.id)
    app.button(key="start").click().run()
    assert not app.exception
    assert any("started directly on the web server" in text for text in texts(app, "warning")), all_text(app)


def test_admin_page_in_local_mode_says_it_is_not_available(monkeypatch, settings):
    use_env(monkeypatch, settings, ONLINE_DEPLOYMENT="false")
    app = page("content/admin.py")
    assert not app.exception
    assert any("available in online mode only" in text for text in texts(app, "info"))
    assert "Job queue" not in all_text(app)  # nothing queue-related in local mode


def test_admin_page_online_shows_only_aggregates_until_signed_in(monkeypatch, settings, redis_url):
    use_env(
        monkeypatch, settings, ONLINE_DEPLOYMENT="true", REDIS_URL=redis_url, ADMIN_PASSWORD="admin-pass-42"
    )
    app = page("content/admin.py")
    assert not app.exception
    text = all_text(app)
    assert "No worker is running" in text and "Workers (0)" not in text and "Failed jobs" not in text
    assert {m.label for m in app.metric} == {"Redis", "Workers busy", "Waiting", "Running"}
    assert "Workers busy: 0 of 0" in str([p.proto.text for p in app.get("progress")])

    app.text_input(key="admin-password").set_value("admin-pass-42")
    next(b for b in app.button if b.label == "Sign in").click().run()
    text = all_text(app)
    assert "Signed in as administrator until" in text
    assert "Workers (0)" in text and "No failed jobs are kept in the queue." in text
    assert {m.label for m in app.metric} >= {"Memory", "AOF", "Uptime", "Clients", "Finished (kept)"}


def test_admin_page_with_redis_down_says_so(monkeypatch, settings):
    use_env(monkeypatch, settings, ONLINE_DEPLOYMENT="true", REDIS_URL="redis://127.0.0.1:1/0")
    app = page("content/admin.py")
    assert not app.exception
    assert any("job queue (Redis) cannot be reached" in text for text in texts(app, "error"))
    assert any("job queue cannot be reached" in text for text in texts(app, "warning"))


def test_a_too_short_admin_password_stops_the_app_with_a_message(monkeypatch, settings):
    use_env(monkeypatch, settings, ADMIN_PASSWORD="short")
    app = page("content/admin.py")
    assert not app.exception
    assert any("ADMIN_PASSWORD must be at least 8 characters" in text for text in texts(app, "error"))
