"""The raw data viewer's index: built once from real files (by a real worker through the queue, or
a process in local mode), and every read of it equal to the same read of the file by pyOpenMS."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyopenms as oms
import pytest
import redis

from src.core.errors import InputError, StorageRefused
from src.core.settings import load_settings
from src.core.viewer import local, store
from src.core.viewer.building import build_recorded
from src.core.viewer.reading import EVERY_PEAK_LIMIT, ViewIndex
from src.core.workspace import used_bytes
from src.jobs.client import view_index
from src.jobs.job_model import view_queue_name
from tests.conftest import wait_for
from tests.queue_support import online_env

BSA1 = Path("/usr/share/doc/openms/examples/BSA/BSA1.mzML")


def load(path: Path) -> oms.MSExperiment:
    experiment = oms.MSExperiment()
    oms.MzMLFile().load(str(path), experiment)
    return experiment


def workspace_with(settings, files: list[Path]) -> tuple[Path, list[Path]]:
    workspace = settings.workspaces_dir / "ws"
    folder = workspace / "topp-workflow" / "input-files" / "mzML-files"
    folder.mkdir(parents=True)
    return workspace, [Path(shutil.copy(f, folder / f.name)) for f in files]


def built(workspace: Path, mzml: Path) -> ViewIndex:
    folder = store.index_folder(workspace, mzml)
    build_recorded(mzml, folder)
    return ViewIndex(folder)


@pytest.mark.parametrize("source", ["nz", "bsa"])
def test_every_read_of_the_index_equals_pyopenms_on_the_file(settings, nz_files, source):
    path = nz_files[0] if source == "nz" else BSA1
    workspace, (mzml,) = workspace_with(settings, [path])
    index = built(workspace, mzml)
    experiment = load(mzml)
    spectra = list(experiment)
    levels = [s.getMSLevel() for s in spectra]
    summary = index.summary
    assert summary["spectra"] == len(spectra)
    assert summary["spectra_per_level"] == {str(v): levels.count(v) for v in sorted(set(levels))}
    rts = [s.getRT() for s in spectra]
    assert summary["rt_range"] == pytest.approx([min(rts), max(rts)])
    assert summary["mode"] == "centroid"
    assert summary["instrument"] == experiment.getInstrument().getName()
    assert summary["peaks"] == sum(s.size() for s in spectra)
    ms1 = [s for s in spectra if s.getMSLevel() == 1]
    rt, tic = index.tic()
    assert rt == pytest.approx([s.getRT() for s in ms1])
    assert tic == pytest.approx([s.calculateTIC() for s in ms1], rel=1e-5)
    for number in (0, len(spectra) // 2, len(spectra) - 1):
        one, by_hand = index.spectrum(number), spectra[number]
        mz, intensity = by_hand.get_peaks()
        assert one.mz == pytest.approx(mz, rel=1e-6) and one.intensity == pytest.approx(intensity, rel=1e-6)
        assert one.level == by_hand.getMSLevel() and one.native_id == by_hand.getNativeID()
        if by_hand.getMSLevel() == 2:
            assert one.precursor_mz == pytest.approx(by_hand.getPrecursors()[0].getMZ())
    _, bp_intensity, bp_mz = index.base_peak()
    target = float(bp_mz[np.argmax(bp_intensity)])
    xic_rt, xic = index.xic(target, 10)
    half = target * 10e-6
    by_hand = [sum(i for m, i in zip(*s.get_peaks(), strict=True) if abs(m - target) <= half) for s in ms1]
    assert xic == pytest.approx(by_hand, rel=1e-5, abs=1e-3)
    assert xic.max() == pytest.approx(bp_intensity.max(), rel=1e-6)


def test_a_zoomed_region_holds_every_peak_of_the_file_in_it(settings, nz_files):
    workspace, (mzml,) = workspace_with(settings, [nz_files[0]])
    index = built(workspace, mzml)
    rt_lo, rt_hi = 150.0, 160.0
    mz_lo, mz_hi = 300.0, 320.0
    region = index.region(rt_lo, rt_hi, mz_lo, mz_hi)
    by_hand = [
        (s.getRT(), m)
        for s in load(mzml)
        if s.getMSLevel() == 1 and rt_lo <= s.getRT() <= rt_hi
        for m in s.get_peaks()[0]
        if mz_lo <= m <= mz_hi
    ]
    assert region.drawn_from == "every peak"
    assert len(region.rt) == len(by_hand) > 100
    assert sorted(region.mz.tolist()) == pytest.approx(sorted(m for _, m in by_hand), rel=1e-6)
    whole = index.region()
    assert len(whole.rt) > 0 and index.summary["peaks"] < EVERY_PEAK_LIMIT
    with pytest.raises(InputError, match="lower bounds"):
        index.region(200, 100)


def test_an_srm_file_has_its_chromatograms_read(settings):
    sources = sorted(Path("/usr/share/doc/openms/examples/CHROMATOGRAMS").glob("*.mzML"))
    assert sources, "openms-doc's CHROMATOGRAMS examples are missing (apt-get install openms-doc)"
    workspace, (mzml,) = workspace_with(settings, sources[:1])
    index = built(workspace, mzml)
    chromatograms = load(mzml).getChromatograms()
    listed = index.stored_chromatograms()
    assert len(listed) == len(chromatograms) > 0
    for number in (0, len(listed) - 1):
        rt, intensity = index.stored_chromatogram(number)
        by_hand_rt, by_hand_intensity = chromatograms[number].get_peaks()
        assert listed[number][0] == chromatograms[number].getNativeID()
        assert rt == pytest.approx(by_hand_rt) and intensity == pytest.approx(by_hand_intensity, rel=1e-6)


@pytest.mark.parametrize("damage", ["truncated", "empty", "not mzML"])
def test_a_damaged_file_fails_with_a_message_kept_for_the_page(settings, nz_files, damage):
    workspace, (mzml,) = workspace_with(settings, [nz_files[0]])
    content = mzml.read_bytes()
    mzml.write_bytes(
        {"truncated": content[: len(content) // 2], "empty": b"", "not mzML": b"hello\n" * 50}[damage]
    )
    folder = store.index_folder(workspace, mzml)
    with pytest.raises(InputError, match="could not be read as mzML") as caught:
        build_recorded(mzml, folder)
    assert "upload it again" in str(caught.value)
    state = store.state_on_disk(folder, mzml)
    assert state.kind == store.Index.BROKEN and state.message == str(caught.value)
    assert not (folder / store.META).exists()


def test_the_index_counts_against_the_quota_and_goes_with_its_file(settings, nz_files):
    workspace, files = workspace_with(settings, nz_files[:2])
    before = used_bytes(workspace)
    built(workspace, files[0])
    folder = store.index_folder(workspace, files[0])
    index_bytes = sum(p.stat().st_size for p in folder.iterdir())
    assert used_bytes(workspace) == before + index_bytes and index_bytes > 1_000_000
    files[0].unlink()  # removed another way than the page's button: the sweep finds it
    assert store.sweep(workspace) == 1 and not folder.exists()
    built(workspace, files[1])
    store.remove_for(workspace, files[1])
    assert not store.index_folder(workspace, files[1]).exists()


def test_a_changed_file_is_indexed_again(settings, nz_files):
    workspace, (mzml,) = workspace_with(settings, [nz_files[0]])
    folder = store.index_folder(workspace, mzml)
    built(workspace, mzml)
    assert store.is_current(folder, mzml)
    shutil.copy(nz_files[1], mzml)
    assert not store.is_current(folder, mzml)
    assert built(workspace, mzml).summary["file"] == mzml.name
    assert ViewIndex(folder).tic()[1][0] == pytest.approx(load(nz_files[1])[0].calculateTIC(), rel=1e-5)


def test_local_mode_builds_in_a_process_of_its_own(settings, nz_files):
    workspace, (mzml,) = workspace_with(settings, [nz_files[0]])
    assert local.start(workspace, mzml).kind == store.Index.BUILDING
    folder = store.index_folder(workspace, mzml)
    wait_for(lambda: store.state_on_disk(folder, mzml).kind == store.Index.READY, 60, what="the local build")
    assert ViewIndex(folder).summary["spectra"] == 101
    assert local.start(workspace, mzml).kind == store.Index.READY


def test_five_looks_at_one_file_queue_one_job_and_a_worker_builds_it(settings, redis_url, workers, nz_files):
    online = load_settings(env=online_env(settings, redis_url))
    workspace, (mzml,) = workspace_with(online, [nz_files[0]])
    connection = redis.Redis.from_url(redis_url)
    states = [view_index.request(online, workspace, mzml, f"10.0.0.{n}") for n in range(5)]
    assert [s.kind for s in states] == [store.Index.WAITING] * 5
    view_queue = view_queue_name(online)
    assert connection.llen(f"rq:queue:{view_queue}") == 1  # one job, whoever looked
    workers.start(online, redis_url, 1)
    wait_for(
        lambda: view_index.state(online, workspace, mzml).kind == store.Index.READY, 60, what="the index job"
    )
    assert ViewIndex(store.index_folder(workspace, mzml)).summary["spectra"] == 101
    assert view_index.request(online, workspace, mzml, "10.0.0.1").kind == store.Index.READY


def test_a_visitor_has_a_bounded_number_of_indexes_building(settings, redis_url, nz_files):
    online = load_settings(env=online_env(settings, redis_url, VIEW_INDEXES_PER_CLIENT="2"))
    workspace, files = workspace_with(online, nz_files)
    for mzml in files[:2]:
        assert view_index.request(online, workspace, mzml, "10.0.0.9").kind == store.Index.WAITING
    with pytest.raises(view_index.ViewRefused, match="indexes of 2 of your files"):
        view_index.request(online, workspace, files[2], "10.0.0.9")
    assert view_index.request(online, workspace, files[2], "10.0.0.10").kind == store.Index.WAITING


def test_an_index_that_would_not_fit_the_quota_is_refused(settings, redis_url, nz_files):
    online = load_settings(env=online_env(settings, redis_url, WORKSPACE_QUOTA_GB="0.004"))
    workspace, (mzml,) = workspace_with(online, [nz_files[0]])
    with pytest.raises(StorageRefused):
        view_index.request(online, workspace, mzml, "10.0.0.9")
    assert redis.Redis.from_url(redis_url).llen(f"rq:queue:{view_queue_name(online)}") == 0


def test_the_largest_map_a_page_can_get_fits_the_web_servers_message_limit():
    """A map of MAX_POINTS points with the most overlay points and boxes a view draws, each with a
    long label, stays well below the 2 MB a Streamlit message may have (.streamlit/config.toml)."""
    import numpy as np

    from src.core.viewer import MapOverlay
    from src.core.viewer.reading import MAX_POINTS, MapRegion
    from src.ui.viewer import figures

    rng = np.random.default_rng(3)
    region = MapRegion(
        rng.uniform(0, 3600, MAX_POINTS),
        rng.uniform(100, 1500, MAX_POINTS),
        10 ** rng.uniform(2, 8, MAX_POINTS),
        (0.0, 3600.0, 100.0, 1500.0),
        "every peak",
    )
    count = figures.MAX_OVERLAY_POINTS * 3
    rt, mz = rng.uniform(0, 3600, count), rng.uniform(100, 1500, count)
    overlay = MapOverlay(
        "features",
        "the latest run, finished 2026-12-02 18:27:12",
        rt,
        mz,
        tuple(
            f"m/z {m:.4f} · RT {r:.1f} s · charge 2 · intensity 1.2e+06 <b>x</b>"
            for r, m in zip(rt, mz, strict=True)
        ),
        rt - 5.123456,
        rt + 5.123456,
        mz - 0.0123456,
        mz + 0.0123456,
    )
    size = len(figures.peak_map(region, overlay).to_json())
    assert size < 1.2e6, f"{size / 1e6:.2f} MB"
