"""Is an mzML file profile or centroid data? Read from its first MS1 spectra with pyOpenMS.

Feature finding (FeatureFinderMetabo) needs centroided MS1 spectra; most instruments
write profile data, which a workflow centroids first (PeakPickerHiRes). Reading the
whole file would cost as much as the run, so :func:`inspect` streams the file and
stops after :data:`MS1_SAMPLE` MS1 spectra: the mode is taken from each spectrum's
own annotation, or estimated from its peaks where the file does not say.

The web app calls this through :func:`inspect_isolated` (a child interpreter): a file
crafted to crash the parser must not take the web server down with it.
``python -m src.workflows.peak_mode FILE...`` prints one JSON object per file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from src.core.settings import tool_environment

#: MS1 spectra read per file; a file whose first ones agree is taken to be of that mode.
MS1_SAMPLE = 10
#: A real mzML file's first spectrum follows a header of a few KB; a file without one this far in
#: is not worth parsing to its end.
SCAN_BYTES = 64 * 1024**2
MB = 1024**2
#: Seconds the isolated inspection of a batch of uploads may take.
INSPECT_TIMEOUT = 120


class PeakMode(StrEnum):
    CENTROID = "centroid"
    PROFILE = "profile"
    MIXED = "mixed"
    NO_MS1 = "no MS1"
    NO_PEAKS = "no peaks"
    UNREADABLE = "unreadable"

    @property
    def usable(self) -> bool:
        """Can feature finding use the file (centroided first where needed)?"""
        return self in (PeakMode.CENTROID, PeakMode.PROFILE)

    @property
    def refused(self) -> bool:
        """Does a run refuse the file? A file that could not be read goes to the tools as it is:
        their own error says best what is wrong with it."""
        return not self.usable and self is not PeakMode.UNREADABLE


@dataclass(frozen=True)
class Inspection:
    name: str
    mode: PeakMode
    ms1_read: int = 0
    detail: str = ""

    def message(self) -> str:
        """What the file is, in the user's words, and what happens to it (or what to do)."""
        if self.mode is PeakMode.CENTROID:
            return f"{self.name}: centroid data, used as it is."
        if self.mode is PeakMode.PROFILE:
            return (
                f"{self.name}: profile data; the workflow centroids it with PeakPickerHiRes before "
                "feature finding (its parameters are on the Configure page)."
            )
        if self.mode is PeakMode.MIXED:
            return (
                f"{self.name}: its MS1 spectra are partly profile and partly centroid data, which no step "
                "can handle as one. Convert it again with one peak mode for all spectra (e.g. msconvert "
                "with or without its peakPicking filter) and upload that file."
            )
        if self.mode is PeakMode.NO_MS1:
            return (
                f"{self.name}: the file holds no MS1 spectra (only MS{self.detail or 'n'}), and feature "
                "finding works on MS1 survey scans. Upload the full run, including its MS1 scans."
            )
        if self.mode is PeakMode.NO_PEAKS:
            return f"{self.name}: its MS1 spectra hold no peaks. Check the conversion that made this file."
        return f"{self.name}: the file could not be read as mzML ({self.detail}). Upload the complete file."


class _Enough(Exception):
    """Raised inside the pyOpenMS consumer to stop reading once the sample is complete."""


class _Sampler:
    """A pyOpenMS spectrum consumer that records MS levels and peak modes, then stops."""

    def __init__(self) -> None:
        self.levels: set[int] = set()
        self.ms1_modes: list[str] = []
        self.done = False

    def setExperimentalSettings(self, settings) -> None:  # the name is the interface's
        pass

    def setExpectedSize(self, spectra: int, chromatograms: int) -> None:
        pass

    def consumeChromatogram(self, chromatogram) -> None:
        pass

    def consumeSpectrum(self, spectrum) -> None:
        import pyopenms as oms

        level = spectrum.getMSLevel()
        self.levels.add(level)
        if level != 1:
            return
        kind = spectrum.getType(True)  # the annotation, else estimated from the peaks
        types = oms.SpectrumSettings.SpectrumType
        if kind == types.PROFILE:
            self.ms1_modes.append("profile")
        elif kind == types.CENTROID:
            self.ms1_modes.append("centroid")
        else:
            self.ms1_modes.append("unknown")
        if len(self.ms1_modes) >= MS1_SAMPLE:
            self.done = True
            raise _Enough


