"""The example "TOPP Workflow": untargeted metabolomics feature detection and linking.

Profile-mode files are first centroided by PeakPickerHiRes (centroided files pass
untouched), FeatureFinderMetabo finds features in each mzML file, FeatureLinkerUnlabeledKD
links them across samples into consensus features, and a Python script turns the
consensus map into a table. With a single input file there is nothing to link:
FileConverter turns its features into the consensus map instead. The page-building
methods receive the UI helper from the page, so importing this module does not
import Streamlit.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from src.core.errors import InputError
from src.core.run import MINIMAL, RunRecord
from src.core.workflow import WorkflowBase
from src.core.workspace import uploads
from src.workflows import peak_mode
from src.workflows.topp_paths import MZML_KEY, TABLE_NAME, TABLE_STEP, feature_count

CONSENSUS_SCRIPT = Path(__file__).with_name("consensus_table.py")


class TOPPWorkflow(WorkflowBase):
    name = "TOPP Workflow"
    id = "topp-workflow"
    required_tools = ("PeakPickerHiRes", "FeatureFinderMetabo", "FeatureLinkerUnlabeledKD", "FileConverter")

    def upload(self, ui: Any) -> None:
        ui.upload_files(MZML_KEY, "mzML files", example_loader=self.load_example)

    def configure(self, ui: Any) -> None:
        ui.topp_parameters("PeakPickerHiRes", "Centroiding of profile data (PeakPickerHiRes)")
        ui.topp_parameters("FeatureFinderMetabo", "Feature detection (FeatureFinderMetabo)")
        ui.topp_parameters("FeatureLinkerUnlabeledKD", "Feature linking (FeatureLinkerUnlabeledKD)")

    def describe_inputs(self, paths: list[Path]) -> list[tuple[str, str]]:
        """For the upload page: what each new file is ("profile data, centroided first") or why a
        run cannot use it; centroided files need no word."""
        notes = []
        for item in peak_mode.inspect_isolated(paths):
            if item.mode is peak_mode.PeakMode.PROFILE:
                notes.append(("note", item.message()))
            elif not item.mode.usable:
                notes.append(("problem", item.message()))
        return notes

    def describe_run(self, run: RunRecord) -> dict[str, object]:
        count = feature_count(run.results_root)
        return {"features": "—" if count is None else count}

    def execution(self) -> None:
        mzml_files = self.files.require_inputs(MZML_KEY, ".mzML", "mzML files")
        found = [peak_mode.inspect(path) for path in mzml_files]
        unusable = [item.message() for item in found if item.mode.refused]
        if unusable:
            raise InputError(
                " ".join(unusable) + " Remove such files on the File Upload page to run the others."
            )
        profile = [
            path
            for path, item in zip(mzml_files, found, strict=True)
            if item.mode is peak_mode.PeakMode.PROFILE
        ]
        self.progress.plan(len(profile) + len(mzml_files) + 2)
        if profile:
            self.logger.log(
                f"{len(profile)} of {len(mzml_files)} file(s) hold profile data: centroiding them first",
                MINIMAL,
            )
            centroided = self.files.outputs(profile, "centroiding", ".mzML")
            self.executor.run_topp("PeakPickerHiRes", {"in": profile, "out": centroided})
            picked = dict(zip(profile, centroided, strict=True))
            mzml_files = [picked.get(path, path) for path in mzml_files]
        features = self.files.outputs(mzml_files, "feature-detection", ".featureXML")
        self.executor.run_topp("FeatureFinderMetabo", {"in": mzml_files, "out": features})
        consensus = self.files.result_dir("feature-linking") / "consensus.consensusXML"
        if len(features) > 1:
            self.executor.run_topp("FeatureLinkerUnlabeledKD", {"in": [features], "out": [consensus]})
        else:  # the linker needs two maps; one map's features are its consensus features
            self.logger.log("One input file: nothing to link, its features become the consensus map", MINIMAL)
            self.executor.run_topp("FileConverter", {"in": features, "out": [consensus]})
        table = self.files.result_dir(TABLE_STEP) / TABLE_NAME
        self.executor.run_python(CONSENSUS_SCRIPT, {"in": consensus, "out": table}, step="Consensus table")
        self.logger.log(f"Consensus table written: {sum(1 for _ in table.open()) - 1} consensus features")

    def preflight(self) -> list[str]:
        problems = super().preflight()
        if not self.files.inputs(MZML_KEY, ".mzML"):
            problems.append(
                "There are no mzML files in this workspace. Upload some on the File Upload page "
                "or press 'Load example data' there."
            )
        return problems

    def results(self, ui: Any) -> None:
        from src.workflows import topp_results

        topp_results.show(ui, self)

    # ---- helpers used by the pages and tests ---------------------------------------------------
    def load_example(self) -> list[Path]:
        """Add the project's generated demo runs to the mzML inputs as an upload is added: within
        the workspace's quota and the free-disk guard (StorageRefused says why not)."""
        from src.workflows.demo_data import generate_runs

        with tempfile.TemporaryDirectory(prefix="openms-example-") as staging:  # outside the workspace
            made = generate_runs(Path(staging))
            settings = self.settings
            return uploads.add_made_files(
                self.workspace, self.files.input_dir(MZML_KEY), made, settings.limits, settings.workspaces_dir
            )
