"""Peptides and proteins: database search, false discovery rates and label-free quantification.

Per mzML file, one command per file (spread over the workers as pieces online): CometAdapter
searches the fragment spectra against a target-decoy database (made by DecoyDatabase first if the
chosen FASTA has no decoys), PeptideIndexer maps the hits to their proteins and marks the decoys,
IDPosteriorErrorProbability turns Comet's scores into posterior error probabilities (PEPs),
FalseDiscoveryRate gives every PSM its q-value, IDFilter keeps the PSMs at the chosen PSM FDR and
IDScoreSwitcher makes the PEP the main score again, as ProteomicsLFQ requires. Across the files
ProteomicsLFQ infers the proteins (filtered at the protein FDR), quantifies the peptides by their
MS1 features, aligns and links them across samples (the experimental design names each file's
condition) and writes mzTab and MSstats input; a script turns these into the Results page's tables.

Protein FDR is computed once, across all samples, after inference (ProteomicsLFQ): per file there
is no protein inference, and running one per file (ProteinInference) before the PSM FDR dropped
three quarters of BSA1's PSMs and skewed their q-values. The page-building methods receive the UI
helper from the page, so importing this module does not import Streamlit.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from src.core.errors import CommandFailed, InputError, ParameterError
from src.core.run import MINIMAL, RunRecord
from src.core.settings import Settings
from src.core.workflow import WorkflowBase
from src.core.workspace import uploads
from src.workflows import run_overlay
from src.workflows.proteomics import demo_data, design, fasta, inputs, paths
from src.workflows.proteomics.paths import FASTA_KEY, MZML_KEY
from src.workflows.proteomics.tuning import (
    PROTEIN_FDR,
    PSM_FDR,
    TOOL_DEFAULTS,
    WORKFLOW_DEFAULTS,
    TunedParameters,
)

if TYPE_CHECKING:
    from src.core.viewer import MapOverlay

TABLES_SCRIPT = Path(__file__).with_name("tables.py")
#: Names under which Comet may be installed (Debian's package: comet-ms).
COMET_NAMES = ("comet-ms", "comet.exe", "comet")
COMET_MISSING = (
    "The search engine Comet is not installed on this server. Install it (on Debian/Ubuntu: "
    "apt-get install comet-ms, the release OpenMS 2.6's CometAdapter expects) or use the Docker image."
)
#: IDScoreSwitcher: the PEP (kept by FalseDiscoveryRate as a meta value) becomes the main score again.
PEP_AS_MAIN_SCORE = {
    "new_score": "Posterior Error Probability_score",
    "new_score_orientation": "lower_better",
    "new_score_type": "Posterior Error Probability",
}
NO_PROTEINS = "No proteins left after FDR filtering"
FDR_LABELS = {PSM_FDR: "PSM FDR", PROTEIN_FDR: "protein FDR"}


def comet_executable() -> str | None:
    return next((found for name in COMET_NAMES if (found := shutil.which(name))), None)


class ProteomicsWorkflow(WorkflowBase):
    name = "Peptides and proteins"
    id = "proteomics-lfq"
    description = (
        "Identifies peptides and proteins in data-dependent LC-MS/MS runs: a Comet database search "
        "(CometAdapter) against a target-decoy FASTA database, PSM false discovery rates "
        "(PeptideIndexer, FalseDiscoveryRate, IDFilter), then label-free quantification across samples "
        "with ProteomicsLFQ. The results show PSMs, peptides and proteins, protein abundances per "
        "sample and a comparison of two conditions."
    )
    required_tools = (
        "DecoyDatabase",
        "CometAdapter",
        "PeptideIndexer",
        "IDPosteriorErrorProbability",
        "FalseDiscoveryRate",
        "IDFilter",
        "IDScoreSwitcher",
        "ProteomicsLFQ",
    )
    #: mzML runs, and FASTA protein databases (the web server streams both to disk).
    upload_types = (".mzML", *fasta.SUFFIXES)

    def __init__(self, workspace: Path | str, settings: Settings | None = None) -> None:
        super().__init__(workspace, settings)
        self.params = TunedParameters(self.dir, self.params.ini_dir, TOOL_DEFAULTS)
        self.executor.params = self.params  # one view of the parameters for pages and commands

    # ---- the pages ----------------------------------------------------------------------------------
    def upload(self, ui: Any) -> None:
        ui.upload_files(MZML_KEY, "mzML files", example_loader=self.load_example)
        ui.subheader("Protein database")
        ui.caption(
            "A FASTA file of the proteins to search for. Without decoys (accessions that start with "
            "`DECOY_` or end with `_rev`, for example) the workflow adds reversed ones; 'Load example "
            "data' picks OpenMS's BSA database."
        )
        suffixes = [suffix.lstrip(".") for suffix in fasta.SUFFIXES]
        ui.upload_other_files(FASTA_KEY, "FASTA files", suffixes, self.adopt_fasta, self.describe_fastas)
        options = fasta.options(self.settings, self.files.inputs(FASTA_KEY))
        if not options:
            ui.info("No protein database yet: upload a FASTA file above or load the example data.")
            return
        ui.choice(
            fasta.DATABASE_PARAM,
            "Database to search",
            options,
            fasta.default_choice(self.files.inputs(FASTA_KEY)),
            help="Uploaded files are yours; those on the server are offered to everyone.",
        )

    def configure(self, ui: Any) -> None:
        ui.subheader("False discovery rates")
        ui.number(
            PSM_FDR,
            "PSM FDR",
            WORKFLOW_DEFAULTS[PSM_FDR],
            0.0001,
            1.0,
            help="PSMs (and so peptides) are kept up to this q-value in each file: 0.01 is 1 %.",
        )
        ui.number(
            PROTEIN_FDR,
            "Protein FDR",
            WORKFLOW_DEFAULTS[PROTEIN_FDR],
            0.0001,
            1.0,
            help="Proteins are kept up to this q-value (ProteomicsLFQ's proteinFDR); 1 keeps all. A "
            "protein's q-value is at least about 1 / (proteins found), so use 0.01-0.05 only for "
            "samples of hundreds of proteins.",
        )
        self._configure_design(ui)
        ui.topp_parameters("CometAdapter", "Database search (CometAdapter)")
        ui.caption(
            "The defaults of `fragment_mass_tolerance`, `fragment_bin_offset` and `instrument` are this "
            "workflow's, for the low-resolution fragment spectra of ion traps (Comet's recommendation): "
            "for high-resolution fragments set 0.01, 0.0 and `high_res`."
        )

    def _configure_design(self, ui: Any) -> None:
        files = self.files.inputs(MZML_KEY, ".mzML")
        if not files:
            ui.info("Upload mzML files to give each its condition here.")
            return
        try:
            kept = design.saved(self.params.load())
            edited = ui.edit_table(
                design.table(files, self.params.load()), "Experimental design", "design", ["condition"]
            )
            chosen = design.from_table(edited, files)
        except ParameterError as err:
            ui.problem(str(err))
            return
        ui.caption("Files of one condition are replicates; the Results page compares two conditions.")
        names = {path.name for path in files}
        wanted = {**{name: value for name, value in kept.items() if name not in names}, **chosen}
        if wanted != kept:
            self.params.set(design.CONDITIONS_PARAM, wanted, {})

    def describe_inputs(self, paths_added: list[Path]) -> list[tuple[str, str]]:
        return [("problem", message) for message in inputs.problems(paths_added)]

    def describe_fastas(self, added: list[Path]) -> list[tuple[str, str]]:
        notes = []
        for path in added:
            try:
                summary = fasta.summarize(path)
            except InputError as err:
                notes.append(("problem", str(err)))
                continue
            problem = summary.problem()
            notes.append(("problem", problem) if problem else ("note", summary.describe()))
        return notes

    def adopt_fasta(self, spooled: Path, name: str, folder: Path) -> Path:
        """An uploaded FASTA file becomes the database searched (the visitor can choose another)."""
        path = fasta.adopt(spooled, name, folder)
        self.params.set(fasta.DATABASE_PARAM, f"{fasta.WORKSPACE}:{path.name}")
        return path

    def describe_run(self, run: RunRecord) -> dict[str, object]:
        found = paths.counts(run.results_root) or {}
        return {"PSMs": found.get("psms", "—"), "proteins": found.get("proteins", "—")}

    def results(self, ui: Any) -> None:
        from src.workflows.proteomics import results

        results.show(ui, self)

    def map_overlay(self, mzml: Path) -> MapOverlay | None:
        """The peptides identified in ``mzml`` at the PSM FDR in the latest run, if it finished."""
        found = run_overlay.latest_result(self, mzml, MZML_KEY, paths.identifications_of)
        if found is None:
            return None
        from src.workflows.proteomics import overlay  # pyOpenMS only when a viewer asks

        return overlay.peptides(*found)

    # ---- checks -------------------------------------------------------------------------------------
    def preflight(self) -> list[str]:
        return super().preflight() + self.input_problems()

    def input_problems(self) -> list[str]:
        """Every reason a run would fail at once, each saying what to do (empty if none)."""
        mzml = self.files.inputs(MZML_KEY, ".mzML")
        problems = inputs.problems(mzml)
        if not mzml:
            problems.append(
                "There are no mzML files in this workspace. Upload some on the File Upload page "
                "or press 'Load example data' there."
            )
        if comet_executable() is None:
            problems.append(COMET_MISSING)
        found = (self._database_problem(), self._parameter_problem(mzml))
        return problems + [problem for problem in found if problem]

    def _database_problem(self) -> str:
        try:
            summary = fasta.summarize(self.database())
        except (InputError, ParameterError) as err:
            return str(err)
        except OSError as err:
            return f"The protein database could not be read ({err.strerror}). Choose or upload it again."
        return summary.problem()

    def _parameter_problem(self, mzml: list[Path]) -> str:
        try:
            for key in FDR_LABELS:
                self.fdr(key)
            design.conditions(mzml, self.params.load())
        except ParameterError as err:
            return str(err)
        return ""

    def database(self) -> Path:
        """The FASTA file to search (as chosen on the File Upload page); InputError if none is."""
        uploaded = self.files.inputs(FASTA_KEY)
        choice = self.params.get(fasta.DATABASE_PARAM, fasta.default_choice(uploaded))
        found = fasta.resolve(choice, self.settings, uploaded)
        if found is not None:
            return found
        if choice:
            raise InputError(
                f"The protein database {str(choice).partition(':')[2]!r} chosen on the File Upload page "
                "is no longer there. Choose or upload another one there."
            )
        raise InputError(
            "No protein database is chosen. Upload a FASTA file on the File Upload page (or press "
            "'Load example data' there) and choose it under 'Protein database'."
        )

    def fdr(self, key: str) -> float:
        """The PSM or protein FDR (a fraction above 0, at most 1) as saved on the Configure page."""
        value = self.params.get(key, WORKFLOW_DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise ParameterError(
                f"The {FDR_LABELS[key]} must be a number above 0 and at most 1 (0.01 is 1 %), not "
                f"{value!r}. Set it on the Configure page."
            )
        return float(value)

    # ---- the run ------------------------------------------------------------------------------------
    def execution(self) -> None:
        problems = self.input_problems()
        if problems:
            raise InputError(" ".join(problems))
        mzml = self.files.inputs(MZML_KEY, ".mzML")
        database = self.database()
        summary = fasta.summarize(database)
        self.progress.plan((not summary.has_decoys) + 6 * len(mzml) + 2)
        database = self._with_decoys(database, summary)
        filtered, scored = self._identify(mzml, database)
        mztab = self._quantify(mzml, scored, database)
        self._tables(mzml, filtered, mztab)

    def _tables(self, mzml: list[Path], filtered: list[Path], mztab: Path) -> None:
        """The PSM, peptide and protein tables and the counts, written by a script (pyOpenMS is
        loaded in its own process, not in the worker)."""
        root, conditions = self.files.results_root, design.conditions(mzml, self.params.load())
        self.files.result_dir(paths.TABLE_STEP)
        script_files: dict[str, object] = {
            "ids": filtered,
            "samples": [path.stem for path in mzml],
            "conditions": [conditions[path.name] for path in mzml],
            "mztab": mztab,
            "psms": paths.table_in(root, paths.PSM_TABLE),
            "peptides": paths.table_in(root, paths.PEPTIDE_TABLE),
            "proteins": paths.table_in(root, paths.PROTEIN_TABLE),
            "per-sample": paths.table_in(root, paths.SAMPLE_TABLE),
            "counts": paths.table_in(root, paths.COUNTS_NAME),
        }
        self.executor.run_python(TABLES_SCRIPT, script_files, step="Result tables")

    def _with_decoys(self, database: Path, summary: fasta.FastaSummary) -> Path:
        """The database if it has decoys, else a copy with a reversed decoy for every protein."""
        if summary.has_decoys:
            self.logger.log(
                f"Database {database.name}: {summary.entries} proteins, {summary.decoys} of them decoys",
                MINIMAL,
            )
            return database
        self.logger.log(f"Database {database.name} has no decoys: adding them with DecoyDatabase", MINIMAL)
        target_decoy = self.files.result_dir(paths.DATABASE_STEP) / f"{database.stem}_target_decoy.fasta"
        self.executor.run_topp("DecoyDatabase", {"in": [database], "out": [target_decoy]})
        return target_decoy

    def _identify(self, mzml: list[Path], database: Path) -> tuple[list[Path], list[Path]]:
        """Each file's PSMs at the PSM FDR: with q-values as main score (for the tables), and with
        PEPs as main score (for ProteomicsLFQ)."""
        searched = self.files.outputs(mzml, paths.SEARCH_STEP, ".idXML")
        comet = {"comet_executable": comet_executable(), **self.params.untouched("CometAdapter")}
        self.executor.run_topp("CometAdapter", {"in": mzml, "database": [database], "out": searched}, comet)
        indexed = self._per_file("PeptideIndexer", searched, paths.INDEX_STEP, {"fasta": [database]})
        with_pep = self._per_file("IDPosteriorErrorProbability", indexed, paths.PEP_STEP)
        with_q = self._per_file("FalseDiscoveryRate", with_pep, paths.FDR_STEP, custom={"protein": False})
        filtered = self._per_file(
            "IDFilter", with_q, paths.FILTER_STEP, custom={"score:pep": self.fdr(PSM_FDR)}
        )
        scored = self._per_file("IDScoreSwitcher", filtered, paths.SWITCH_STEP, custom=PEP_AS_MAIN_SCORE)
        return filtered, scored

    def _per_file(
        self, tool: str, ids: list[Path], step: str, files: dict | None = None, custom: dict | None = None
    ) -> list[Path]:
        """One command of ``tool`` per identification file (pieces online), each into ``step``."""
        outputs = self.files.outputs(ids, step, ".idXML")
        self.executor.run_topp(tool, {"in": ids, **(files or {}), "out": outputs}, custom)
        return outputs

    def _quantify(self, mzml: list[Path], scored: list[Path], database: Path) -> Path:
        """ProteomicsLFQ over all files at once; its mzTab (and the MSstats input beside it)."""
        folder = self.files.result_dir(paths.QUANT_STEP)
        design_file = design.write(folder / paths.DESIGN_NAME, mzml, self.params.load())
        mztab = folder / paths.MZTAB_NAME
        files = {
            "in": [mzml],
            "ids": [scored],
            "design": [design_file],
            "fasta": [database],
            "out": [mztab],
            "out_msstats": [folder / paths.MSSTATS_NAME],
        }
        try:
            self.executor.run_topp("ProteomicsLFQ", files, {"proteinFDR": self.fdr(PROTEIN_FDR)})
        except CommandFailed as err:
            if NO_PROTEINS not in err.error_text:
                raise
            raise InputError(
                f"No protein passed the protein FDR of {self.fdr(PROTEIN_FDR):g}. With few proteins "
                "no protein can reach a low q-value: raise the protein FDR on the Configure page (1 keeps "
                "all proteins; the PSMs stay filtered at the PSM FDR)."
            ) from err
        return mztab

    # ---- the example data ---------------------------------------------------------------------------
    def load_example(self) -> list[Path]:
        """Add OpenMS's BSA runs to the mzML inputs as uploads are added (quota and free-disk guard;
        StorageRefused says why not) and choose the BSA database (the server's copy if it offers
        it, else one added to the workspace)."""
        demo_data.example_files()  # InputError when openms-doc is not installed
        settings = self.settings
        with tempfile.TemporaryDirectory(prefix="openms-example-") as staging:  # outside the workspace
            made = demo_data.stage(list(demo_data.RUNS), Path(staging))
            added = uploads.add_made_files(
                self.workspace, self.files.input_dir(MZML_KEY), made, settings.limits, settings.workspaces_dir
            )
        return added + self._choose_example_database()

    def _choose_example_database(self) -> list[Path]:
        name = demo_data.DATABASE.name
        if any(path.name == name for path in fasta.server_databases(self.settings)):
            self.params.set(fasta.DATABASE_PARAM, f"{fasta.SERVER}:{name}")
            return []
        folder = self.files.input_dir(FASTA_KEY)
        copied = fasta.add_copy(demo_data.DATABASE, folder, self.workspace, self.settings)
        self.params.set(fasta.DATABASE_PARAM, f"{fasta.WORKSPACE}:{copied.name}")
        return [copied]
