"""Retention time alignment and adduct grouping in the metabolomics workflow, on the real 12-run study
(``../shared/data/mzML``: the nine runs of ``study/`` and the three NZ runs of set A, recorded a day
later by ``sample_list.csv``), run locally with and without alignment.

The study as recorded has almost no drift (the corrections stay within about one scan, 1 s), and
FeatureLinkerUnlabeledKD warps retention times itself (``warp:rt_tol`` 100 s), so alignment cannot
link more of it: the test records both counts and asserts only that alignment loses nothing. Where
alignment earns its place is drift beyond the linker's own warping: the same study with the second
day's three runs moved 40 s later (every spectrum's retention time + 40 s, nothing else changed, as
after a column change) is linked across all twelve runs only with alignment.

The runs are cropped to 1.75-3.48 min. MapAlignerPoseClustering's default pairfinder window
(``distance_RT:max_difference`` 100 s) spans a whole run, so it pairs features across peaks and the
fitted slopes shrink to 0.64-0.9 (the Results page warns of that); 30 s fits runs this short (slopes
within 3 % of 1), as FFM_NOISE fits their intensities.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pyopenms as oms
import pytest

from src.core.run import RunState, read_log
from src.core.settings import Settings, load_settings
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.consensus_table import write_table
from src.workflows.metabolomics.paths import shifts_in, table_in, transformations_in
from src.workflows.metabolomics.workflow import ADDUCTS_KEY, ALIGN_KEY
from tests.conftest import DATA_DIR, NZ_FILES, put_inputs, set_noise_threshold

DAY_ONE = sorted((DATA_DIR / "study").glob("*.mzML"))
DAY_TWO = NZ_FILES
STUDY = DAY_ONE + DAY_TWO
#: The drift given to the second day's runs in the drifted study (s).
DRIFT = 40.0
ALIGNER = "MapAlignerPoseClustering"
RT_WINDOW = {"algorithm:pairfinder:distance_RT:max_difference": 30.0}
#: The counts of each study, kept beside the suite's other artifacts (they go into the closing note).
NOTES = Path(__file__).resolve().parents[4] / "test-artifacts" / "alignment-counts.md"


@pytest.fixture(scope="module")
def root(tmp_path_factory, shared_cache) -> Settings:
    """Module-wide settings (the runs are shared by the tests), as tests/conftest.py's ``settings``."""
    folder = tmp_path_factory.mktemp("alignment") / "workspaces"
    folder.mkdir()
    (folder / ".cache").symlink_to(shared_cache, target_is_directory=True)
    return load_settings(env={"WORKSPACES_DIR": str(folder), "ONLINE_DEPLOYMENT": "false"})


def run(settings: Settings, name: str, files: list[Path], **switches: bool) -> MetabolomicsWorkflow:
    """A finished local run of ``files`` with the study's parameters and the given switches."""
    workflow = set_noise_threshold(MetabolomicsWorkflow(settings.workspaces_dir / name, settings))
    put_inputs(workflow, files)
    for tool_param, value in RT_WINDOW.items():
        workflow.params.set_tool_value(ALIGNER, tool_param, value)
    for key, value in switches.items():
        workflow.params.set(key, value)
    assert workflow.run() is RunState.FINISHED, workflow.last_error
    return workflow


def drifted(folder: Path, files: list[Path], seconds: float) -> list[Path]:
    """Copies of ``files`` with every spectrum's retention time moved by ``seconds``."""
    folder.mkdir(parents=True, exist_ok=True)
    moved = []
    for path in files:
        experiment = oms.MSExperiment()
        oms.MzMLFile().load(str(path), experiment)
        spectra = experiment.getSpectra()
        for spectrum in spectra:
            spectrum.setRT(spectrum.getRT() + seconds)
        experiment.setSpectra(spectra)
        oms.MzMLFile().store(str(folder / path.name), experiment)
        moved.append(folder / path.name)
    return moved


