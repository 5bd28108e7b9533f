"""The consensus table script on real linked data, and its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyopenms as oms

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
    same_as_pyopenms_reads_it(consensus, table)

    # a damaged featureXML among the shift table's inputs, read on two threads: a message, no shift table
    garbage = tmp_path / "damaged.featureXML"
    garbage.write_text("<featureMap")
    shifts = tmp_path / "shifts.tsv"
    damaged = run_script(
        "--in", consensus, "--out", tmp_path / "t2.tsv", "--shifts", shifts, "--threads", "2",
        "--features", features[0], garbage, features[2],
    )  # fmt: skip
    assert damaged.returncode == 1 and "Error: could not read" in damaged.stderr, damaged.stderr
    assert not shifts.exists()


def same_as_pyopenms_reads_it(consensus, table: pd.DataFrame) -> None:
    """The table holds what pyOpenMS's own reader (``ConsensusMap.to_df``, written independently of
    the script) finds in the map: every consensus feature's position, charge and per-file
    intensities, in order of retention time and then m/z."""
    cmap = oms.ConsensusMap()
    oms.ConsensusXMLFile().load(str(consensus), cmap)
    reference = cmap.to_df().sort_values(["rt", "mz"], kind="stable").reset_index(drop=True)
    assert len(reference) == len(table) == cmap.size()
    assert table["rt"].tolist() == reference["rt"].tolist()
    assert table["mz"].tolist() == reference["mz"].tolist()
    assert table["charge"].tolist() == reference["charge"].tolist()
    files = {Path(h.filename).stem: h.filename for h in cmap.getColumnHeaders().values()}
    for stem, column in files.items():
        # pyOpenMS keeps intensities as 32-bit floats; the map stores them so too.
        assert np.allclose(table[f"intensity_{stem}"], reference[column], rtol=1e-6, atol=0)
    found = (reference[list(files.values())] > 0).sum(axis=1)
    assert table["n_samples"].tolist() == found.tolist()


def test_missing_or_garbage_input_fails_with_a_message(tmp_path):
    missing = run_script("--in", tmp_path / "nope.consensusXML", "--out", tmp_path / "t.tsv")
    assert missing.returncode == 1 and "Error: input file" in missing.stderr
    garbage = tmp_path / "g.consensusXML"
    garbage.write_text("not xml at all")
    broken = run_script("--in", garbage, "--out", tmp_path / "t.tsv")
    assert broken.returncode == 1 and "Error: could not read" in broken.stderr
    assert not (tmp_path / "t.tsv").exists()
