"""Small calculations of the tool pages, with pyOpenMS and without Streamlit: a peptide's masses and
m/z (``peptides``), in-silico digests (``digest``), theoretical fragment ions (``fragments``) and
isotope patterns (``isotopes``). Every input is bounded (``limits``); a bad one raises
:class:`ChemInputError` with a message that says what to enter instead.
"""

from src.core.chem.digest import DEFAULT_ENZYME, Digest, Protein, digest, digest_tsv, enzymes, parse_proteins
from src.core.chem.fragments import ION_TYPES, fragment_ions
from src.core.chem.isotopes import RESOLUTIONS, IsotopePattern, isotope_pattern, merged, parse_formula
from src.core.chem.limits import (
    MAX_CHARGE,
    MAX_DIGEST_ROWS,
    MAX_FORMULA_ATOMS,
    MAX_FORMULA_CHARS,
    MAX_ISOTOPE_PEAKS,
    MAX_MISSED_CLEAVAGES,
    MAX_PEPTIDE_CHARS,
    MAX_PEPTIDE_LENGTH,
    MAX_PROTEIN_RESIDUES,
    MAX_PROTEIN_TEXT_CHARS,
    ChemInputError,
)
from src.core.chem.peptides import PeptideMasses, ion_name, parse_peptide, peptide_masses

__all__ = [
    "DEFAULT_ENZYME",
    "ION_TYPES",
    "MAX_CHARGE",
    "MAX_DIGEST_ROWS",
    "MAX_FORMULA_ATOMS",
    "MAX_FORMULA_CHARS",
    "MAX_ISOTOPE_PEAKS",
    "MAX_MISSED_CLEAVAGES",
    "MAX_PEPTIDE_CHARS",
    "MAX_PEPTIDE_LENGTH",
    "MAX_PROTEIN_RESIDUES",
    "MAX_PROTEIN_TEXT_CHARS",
    "RESOLUTIONS",
    "ChemInputError",
    "Digest",
    "IsotopePattern",
    "PeptideMasses",
    "Protein",
    "digest",
    "digest_tsv",
    "enzymes",
    "fragment_ions",
    "ion_name",
    "isotope_pattern",
    "merged",
    "parse_formula",
    "parse_peptide",
    "parse_proteins",
    "peptide_masses",
]
