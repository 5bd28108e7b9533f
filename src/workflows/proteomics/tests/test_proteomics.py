"""The Peptides and proteins workflow on OpenMS's real BSA example (openms-doc) with the real Comet.

One local run of BSA1-3 against the example's target-decoy database is shared by the slow tests
(a module-scoped fixture, ~35 s on 2 cores): BSA must be among the most abundant proteins of every
sample, and the PSMs at 1 % FDR must be those the same TOPP commands give when run by hand (the
counts measured by hand in the first build are pinned as well: 30, 26 and 25). A second, one-file
run shows a FASTA without decoys getting them. The fast tests show that every bad input (no mzML,
no database, a damaged FASTA, an empty or MS1-only mzML, bad FDRs or condition names) gets a
message that says what to do, before any tool runs.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyopenms as oms
import pytest
from streamlit.testing.v1 import AppTest

from src.core.errors import InputError
from src.core.run import RunState, moment_text, read_log
from src.core.settings import load_settings
from src.ui.text import literal
from src.workflows.proteomics import (
    ProteomicsWorkflow,
    demo_data,
    design,
    fasta,
    inputs,
    overlay,
    paths,
    results,
)
from src.workflows.proteomics.tests.test_pages import page
from src.workflows.proteomics.tuning import PROTEIN_FDR, PSM_FDR
from tests.conftest import REPO

BSA = "P02769|ALBU_BOVIN"
#: PSMs at 1 % FDR per sample, measured by hand with the same commands (TOPP 2.6, Comet 2019.01).
PSMS_BY_HAND = {"BSA1": 30, "BSA2": 26, "BSA3": 25}


@pytest.fixture(scope="session")
def examples() -> list[Path]:
    """OpenMS's example data, which CI installs (openms-doc): missing, the slow tests fail, loudly."""
    try:
        return demo_data.example_files()
    except InputError as err:
        pytest.fail(f"{err} The proteomics tests need it.")


def make_settings(root: Path, cache: Path):
    root.mkdir(parents=True, exist_ok=True)
    (root / ".cache").symlink_to(cache, target_is_directory=True)
    return load_settings(env={"WORKSPACES_DIR": str(root), "ONLINE_DEPLOYMENT": "false"})


@pytest.fixture(scope="module")
def bsa_run(tmp_path_factory, shared_cache, examples) -> ProteomicsWorkflow:
    """BSA1-3 loaded as a visitor's 'Load example data' does, run once with the defaults."""
    settings = make_settings(tmp_path_factory.mktemp("bsa") / "workspaces", shared_cache)
    workflow = ProteomicsWorkflow(settings.workspaces_dir / "bsa", settings)
    added = workflow.load_example()
    assert [p.name for p in added] == [p.name for p in examples if p.suffix == ".mzML"]
    # the database is the server's copy (the default databases folder is the example's)
    assert workflow.params.get(fasta.DATABASE_PARAM) == f"server:{examples[-1].name}"
    assert workflow.preflight() == []
    assert workflow.run() is RunState.FINISHED, workflow.last_error
    return workflow


def table(workflow: ProteomicsWorkflow, name: str) -> pd.DataFrame:
    return pd.read_csv(paths.table_in(workflow.files.results_root, name), sep="\t")


# ---- the real run -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_bsa_is_among_the_most_abundant_proteins_of_every_sample(bsa_run):
    proteins = table(bsa_run, paths.PROTEIN_TABLE)
    assert BSA in set(proteins["protein"])
    for sample in PSMS_BY_HAND:
        ranked = proteins.sort_values(f"abundance_{sample}", ascending=False)["protein"].tolist()
        assert BSA in ranked[:3], (sample, ranked[:5])
    assert (proteins.loc[proteins["protein"] == BSA, [f"psms_{s}" for s in PSMS_BY_HAND]] > 20).all(axis=None)
    samples = table(bsa_run, paths.SAMPLE_TABLE)
    assert samples["condition"].tolist() == ["BSA1", "BSA2", "BSA3"]  # one condition per file


