"""Deterministic demo data: small, realistic centroided LC-MS runs made with pyOpenMS.

The app offers these as "Load example data" and the tests use them, so the project
does not depend on anyone's instrument files. Each run is MS1 only, one spectrum
per second; the samples share one set of compounds (isotope patterns, Gaussian
elution profiles) with per-sample intensity changes, small retention time shifts,
a few compounds absent from some samples, m/z jitter of a few ppm and
low-intensity noise peaks. With ``noise_threshold_int`` 100, FeatureFinderMetabo
finds the compounds and ignores the noise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyopenms as oms

log = logging.getLogger(__name__)

C13_SPACING = 1.0033548
PPM_JITTER = 3.0


@dataclass(frozen=True)
class Compound:
    mz: float
    rt: float
    sigma: float  # elution peak width (s), Gaussian standard deviation
    intensity: float  # apex intensity of the monoisotopic peak
    isotopes: tuple[float, ...]  # relative abundances of M, M+1, M+2


def _compounds(rng: np.random.Generator, count: int, duration: float) -> list[Compound]:
    compounds = []
    margin = min(20.0, duration / 4)  # keep elution peaks inside the run
    for _ in range(count):
        mz = float(rng.uniform(100, 900))
        carbons = mz / 14.0  # a rough carbon count for the isotope pattern
        m1 = 0.011 * carbons
        compounds.append(
            Compound(
                mz=mz,
                rt=float(rng.uniform(margin, duration - margin)),
                sigma=float(rng.uniform(4, 10) / 2.355),
                intensity=float(10 ** rng.uniform(4, 6)),
                isotopes=(1.0, m1, m1 * m1 / 2),
            )
        )
    return compounds


def _sample_profile(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per compound in one sample: intensity factor, retention time shift, present or not."""
    factors = rng.lognormal(0.0, 0.3, count)
    shifts = rng.normal(0.0, 1.0) + rng.normal(0.0, 0.3, count)
    present = rng.random(count) > 0.1
    return factors, shifts, present


def _spectrum(rt: float, peaks: list[tuple[np.ndarray, np.ndarray]], index: int) -> oms.MSSpectrum:
    mz = np.concatenate([p[0] for p in peaks])
    intensity = np.concatenate([p[1] for p in peaks])
    order = np.argsort(mz)
    spectrum = oms.MSSpectrum()
    spectrum.setRT(rt)
    spectrum.setMSLevel(1)
    spectrum.setNativeID(f"scan={index + 1}")
    spectrum.setType(oms.SpectrumSettings.SpectrumType.CENTROID)
    spectrum.getInstrumentSettings().setPolarity(oms.IonSource.Polarity.POSITIVE)
    spectrum.set_peaks((mz[order], intensity[order].astype(np.float32)))
    return spectrum


def _compound_peaks(rng, compounds, profile, rt: float) -> tuple[np.ndarray, np.ndarray]:
    factors, shifts, present = profile
    mzs, intensities = [], []
    for compound, factor, shift, here in zip(compounds, factors, shifts, present, strict=True):
        apex = (
            compound.intensity * factor * np.exp(-((rt - compound.rt - shift) ** 2) / (2 * compound.sigma**2))
        )
        if not here or apex < 50:
            continue
        for k, abundance in enumerate(compound.isotopes):
            mz = compound.mz + k * C13_SPACING
            mzs.append(mz * (1 + rng.normal(0, PPM_JITTER) * 1e-6))
            intensities.append(apex * abundance * rng.uniform(0.9, 1.1))
    return np.array(mzs, dtype=float), np.array(intensities, dtype=float)


def _run(rng, compounds, n_spectra: int, noise_peaks: int, noise_level: float) -> oms.MSExperiment:
    profile = _sample_profile(rng, len(compounds))
    experiment = oms.MSExperiment()
    for index in range(n_spectra):
        rt = float(index)
        noise = (rng.uniform(50, 1000, noise_peaks), rng.exponential(noise_level, noise_peaks))
        experiment.addSpectrum(_spectrum(rt, [_compound_peaks(rng, compounds, profile, rt), noise], index))
    return experiment


def _store(path: Path, experiment: oms.MSExperiment) -> None:
    """Write zlib-compressed mzML, as instruments' converters usually do (about 3x smaller)."""
    writer = oms.MzMLFile()
    options = writer.getOptions()
    options.setCompression(True)
    writer.setOptions(options)
    writer.store(str(path), experiment)


def generate_runs(
    out_dir: Path,
    n_samples: int = 3,
    *,
    seed: int = 7,
    n_compounds: int = 40,
    n_spectra: int = 240,
    noise_peaks: int = 80,
    noise_level: float = 20.0,
    prefix: str = "demo_sample",
) -> list[Path]:
    """Write ``<prefix>_<i>.mzML`` for i = 1..n_samples; the same arguments give the same bytes."""
    if n_samples < 1 or n_spectra < 10 or n_compounds < 1:
        raise ValueError("need at least 1 sample, 10 spectra and 1 compound")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    compounds = _compounds(rng, n_compounds, float(n_spectra))
    paths = []
    for sample in range(1, n_samples + 1):
        path = out_dir / f"{prefix}_{sample}.mzML"
        _store(path, _run(rng, compounds, n_spectra, noise_peaks, noise_level))
        paths.append(path)
    log.info("wrote %d demo runs to %s", len(paths), out_dir)
    return paths


#: A run big enough that FeatureFinderMetabo (default parameters) works for several seconds, for
#: tests that stop a run in the middle of feature detection. Measured on a 2-core machine:
#: generation ~1.2 s, a 43 MB file, FeatureFinderMetabo ~11.6 s wall, ~59,000 features.
LARGE = {"n_compounds": 400, "n_spectra": 1800, "noise_peaks": 1500, "noise_level": 60.0}


def generate_large_run(out_dir: Path, seed: int = 11) -> Path:
    return generate_runs(out_dir, 1, seed=seed, prefix="large_demo", **LARGE)[0]
