"""Where the Peptides and proteins workflow keeps its inputs and results: read by the workflow, its
table script and its Results page, which therefore import this leaf module rather than each other."""

from __future__ import annotations

import csv
from pathlib import Path

#: Input folders (``<workflow>/input-files/<key>``): the runs and the visitor's own FASTA files.
MZML_KEY = "mzML-files"
FASTA_KEY = "fasta-files"
#: Result folders, one per step (``<workflow>/results/<step>``).
DATABASE_STEP = "database"
SEARCH_STEP = "search"
INDEX_STEP = "peptide-indexing"
PEP_STEP = "error-probabilities"
FDR_STEP = "fdr"
FILTER_STEP = "filtered"
SWITCH_STEP = "pep-scores"
QUANT_STEP = "quantification"
TABLE_STEP = "tables"
#: What ProteomicsLFQ writes (QUANT_STEP) and what the table script makes of it (TABLE_STEP).
DESIGN_NAME = "experimental_design.tsv"
MZTAB_NAME = "proteins_peptides.mzTab"
MSSTATS_NAME = "msstats_input.csv"
PSM_TABLE, PEPTIDE_TABLE, PROTEIN_TABLE = "psms.tsv", "peptides.tsv", "proteins.tsv"
#: One row per sample: its condition and its PSMs, peptides and proteins.
SAMPLE_TABLE = "samples.tsv"
#: The run's counts at the FDR, written by the table script for the run history and the metrics.
COUNTS_NAME = "counts.tsv"


def identifications_of(results_root: Path, mzml: Path) -> Path:
    """The PSMs at the PSM FDR of the input file ``mzml`` in a run (IDFilter's output: every per-file
    step names its output by the mzML file's stem)."""
    return results_root / FILTER_STEP / f"{mzml.stem}.idXML"


def table_in(results_root: Path, name: str) -> Path:
    """One of the tables (PSM_TABLE, PEPTIDE_TABLE, PROTEIN_TABLE, SAMPLE_TABLE, COUNTS_NAME) of a run."""
    return results_root / TABLE_STEP / name


def counts(results_root: Path) -> dict[str, int] | None:
    """PSMs, peptides and proteins of a run at its FDR (None if it wrote no tables): a two-line
    file, so the run history can show them without reading the tables."""
    path = table_in(results_root, COUNTS_NAME)
    if not path.is_file():
        return None
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows:
        return None
    try:
        return {name: int(value) for name, value in rows[0].items()}
    except (TypeError, ValueError):
        return None  # a damaged file: the history shows a dash, the Results page says more