@pytest.mark.slow
def test_psms_at_one_percent_are_those_of_the_tools_run_by_hand(bsa_run, tmp_path):
    """PeptideIndexer, FalseDiscoveryRate and IDFilter run by hand on the run's own Comet output give
    the PSMs of the PSM table, sample by sample (and the counts measured in the first build)."""
    psms = table(bsa_run, paths.PSM_TABLE)
    database = demo_data.DATABASE
    for sample, measured in PSMS_BY_HAND.items():
        searched = bsa_run.files.results_root / paths.SEARCH_STEP / f"{sample}.idXML"
        steps = [
            ["PeptideIndexer", "-in", searched, "-fasta", database, "-out", tmp_path / "pi.idXML"],
            ["IDPosteriorErrorProbability", "-in", tmp_path / "pi.idXML", "-out", tmp_path / "pep.idXML"],
            [
                "FalseDiscoveryRate",
                "-in",
                tmp_path / "pep.idXML",
                "-out",
                tmp_path / "q.idXML",
                "-protein",
                "false",
            ],
            ["IDFilter", "-in", tmp_path / "q.idXML", "-out", tmp_path / "f.idXML", "-score:pep", "0.01"],
        ]
        for step in steps:
            subprocess.run([str(part) for part in step], check=True, capture_output=True, timeout=120)
        by_hand = sorted(spectrum_references(tmp_path / "f.idXML"))
        assert sorted(psms.loc[psms["sample"] == sample, "spectrum"]) == by_hand
        assert len(by_hand) == measured
    counts = paths.counts(bsa_run.files.results_root)
    assert counts == {"psms": sum(PSMS_BY_HAND.values()), "peptides": 27, "proteins": 2}
    assert bsa_run.describe_run(bsa_run.kept_runs()[0]) == {"PSMs": 81, "proteins": 2}


def spectrum_references(path: Path) -> list[str]:
    proteins: list = []
    peptides = oms.PeptideIdentificationList()
    oms.IdXMLFile().load(str(path), proteins, peptides)
    return [str(p.getMetaValue("spectrum_reference")) for p in peptides if p.getHits()]


@pytest.mark.slow
def test_the_run_used_the_tuned_search_and_one_command_per_file(bsa_run):
    commands = read_log(bsa_run.logger.log_dir, "commands")
    searches = [line for line in commands.splitlines() if "Running: /usr/bin/CometAdapter" in line]
    assert len(searches) == 3
    assert all(
        "-fragment_mass_tolerance 0.5 -fragment_bin_offset 0.4 -instrument low_res" in s for s in searches
    )
    assert all("-comet_executable /usr/bin/comet-ms" in line for line in searches)
    for tool in ("PeptideIndexer", "IDPosteriorErrorProbability", "FalseDiscoveryRate", "IDFilter"):
        assert commands.count(f"Running: /usr/bin/{tool} ") == 3, tool
    assert commands.count("Running: /usr/bin/ProteomicsLFQ ") == 1
    assert "DecoyDatabase" not in commands  # the example database has its decoys
    assert commands.rstrip().endswith("=== WORKFLOW FINISHED ===")


class RecordingUI:
    """What the Results page hands the page's UI helper, kept for the test (no Streamlit needed)."""

    literal = staticmethod(literal)

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, name: str):
        def record(*args, **kwargs):
            self.calls.append((name, args))
            if name == "pick_run":
                return args[1][0]
            if name == "select":
                return args[1][kwargs.get("index", 0)] if args[1] else None
            return None

        return record

    def named(self, name: str) -> list[tuple]:
        return [args for called, args in self.calls if called == name]


@pytest.mark.slow
def test_results_page_shows_counts_abundances_a_comparison_and_downloads(bsa_run):
    ui = RecordingUI()
    bsa_run.results(ui)
    assert ui.named("metric_row") == [({"PSMs": 81, "Peptides": 27, "Proteins": 2},)]
    assert [args[1] for args in ui.named("table")] == ["Samples", "Proteins", "Peptides", "PSMs"]
    heatmap, comparison = (args[0] for args in ui.named("plot"))
    assert list(heatmap.data[0].x) == ["BSA1", "BSA2", "BSA3"] and heatmap.data[0].y[0] == BSA
    assert BSA in comparison.data[0].customdata[:, 0]
    folders = [args[0] for args in ui.named("download_folder")]
    assert [f.name for f in folders] == [paths.QUANT_STEP, paths.TABLE_STEP]
    assert (folders[0] / paths.MZTAB_NAME).is_file() and (folders[1] / paths.PROTEIN_TABLE).is_file()
    archive = zipfile.ZipFile(io.BytesIO(b"".join(bsa_run.files.results_zip(folders[0]))))
    assert {paths.MZTAB_NAME, paths.MSSTATS_NAME, paths.DESIGN_NAME} <= set(archive.namelist())


