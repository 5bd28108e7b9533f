"""The project's own demo data: deterministic, centroided, and usable by the real TOPP tools."""

from __future__ import annotations

import hashlib
import subprocess

import pandas as pd
import pyopenms as oms

from src.workflows.metabolomics.consensus_table import write_table
from src.workflows.metabolomics.demo_data import generate_runs


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_arguments_give_identical_files(tmp_path):
    first = generate_runs(tmp_path / "a")
    second = generate_runs(tmp_path / "b")
    assert [p.name for p in first] == ["demo_sample_1.mzML", "demo_sample_2.mzML", "demo_sample_3.mzML"]
    assert [sha256(p) for p in first] == [sha256(p) for p in second]
    assert sha256(first[0]) != sha256(first[1])  # samples differ from each other
    assert sha256(generate_runs(tmp_path / "c", 1, seed=8)[0]) != sha256(first[0])


def test_runs_are_centroided_ms1(tmp_path):
    path = generate_runs(tmp_path, 1, n_spectra=60)[0]
    experiment = oms.MSExperiment()
    oms.MzMLFile().load(str(path), experiment)
    assert experiment.size() == 60
    spectrum = experiment[30]
    assert spectrum.getMSLevel() == 1
    assert spectrum.getType() == oms.SpectrumSettings.SpectrumType.CENTROID
    assert spectrum.size() > 20


def test_topp_tools_find_the_shared_compounds(tmp_path):
    runs = generate_runs(tmp_path, 3, n_compounds=40)
    features = []
    for run in runs:
        out = run.with_suffix(".featureXML")
        subprocess.run(
            ["FeatureFinderMetabo", "-in", run, "-out", out, "-algorithm:common:noise_threshold_int", "100"],
            check=True,
            capture_output=True,
        )
        feature_map = oms.FeatureMap()
        oms.FeatureXMLFile().load(str(out), feature_map)
        assert 25 <= feature_map.size() <= 45  # most of the 40 compounds, a few absent, no noise
        features.append(out)
    consensus = tmp_path / "linked.consensusXML"
    subprocess.run(
        ["FeatureLinkerUnlabeledKD", "-in", *features, "-out", consensus], check=True, capture_output=True
    )
    rows = write_table(consensus, tmp_path / "table.tsv")
    table = pd.read_csv(tmp_path / "table.tsv", sep="\t")
    assert rows == len(table) and 30 <= rows <= 60
    assert (table["n_samples"] == 3).sum() >= 20
    assert [c for c in table.columns if c.startswith("intensity_")] == [
        "intensity_demo_sample_1",
        "intensity_demo_sample_2",
        "intensity_demo_sample_3",
    ]
