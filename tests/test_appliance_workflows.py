"""Both built-in workflows through the browser on the real image with 2 workers (issue 31): one
visitor uploads real mzML files to the metabolomics section, loads OpenMS's BSA example in the
Peptides and proteins section and uploads its database without decoys (which the run then searches,
with decoys made by DecoyDatabase), configures, runs both, one after the other in the same
workspace, and sees both Results pages. Each run's pieces ran on both workers
(the commands log names the worker of every piece), and the BSA proteins at 1 % FDR have bovine
serum albumin first in every sample. The raw data viewer then shows the features of a metabolomics
file and the identified peptides of BSA1 over their peak maps."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect

from tests.appliance_support import Box
from tests.browser_support import RUN_TIMEOUT_MS, completed_shown, go_to, open_app, settle, shot, upload
from tests.conftest import NZ_FILES
from tests.test_appliance_limits import Site

pytestmark = [pytest.mark.slow, pytest.mark.container]

PROTEOMICS = "proteomics-lfq"
WORKSPACES = "/data/workspaces"
TARGETS_ONLY = (
    "/usr/share/doc/openms/examples/TOPPAS/data/BSA_Identification/18Protein_SoCe_Tr_detergents_trace.fasta"
)


def workers_of_pieces(appliance: Box, ws: str, folder: str) -> set[str]:
    log = appliance.sh(f"cat {WORKSPACES}/{ws}/{folder}/logs/commands.log")
    return set(re.findall(r": on worker (\S+)", log))


def run_to_completion(page: Page, request, workflow: str = "") -> None:
    go_to(page, "Run", workflow)
    page.get_by_role("button", name="Start Workflow").click()
    expect(completed_shown(page)).to_be_visible(timeout=RUN_TIMEOUT_MS)
    shot(page, f"completed-{workflow or 'metabolomics'}", request)


def abundance(row: dict, sample: str) -> float:
    value = float(row.get(f"abundance_{sample}") or 0)
    return 0.0 if value != value else value  # NaN: not quantified in that sample


def protein_table(appliance: Box, ws: str) -> list[dict]:
    text = appliance.sh(f"cat {WORKSPACES}/{ws}/{PROTEOMICS}/results/tables/proteins.tsv")
    return list(csv.DictReader(io.StringIO(text), delimiter="\t"))


def test_both_workflows_run_in_the_browser_with_their_pieces_on_both_workers(
    box, new_page, request, tmp_path
):
    appliance = box(environment={"RQ_WORKER_COUNT": "2"})
    appliance.wait_healthy()
    page = new_page()
    site = Site(f"http://{appliance.ip}:8501")
    ws = open_app(page, site)
    for section in ("Untargeted metabolomics", "Peptides and proteins"):
        expect(page.get_by_test_id("stSidebarNav").get_by_text(section)).to_be_visible()
    shot(page, "quickstart", request)

    # Metabolomics: three real QC runs uploaded, FeatureFinderMetabo's defaults (pieces of seconds).
    upload(page, NZ_FILES)
    go_to(page, "Configure")
    expect(page.get_by_text("Retention time alignment").first).to_be_visible()
    run_to_completion(page, request)
    go_to(page, "Results")
    expect(page.get_by_text("Consensus features").first).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    shot(page, "results-metabolomics", request)

    # Peptides and proteins: the BSA example loaded, a FASTA uploaded through the web server.
    go_to(page, "File Upload", PROTEOMICS)
    page.get_by_role("button", name="Load example data").click()
    expect(page.get_by_text("Example data loaded")).to_be_visible(timeout=60_000)
    fasta = tmp_path / "targets.fasta"
    fasta.write_text(appliance.sh(f"cat {TARGETS_ONLY}"))
    page.locator('input[type="file"]').nth(1).set_input_files(str(fasta))
    expect(page.get_by_role("button", name=f"Remove {fasta.name}")).to_be_visible(timeout=60_000)
    page.get_by_test_id("stBaseButton-secondaryFormSubmit").filter(has_text="Add files").nth(1).click()
    expect(page.get_by_text(f"Added {fasta.name}")).to_be_visible()
    settle(page)
    go_to(page, "Configure", PROTEOMICS)
    expect(page.get_by_text("PSM FDR").first).to_be_visible()
    run_to_completion(page, request, PROTEOMICS)
    go_to(page, "Results", PROTEOMICS)
    expect(page.get_by_text("Proteins").first).to_be_visible()
    expect(page.get_by_text(f"searched in {fasta.name}")).to_be_visible()  # the new upload is chosen
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    shot(page, "results-proteomics", request)

    # The raw data viewer draws what each run found over its file's peak map (issue 32).
    go_to(page, "Raw data viewer")
    expect(page.get_by_text("About this file")).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(r"Show the features of the latest run, finished"))).to_be_visible()
    settle(page)
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    shot(page, "viewer-features", request)
    assert not page.get_by_text(re.compile(r"MessageSizeError|Traceback")).count()
    page.get_by_test_id("stSelectbox").filter(has_text="File").click()
    page.get_by_role("option", name="BSA1.mzML (Peptides and proteins)").click()
    expect(page.get_by_test_id("stTable")).to_contain_text("1,684 (MS1: 564, MS2: 1,120)", timeout=120_000)
    expect(
        page.get_by_text(re.compile(r"Show the peptides of the latest run, finished .*\(31\)"))
    ).to_be_visible()
    settle(page)
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    shot(page, "viewer-peptides", request)
    assert not page.get_by_text(re.compile(r"MessageSizeError|Traceback")).count()

    proteins = protein_table(appliance, ws)
    for sample in ("BSA1", "BSA2", "BSA3"):
        ranked = sorted(proteins, key=lambda row: abundance(row, sample), reverse=True)
        assert ranked[0]["protein"].startswith("P02769"), (sample, ranked[:3])
    assert len(workers_of_pieces(appliance, ws, "topp-workflow")) == 2
    assert len(workers_of_pieces(appliance, ws, PROTEOMICS)) == 2
    stored = appliance.sh(f"ls {WORKSPACES}/{ws}/{PROTEOMICS}/input-files/fasta-files/")
    assert fasta.name in stored