@pytest.mark.slow
def test_a_fasta_without_decoys_gets_them(tmp_path, shared_cache, examples):
    settings = make_settings(tmp_path / "workspaces", shared_cache)
    workflow = ProteomicsWorkflow(settings.workspaces_dir / "targets", settings)
    shutil.copy(examples[2], workflow.files.input_dir(paths.MZML_KEY))  # BSA3
    spooled = tmp_path / "upload.part"
    shutil.copy(demo_data.TARGETS_ONLY, spooled)
    workflow.adopt_fasta(spooled, demo_data.TARGETS_ONLY.name, workflow.files.input_dir(paths.FASTA_KEY))
    summary = fasta.summarize(workflow.database())
    assert (summary.entries, summary.decoys, summary.has_decoys) == (9439, 0, False)
    assert "adds reversed decoys" in summary.describe()
    assert workflow.preflight() == []
    assert workflow.run() is RunState.FINISHED, workflow.last_error
    made = (
        workflow.files.results_root
        / paths.DATABASE_STEP
        / "18Protein_SoCe_Tr_detergents_trace_target_decoy.fasta"
    )
    assert (fasta.summarize(made).entries, fasta.summarize(made).decoys) == (18878, 9439)
    commands = read_log(workflow.logger.log_dir, "commands")
    assert commands.count("Running: /usr/bin/DecoyDatabase ") == 1
    assert f"-database {made}" in commands and f"-fasta {made}" in commands
    proteins = table(workflow, paths.PROTEIN_TABLE)
    assert (
        proteins["protein"].iloc[0] == BSA
        and table(workflow, paths.PSM_TABLE)["sample"].eq("BSA3").sum() > 15
    )


# ---- bad inputs: a message that says what to do, before any tool runs --------------------------------
@pytest.fixture
def workflow(settings) -> ProteomicsWorkflow:
    return ProteomicsWorkflow(settings.workspaces_dir / "lab", settings)


def write_mzml(path: Path, levels: list[int]) -> Path:
    experiment = oms.MSExperiment()
    for index, level in enumerate(levels):
        spectrum = oms.MSSpectrum()
        spectrum.setMSLevel(level)
        spectrum.setRT(float(index))
        spectrum.set_peaks(([400.0, 500.0], [100.0, 200.0]))
        experiment.addSpectrum(spectrum)
    oms.MzMLFile().store(str(path), experiment)
    return path


def choose_uploaded(workflow: ProteomicsWorkflow, name: str, text: str | bytes) -> Path:
    path = workflow.files.input_dir(paths.FASTA_KEY) / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    workflow.params.set(fasta.DATABASE_PARAM, f"{fasta.WORKSPACE}:{name}")
    return path


def test_an_empty_workspace_says_what_to_upload(workflow):
    problems = workflow.preflight()
    assert any("no mzML files" in p and "Load example data" in p for p in problems)
    assert any("No protein database is chosen" in p and "Upload a FASTA file" in p for p in problems)
    assert workflow.run() is RunState.FAILED
    assert "no mzML files" in workflow.last_error and "Running:" not in read_log(
        workflow.logger.log_dir, "commands"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"MKWVTFISLLLLFSSAYS\n", "is not a FASTA file: line 1"),
        (b">sp|P1|ONE\nMKWVTF\n>sp|P2|TWO\nMK<html>\n", "line 4 holds characters that are not amino acids"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "is not a FASTA file"),
    ],
)
def test_a_damaged_fasta_is_named_with_what_is_wrong(workflow, content, expected):
    write_mzml(workflow.files.input_dir(paths.MZML_KEY) / "run.mzML", [1, 2, 2])
    choose_uploaded(workflow, "proteins.fasta", content)
    problems = workflow.preflight()
    assert len([p for p in problems if "proteins.fasta" in p]) == 1, problems
    assert any(expected in p for p in problems), problems


def test_a_fasta_with_only_some_decoys_is_refused(workflow):
    entries = "".join(f">sp|P{n}|T{n}\nMKWVTFISLLR\n" for n in range(10)) + ">DECOY_sp|P0|T0\nRLLSIFTVWKM\n"
    choose_uploaded(workflow, "partial.fasta", entries)
    problems = workflow.preflight()
    assert any("only 1 of its 11 proteins are decoys" in p for p in problems), problems


def test_decoy_entries_are_recognised_by_their_accession_only():
    assert fasta.is_decoy(">DECOY_sp|P02769|ALBU_BOVIN Serum albumin")
    assert fasta.is_decoy(">P02769|ALBU_BOVIN_rev Serum albumin - Bos taurus (Bovine).")
    assert fasta.is_decoy(">rev_P02769") and fasta.is_decoy(">XXX_P1")
    assert not fasta.is_decoy(">tr|A9ENQ0|A9ENQ0_SORC5 Reverse transcriptase OS=Sorangium")
    assert not fasta.is_decoy(">sp|P62739|ACTA_BOVIN") and not fasta.is_decoy(">")


