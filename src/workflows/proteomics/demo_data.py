"""The example data: OpenMS's own BSA runs and database, from Debian's ``openms-doc`` package.

BSA1-3.mzML are three LC-MS/MS runs of a bovine serum albumin digest (ion-trap fragment spectra,
centroided, 10-14 MB each); the database holds 18 proteins of a standard mix, a bacterial
proteome and contaminants, with reversed decoys (``_rev``). They are copied into a staging folder
and added to the workspace like uploads (quota and free-disk guard included).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from src.core.errors import InputError

#: Where ``openms-doc`` puts the examples (``apt-get install openms-doc``).
EXAMPLES = Path("/usr/share/doc/openms/examples")
RUNS = tuple(EXAMPLES / "BSA" / f"BSA{n}.mzML" for n in (1, 2, 3))
DATABASE = EXAMPLES / "TOPPAS/data/BSA_Identification/18Protein_SoCe_Tr_detergents_trace_target_decoy.fasta"
#: The example database's targets alone (a database without decoys, for trying DecoyDatabase).
TARGETS_ONLY = DATABASE.with_name("18Protein_SoCe_Tr_detergents_trace.fasta")
MISSING_MESSAGE = (
    "The example data is not installed on this server: it comes with OpenMS's documentation "
    "(on Debian/Ubuntu: apt-get install openms-doc). Upload your own mzML files and FASTA database instead."
)


def example_files() -> list[Path]:
    """The example runs and database; InputError if openms-doc is not installed."""
    files = [*RUNS, DATABASE]
    if not all(path.is_file() for path in files):
        raise InputError(MISSING_MESSAGE)
    return files


def stage(files: list[Path], staging: Path) -> list[Path]:
    """Copies of ``files`` in ``staging`` (outside the workspace), which the upload path then adds."""
    return [Path(shutil.copyfile(path, staging / path.name)) for path in files]
