"""The Peptides and proteins workflow's File Upload and Configure pages, rendered headless by
Streamlit's AppTest through the real UI helper: the database choice and the FDRs are saved in the
workflow's parameters as a run reads them, the design table shows each file's condition."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from src.core.errors import InputError, StorageRefused
from src.core.layout import SPOOL_DIR
from src.core.settings import load_settings
from src.core.workspace import spool_path, ticket
from src.ui.workflow_ui import WorkflowUI
from src.workflows.proteomics import ProteomicsWorkflow, fasta, paths
from src.workflows.proteomics.tuning import PSM_FDR


def page(workspace: str, settings_env: dict, method: str) -> None:
    """The script AppTest runs: one page method of the workflow with the real UI helper."""
    from pathlib import Path

    from src.core.settings import load_settings
    from src.ui.workflow_ui import WorkflowUI
    from src.workflows.proteomics import ProteomicsWorkflow

    workflow = ProteomicsWorkflow(Path(workspace), load_settings(env=settings_env))
    getattr(workflow, method)(WorkflowUI(workflow))


def run_page(settings, method: str) -> AppTest:
    env = {
        "WORKSPACES_DIR": str(settings.workspaces_dir),
        "ONLINE_DEPLOYMENT": "false",
        "PROTEIN_DATABASES_DIR": str(settings.protein_databases_dir),
    }
    workspace = str(settings.workspaces_dir / "lab")
    app = AppTest.from_function(page, args=(workspace, env, method), default_timeout=60)
    return app.run()


def saved(settings) -> dict:
    return json.loads((settings.workspaces_dir / "lab/proteomics-lfq/params.json").read_text())


def test_the_database_is_chosen_among_uploads_and_the_servers(settings, monkeypatch, tmp_path):
    server = tmp_path / "databases"
    server.mkdir()
    (server / "human.fasta").write_text(">sp|P1|ONE\nMK\n")
    settings = replace(settings, protein_databases_dir=server)
    workflow = ProteomicsWorkflow(settings.workspaces_dir / "lab", settings)
    (workflow.files.input_dir(paths.FASTA_KEY) / "mine.fasta").write_text(">sp|P2|TWO\nMK\n")
    app = run_page(settings, "upload")
    assert not app.exception, app.exception
    choice = next(box for box in app.selectbox if box.label == "Database to search")
    assert choice.value == "workspace:mine.fasta"  # the only upload is taken until one is chosen
    choice.set_value("server:human.fasta").run()
    assert saved(settings) == {fasta.DATABASE_PARAM: "server:human.fasta"}
    assert workflow.database() == Path(server / "human.fasta")


def test_the_fdrs_are_saved_and_the_design_lists_every_file(settings):
    workflow = ProteomicsWorkflow(settings.workspaces_dir / "lab", settings)
    for name in ("a.mzML", "b.mzML"):
        (workflow.files.input_dir(paths.MZML_KEY) / name).write_text("<mzML/>")
    app = run_page(settings, "configure")
    assert not app.exception, app.exception
    psm = next(box for box in app.number_input if box.label == "PSM FDR")
    assert psm.value == 0.01
    psm.set_value(0.05).run()
    assert saved(settings) == {PSM_FDR: 0.05}
    assert workflow.fdr(PSM_FDR) == 0.05
    headers = " ".join(str(header.value) for header in app.subheader)
    assert "Experimental design" in headers and "CometAdapter" in headers
    design_table = app.dataframe[0].value
    assert design_table.to_dict("list") == {"file": ["a.mzML", "b.mzML"], "condition": ["a", "b"]}


class Upload(io.BytesIO):
    """A file as Streamlit's uploader hands it over: bytes with a name and a size."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name, self.size = name, len(data)


def test_an_uploaded_fasta_arrives_within_the_quota_and_becomes_the_database(tmp_path, shared_cache):
    root = tmp_path / "workspaces"
    root.mkdir()
    (root / ".cache").symlink_to(shared_cache, target_is_directory=True)
    env = {"WORKSPACES_DIR": str(root), "ONLINE_DEPLOYMENT": "false", "WORKSPACE_QUOTA_GB": "0.001"}
    workflow = ProteomicsWorkflow(root / "lab", load_settings(env=env))
    ui, folder = WorkflowUI(workflow), workflow.files.input_dir(paths.FASTA_KEY)
    entries = b">sp|P1|ONE\nMKWVTFISLLR\n>DECOY_sp|P1|ONE\nRLLSIFTVWKM\n"
    added = workflow.adopt_fasta(ui._spooled(Upload(entries, "db.fasta"), "db.fasta"), "db.fasta", folder)
    assert added == folder / "db.fasta" and added.read_bytes() == entries
    assert workflow.database() == added and fasta.summarize(added).has_decoys
    assert workflow.describe_fastas([added]) == [
        ("note", "db.fasta: 2 proteins, 1 of them decoys (used as it is).")
    ]
    with pytest.raises(StorageRefused):  # 2 MB do not fit into a quota of 1 MB
        ui._spooled(Upload(b">x\n" + b"M" * 2_000_000, "big.fasta"), "big.fasta")
    assert not list((root / "lab" / SPOOL_DIR).glob("*.part"))
    # a file the web server streamed to disk arrives as a ticket naming its spool file
    spooled = spool_path(workflow.workspace, "t0ken")
    spooled.write_bytes(entries)
    sent = Upload(ticket(token="t0ken", refused="", name="mine.fasta"), "upload.mzML")
    assert ui._spooled(sent, "mine.fasta") == spooled
    refused = Upload(ticket(token="", refused="mine.fasta: too large", name="mine.fasta"), "upload.mzML")
    with pytest.raises(InputError, match="too large"):
        ui._spooled(refused, "mine.fasta")
