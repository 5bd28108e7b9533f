"""The peptides identified in one file at the PSM FDR, as the raw data viewer draws them over its peak
map: a point at each identified spectrum's precursor (RT, m/z), labelled with its best hit, as the
PSM table has it ("PEPTIDEK (2+), q=0.003"). The workflow imports this module only when a viewer
asks, so pyOpenMS loads only then.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyopenms as oms

from src.core.viewer import MapOverlay
from src.workflows.run_overlay import MAX_POINTS, best, shown

log = logging.getLogger(__name__)

#: The main score after FalseDiscoveryRate (and so in IDFilter's output).
Q_VALUE = "q-value"


def peptides(path: Path, caption: str, limit: int = MAX_POINTS) -> MapOverlay | None:
    """The ``limit`` best-scoring identified spectra of an idXML file (None if it cannot be read)."""
    found = identified(path)
    if found is None:
        return None
    ranks = np.array([rank(spectrum) for spectrum in found], dtype=float)
    picked = [found[int(index)] for index in best(ranks, limit)]
    return MapOverlay(
        kind="peptides",
        source=shown(caption, len(picked), len(found), "best-scoring identified spectra"),
        rt=np.array([spectrum.getRT() for spectrum in picked], dtype=float),
        mz=np.array([spectrum.getMZ() for spectrum in picked], dtype=float),
        labels=tuple(label(spectrum) for spectrum in picked),
    )


def identified(path: Path) -> list[oms.PeptideIdentification] | None:
    """The identified spectra of an idXML file (those with a hit), None if it cannot be read."""
    proteins: list = []
    spectra = oms.PeptideIdentificationList()
    try:
        oms.IdXMLFile().load(str(path), proteins, spectra)
    except RuntimeError as err:  # a damaged result: the viewer shows the map without overlay
        log.warning("no map overlay from %s: %s", path, err)
        return None
    return [spectrum for spectrum in spectra if spectrum.getHits()]


def rank(spectrum: oms.PeptideIdentification) -> float:
    """The best hit's score, higher meaning better (a q-value is better the lower it is)."""
    score = spectrum.getHits()[0].getScore()
    return score if spectrum.isHigherScoreBetter() else -score


def label(spectrum: oms.PeptideIdentification) -> str:
    """The best hit (the first, as in the PSM table): "PEPTIDEK (2+), q=0.003"."""
    hit = spectrum.getHits()[0]
    charge = hit.getCharge()
    text = hit.getSequence().toString()
    if charge:
        text += f" ({abs(charge)}{'+' if charge > 0 else '-'})"
    name = "q" if spectrum.getScoreType() == Q_VALUE else spectrum.getScoreType() or "score"
    return f"{text}, {name}={hit.getScore():.3g}"
