"""The metabolomics workflow's map overlay: what its latest finished run found in one input file.

Real runs of the real tools on real data: NZ_20200227_025 (centroided) and the profile-mode QTOF
file, which the run centroids first (its features come from the centroided copy). The overlay must
hold exactly the features of the run's featureXML as pyOpenMS loads it by hand, and nothing when
there is no finished latest run or the file was not one of its inputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyopenms as oms
import pytest

from src.core.run import RunState, moment_text
from src.core.settings import Settings, load_settings
from src.core.workflow import LocalRunner
from src.workflows import run_overlay
from src.workflows.metabolomics import MetabolomicsWorkflow, overlay
from src.workflows.metabolomics.paths import MZML_KEY, features_of
from src.workflows.metabolomics.workflow import ALIGN_KEY
from tests.conftest import DATA_DIR, NZ_FILES, put_inputs, set_noise_threshold, wait_for

PROFILE = DATA_DIR / "profile-data-zlib-indexed-compressed.mzML"
FILES = [NZ_FILES[0], PROFILE]
HULLS = {"algorithm:ffm:report_convex_hulls": "true"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory, shared_cache) -> MetabolomicsWorkflow:
    """One finished run of both files with the defaults (no convex hulls), shared by the tests."""
    folder = tmp_path_factory.mktemp("overlay") / "workspaces"
    folder.mkdir()
    (folder / ".cache").symlink_to(shared_cache, target_is_directory=True)
    settings = load_settings(env={"WORKSPACES_DIR": str(folder), "ONLINE_DEPLOYMENT": "false"})
    return finished_run(settings, "defaults")


def finished_run(settings: Settings, name: str, **ffm: object) -> MetabolomicsWorkflow:
    workflow = set_noise_threshold(MetabolomicsWorkflow(settings.workspaces_dir / name, settings))
    put_inputs(workflow, FILES)
    workflow.params.set(ALIGN_KEY, False)  # these two unrelated files cannot be aligned
    for key, value in ffm.items():
        workflow.params.set_tool_value("FeatureFinderMetabo", key, value)
    assert workflow.run() is RunState.FINISHED, workflow.last_error
    return workflow


def by_hand(path: Path) -> list[oms.Feature]:
    features = oms.FeatureMap()
    oms.FeatureXMLFile().load(str(path), features)
    return list(features)


def rows(found) -> list[tuple[float, ...]]:
    """Each point with its box, sorted: what an overlay and a featureXML must agree on."""
    columns = (found.rt, found.mz, found.rt_min, found.rt_max, found.mz_min, found.mz_max)
    return sorted(zip(*(np.asarray(column).tolist() for column in columns), strict=True))


def trace_rows(features: list[oms.Feature]) -> list[tuple[float, ...]]:
    """Points and boxes of FeatureFinderMetabo's features without hulls: traces' m/z x FWHM."""
    found = []
    for f in features:
        traces, half = list(f.getMetaValue("masstrace_centroid_mz")), f.getMetaValue("FWHM") / 2
        found.append((f.getRT(), f.getMZ(), f.getRT() - half, f.getRT() + half, min(traces), max(traces)))
    return sorted(found)


def hull_rows(features: list[oms.Feature]) -> list[tuple[float, ...]]:
    """Points and boxes of features with hulls: the bounding box of each one's hulls."""
    found = []
    for f in features:
        box = f.getConvexHull().getBoundingBox()
        (rt_from, mz_from), (rt_to, mz_to) = box.minPosition(), box.maxPosition()
        found.append((f.getRT(), f.getMZ(), rt_from, rt_to, mz_from, mz_to))
    return sorted(found)


@pytest.mark.slow
def test_each_inputs_overlay_holds_the_features_of_its_featurexml(finished):
    status = finished.state.read()
    for mzml in finished.files.inputs(MZML_KEY):
        found = finished.map_overlay(mzml)
        features = by_hand(features_of(finished.files.results_root, mzml))
        assert found is not None and found.kind == "features" and found.has_boxes
        assert len(found) == len(features) > 20
        assert rows(found) == trace_rows(features)
        assert found.source == f"the latest run, finished {moment_text(status.ended_at)}"
        assert found.extra == {"boxes": overlay.TRACE_BOXES}
        intensities = sorted((f.getIntensity() for f in features), reverse=True)
        assert [float(text.rsplit(" ", 1)[1]) for text in found.labels] == pytest.approx(
            intensities, rel=0.06
        )
    assert (finished.files.results_root / "centroiding" / PROFILE.name).is_file()  # found in its copy


