"""Can a database search use an mzML file? A cheap look at its text, before any tool runs.

Comet searches fragment (MS2) spectra; a file without any makes the search write no hits, and the
run would fail three steps later with an error about decoys that names no cause. So the start of
each file is read for the first spectrum whose ``ms level`` is 2 (a few kilobytes into a real
data-dependent run). A large file whose first :data:`SCAN_BYTES` hold none is let through: the
tools, not this guess, have the last word on it.
"""

from __future__ import annotations

import re
from pathlib import Path

#: How far into a file the first MS2 spectrum is looked for.
SCAN_BYTES = 32 * 1024**2
CHUNK_BYTES = 1024**2
_MS2 = re.compile(rb'accession="MS:1000511"[^>]*value="2"')
_SPECTRUM = re.compile(rb"<spectrum[\s>]")


def problem(path: Path) -> str:
    """Why a search cannot use this mzML file, or "" if it looks usable."""
    size = path.stat().st_size
    if size == 0:
        return f"{path.name} is empty. Remove it on the File Upload page and upload the complete file."
    seen_spectrum = False
    with path.open("rb") as handle:
        tail = b""
        for _ in range(SCAN_BYTES // CHUNK_BYTES):
            chunk = handle.read(CHUNK_BYTES)
            if not chunk:
                break
            text = tail + chunk
            if _MS2.search(text):
                return ""
            seen_spectrum = seen_spectrum or bool(_SPECTRUM.search(text))
            tail = text[-512:]  # a cvParam cut by the chunk's end is found in the next round
        else:
            return ""  # not read to its end: too large to judge cheaply
    if not seen_spectrum:
        return f"{path.name} holds no spectra. Remove it on the File Upload page or upload the complete run."
    return (
        f"{path.name} holds no fragment (MS2) spectra, which the database search needs: it is not "
        "data-dependent (DDA) data. Remove it on the File Upload page."
    )


def problems(paths: list[Path]) -> list[str]:
    """One message per unusable file."""
    return [found for found in (problem(path) for path in paths) if found]
