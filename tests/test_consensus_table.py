"""The consensus table script on real linked data, and its errors."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from tests.conftest import REPO

SCRIPT = REPO / "src/workflows/metabolomics/consensus_table.py"


def run_script(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=120
    )


def test_real_nz_consensus_becomes_a_table(tmp_path, nz_files):
    features = []
    for mzml in nz_files:
        out = tmp_path / f"{mzml.stem}.featureXML"
        subprocess.run(
            ["FeatureFinderMetabo", "-in", mzml, "-out", out, "-algorithm:common:noise_threshold_int", "100"],
            check=True,
            capture_output=True,
        )
        features.append(out)
    consensus = tmp_path / "c.consensusXML"
    subprocess.run(
        ["FeatureLinkerUnlabeledKD", "-in", *features, "-out", consensus], check=True, capture_output=True
    )
    result = run_script("--in", consensus, "--out", tmp_path / "t.tsv")
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "t.tsv", sep="\t")
    assert len(table) > 250
    assert list(table.columns[:6]) == ["consensus_id", "rt", "mz", "charge", "quality", "n_samples"]
    assert table["rt"].is_monotonic_increasing
    assert set(table["n_samples"]) <= {1, 2, 3}


def test_missing_or_garbage_input_fails_with_a_message(tmp_path):
    missing = run_script("--in", tmp_path / "nope.consensusXML", "--out", tmp_path / "t.tsv")
    assert missing.returncode == 1 and "Error: input file" in missing.stderr
    garbage = tmp_path / "g.consensusXML"
    garbage.write_text("not xml at all")
    broken = run_script("--in", garbage, "--out", tmp_path / "t.tsv")
    assert broken.returncode == 1 and "Error: could not read" in broken.stderr
    assert not (tmp_path / "t.tsv").exists()