@pytest.mark.slow
def test_labels_name_each_features_position_charge_and_intensity(finished):
    found = finished.map_overlay(finished.files.inputs(MZML_KEY)[0])
    for rt, mz, text in zip(found.rt, found.mz, found.labels, strict=True):
        assert text.startswith(f"m/z {mz:.4f} · RT {rt:.1f} s · ")
    assert any(" · charge 1 · intensity " in text for text in found.labels)
    assert any(" s · intensity " in text for text in found.labels)  # charge 0: unknown, not shown
    assert overlay.scientific(1_234_567.0) == "1.2e6" and overlay.scientific(0.5) == "5.0e-1"


@pytest.mark.slow
def test_only_the_most_intense_features_are_shown_and_the_caption_says_so(finished):
    path = features_of(finished.files.results_root, NZ_FILES[0])
    features = by_hand(path)
    found = overlay.features(path, "the latest run", limit=50)
    top = sorted(features, key=lambda f: f.getIntensity(), reverse=True)[:50]
    shown = sorted(zip(found.rt.tolist(), found.mz.tolist(), strict=True))
    assert shown == sorted((f.getRT(), f.getMZ()) for f in top)
    assert found.source == f"the latest run; the 50 most intense features of {len(features)}"
    assert found.labels[0].endswith(overlay.scientific(top[0].getIntensity()))


@pytest.mark.slow
def test_a_featurexml_above_the_size_limit_is_not_read(finished, monkeypatch, caplog):
    mzml = finished.files.inputs(MZML_KEY)[0]
    size = features_of(finished.files.results_root, mzml).stat().st_size
    monkeypatch.setattr(run_overlay, "MAX_RESULT_BYTES", size)
    assert finished.map_overlay(mzml) is None
    assert "no map overlay from" in caplog.text and "the limit is" in caplog.text


@pytest.mark.slow
def test_files_that_were_not_inputs_of_the_run_have_none(finished):
    assert finished.map_overlay(NZ_FILES[0]) is None  # the same file outside the workspace
    assert finished.map_overlay(finished.files.results_root / "centroiding" / PROFILE.name) is None
    later = put_inputs(finished, [NZ_FILES[1]])[0]  # uploaded after the run
    try:
        assert finished.map_overlay(later) is None
    finally:
        later.unlink()
    mzml = finished.files.inputs(MZML_KEY)[0]
    original = mzml.read_bytes()
    mzml.write_bytes(original + b"\n")  # uploaded again under its name: another file
    try:
        assert finished.map_overlay(mzml) is None
    finally:
        mzml.write_bytes(original)
    assert finished.map_overlay(mzml) is not None


@pytest.mark.slow
def test_none_before_a_run_while_one_runs_and_after_one_failed(settings):
    """A run with hulls finishes (its boxes are the hulls'), then a run with alignment runs and fails
    (these two files have nothing to align): no overlay before, during and after it, though its
    featureXML files are there."""
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "cycle", settings)
    mzml = put_inputs(workflow, FILES)[0]
    assert workflow.map_overlay(mzml) is None
    workflow = finished_run(settings, "cycle", **HULLS)
    found = workflow.map_overlay(mzml)
    features = by_hand(features_of(workflow.files.results_root, mzml))
    assert found.extra == {"boxes": overlay.HULL_BOXES} and len(found) == len(features)
    assert rows(found) == hull_rows(features)
    workflow.params.set(ALIGN_KEY, True)
    runner = LocalRunner(workflow)
    runner.start()
    assert workflow.state.read().state is RunState.RUNNING and workflow.map_overlay(mzml) is None
    wait_for(lambda: not runner.is_running(), 180, interval=0.2, what="the run to end")
    assert workflow.state.read().state is RunState.FAILED
    assert features_of(workflow.files.results_root, mzml).is_file()
    assert workflow.map_overlay(mzml) is None


@pytest.mark.slow
def test_a_damaged_featurexml_gives_no_overlay(finished, tmp_path, caplog):
    text = features_of(finished.files.results_root, NZ_FILES[0]).read_text()
    damaged = tmp_path / "damaged.featureXML"
    damaged.write_text(text[: len(text) // 2])
    assert overlay.features(damaged, "the latest run") is None
    assert f"no map overlay from {damaged}" in caplog.text
