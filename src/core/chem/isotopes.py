"""Isotope patterns of a molecular formula or a peptide, from OpenMS's isotope pattern generators.

The coarse pattern (``CoarseIsotopePatternGenerator``) has one peak per nominal mass, as a mass
spectrometer of modest resolution sees it. The fine pattern (``FineIsotopePatternGenerator``) has
one peak per isotopologue whose share of the molecules is at least FINE_MIN_PROBABILITY; that
bound keeps it to at most 1/FINE_MIN_PROBABILITY peaks whatever the formula (a threshold relative
to the highest peak does not: tin or selenium atoms make millions of isotopologues). At a chosen
resolution, peaks closer than their width (m/z / resolution) are merged as the instrument would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyopenms as oms
from pyopenms.Constants import PROTON_MASS_U

from src.core.chem.limits import (
    MAX_FORMULA_ATOMS,
    MAX_FORMULA_CHARS,
    MAX_ISOTOPE_PEAKS,
    ChemInputError,
    check_charge,
)
from src.core.chem.peptides import parse_peptide

#: The resolutions (m/z over peak width) a fine pattern may be shown at; None: every isotopologue.
RESOLUTIONS = (None, 10_000, 30_000, 60_000, 120_000, 240_000, 500_000, 1_000_000)
#: The smallest share of the molecules a fine pattern's isotopologue has.
FINE_MIN_PROBABILITY = 1e-5
#: Peaks below this fraction of the highest one are not listed.
MIN_RELATIVE = 1e-4
#: What a formula may be made of: element symbols with counts, an isotope's mass number in brackets.
_ELEMENT = re.compile(r"(\(\d+\))?([A-Z][a-z]?)(\d*)")
_HOW_TO_WRITE = "write element symbols each followed by its count, e.g. C6H12O6 (an isotope as (13)C6)"


@dataclass(frozen=True)
class IsotopePattern:
    """The peaks of an isotope pattern (m/z, probability %, relative abundance %), sorted by m/z."""

    formula: str
    monoisotopic: float  # the neutral molecule's monoisotopic mass
    charge: int  # 0: the peaks' m/z are neutral masses
    peaks: pd.DataFrame
    covered: float  # the share of the molecules the pattern's peaks hold, listed or not
    left_out: int  # peaks above MIN_RELATIVE not listed (more than MAX_ISOTOPE_PEAKS)


def _formula_error(compact: str, position: int) -> ChemInputError:
    char = compact[position]
    if char in "+-":
        return ChemInputError(
            "A formula has no signs: enter the neutral formula with positive counts, and choose the "
            "charge below."
        )
    if char.islower():
        return ChemInputError(f"Element symbols start with a capital letter: {_HOW_TO_WRITE}.")
    return ChemInputError(f"'{compact}' is not a molecular formula: {_HOW_TO_WRITE}.")


def _count_atoms(compact: str) -> int:
    """The atoms of a formula, after checking that it is one and names known elements only."""
    elements, atoms, position = oms.ElementDB(), 0, 0
    while position < len(compact):
        found = _ELEMENT.match(compact, position)
        if found is None:
            raise _formula_error(compact, position)
        if not elements.hasElement(found.group(2)):
            raise ChemInputError(f"'{found.group(2)}' is not a chemical element: {_HOW_TO_WRITE}.")
        atoms += int(found.group(3) or 1)
        position = found.end()
    return atoms


def parse_formula(text: str) -> oms.EmpiricalFormula:
    """The molecular formula ``text`` (white space ignored), at most MAX_FORMULA_ATOMS atoms."""
    compact = "".join(text.split())
    if not compact:
        raise ChemInputError("Enter a molecular formula, e.g. C6H12O6.")
    if len(compact) > MAX_FORMULA_CHARS:
        raise ChemInputError(f"The formula is longer than {MAX_FORMULA_CHARS} characters: {_HOW_TO_WRITE}.")
    atoms = _count_atoms(compact)
    if not 0 < atoms <= MAX_FORMULA_ATOMS:
        raise ChemInputError(
            f"The formula has {atoms:,} atoms; this page takes 1 to {MAX_FORMULA_ATOMS:,} atoms."
        )
    try:
        return oms.EmpiricalFormula(compact)
    except RuntimeError:  # an isotope OpenMS does not know, e.g. (99)C
        raise ChemInputError(f"OpenMS cannot read the formula '{compact}': {_HOW_TO_WRITE}.") from None


def _distribution(formula: oms.EmpiricalFormula, fine: bool) -> tuple[np.ndarray, np.ndarray]:
    """(neutral masses, probabilities) of the pattern's peaks."""
    if fine:
        generator = oms.FineIsotopePatternGenerator(FINE_MIN_PROBABILITY, False, True)
    else:
        generator = oms.CoarseIsotopePatternGenerator(0)  # 0: every isotope peak
    peaks = formula.getIsotopeDistribution(generator).getContainer()
    masses = np.fromiter((peak.getMZ() for peak in peaks), float, len(peaks))
    return masses, np.fromiter((peak.getIntensity() for peak in peaks), float, len(peaks))