@pytest.fixture(scope="module", autouse=True)
def fresh_notes() -> None:
    NOTES.parent.mkdir(exist_ok=True)
    NOTES.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def study(root) -> dict[str, MetabolomicsWorkflow]:
    return {
        "aligned": run(root, "study-aligned", STUDY),
        "plain": run(root, "study-plain", STUDY, **{ALIGN_KEY: False}),
    }


@pytest.fixture(scope="module")
def drifted_study(root, tmp_path_factory) -> dict[str, MetabolomicsWorkflow]:
    files = DAY_ONE + drifted(tmp_path_factory.mktemp("day-two"), DAY_TWO, DRIFT)
    return {
        "aligned": run(root, "drift-aligned", files),
        "plain": run(root, "drift-plain", files, **{ALIGN_KEY: False}),
    }


def table(workflow: MetabolomicsWorkflow) -> pd.DataFrame:
    return pd.read_csv(table_in(workflow.files.results_root), sep="\t")


def in_every_sample(workflow: MetabolomicsWorkflow) -> int:
    return int((table(workflow)["n_samples"] == len(STUDY)).sum())


def note(title: str, runs: dict[str, MetabolomicsWorkflow]) -> None:
    """Record a pair of runs for the closing note (the lead copies it from /tmp/alignment-notes.md)."""
    counts = {name: (len(table(w)), in_every_sample(w), w.state.read().took) for name, w in runs.items()}
    lines = [f"- {title} ({len(STUDY)} files):"] + [
        f"  - {name}: {total} consensus features, {every} in all {len(STUDY)} samples, run {took:.1f} s"
        for name, (total, every, took) in counts.items()
    ]
    NOTES.write_text((NOTES.read_text() if NOTES.exists() else "") + "\n".join(lines) + "\n")
    print("\n".join(lines))


@pytest.mark.slow
def test_the_recorded_study_aligned_keeps_its_features_and_shows_each_samples_shift(study):
    aligned, plain = study["aligned"], study["plain"]
    note("recorded study", study)
    assert in_every_sample(aligned) >= in_every_sample(plain) > 0
    shifts = pd.read_csv(shifts_in(aligned.files.results_root), sep="\t")
    assert sorted(shifts["sample"].unique()) == sorted(p.stem for p in STUDY)
    assert shifts[["rt_before", "rt_after", "shift_before", "shift_after"]].notna().all().all()
    assert [p.stem for p in transformations_in(aligned.files.results_root)] == sorted(p.stem for p in STUDY)
    corrections = (shifts["rt_after"] - shifts["rt_before"]).abs()
    assert corrections.median() < 1.5  # within about a scan: the recorded study hardly drifts


@pytest.mark.slow
def test_a_drifted_second_day_is_linked_in_every_sample_only_with_alignment(drifted_study):
    aligned, plain = drifted_study["aligned"], drifted_study["plain"]
    note(f"study with the second day's runs {DRIFT:.0f} s later", drifted_study)
    assert in_every_sample(aligned) > in_every_sample(plain)
    shifts = pd.read_csv(shifts_in(aligned.files.results_root), sep="\t")
    offsets = shifts.groupby("sample")[["shift_before", "shift_after"]].median()
    day_two = offsets.loc[[p.stem for p in DAY_TWO]]
    assert (day_two["shift_before"] > DRIFT / 2).all()  # before: the second day sits far later
    assert (offsets["shift_after"].abs() < 2).all()  # after: every sample's offset is gone
    spread = shifts.groupby("sample")[["shift_before", "shift_after"]].std()
    assert (spread["shift_after"] < spread["shift_before"]).all()


