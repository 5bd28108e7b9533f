"""Theoretical fragment ions of a peptide, from OpenMS's TheoreticalSpectrumGenerator.

The generator names every peak it makes (``add_metainfo``: "b3+", "y5++", "y1-H3N1+"); the table
keeps its m/z and charge and writes the name as people do ("b3", "y5++", "y1-NH3").
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd
import pyopenms as oms

from src.core.chem.limits import ChemInputError, check_charge
from src.core.chem.peptides import parse_peptide

#: The ion series a table may hold (N-terminal a, b, c; C-terminal x, y, z).
ION_TYPES = ("a", "b", "c", "x", "y", "z")
#: How OpenMS writes the neutral losses it adds, and how the table writes them.
LOSS_NAMES = {"H2O1": "H2O", "H3N1": "NH3"}
COLUMNS = ["ion", "series", "number", "loss", "charge", "m/z", "relative intensity"]


def _generator(ion_types: Collection[str], losses: bool) -> oms.TheoreticalSpectrumGenerator:
    generator = oms.TheoreticalSpectrumGenerator()
    params = generator.getParameters()
    for ion_type in ION_TYPES:
        params.setValue(f"add_{ion_type}_ions", "true" if ion_type in ion_types else "false")
    params.setValue("add_losses", "true" if losses else "false")
    params.setValue("add_first_prefix_ion", "true")  # b1, a1, c1 too: a table lists every ion
    params.setValue("add_metainfo", "true")  # each peak's name ("b3+") and charge
    generator.setParameters(params)
    return generator


def _row(name: str, charge: int, mz: float, intensity: float) -> list:
    """A table row for a peak the generator named ``name`` ("y5-H3N1++")."""
    ion, _, loss = name.rstrip("+").partition("-")
    loss = LOSS_NAMES.get(loss, loss)
    label = ion + (f"-{loss}" if loss else "") + ("+" * charge if charge > 1 else "")
    return [label, ion[0], int(ion[1:]), loss, charge, mz, intensity]


def _check_ion_types(ion_types: Collection[str]) -> None:
    unknown = sorted(set(ion_types) - set(ION_TYPES))
    if unknown:
        raise ChemInputError(f"Unknown ion type {unknown[0]!r}: choose from {', '.join(ION_TYPES)}.")
    if not ion_types:
        raise ChemInputError("Choose at least one ion type (b and y are the usual ones).")


def fragment_ions(
    text: str,
    ion_types: Collection[str] = ("b", "y"),
    max_charge: int = 1,
    losses: bool = False,
    carbamidomethyl: bool = False,
) -> pd.DataFrame:
    """The fragment ions of the peptide ``text`` of the given series at charges 1 to ``max_charge``,
    with their H2O and NH3 losses if ``losses``; sorted by m/z."""
    _check_ion_types(ion_types)
    check_charge(max_charge)
    sequence = parse_peptide(text, carbamidomethyl)
    if sequence.size() < 2:
        raise ChemInputError(
            "A single residue has no fragment ions: enter a peptide of two or more residues."
        )
    spectrum = oms.MSSpectrum()
    _generator(ion_types, losses).getSpectrum(spectrum, sequence, 1, max_charge)
    names, charges = spectrum.getStringDataArrays()[0], spectrum.getIntegerDataArrays()[0]
    mzs, intensities = spectrum.get_peaks()
    rows = [
        _row(str(names[i]), int(charges[i]), float(mzs[i]), float(intensities[i]))
        for i in range(spectrum.size())
    ]
    return pd.DataFrame(rows, columns=COLUMNS).sort_values("m/z", ignore_index=True)
