"""The tool pages in a real browser: each shows a known value, and a bad input's message with no
traceback. One Streamlit server (local mode) serves the module's tests."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import AppServer, open_app, settle, shot
from tests.test_chem import bsa_fasta

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tools_app(tmp_path_factory):
    root = tmp_path_factory.mktemp("tools")
    (root / "workspaces").mkdir()
    env = {"WORKSPACES_DIR": str(root / "workspaces"), "ONLINE_DEPLOYMENT": "false"}
    server = AppServer(env, root / "streamlit.log")
    yield server
    server.stop()


def open_tool(page: Page, server: AppServer, address: str, title: str) -> None:
    open_app(page, server, address)
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    settle(page)


def table(page: Page):
    """The page's table (its cells, for screen readers, hold the values unrounded)."""
    return page.get_by_test_id("stDataFrame").first


def shows_message_not_traceback(page: Page, message: str) -> None:
    expect(page.get_by_test_id("stAlertContentError").filter(has_text=message)).to_be_visible()
    settle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    assert "Traceback" not in page.inner_text("body")


def test_peptide_mz_page(tools_app, new_page, request):
    page = new_page()
    open_tool(page, tools_app, "peptide-mz", "Peptide m/z calculator")
    expect(table(page)).to_contain_text("400.6872")  # PEPTIDE [M+2H]2+
    shot(page, "peptide", request)
    page.get_by_label("Peptide sequence", exact=True).fill("PEPTXIDE")
    page.get_by_label("Peptide sequence", exact=True).press("Enter")
    shows_message_not_traceback(page, "'X' is not an amino acid: use the one-letter codes")
    shot(page, "unknown-residue", request)


def test_digest_page(tools_app, new_page, request):
    page = new_page()
    open_tool(page, tools_app, "digest", "In-silico digest")
    text = page.get_by_label("Protein sequence or FASTA text", exact=True)
    text.fill(bsa_fasta())
    text.press("Control+Enter")
    expect(table(page)).to_contain_text("LVNELTEFAK")
    expect(page.get_by_text("47 peptides from 1 protein(s).")).to_be_visible()
    expect(page.get_by_role("button", name="Download as TSV")).to_be_visible()
    shot(page, "bsa", request)
    page.get_by_label("Minimum length", exact=True).fill("50")
    page.get_by_label("Minimum length", exact=True).press("Enter")
    shows_message_not_traceback(page, "The minimum length (50) is larger than the maximum length (40)")
    shot(page, "crossed-lengths", request)


def test_fragment_ions_page(tools_app, new_page, request):
    page = new_page()
    open_tool(page, tools_app, "fragment-ions", "Theoretical fragment ions")
    expect(table(page)).to_contain_text("147.1128")  # y1 of PEPTIDEK
    expect(page.locator(".js-plotly-plot")).to_have_count(1)
    shot(page, "peptidek", request)
    for ion_type in ("b", "y"):
        page.get_by_test_id("stCheckbox").filter(has_text=f"{ion_type} ions").click()
        settle(page)
    shows_message_not_traceback(page, "Choose at least one ion type")
    shot(page, "no-ion-type", request)


def test_isotope_pattern_page(tools_app, new_page, request):
    page = new_page()
    open_tool(page, tools_app, "isotope-pattern", "Isotope pattern")
    expect(table(page)).to_contain_text("181.0706")  # C6H12O6 [M+H]+
    expect(page.locator(".js-plotly-plot")).to_have_count(1)
    shot(page, "glucose", request)
    page.get_by_role("textbox", name="Molecular formula").fill("C6H12Xy")
    page.get_by_role("textbox", name="Molecular formula").press("Enter")
    shows_message_not_traceback(page, "'Xy' is not a chemical element")
    shot(page, "unknown-element", request)
