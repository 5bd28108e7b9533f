"""In-silico digestion of proteins with an enzyme of OpenMS's ProteaseDB.

``ProteaseDigestion.digestUnmodified`` gives the peptides but not where they stand. Digested with
no missed cleavage and no length filter, its pieces are the protein cut at every site, in order;
a peptide with ``n`` missed cleavages is ``n + 1`` neighbouring pieces, so each peptide's position
and missed cleavages follow from the pieces (the same peptides ``digestUnmodified`` gives with
missed cleavages: tests/test_chem.py checks that for every offered enzyme).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import pyopenms as oms
from pyopenms.Constants import PROTON_MASS_U

from src.core.chem.limits import (
    AMINO_ACID_HINT,
    AMINO_ACIDS,
    MAX_DIGEST_ROWS,
    MAX_MISSED_CLEAVAGES,
    MAX_PROTEIN_RESIDUES,
    MAX_PROTEIN_TEXT_CHARS,
    ChemInputError,
)

DEFAULT_ENZYME = "Trypsin"
#: ProteaseDB's enzymes that are not offered: every substring of a protein is no digest to list.
NOT_OFFERED = frozenset({"unspecific cleavage"})
#: The charges whose m/z the table lists.
TABLE_CHARGES = (1, 2, 3)
COLUMNS = [
    "protein", "peptide", "start", "end", "missed cleavages", "length", "monoisotopic mass",
    *(f"m/z {z}+" for z in TABLE_CHARGES),
]  # fmt: skip


@dataclass(frozen=True)
class Protein:
    name: str
    sequence: str


@dataclass(frozen=True)
class Digest:
    """The peptides of a digest: the first MAX_DIGEST_ROWS in ``peptides``, all of them counted."""

    peptides: pd.DataFrame
    total: int
    proteins: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.peptides)


def enzymes() -> list[str]:
    """The enzymes a digest may use, by name (ProteaseDB's, but NOT_OFFERED)."""
    names: list[str] = []
    oms.ProteaseDB().getAllNames(names)
    return sorted((name for name in names if name not in NOT_OFFERED), key=str.lower)


def parse_proteins(text: str) -> list[Protein]:
    """The proteins of pasted text: one bare sequence, or FASTA entries (">name description" lines)."""
    if len(text) > MAX_PROTEIN_TEXT_CHARS:
        raise ChemInputError(
            f"The text is longer than {MAX_PROTEIN_TEXT_CHARS:,} characters: paste fewer proteins."
        )
    entries: list[tuple[str, list[str]]] = []
    for line in (line.strip() for line in text.splitlines()):
        if line.startswith(">"):
            words = line[1:].split()
            entries.append((words[0] if words else f"protein {len(entries) + 1}", []))
        elif line:
            if not entries:
                entries.append(("sequence", []))
            entries[-1][1].append(line)
    if not entries:
        raise ChemInputError("Paste a protein sequence, or FASTA text with one or more entries.")
    proteins = [_protein(name, "".join(lines)) for name, lines in entries]
    residues = sum(len(protein.sequence) for protein in proteins)
    if residues > MAX_PROTEIN_RESIDUES:
        raise ChemInputError(
            f"The proteins have {residues:,} residues together; this page digests at most "
            f"{MAX_PROTEIN_RESIDUES:,}. Paste fewer or shorter proteins."
        )
    return proteins


def _protein(name: str, text: str) -> Protein:
    sequence = "".join(text.split()).upper().removesuffix("*")  # a stop codon's * may end it
    if not sequence:
        raise ChemInputError(
            f"The FASTA entry '{name}' has no sequence: paste its sequence below its header."
        )
    for position, letter in enumerate(sequence, start=1):
        if letter not in AMINO_ACIDS:
            raise ChemInputError(
                f"'{letter}' at position {position} of {name} is not an amino acid: {AMINO_ACID_HINT}."
            )
    return Protein(name, sequence)


def _check(enzyme: str, missed_cleavages: int, min_length: int, max_length: int) -> None:
    if enzyme not in enzymes():
        raise ChemInputError(f"'{enzyme}' is not an enzyme OpenMS knows: choose one of the list.")
    if not 0 <= missed_cleavages <= MAX_MISSED_CLEAVAGES:
        raise ChemInputError(
            f"Missed cleavages must be from 0 to {MAX_MISSED_CLEAVAGES}, not {missed_cleavages}."
        )
    for length in (min_length, max_length):
        if not 1 <= length <= MAX_PROTEIN_RESIDUES:
            raise ChemInputError(f"Peptide lengths must be from 1 to {MAX_PROTEIN_RESIDUES:,}, not {length}.")
    if min_length > max_length:
        raise ChemInputError(
            f"The minimum length ({min_length}) is larger than the maximum length ({max_length}): "
            "lower the minimum or raise the maximum."
        )


def _peptides(
    protein: Protein, enzyme: str, missed_cleavages: int, min_length: int, max_length: int
) -> Iterator[tuple[str, str, int, int, int]]:
    """(protein, peptide, start, end, missed cleavages) in the protein's order; positions from 1."""
    digestion = oms.ProteaseDigestion()
    digestion.setEnzyme(enzyme)
    digestion.setMissedCleavages(0)
    pieces, _ = digestion.digestUnmodified(protein.sequence, 1, 0)
    starts = [0]
    for piece in pieces:
        starts.append(starts[-1] + len(piece))
    for first in range(len(pieces)):
        for missed in range(min(missed_cleavages, len(pieces) - 1 - first) + 1):
            start, end = starts[first], starts[first + missed + 1]
            if min_length <= end - start <= max_length:
                yield protein.name, protein.sequence[start:end], start + 1, end, missed


def _row(found: tuple[str, str, int, int, int]) -> list:
    name, peptide, start, end, missed = found
    mass = oms.AASequence.fromString(peptide).getMonoWeight()
    return [name, peptide, start, end, missed, len(peptide), mass] + [
        (mass + z * PROTON_MASS_U) / z for z in TABLE_CHARGES
    ]


def digest(
    text: str,
    enzyme: str = DEFAULT_ENZYME,
    missed_cleavages: int = 0,
    min_length: int = 6,
    max_length: int = 40,
) -> Digest:
    """The peptides of the proteins in ``text`` (see :func:`parse_proteins`) from ``min_length`` to
    ``max_length`` residues, with up to ``missed_cleavages``."""
    _check(enzyme, missed_cleavages, min_length, max_length)
    proteins = parse_proteins(text)
    rows, total = [], 0
    for protein in proteins:
        for found in _peptides(protein, enzyme, missed_cleavages, min_length, max_length):
            total += 1
            if len(rows) < MAX_DIGEST_ROWS:
                rows.append(_row(found))
    return Digest(pd.DataFrame(rows, columns=COLUMNS), total, len(proteins))


def digest_tsv(result: Digest) -> str:
    """The listed peptides as tab-separated text, for a download."""
    return result.peptides.to_csv(sep="\t", index=False, float_format="%.6f")
