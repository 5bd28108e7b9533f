"""Profile-mode mzML: recognised from a few spectra, centroided by PeakPickerHiRes, then found.

Real files only: the profile and centroid QTOF files from ../shared/data/mzML, and files
made from them with pyOpenMS (an MS2-only file, a file mixing profile and centroid MS1).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyopenms as oms
import pytest

from src.core.run import RunState, read_log
from src.workflows import peak_mode
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.paths import table_in
from src.workflows.peak_mode import PeakMode
from tests.conftest import DATA_DIR, put_inputs, set_noise_threshold

pytestmark = pytest.mark.slow

PROFILE = DATA_DIR / "profile-data-zlib-indexed-compressed.mzML"
CENTROID = DATA_DIR / "centroid-data-zlib-indexed-compressed.mzML"


def load(path: Path) -> oms.MSExperiment:
    experiment = oms.MSExperiment()
    oms.MzMLFile().load(str(path), experiment)
    return experiment


def store(experiment: oms.MSExperiment, path: Path) -> Path:
    oms.MzMLFile().store(str(path), experiment)
    return path


def ms2_only(tmp_path: Path) -> Path:
    source = load(CENTROID)
    kept = oms.MSExperiment()
    for spectrum in source:
        if spectrum.getMSLevel() == 2:
            kept.addSpectrum(spectrum)
    return store(kept, tmp_path / "ms2-only.mzML")


def mixed_modes(tmp_path: Path) -> Path:
    """The profile file's MS1 spectra, every second one centroided by PeakPickerHiRes."""
    profile = load(PROFILE)
    picked = oms.PeakPickerHiRes().pickExperiment(profile, True)
    mixed = oms.MSExperiment()
    ms1 = [index for index, spectrum in enumerate(profile) if spectrum.getMSLevel() == 1]
    for n, index in enumerate(ms1):
        mixed.addSpectrum(picked[index] if n % 2 else profile[index])
    return store(mixed, tmp_path / "mixed.mzML")


def test_the_mode_of_each_real_file_is_read_from_a_few_spectra(tmp_path, nz_files):
    assert peak_mode.inspect(PROFILE).mode is PeakMode.PROFILE
    for path in [CENTROID, *nz_files]:
        assert peak_mode.inspect(path).mode is PeakMode.CENTROID, path.name
    assert peak_mode.inspect(nz_files[0]).ms1_read == peak_mode.MS1_SAMPLE  # not the whole file
    assert peak_mode.inspect(ms2_only(tmp_path)).mode is PeakMode.NO_MS1
    assert peak_mode.inspect(mixed_modes(tmp_path)).mode is PeakMode.MIXED
    truncated = tmp_path / "truncated.mzML"
    truncated.write_bytes(b'<?xml version="1.0"?>\n<mzML><run><spectrumList count="1"><spectrum>')
    assert peak_mode.inspect(truncated).mode is PeakMode.UNREADABLE


def test_the_isolated_reader_says_what_each_file_is(tmp_path):
    empty = tmp_path / "empty.mzML"
    empty.write_bytes(b"")
    found = peak_mode.inspect_isolated([PROFILE, ms2_only(tmp_path), mixed_modes(tmp_path), empty])
    assert [item.mode for item in found] == [
        PeakMode.PROFILE,
        PeakMode.NO_MS1,
        PeakMode.MIXED,
        PeakMode.UNREADABLE,
    ]
    messages = [item.message() for item in found]
    assert "PeakPickerHiRes" in messages[0] and "Configure" in messages[0]
    assert "no MS1 spectra (only MS2)" in messages[1]
    assert "partly profile and partly centroid" in messages[2]
    assert "could not be read as mzML" in messages[3] and "empty.mzML" in messages[3]
    assert str(tmp_path) not in " ".join(messages)  # no server path in what a visitor reads


def test_a_profile_file_is_centroided_first_and_gives_features(settings):
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "profile", settings)
    put_inputs(workflow, [PROFILE])
    assert workflow.run() is RunState.FINISHED, workflow.state.read().error
    table = pd.read_csv(table_in(workflow.files.results_root), sep="\t")
    assert len(table) > 0
    minimal = read_log(workflow.logger.log_dir, "minimal")
    assert "Running PeakPickerHiRes on 1 input(s)" in minimal and "hold profile data" in minimal
    commands = read_log(workflow.logger.log_dir, "commands")
    assert "Running: /usr/bin/PeakPickerHiRes" in commands
    centroided = workflow.files.results_root / "centroiding" / PROFILE.name
    assert f"-in {centroided}" in commands  # feature finding read the centroided file
    assert peak_mode.inspect(centroided).mode is PeakMode.CENTROID


def test_centroided_files_pass_untouched_and_give_the_same_table(settings, nz_files):
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "nz", settings)
    put_inputs(workflow, nz_files)
    set_noise_threshold(workflow)
    workflow.params.set("rt_alignment", False)  # the by-hand chain of SOURCES.md: FFM, then the linker
    assert workflow.run() is RunState.FINISHED, workflow.state.read().error
    assert len(pd.read_csv(table_in(workflow.files.results_root), sep="\t")) == 287
    assert "PeakPickerHiRes" not in read_log(workflow.logger.log_dir, "all")
    assert not (workflow.files.results_root / "centroiding").exists()


def test_a_run_with_an_unusable_file_fails_at_once_saying_what_it_is(settings, tmp_path, nz_files):
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "bad", settings)
    put_inputs(workflow, [nz_files[0], ms2_only(tmp_path)])
    assert workflow.run() is RunState.FAILED
    error = workflow.state.read().error
    assert "ms2-only.mzML: the file holds no MS1 spectra" in error and "File Upload page" in error
    assert "Running: " not in read_log(workflow.logger.log_dir, "commands")  # no tool was started