def by_hand_alignment(features: list[Path], folder: Path) -> list[Path]:
    """MapAlignerPoseClustering and MapRTTransformer run directly on ``features``."""
    folder.mkdir()
    transformations = [folder / f"{p.stem}.trafoXML" for p in features]
    aligned = [folder / p.name for p in features]
    window = [part for name, value in RT_WINDOW.items() for part in (f"-{name}", str(value))]
    command = [ALIGNER, "-in", *features, "-trafo_out", *transformations, *window]
    subprocess.run(command, check=True, capture_output=True)
    for source, trafo, out in zip(features, transformations, aligned, strict=True):
        subprocess.run(
            ["MapRTTransformer", "-in", source, "-trafo_in", trafo, "-out", out],
            check=True,
            capture_output=True,
        )
    return aligned


def by_hand_table(features: list[Path], folder: Path) -> pd.DataFrame:
    """FeatureLinkerUnlabeledKD on ``features`` and the consensus table of what it linked."""
    consensus = folder / "linked.consensusXML"
    command = ["FeatureLinkerUnlabeledKD", "-in", *features, "-out", consensus]
    subprocess.run(command, check=True, capture_output=True)
    write_table(consensus, folder / "table.tsv")
    return pd.read_csv(folder / "table.tsv", sep="\t")


def detected(workflow: MetabolomicsWorkflow) -> list[Path]:
    return [workflow.files.results_root / "feature-detection" / f"{p.stem}.featureXML" for p in STUDY]


@pytest.mark.slow
def test_the_alignment_is_what_the_tools_give_by_hand(study, tmp_path):
    aligned = study["aligned"]
    by_hand = by_hand_alignment(detected(aligned), tmp_path / "aligned")
    for mine in transformations_in(aligned.files.results_root):
        assert mine.read_text() == (tmp_path / "aligned" / mine.name).read_text()
    pd.testing.assert_frame_equal(table(aligned), by_hand_table(by_hand, tmp_path))


@pytest.mark.slow
def test_the_shift_table_is_the_same_on_any_threads_and_holds_each_features_own_time(study, tmp_path):
    aligned = study["aligned"]
    ran = [line for line in read_log(aligned.logger.log_dir, "commands").splitlines() if "Running: " in line]
    assert "consensus_table.py" in ran[-1] and "--threads" in ran[-1]  # the step's threads read the samples
    consensus = next((aligned.files.results_root / "feature-linking").glob("*.consensusXML"))
    written = []
    for threads in (1, 3):
        out, shifts = tmp_path / f"table-{threads}.tsv", tmp_path / f"shifts-{threads}.tsv"
        write_table(consensus, out, detected(aligned), shifts, threads=threads)
        written.append((out.read_bytes(), shifts.read_bytes()))
    assert written[0] == written[1]
    assert written[0][1] == shifts_in(aligned.files.results_root).read_bytes()  # as the run wrote it
    shifts = pd.read_csv(shifts_in(aligned.files.results_root), sep="\t")  # pandas 3 reads floats exactly
    for path in detected(aligned)[:3]:  # each time before alignment is one of the sample's own features'
        features = oms.FeatureMap()
        oms.FeatureXMLFile().load(str(path), features)
        own = {feature.getRT() for feature in features}
        before = set(shifts.loc[shifts["sample"] == path.stem, "rt_before"])
        assert before and before <= own


@pytest.mark.slow
def test_switched_off_the_run_is_the_chain_without_alignment(study, tmp_path):
    plain = study["plain"]
    assert plain.params.load()[ALIGN_KEY] is False
    ran = [line for line in read_log(plain.logger.log_dir, "commands").splitlines() if "Running: " in line]
    tools = [Path(line.split("Running: ")[1].split()[0]).name for line in ran]
    assert tools[:-1] == ["FeatureFinderMetabo"] * len(STUDY) + ["FeatureLinkerUnlabeledKD"]
    assert "consensus_table.py" in ran[-1] and "--shifts" not in ran[-1]
    assert not (plain.files.results_root / "rt-alignment").exists()
    assert not shifts_in(plain.files.results_root).exists()
    pd.testing.assert_frame_equal(table(plain), by_hand_table(detected(plain), tmp_path))