def test_empty_and_ms1_only_mzml_files_are_refused_by_name(workflow):
    folder = workflow.files.input_dir(paths.MZML_KEY)
    (folder / "zero.mzML").write_bytes(b"")
    write_mzml(folder / "nothing.mzML", [])
    write_mzml(folder / "ms1.mzML", [1, 1, 1])
    write_mzml(folder / "good.mzML", [1, 2])
    found = " ".join(workflow.preflight())
    assert "zero.mzML is empty" in found and "nothing.mzML holds no spectra" in found
    assert "ms1.mzML holds no fragment (MS2) spectra" in found and "good.mzML" not in found
    assert inputs.problems([folder / "good.mzML"]) == []
    assert workflow.describe_inputs([folder / "ms1.mzML"])[0][0] == "problem"


@pytest.mark.parametrize("value", [0, 1.5, -0.01, "0.01", True])
@pytest.mark.parametrize(("key", "label"), [(PSM_FDR, "PSM FDR"), (PROTEIN_FDR, "protein FDR")])
def test_a_bad_fdr_is_refused_with_its_range(workflow, key, label, value):
    workflow.params.set(key, value)
    assert any(f"{label} must be a number above 0 and at most 1" in p for p in workflow.preflight())


def test_conditions_are_saved_checked_and_written_into_the_design(workflow, tmp_path):
    folder = workflow.files.input_dir(paths.MZML_KEY)
    files = [write_mzml(folder / f"{name}.mzML", [1, 2]) for name in ("a1", "a2", "b1")]
    edited = design.table(files, {}).assign(condition=["control", "control", "b1"])
    workflow.params.set(design.CONDITIONS_PARAM, design.from_table(edited, files))
    assert workflow.params.get(design.CONDITIONS_PARAM) == {"a1.mzML": "control", "a2.mzML": "control"}
    written = design.write(tmp_path / "design.tsv", files, workflow.params.load()).read_text()
    assert f"1\t1\t{files[0].resolve()}\t1\t1" in written
    assert written.endswith("1\tcontrol\t1\n2\tcontrol\t2\n3\tb1\t3\n")
    workflow.params.set(design.CONDITIONS_PARAM, {"a1.mzML": "x\ty"})
    assert any("condition name 'x\\ty' is not allowed" in p for p in workflow.preflight())


def test_the_tuned_search_defaults_show_as_defaults_and_a_change_is_kept(workflow):
    params = workflow.params.tool_params("CometAdapter")
    assert params["fragment_mass_tolerance"].default == 0.5 and params["instrument"].default == "low_res"
    assert workflow.params.untouched("CometAdapter")["fragment_bin_offset"] == 0.4
    workflow.params.set_tool_value("CometAdapter", "fragment_mass_tolerance", 0.01)  # the tool's own default
    workflow.params.set_tool_value("CometAdapter", "instrument", "low_res")  # the workflow's: not saved
    assert json.loads(workflow.params.path.read_text()) == {"CometAdapter": {"fragment_mass_tolerance": 0.01}}
    assert "fragment_mass_tolerance" not in workflow.params.untouched("CometAdapter")


def test_a_chosen_database_that_is_gone_or_a_server_one(workflow, tmp_path, monkeypatch):
    choose_uploaded(workflow, "mine.fasta", ">sp|P1|ONE\nMK\n").unlink()
    with pytest.raises(InputError, match="'mine.fasta' chosen on the File Upload page is no longer there"):
        workflow.database()
    server = tmp_path / "databases"
    server.mkdir()
    (server / "human.fasta").write_text(">sp|P1|ONE\nMK\n")
    (server / "notes.txt").write_text("not offered")
    workflow.settings = replace(workflow.settings, protein_databases_dir=server)
    assert fasta.options(workflow.settings, []) == {"server:human.fasta": "human.fasta (on the server)"}
    workflow.params.set(fasta.DATABASE_PARAM, "server:../../etc/passwd")
    with pytest.raises(InputError):
        workflow.database()
    workflow.params.set(fasta.DATABASE_PARAM, "server:human.fasta")
    assert workflow.database() == server / "human.fasta"


