"""A large centroided mzML, written with pyOpenMS one spectrum at a time (a 1 GB file needs no
1 GB in memory): MS1 spectra of noise peaks plus compounds that elute over several spectra, and an
MS2 spectrum with a precursor after every ``ms2_every`` MS1 spectra.

    .venv/bin/python -m bench.big_mzml OUT.mzML [--gb 1.0]

About 16 bytes of file per peak (m/z 64-bit, intensity 32-bit, base64, no compression).
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pyopenms as oms

BYTES_PER_PEAK = 16.0
PEAKS_PER_SPECTRUM = 6_000
MZ_RANGE = (100.0, 1500.0)
RUN_SECONDS = 3600.0


def write(path: Path, target_gb: float = 1.0, ms2_every: int = 5, seed: int = 7) -> dict:
    """Write the file; return what it holds (spectra per level, peaks)."""
    rng = np.random.default_rng(seed)
    ms1_count = max(10, int(target_gb * 1e9 / BYTES_PER_PEAK / PEAKS_PER_SPECTRUM))
    compounds = _compounds(rng, max(200, ms1_count // 10))
    consumer = oms.PlainMSDataWritingConsumer(str(path))
    consumer.setExpectedSize(ms1_count + ms1_count // ms2_every, 0)
    held = {"ms1": 0, "ms2": 0, "peaks": 0}
    for number in range(ms1_count):
        rt = RUN_SECONDS * number / ms1_count
        spectrum = _ms1(rng, rt, compounds, number)
        consumer.consumeSpectrum(spectrum)
        held["ms1"] += 1
        held["peaks"] += spectrum.size()
        if number % ms2_every == ms2_every - 1:
            ms2 = _ms2(rng, rt + 0.05, spectrum, number)
            consumer.consumeSpectrum(ms2)
            held["ms2"] += 1
            held["peaks"] += ms2.size()
    del consumer  # flushes and closes the file
    return held


def _compounds(rng: np.random.Generator, count: int) -> np.ndarray:
    """(m/z, apex RT, width s, height) of compounds that elute."""
    return np.column_stack(
        [
            rng.uniform(*MZ_RANGE, count),
            rng.uniform(0, RUN_SECONDS, count),
            rng.uniform(4, 20, count),
            10 ** rng.uniform(4, 7, count),
        ]
    )


def _ms1(rng: np.random.Generator, rt: float, compounds: np.ndarray, number: int) -> oms.MSSpectrum:
    eluting = compounds[np.abs(compounds[:, 1] - rt) < 3 * compounds[:, 2]]
    heights = eluting[:, 3] * np.exp(-0.5 * ((rt - eluting[:, 1]) / eluting[:, 2]) ** 2)
    noise = PEAKS_PER_SPECTRUM - len(eluting)
    mz = np.concatenate([rng.uniform(*MZ_RANGE, noise), eluting[:, 0] + rng.normal(0, 1e-4, len(eluting))])
    intensity = np.concatenate([rng.exponential(300.0, noise), heights]).astype(np.float32)
    order = np.argsort(mz)
    spectrum = oms.MSSpectrum()
    spectrum.setRT(rt)
    spectrum.setMSLevel(1)
    spectrum.setType(oms.SpectrumSettings.SpectrumType.CENTROID)
    spectrum.setNativeID(f"scan={number * 2 + 1}")
    spectrum.set_peaks((mz[order], intensity[order]))
    return spectrum


def _ms2(rng: np.random.Generator, rt: float, ms1: oms.MSSpectrum, number: int) -> oms.MSSpectrum:
    mz, intensity = ms1.get_peaks()
    precursor = oms.Precursor()
    precursor.setMZ(float(mz[int(np.argmax(intensity))]))
    precursor.setCharge(2)
    fragments = np.sort(rng.uniform(50.0, precursor.getMZ() * 2, 200))
    spectrum = oms.MSSpectrum()
    spectrum.setRT(rt)
    spectrum.setMSLevel(2)
    spectrum.setType(oms.SpectrumSettings.SpectrumType.CENTROID)
    spectrum.setNativeID(f"scan={number * 2 + 2}")
    spectrum.setPrecursors([precursor])
    spectrum.set_peaks((fragments, rng.exponential(1000.0, 200).astype(np.float32)))
    return spectrum


@click.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--gb", default=1.0, show_default=True, help="about how large the file is (GB)")
def main(out: Path, gb: float) -> None:
    held = write(out, gb)
    click.echo(f"{out}: {out.stat().st_size / 1e9:.2f} GB, {held}")


if __name__ == "__main__":
    main()