@pytest.mark.slow
def test_adduct_grouping_annotates_each_sample_and_the_groups_are_linked(root):
    workflow = run(root, "adducts", NZ_FILES, **{ADDUCTS_KEY: True})
    commands = read_log(workflow.logger.log_dir, "commands")
    assert commands.count("Running: /usr/bin/MetaboliteAdductDecharger") == len(NZ_FILES)
    grouped = sorted((workflow.files.results_root / "adduct-grouping").glob("*.featureXML"))
    assert [p.stem for p in grouped] == [p.stem for p in NZ_FILES]
    features = oms.FeatureMap()
    oms.FeatureXMLFile().load(str(grouped[0]), features)
    assert any(f.metaValueExists("dc_charge_adducts") for f in features)
    aligner = " ".join(line for line in commands.splitlines() if f"Running: /usr/bin/{ALIGNER}" in line)
    assert all(f"-in {p} " in aligner for p in grouped)  # alignment, then linking, of the grouped features
    linked = table(workflow)
    assert len(linked) > 250 and (linked["n_samples"] == len(NZ_FILES)).sum() > 30


@pytest.mark.slow
def test_a_reference_chosen_on_the_configure_page_is_the_one_all_samples_are_aligned_to(root):
    """Without a reference the aligner's samples go into several commands (see the by-hand test);
    with one chosen it runs as one command with the choice, and the chosen sample is left as it is."""
    workflow = set_noise_threshold(MetabolomicsWorkflow(root.workspaces_dir / "chosen", root))
    put_inputs(workflow, NZ_FILES)
    workflow.params.set_tool_value(ALIGNER, "reference:index", 2)
    assert workflow.run() is RunState.FINISHED, workflow.last_error
    ran = [line for line in read_log(workflow.logger.log_dir, "commands").splitlines() if "Running: " in line]
    aligner = [line for line in ran if f"/{ALIGNER} " in line]
    assert len(aligner) == 1 and "-reference:index 2" in aligner[0] and "-reference:file" not in aligner[0]
    chosen = next(p for p in transformations_in(workflow.files.results_root) if p.stem == NZ_FILES[1].stem)
    assert '<Transformation name="identity">' in chosen.read_text()


@pytest.mark.parametrize("key", [ALIGN_KEY, ADDUCTS_KEY])
def test_a_switch_that_is_not_true_or_false_is_refused_before_a_run(settings, key):
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "switch", settings)
    workflow.params.save({key: "yes"})
    problems = workflow.preflight()
    assert any(f"'{key}'" in p and "true or false" in p for p in problems), problems


def faint(path: Path, folder: Path) -> Path:
    """A copy of ``path`` with every intensity a millionth (a failed injection): no features."""
    experiment = oms.MSExperiment()
    oms.MzMLFile().load(str(path), experiment)
    spectra = experiment.getSpectra()
    for spectrum in spectra:
        mz, intensity = spectrum.get_peaks()
        spectrum.set_peaks((mz, intensity * 1e-6))
    experiment.setSpectra(spectra)
    oms.MzMLFile().store(str(folder / f"faint_{path.name}"), experiment)
    return folder / f"faint_{path.name}"


@pytest.mark.slow
def test_a_sample_without_features_fails_alignment_with_the_way_out(settings, tmp_path):
    workflow = set_noise_threshold(MetabolomicsWorkflow(settings.workspaces_dir / "empty", settings))
    put_inputs(workflow, [faint(NZ_FILES[0], tmp_path), NZ_FILES[1]])
    assert workflow.run() is RunState.FAILED  # MapAlignerPoseClustering refuses an empty map
    assert "MapAlignerPoseClustering failed" in workflow.last_error
    assert "switch 'Align retention times before linking' off" in read_log(workflow.logger.log_dir, "minimal")
    workflow.params.set(ALIGN_KEY, False)
    assert workflow.run() is RunState.FINISHED, workflow.last_error  # linked as before alignment existed
