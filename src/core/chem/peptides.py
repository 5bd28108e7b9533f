"""Peptides in OpenMS notation: reading them (with a message for every way a sequence can be wrong)
and their masses and m/z.

OpenMS writes a modification in brackets after its residue (``PEPTIDEM(Oxidation)K``), a terminal
one at a dot (``.(Acetyl)PEPTIDE``, ``PEPTIDE.(Amidated)``) and a mass shift in square brackets
(``M[+15.9949]``). ``AASequence.fromString`` raises RuntimeError for anything it cannot read, with
texts that name C++ functions; the sequence is checked here first, so most mistakes get a message
of their own, and the rest one that says how to write a modification.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import pyopenms as oms

from src.core.chem.limits import (
    AMINO_ACIDS,
    MAX_PEPTIDE_CHARS,
    MAX_PEPTIDE_LENGTH,
    ChemInputError,
    check_charge,
    not_amino_acid,
)

#: How a modification is written, for every message about one.
HOW_TO_MODIFY = (
    "Write a modification in brackets after its residue (PEPTIDEM(Oxidation)K, C(Carbamidomethyl)), "
    "an N-terminal one after a leading dot (.(Acetyl)PEPTIDE), a C-terminal one after a trailing dot "
    "(PEPTIDE.(Amidated)), or a mass shift in square brackets (M[+15.9949])."
)
_CLOSING = {"(": ")", "[": "]"}
#: A mass shift or a Unimod accession, which OpenMS reads without a name in its database.
_NAMELESS = re.compile(r"(?i)[+-]?\d+(\.\d*)?|unimod:\d+")


@dataclass(frozen=True)
class PeptideMasses:
    """A peptide's masses: ``charges`` has one row per charge (ion, charge, m/z)."""

    sequence: str  # as OpenMS reads it (a mass shift it knows becomes the modification's name)
    formula: str
    monoisotopic: float
    average: float
    charges: pd.DataFrame


def _brackets_error() -> ChemInputError:
    return ChemInputError(f"The brackets in the sequence do not match. {HOW_TO_MODIFY}")


def _normalised(text: str) -> tuple[str, int]:
    """``text`` without white space and with its residues in capitals; and how many residues it has.
    Modification names (in brackets) are kept as they are."""
    kept, open_brackets, residues, ended = [], [], 0, False
    for char in "".join(text.split()):
        if char in _CLOSING:
            open_brackets.append(_CLOSING[char])
        elif char in ")]":
            if not open_brackets or open_brackets.pop() != char:
                raise _brackets_error()
        elif not open_brackets and char == ".":
            ended = residues > 0  # a dot after a residue is the C-terminus: no residue may follow
        elif not open_brackets:
            char = char.upper()
            if char not in AMINO_ACIDS:
                raise not_amino_acid(char)
            if ended:
                raise ChemInputError(
                    f"A dot stands only at the start or the end of a peptide. {HOW_TO_MODIFY}"
                )
            residues += 1
        kept.append(char)
    if open_brackets:
        raise _brackets_error()
    return "".join(kept), residues


def _modification_names(text: str) -> list[str]:
    """The texts in the outermost round brackets of a sequence whose brackets match."""
    names, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "(":
            if depth == 0:
                start = index + 1
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                names.append(text[start:index])
    return names


def _unreadable(text: str) -> ChemInputError:
    database = oms.ModificationsDB()
    for name in _modification_names(text):
        if not _NAMELESS.fullmatch(name) and not database.has(name):
            return ChemInputError(
                f"'{name}' is not a modification OpenMS knows: use its Unimod name as OpenMS spells it "
                f"(Oxidation, Carbamidomethyl, Phospho, Acetyl, Deamidated, ...). {HOW_TO_MODIFY}"
            )
    return ChemInputError(
        f"OpenMS cannot read the peptide '{text}': a modification may not fit the residue or the "
        f"terminus it stands at. {HOW_TO_MODIFY}"
    )


def parse_peptide(text: str, carbamidomethyl: bool = False) -> oms.AASequence:
    """The peptide ``text`` means; with ``carbamidomethyl`` every unmodified C carbamidomethylated
    (the fixed modification of most protocols)."""
    if len(text) > MAX_PEPTIDE_CHARS:
        raise ChemInputError(
            f"The sequence is longer than {MAX_PEPTIDE_CHARS:,} characters: enter one peptide."
        )
    normalised, residues = _normalised(text)
    if residues == 0:
        raise ChemInputError("Enter a peptide sequence, e.g. PEPTIDEK or PEPTIDEM(Oxidation)K.")
    if residues > MAX_PEPTIDE_LENGTH:
        raise ChemInputError(
            f"The peptide has {residues:,} residues; these tools take at most {MAX_PEPTIDE_LENGTH}. "
            "For a protein, use the In-silico digest page."
        )
    try:
        sequence = oms.AASequence.fromString(normalised)
    except RuntimeError:
        raise _unreadable(normalised) from None
    if carbamidomethyl:
        _carbamidomethylate(sequence)
    return sequence


def _carbamidomethylate(sequence: oms.AASequence) -> None:
    for index in range(sequence.size()):
        residue = sequence.getResidue(index)
        if residue.getOneLetterCode() == "C" and not residue.isModified():
            sequence.setModification(index, "Carbamidomethyl")


def ion_name(charge: int) -> str:
    """The protonated ion of a charge: [M+H]+, [M+2H]2+, ..."""
    return "[M+H]+" if charge == 1 else f"[M+{charge}H]{charge}+"


def peptide_masses(text: str, max_charge: int, carbamidomethyl: bool = False) -> PeptideMasses:
    """A peptide's formula, monoisotopic and average mass, and its m/z at charges 1 to ``max_charge``."""
    check_charge(max_charge)
    sequence = parse_peptide(text, carbamidomethyl)
    charges = list(range(1, max_charge + 1))
    table = pd.DataFrame(
        {
            "ion": [ion_name(z) for z in charges],
            "charge": charges,
            "m/z": [sequence.getMZ(z) for z in charges],
        }
    )
    return PeptideMasses(
        sequence.toString(),
        sequence.getFormula().toString(),
        sequence.getMonoWeight(),
        sequence.getAverageWeight(),
        table,
    )
