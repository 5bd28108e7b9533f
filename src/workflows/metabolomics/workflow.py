"""Untargeted metabolomics: feature detection, alignment and linking across samples.

Profile-mode files are first centroided by PeakPickerHiRes (centroided files pass
untouched), FeatureFinderMetabo finds features in each mzML file, MetaboliteAdductDecharger
optionally annotates their charges and adducts, MapAlignerPoseClustering and MapRTTransformer
correct the retention times of several samples towards each other (on by default; switched off,
the run is exactly the chain without it), FeatureLinkerUnlabeledKD links them across samples
into consensus features, and a Python script turns the consensus map into a table (and, after
alignment, a table of each sample's retention time shifts). With a single input file there is
nothing to align or link: FileConverter turns its features into the consensus map instead. The
page-building methods receive the UI helper from the page, so importing this module does not
import Streamlit.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from src.core.errors import CommandFailed, InputError, OutOfMemory, ParameterError
from src.core.run import MINIMAL, RunRecord
from src.core.workflow import WorkflowBase
from src.core.workspace import uploads
from src.workflows import peak_mode, run_overlay
from src.workflows.metabolomics.paths import (
    ALIGNMENT_STEP,
    FEATURE_STEP,
    FEATURE_SUFFIX,
    MZML_KEY,
    TABLE_NAME,
    TABLE_STEP,
    feature_count,
    features_of,
    shifts_in,
)

if TYPE_CHECKING:
    from src.core.viewer import MapOverlay

CONSENSUS_SCRIPT = Path(__file__).with_name("consensus_table.py")
#: The workflow's own switches (kept in params.json beside the tools' parameters) and their defaults:
#: retention time alignment before linking, on; adduct grouping before that, off.
ALIGN_KEY, ADDUCTS_KEY = "rt_alignment", "adduct_grouping"
SWITCHES = {ALIGN_KEY: True, ADDUCTS_KEY: False}
ALIGN_HELP = (
    "With two samples or more, MapAlignerPoseClustering computes a retention time correction per "
    "sample and MapRTTransformer applies it before the features are linked. Off: the features are "
    "linked with their measured retention times (FeatureLinkerUnlabeledKD still warps them itself)."
)
ALIGN_FAILED = (
    "Retention time alignment failed (see the tool's message above). To link these samples without it, "
    "switch 'Align retention times before linking' off on the Configure page."
)
ADDUCTS_HELP = (
    "MetaboliteAdductDecharger annotates each sample's features with charge and adduct (e.g. [M+H]+, "
    "[M+Na]+) before linking; the linker's charge_merging and adduct_merging parameters decide what "
    "may be linked."
)


class MetabolomicsWorkflow(WorkflowBase):
    name = "Untargeted metabolomics"
    #: The folder name of the first release's only workflow ("TOPP Workflow"), kept so that the
    #: workspaces and queued jobs of an upgraded appliance still find their runs.
    id = "topp-workflow"
    description = (
        "Finds the features (compounds) of every LC-MS run with FeatureFinderMetabo, centroiding "
        "profile data first, aligns the runs' retention times (MapAlignerPoseClustering) and links "
        "the features across samples into one table of consensus features."
    )
    #: Job references written by earlier releases (a job queued before an upgrade names its class so).
    former_refs = ("src.workflows.topp_workflow:TOPPWorkflow",)
    required_tools = (
        "PeakPickerHiRes",
        "FeatureFinderMetabo",
        "MetaboliteAdductDecharger",
        "MapAlignerPoseClustering",
        "MapRTTransformer",
        "FeatureLinkerUnlabeledKD",
        "FileConverter",
    )

    def upload(self, ui: Any) -> None:
        ui.upload_files(MZML_KEY, "mzML files", example_loader=self.load_example)

    def configure(self, ui: Any) -> None:
        ui.topp_parameters("PeakPickerHiRes", "Centroiding of profile data (PeakPickerHiRes)")
        ui.topp_parameters("FeatureFinderMetabo", "Feature detection (FeatureFinderMetabo)")
        if ui.checkbox(ADDUCTS_KEY, "Group adducts before linking", SWITCHES[ADDUCTS_KEY], ADDUCTS_HELP):
            ui.topp_parameters("MetaboliteAdductDecharger", "Adduct grouping (MetaboliteAdductDecharger)")
        if ui.checkbox(ALIGN_KEY, "Align retention times before linking", SWITCHES[ALIGN_KEY], ALIGN_HELP):
            ui.topp_parameters(
                "MapAlignerPoseClustering", "Retention time alignment (MapAlignerPoseClustering)"
            )
            ui.topp_parameters("MapRTTransformer", "Applying the alignment (MapRTTransformer)")
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
        mzml_files, profile = self._inputs()
        adducts, wanted = self.switch(ADDUCTS_KEY), self.switch(ALIGN_KEY)
        count = len(mzml_files)
        align = wanted and count > 1
        self.progress.plan(len(profile) + count * (1 + adducts + align) + align + 2)
        mzml_files = self._centroid(mzml_files, profile)
        features = self.files.outputs(mzml_files, FEATURE_STEP, FEATURE_SUFFIX)
        self.executor.run_topp("FeatureFinderMetabo", {"in": mzml_files, "out": features})
        if adducts:
            features = self._group_adducts(features)
        if wanted and not align:
            self.logger.log("One input file: no retention times to align", MINIMAL)
        consensus = self._link(self._align(features) if align else features)
        table = self.files.result_dir(TABLE_STEP) / TABLE_NAME
        script_files: dict[str, object] = {"in": consensus, "out": table}
        if align:  # the features before alignment give each sample's retention time shifts
            script_files.update(features=features, shifts=shifts_in(self.files.results_root))
        # the shift table reads every sample's features: on as many threads as the step gets
        self.executor.run_python(CONSENSUS_SCRIPT, script_files, step="Consensus table", threads=align)
        self.logger.log(f"Consensus table written: {sum(1 for _ in table.open()) - 1} consensus features")

    def _inputs(self) -> tuple[list[Path], list[Path]]:
        """The mzML inputs and those of them in profile mode; an InputError names every file no run
        can use."""
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
        return mzml_files, profile

    def _centroid(self, mzml_files: list[Path], profile: list[Path]) -> list[Path]:
        """The inputs with each profile-mode file replaced by its centroided version."""
        if not profile:
            return mzml_files
        self.logger.log(
            f"{len(profile)} of {len(mzml_files)} file(s) hold profile data: centroiding them first", MINIMAL
        )
        centroided = self.files.outputs(profile, "centroiding", ".mzML")
        self.executor.run_topp("PeakPickerHiRes", {"in": profile, "out": centroided})
        picked = dict(zip(profile, centroided, strict=True))
        return [picked.get(path, path) for path in mzml_files]

    def _group_adducts(self, features: list[Path]) -> list[Path]:
        """Each sample's features annotated with charge and adduct (MetaboliteAdductDecharger, one
        command per file): the linker then links only features whose charges agree (its
        charge_merging and adduct_merging parameters say how strictly)."""
        grouped = self.files.outputs(features, "adduct-grouping", ".featureXML")
        self.executor.run_topp("MetaboliteAdductDecharger", {"in": features, "out_fm": grouped})
        return grouped

    def _align(self, features: list[Path]) -> list[Path]:
        """Retention times corrected towards a common reference: MapAlignerPoseClustering computes
        one transformation per sample (in commands that spread, ``_alignment_models``), then
        MapRTTransformer applies each (one command per file, spread over the workers online)."""
        transformations = self.files.outputs(features, ALIGNMENT_STEP, ".trafoXML")
        aligned = self.files.outputs(features, ALIGNMENT_STEP, ".featureXML")
        try:
            self._alignment_models(features, transformations)
        except CommandFailed as err:  # e.g. a sample without features: it cannot be aligned, only linked
            if not isinstance(err, OutOfMemory):
                self.logger.log(ALIGN_FAILED, MINIMAL)
            raise
        self.executor.run_topp(
            "MapRTTransformer", {"in": features, "trafo_in": transformations, "out": aligned}
        )
        return aligned

    def _alignment_models(self, features: list[Path], transformations: list[Path]) -> None:
        """Each sample's transformation, as MapAlignerPoseClustering computes it over all samples at
        once, in commands that can spread. Told no reference, the tool takes the first of the samples
        with the most features (FeatureXMLFile.loadSize), gives it the identity and aligns every
        other sample to it on its own, each independent of the others. So the reference's own
        command (alone, the tool gives it the identity) and commands of the other samples with
        ``-reference:file`` give the same files as the one command (tests/test_alignment.py
        compares them), and those commands spread like any per-file step. As many commands as
        could run at once now, not one per sample: each reads the reference again (on 31 samples
        by hand: one command per sample 0.85 s each, 25 s of CPU against the one command's 20 s;
        two commands of 15 side by side 8.6 s). A reference chosen on the Configure page, or fewer
        than three samples: the one command."""
        tool = "MapAlignerPoseClustering"
        chosen = {"reference:file", "reference:index"} & set(self.params.tool_values(tool))
        if chosen or len(features) < 3:
            self.executor.run_topp(tool, {"in": [features], "trafo_out": [transformations]})
            return
        from pyopenms import FeatureXMLFile  # here: the pages import this module too

        sizes = [FeatureXMLFile().loadSize(str(path)) for path in features]
        reference = sizes.index(max(sizes))
        self.logger.log(
            f"Alignment reference: {features[reference].name} ({sizes[reference]} features)", MINIMAL
        )
        self.executor.run_topp(tool, {"in": [features[reference]], "trafo_out": [transformations[reference]]})
        others = [index for index in range(len(features)) if index != reference]
        count = min(len(others), self.executor.parallel_slots())
        chunks = [others[part::count] for part in range(count)]
        self.executor.run_topp(
            tool,
            {
                "in": [[features[index] for index in chunk] for chunk in chunks],
                "reference:file": [features[reference]],
                "trafo_out": [[transformations[index] for index in chunk] for chunk in chunks],
            },
        )

    def _link(self, features: list[Path]) -> Path:
        """The consensus map of all samples (one sample's features become it unlinked)."""
        consensus = self.files.result_dir("feature-linking") / "consensus.consensusXML"
        if len(features) > 1:
            self.executor.run_topp("FeatureLinkerUnlabeledKD", {"in": [features], "out": [consensus]})
        else:  # the linker needs two maps; one map's features are its consensus features
            self.logger.log("One input file: nothing to link, its features become the consensus map", MINIMAL)
            self.executor.run_topp("FileConverter", {"in": features, "out": [consensus]})
        return consensus

    def switch(self, key: str) -> bool:
        """A workflow switch (SWITCHES) as saved on the Configure page, its default if never set."""
        value = self.params.get(key, SWITCHES[key])
        if not isinstance(value, bool):
            raise ParameterError(
                f"The setting '{key}' in params.json must be true or false, not {value!r}. "
                "Set it on the Configure page."
            )
        return value

    def preflight(self) -> list[str]:
        problems = super().preflight()
        if not self.files.inputs(MZML_KEY, ".mzML"):
            problems.append(
                "There are no mzML files in this workspace. Upload some on the File Upload page "
                "or press 'Load example data' there."
            )
        for key in SWITCHES:
            try:
                self.switch(key)
            except ParameterError as err:
                problems.append(str(err))
        return problems

    def results(self, ui: Any) -> None:
        from src.workflows.metabolomics import results

        results.show(ui, self)

    def map_overlay(self, mzml: Path) -> MapOverlay | None:
        """The features FeatureFinderMetabo found in ``mzml`` in the latest run, if it finished (their
        measured retention times: the file's own, before any alignment)."""
        found = run_overlay.latest_result(self, mzml, MZML_KEY, features_of)
        if found is None:
            return None
        from src.workflows.metabolomics import overlay  # pyOpenMS only when a viewer asks

        return overlay.features(*found)

    # ---- helpers used by the pages and tests ---------------------------------------------------
    def load_example(self) -> list[Path]:
        """Add the project's generated demo runs to the mzML inputs as an upload is added: within
        the workspace's quota and the free-disk guard (StorageRefused says why not)."""
        from src.workflows.metabolomics.demo_data import generate_runs

        with tempfile.TemporaryDirectory(prefix="openms-example-") as staging:  # outside the workspace
            made = generate_runs(Path(staging))
            settings = self.settings
            return uploads.add_made_files(
                self.workspace, self.files.input_dir(MZML_KEY), made, settings.limits, settings.workspaces_dir
            )
