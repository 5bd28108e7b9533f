"""The raw data viewer in a real browser, on real files, through a real worker: summary, peak
map (zoomed by drawing a box), a spectrum (an MS2 with its precursor), TIC and an XIC."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import go_to, open_app, settle, shot, upload
from tests.conftest import wait_for

pytestmark = pytest.mark.slow

PROTEOMICS = "proteomics-lfq"
INDEX_TIMEOUT_MS = 120_000


def open_viewer(page: Page) -> None:
    go_to(page, "Raw data viewer")
    expect(page.get_by_text("About this file")).to_be_visible(timeout=INDEX_TIMEOUT_MS)
    settle(page)


def choose_file(page: Page, label: str) -> None:
    page.get_by_test_id("stSelectbox").filter(has_text="File").click()
    page.get_by_role("option", name=label).click()
    expect(page.get_by_text("About this file")).to_be_visible(timeout=INDEX_TIMEOUT_MS)
    settle(page)


def summary_value(page: Page, about: str) -> str:
    row = page.get_by_test_id("stTable").locator("tr").filter(has=page.get_by_text(about, exact=True))
    return row.locator("td").last.inner_text()


def drag_box(page: Page, plot_index: int = 0) -> None:
    """Draw a selection box over the middle of a plot (the map zooms to it)."""
    area = page.locator(".js-plotly-plot").nth(plot_index).locator(".nsewdrag").first
    box = area.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.4
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + box["width"] * 0.15, y0 + box["height"] * 0.15, steps=8)
    page.mouse.up()


def test_the_viewer_shows_a_real_run_and_a_bsa_file(online_app, new_page, nz_files, request):
    page = new_page()
    open_app(page, online_app)
    upload(page, nz_files[:1])
    open_viewer(page)
    assert summary_value(page, "Spectra") == "101 (MS1: 101)"
    assert summary_value(page, "Spectrum type") == "centroid"
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"Drawn from every peak"))).to_be_visible()
    shot(page, "peak-map", request)

    before = page.get_by_label("RT from (s)").input_value()
    drag_box(page)
    rt_from = page.get_by_label("RT from (s)")
    wait_for(
        lambda: rt_from.count() == 1 and rt_from.input_value() != before,
        30,
        what="the map to zoom to the box",
    )
    settle(page)
    zoomed = float(rt_from.input_value())
    assert 104.7 < zoomed < 209.1
    shot(page, "peak-map-zoomed", request)

    page.get_by_role("tab", name="Spectrum").click()
    expect(page.get_by_text(re.compile(r"MS1 spectrum at RT"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"native id: function=1 process=0 scan="))).to_be_visible()
    shot(page, "spectrum", request)

    page.get_by_role("tab", name="Chromatograms").click()
    expect(page.get_by_text("Total ion chromatogram (MS1)")).to_be_visible()
    expect(page.get_by_text(re.compile(r"XIC of m/z \d+\.\d{4} ± 10 ppm"))).to_be_visible()
    page.get_by_label("m/z", exact=True).fill("301.1410")
    page.get_by_label("m/z", exact=True).press("Enter")
    expect(page.get_by_text("XIC of m/z 301.1410 ± 10 ppm")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Chromatograms stored in the file \(1\)"))).to_be_visible()
    shot(page, "chromatograms", request)

    # A BSA file (the proteomics example data): an MS2 spectrum with its precursor marked.
    go_to(page, "File Upload", PROTEOMICS)
    page.get_by_role("button", name="Load example data").click()
    expect(page.get_by_text("Example data loaded")).to_be_visible(timeout=60_000)
    go_to(page, "Raw data viewer")
    choose_file(page, "BSA1.mzML (Peptides and proteins)")
    expect(page.get_by_test_id("stTable")).to_contain_text(
        "1,684 (MS1: 564, MS2: 1,120)", timeout=INDEX_TIMEOUT_MS
    )
    settle(page)
    assert summary_value(page, "Instrument") == "LTQ Orbitrap XL"
    page.get_by_role("tab", name="Spectrum").click()
    page.get_by_test_id("stSelectbox").filter(has_text="MS level").click()
    page.get_by_role("option", name="MS2", exact=True).click()
    expect(page.get_by_text(re.compile(r"MS2 spectrum at RT"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"precursor m/z \d+\.\d{4}")).first).to_be_visible()
    shot(page, "bsa-ms2", request)
    errors = page.get_by_test_id("stException")
    assert not errors.count(), errors.all_inner_texts()
    assert not page.get_by_text(re.compile(r"MessageSizeError|Traceback")).count()


def test_a_damaged_file_says_what_to_do(local_app, new_page, nz_files, tmp_path, request):
    damaged = tmp_path / "damaged.mzML"
    damaged.write_bytes(nz_files[0].read_bytes()[:400_000])
    page = new_page()
    open_app(page, local_app)
    upload(page, [damaged])
    go_to(page, "Raw data viewer")
    expect(page.get_by_text(re.compile(r"could not be read as mzML"))).to_be_visible(timeout=60_000)
    expect(page.get_by_role("button", name="Try again")).to_be_visible()
    shot(page, "damaged", request)
    assert not page.get_by_test_id("stException").count()
