"""Where the untargeted metabolomics workflow keeps its inputs and results: read by the workflow and
by its Results page, which therefore import this leaf module rather than each other."""

from __future__ import annotations

from pathlib import Path

#: The input folder of the mzML files (``<workflow>/input-files/mzML-files``).
MZML_KEY = "mzML-files"
#: FeatureFinderMetabo's folder: one featureXML per input file, named by the file's stem.
FEATURE_STEP, FEATURE_SUFFIX = "feature-detection", ".featureXML"
#: The consensus table: its step's result folder and its file name.
TABLE_STEP, TABLE_NAME = "consensus-table", "consensus_features.tsv"
#: Retention time alignment's folder (one trafoXML and one aligned featureXML per sample), and the
#: table of each sample's retention time shifts, written beside the consensus table when aligned.
ALIGNMENT_STEP, SHIFTS_NAME = "rt-alignment", "rt_shifts.tsv"


def features_of(results_root: Path, mzml: Path) -> Path:
    """The features FeatureFinderMetabo found in the input file ``mzml`` in a run (a profile-mode
    file's centroided copy keeps its stem, so the name is the same either way)."""
    return results_root / FEATURE_STEP / f"{mzml.stem}{FEATURE_SUFFIX}"


def table_in(results_root: Path) -> Path:
    """The consensus table of a run whose results are in ``results_root``."""
    return results_root / TABLE_STEP / TABLE_NAME


def shifts_in(results_root: Path) -> Path:
    """The retention time shift table of a run (absent if the run did not align)."""
    return results_root / TABLE_STEP / SHIFTS_NAME


def transformations_in(results_root: Path) -> list[Path]:
    """The trafoXML files of a run's alignment, by sample name (empty if it did not align)."""
    return sorted((results_root / ALIGNMENT_STEP).glob("*.trafoXML"))


def feature_count(results_root: Path) -> int | None:
    """Consensus features of a run (rows of its table), None if it has no table."""
    path = table_in(results_root)
    if not path.is_file():
        return None
    with path.open() as handle:
        return max(0, sum(1 for _ in handle) - 1)
