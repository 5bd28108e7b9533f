"""What the tool pages accept: a bound on every input, and the one error a bad input raises.

The tools run in the web process while the visitor waits, so every input is bounded here, once;
the pages read the same constants for their widgets' limits and the docs (docs/tools.md) quote them.
"""

from __future__ import annotations

from src.core.errors import ChemInputError

#: Residues of a peptide (m/z calculator, fragment ions, isotope pattern).
MAX_PEPTIDE_LENGTH = 200
#: Residues of all proteins of one digest together.
MAX_PROTEIN_RESIDUES = 10_000
#: Characters of a peptide as typed (modification names included).
MAX_PEPTIDE_CHARS = 4_000
#: Characters of the digest's text (FASTA headers included).
MAX_PROTEIN_TEXT_CHARS = 200_000
#: The highest charge of any tool.
MAX_CHARGE = 10
#: Missed cleavages of a digest.
MAX_MISSED_CLEAVAGES = 5
#: Rows of a digest's table; more peptides are counted, not listed.
MAX_DIGEST_ROWS = 5_000
#: Atoms of a molecular formula (a 200-residue peptide has fewer than 5,000).
MAX_FORMULA_ATOMS = 5_000
#: Characters of a molecular formula as typed.
MAX_FORMULA_CHARS = 500
#: Peaks of an isotope pattern's table: the most abundant ones.
MAX_ISOTOPE_PEAKS = 500

#: The one-letter codes of amino acids with one mass (U selenocysteine, O pyrrolysine).
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWYUO"
#: What every message about an unknown residue says to use.
AMINO_ACID_HINT = (
    "use the one-letter codes A C D E F G H I K L M N P Q R S T V W Y (U selenocysteine, "
    "O pyrrolysine); B, J, X and Z stand for more than one amino acid and have no single mass"
)


def check_charge(charge: int, lowest: int = 1) -> int:
    """``charge`` if it is a whole number from ``lowest`` to MAX_CHARGE."""
    if isinstance(charge, bool) or not isinstance(charge, int) or not lowest <= charge <= MAX_CHARGE:
        raise ChemInputError(
            f"The charge must be a whole number from {lowest} to {MAX_CHARGE}, not {charge}."
        )
    return charge


def not_amino_acid(letter: str) -> ChemInputError:
    """The error for a character that stands where a residue should."""
    return ChemInputError(f"'{letter}' is not an amino acid: {AMINO_ACID_HINT}.")