def inspect(path: Path) -> Inspection:
    """The peak mode of ``path`` from its first MS1 spectra (reads the whole file only if it has
    fewer MS1 spectra than the sample). A file damaged after some MS1 spectra is judged by those."""
    import pyopenms as oms

    if not _spectrum_near_start(path):
        return Inspection(
            path.name, PeakMode.UNREADABLE, detail=f"no spectrum in its first {SCAN_BYTES // MB} MB"
        )
    sampler = _Sampler()
    try:
        oms.MzMLFile().transform(str(path).encode(), sampler, True, True)
    except RuntimeError as err:  # a damaged file, or the sampler stopping the reader
        if not sampler.done and not sampler.ms1_modes:
            return Inspection(path.name, PeakMode.UNREADABLE, detail=_parse_error(err))
    return _classify(path.name, sampler)


def _spectrum_near_start(path: Path) -> bool:
    """Does a ``<spectrum`` element start within the first :data:`SCAN_BYTES` (or the file is smaller)?"""
    tag, tail = b"<spectrum", b""
    with path.open("rb") as handle:
        while handle.tell() < SCAN_BYTES:
            chunk = handle.read(MB)
            if not chunk:
                return True  # a small file: let the parser say what it is
            if tag in tail + chunk:
                return True
            tail = chunk[-len(tag) :]
    return False


def _classify(name: str, sampler: _Sampler) -> Inspection:
    modes = set(sampler.ms1_modes) - {"unknown"}
    read = len(sampler.ms1_modes)
    if read == 0:
        others = ", ".join(str(level) for level in sorted(sampler.levels))
        if not others:
            return Inspection(name, PeakMode.UNREADABLE, detail="it holds no spectra")
        return Inspection(name, PeakMode.NO_MS1, detail=others)
    if not modes:
        return Inspection(name, PeakMode.NO_PEAKS, read)
    if len(modes) > 1:
        return Inspection(name, PeakMode.MIXED, read)
    return Inspection(name, PeakMode(modes.pop()), read)


def _parse_error(err: Exception) -> str:
    """What went wrong, in words: pyOpenMS's exception names only a C++ location (the reason goes to
    stderr, which :func:`inspect_isolated` reads)."""
    return (
        "it is damaged or incomplete XML"
        if "Parse Error" in str(err)
        else f"{type(err).__name__}: {err}"[:200]
    )


#: OpenMS's own line on stderr for a file it cannot parse.
_LOAD_ERROR = re.compile(r"While loading '(?P<path>[^']+)': (?P<reason>.+?)(\( in line .*)?$")


def inspect_isolated(paths: list[Path]) -> list[Inspection]:
    """:func:`inspect` each file in a child interpreter (without the deployment's secrets), so that
    no parser crash reaches the caller."""
    if not paths:
        return []
    try:
        done = subprocess.run(
            [sys.executable, "-m", "src.workflows.peak_mode", *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=INSPECT_TIMEOUT,
            env=tool_environment(os.environ),
            cwd=Path(__file__).resolve().parents[2],
        )
    except subprocess.TimeoutExpired:
        return [Inspection(p.name, PeakMode.UNREADABLE, detail="reading it took too long") for p in paths]
    reasons = {}
    for line in done.stderr.splitlines():
        if match := _LOAD_ERROR.search(line):
            reasons[Path(match["path"]).name] = match["reason"].strip()[:200]
    found = {}
    for line in done.stdout.splitlines():
        try:
            record = json.loads(line)
            name, mode = record["name"], PeakMode(record["mode"])
            detail = reasons.get(name, record["detail"]) if mode is PeakMode.UNREADABLE else record["detail"]
            found[name] = Inspection(name, mode, record["ms1_read"], detail)
        except (ValueError, KeyError):
            continue  # pyOpenMS writes its own lines to stdout too
    crashed = f"the reader stopped with exit code {done.returncode}"
    return [found.get(p.name) or Inspection(p.name, PeakMode.UNREADABLE, detail=crashed) for p in paths]


def main(argv: list[str]) -> int:
    for arg in argv:
        result = inspect(Path(arg))
        print(json.dumps({**asdict(result), "mode": result.mode.value}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
