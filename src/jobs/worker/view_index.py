"""The raw data viewer's job: build one file's index (``src/core/viewer``) on a worker, with its
progress in the job's meta and in the index folder."""

from __future__ import annotations

from pathlib import Path

from rq import get_current_job

from src.core.errors import InputError
from src.core.settings import load_settings
from src.core.viewer import store
from src.core.viewer.building import build_recorded
from src.jobs.worker.tasks import check_workspace, save_meta


def file_in(workspace: Path, relative: str) -> Path:
    """The mzML a job names, refused unless its path stays inside the workspace (the example
    files are links to the shared cache: the link is in the workspace, so it is not resolved)."""
    path = Path(relative)
    if path.is_absolute() or ".." in path.parts or path.suffix.lower() != ".mzml":
        raise InputError(f"{relative} is not an mzML file of this workspace.")
    return workspace / relative


def build_view_index(workspace: str, relative: str) -> dict:
    """Build the index of ``<workspace>/<relative>``; return the file's summary."""
    settings = load_settings()
    root = check_workspace(workspace, settings.workspaces_dir)
    mzml = file_in(root, relative)
    job = get_current_job()

    def progress(fraction: float) -> None:
        if job is not None:
            job.meta["progress"] = round(fraction, 3)
            save_meta(job)

    meta = build_recorded(mzml, store.index_folder(root, mzml), progress)
    return meta.get("summary", {})
