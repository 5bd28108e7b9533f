"""'Load example data' counts against the workspace quota and the free-disk guard like an upload
(issue 29, item 8): on the File Upload page (Streamlit's AppTest), with a tiny quota and with a small
real tmpfs volume; the page says what an upload of that size is told, and nothing is added."""

from __future__ import annotations

import pytest

from src.core.errors import StorageRefused
from src.core.settings import load_settings
from src.core.workspace import uploads
from src.core.workspace.space import human
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.demo_data import generate_runs
from tests.conftest import REPO
from tests.test_pages import page, texts, use_env

EXAMPLE_BUTTON = "lab-topp-workflow-example-mzML-files"


@pytest.mark.parametrize("limit", ["quota", "free disk"])
def test_example_data_is_refused_like_an_upload_when_it_does_not_fit(
    limit, monkeypatch, settings, tmpfs, shared_cache, tmp_path
):
    root = settings.workspaces_dir
    if limit == "quota":
        variables = {"WORKSPACE_QUOTA_GB": "0.001"}  # 1 MB; the example data is about 2 MB
    else:  # a real 3 MB volume that keeps 1 MB free: room for an upload, not for 2 MB
        root = tmpfs("3m")
        (root / ".cache").symlink_to(shared_cache, target_is_directory=True)
        variables = {"MIN_FREE_DISK_GB": "0.001"}
    use_env(monkeypatch, settings, WORKSPACES_DIR=str(root), **variables)
    monkeypatch.chdir(REPO)

    app = page("content/file_upload.py", workspace="lab")
    assert not texts(app, "error")  # the workspace has room for files: the button is on
    app.button(key=EXAMPLE_BUTTON).click().run()
    (shown,) = texts(app, "error")
    assert not any("Example data loaded" in text for text in texts(app, "success"))
    workflow = MetabolomicsWorkflow(root / "lab", load_settings())
    assert workflow.files.inputs("mzML-files") == []  # nothing added, not even one of the files

    made = generate_runs(tmp_path / "example")  # the same bytes the page made (deterministic)
    size = sum(path.stat().st_size for path in made)
    with pytest.raises(StorageRefused) as upload:  # what an upload of that size is told
        uploads.UploadSink(workflow.workspace, "a" * 32, "same.mzML", workflow.settings.limits, root, size)
    assert shown == f"Not added: The example data ({human(size)}) was not added. {upload.value}"
    assert ("quota" if limit == "quota" else "keeps free") in shown


def test_example_data_with_room_is_added_through_the_upload_path(settings):
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "roomy", settings)
    added = workflow.load_example()
    assert [p.name for p in added] == [f"demo_sample_{n}.mzML" for n in (1, 2, 3)]
    assert workflow.files.inputs("mzML-files") == added
    assert not list((workflow.workspace / ".uploads").glob("*.part"))  # no spool left behind