def test_an_upload_that_is_no_fasta_is_not_added(tmp_path):
    spooled = tmp_path / "x.part"
    spooled.write_text("<html>not a database</html>")
    with pytest.raises(InputError, match="starts with a '>' header line"):
        fasta.adopt(spooled, "db.fasta", tmp_path / "folder")
    assert not spooled.exists()
    spooled.write_text(">sp|P1|ONE\nMK\n")
    with pytest.raises(InputError, match="must be a FASTA file ending in .fasta"):
        fasta.adopt(spooled, "db.mzML", tmp_path / "folder")


def test_without_openms_doc_the_example_says_how_to_get_it(workflow, monkeypatch, tmp_path):
    monkeypatch.setattr(demo_data, "RUNS", (tmp_path / "BSA1.mzML",))
    with pytest.raises(InputError, match="apt-get install openms-doc"):
        workflow.load_example()
    assert workflow.files.inputs(paths.MZML_KEY) == []


def test_results_without_a_run_say_how_to_get_one(workflow):
    ui = RecordingUI()
    results.show(ui, workflow)
    assert ui.named("info") and "No results yet" in ui.named("info")[0][0]


def test_the_workflow_module_loads_without_streamlit_or_pyopenms():
    code = (
        "import sys, src.workflows.proteomics as p; p.ProteomicsWorkflow; "
        "assert 'streamlit' not in sys.modules and 'pyopenms' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


@pytest.mark.slow
def test_results_page_renders_with_streamlit(bsa_run):
    settings = bsa_run.settings
    env = {"WORKSPACES_DIR": str(settings.workspaces_dir), "ONLINE_DEPLOYMENT": "false"}
    app = AppTest.from_function(page, args=(str(bsa_run.workspace), env, "results"), default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    assert [metric.value for metric in app.metric] == ["81", "27", "2"]
    condition, compared = (box for box in app.selectbox if box.label in ("Condition", "Compared with"))
    assert (condition.value, compared.value) == ("BSA1", "BSA2")
    compared.set_value("BSA3").run()
    assert not app.exception, app.exception
    assert len(app.get("link_button")) == 3  # mzTab, tables, everything


# ---- the raw data viewer's overlay: the identified peptides of each file ------------------------------
@pytest.mark.slow
def test_the_map_overlay_of_each_file_holds_its_psms_at_the_fdr(bsa_run):
    ended = moment_text(bsa_run.state.read().ended_at)
    for mzml in bsa_run.files.inputs(paths.MZML_KEY, ".mzML"):
        found = bsa_run.map_overlay(mzml)
        proteins: list = []
        spectra = oms.PeptideIdentificationList()
        oms.IdXMLFile().load(
            str(paths.identifications_of(bsa_run.files.results_root, mzml)), proteins, spectra
        )
        hits = [(s.getRT(), s.getMZ(), s.getHits()[0]) for s in spectra if s.getHits()]
        assert found.kind == "peptides" and not found.has_boxes and len(found) == PSMS_BY_HAND[mzml.stem]
        shown = sorted(zip(found.rt.tolist(), found.mz.tolist(), found.labels, strict=True))
        expected = [
            (rt, mz, f"{h.getSequence().toString()} ({h.getCharge()}+), q={h.getScore():.3g}")
            for rt, mz, h in hits
        ]
        assert shown == sorted(expected)
        assert found.source == f"the latest run, finished {ended}"


@pytest.mark.slow
def test_the_best_scoring_psms_are_shown_when_there_are_more(bsa_run):
    path = paths.identifications_of(bsa_run.files.results_root, bsa_run.files.inputs(paths.MZML_KEY)[0])
    found = overlay.peptides(path, "the latest run", limit=5)
    q_values = sorted(float(label.rsplit("q=", 1)[1]) for label in overlay.peptides(path, "").labels)
    assert [float(label.rsplit("q=", 1)[1]) for label in found.labels] == q_values[:5]
    assert found.source == f"the latest run; the 5 best-scoring identified spectra of {PSMS_BY_HAND['BSA1']}"


@pytest.mark.slow
def test_files_that_were_not_searched_have_no_map_overlay(bsa_run, examples):
    assert bsa_run.map_overlay(examples[0]) is None  # BSA1 itself, outside the workspace
    assert bsa_run.map_overlay(bsa_run.database()) is None


def test_no_map_overlay_before_a_run_or_after_a_failed_one(workflow, examples):
    mzml = Path(shutil.copy(examples[0], workflow.files.input_dir(paths.MZML_KEY)))
    assert workflow.map_overlay(mzml) is None
    workflow.params.set(fasta.DATABASE_PARAM, f"{fasta.WORKSPACE}:gone.fasta")
    assert workflow.run() is RunState.FAILED and "gone.fasta" in workflow.last_error
    assert workflow.map_overlay(mzml) is None