def merged(mz: np.ndarray, probability: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Peaks (sorted by m/z) merged where neighbours are closer than the peak width m/z / resolution:
    each group becomes one peak at its probability-weighted m/z with its summed probability."""
    if len(mz) < 2:
        return mz, probability
    group = np.concatenate([[0], np.cumsum(np.diff(mz) > mz[:-1] / resolution)])
    total = np.bincount(group, weights=probability)
    return np.bincount(group, weights=probability * mz) / total, total


def _table(mz: np.ndarray, probability: np.ndarray) -> tuple[pd.DataFrame, int]:
    """The listed peaks (at least MIN_RELATIVE of the highest, at most MAX_ISOTOPE_PEAKS of the most
    abundant) by m/z; and how many were above MIN_RELATIVE but not listed."""
    relative = probability / probability.max()
    kept = np.flatnonzero(relative >= MIN_RELATIVE)
    left_out = max(len(kept) - MAX_ISOTOPE_PEAKS, 0)
    kept = np.sort(kept[np.argsort(-relative[kept], kind="stable")][:MAX_ISOTOPE_PEAKS])
    table = pd.DataFrame(
        {
            "m/z": mz[kept],
            "probability %": 100 * probability[kept],
            "relative abundance %": 100 * relative[kept],
        }
    )
    return table, left_out


def isotope_pattern(
    text: str, peptide: bool = False, charge: int = 1, fine: bool = False, resolution: int | None = None
) -> IsotopePattern:
    """The isotope pattern of the formula ``text`` (of the peptide ``text`` if ``peptide``) as
    [M+zH]z+ ions (neutral masses at charge 0); a fine pattern at ``resolution`` (None: exact)."""
    check_charge(charge, lowest=0)
    if resolution not in RESOLUTIONS:
        raise ChemInputError(f"Choose a resolution from {', '.join(f'{r:,}' for r in RESOLUTIONS if r)}.")
    formula = parse_peptide(text).getFormula() if peptide else parse_formula(text)
    masses, probability = _distribution(formula, fine)
    if not len(masses):
        raise ChemInputError(
            "The fine pattern of this formula is spread over so many isotopologues that none holds "
            f"{100 * FINE_MIN_PROBABILITY:g} % of the molecules: choose the coarse pattern."
        )
    mz = (masses + charge * PROTON_MASS_U) / charge if charge else masses
    order = np.argsort(mz, kind="stable")
    mz, probability = mz[order], probability[order]
    if fine and resolution:
        mz, probability = merged(mz, probability, resolution)
    table, left_out = _table(mz, probability)
    covered = float(probability.sum())
    return IsotopePattern(formula.toString(), formula.getMonoWeight(), charge, table, covered, left_out)
