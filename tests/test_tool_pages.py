"""The tool pages in Streamlit's AppTest: each renders in local and online mode without making a
workspace, shows its result, and shows a bad input's message instead of an exception."""

from __future__ import annotations

import pytest

from tests.test_pages import all_text, page, texts, use_env

TOOL_PAGES = [
    "content/tool_peptide_mz.py",
    "content/tool_digest.py",
    "content/tool_fragments.py",
    "content/tool_isotopes.py",
]


@pytest.mark.parametrize("mode", ["local", "online"])
@pytest.mark.parametrize("path", TOOL_PAGES)
def test_every_tool_page_renders_and_makes_no_workspace_online(monkeypatch, settings, mode, path):
    use_env(monkeypatch, settings, ONLINE_DEPLOYMENT="true" if mode == "online" else "false")
    app = page(path)
    assert not app.exception, app.exception
    assert not texts(app, "error")
    assert f"{mode} mode" in all_text(app)
    if mode == "online":
        assert "workspace" not in app.query_params
        assert not [f for f in settings.workspaces_dir.iterdir() if not f.name.startswith(".")]


def test_peptide_page_shows_the_mz_and_a_bad_sequence_s_message(monkeypatch, settings):
    use_env(monkeypatch, settings)
    app = page("content/tool_peptide_mz.py")
    table = app.dataframe[0].value.set_index("charge")
    assert round(table.loc[2, "m/z"], 5) == 400.68726
    app.text_input(key="tool-peptide-sequence").set_value("PEPTXIDE").run()
    assert not app.exception
    assert any("'X' is not an amino acid" in text for text in texts(app, "error"))
    assert not app.dataframe


def test_digest_page_lists_peptides_and_refuses_crossed_lengths(monkeypatch, settings):
    use_env(monkeypatch, settings)
    app = page("content/tool_digest.py")
    assert any("Paste a protein sequence" in text for text in texts(app, "info"))
    app.text_area(key="tool-digest-text").set_value(">p\nMKWVTFISLLLLFSSAYSRGVFRRDTHKSEIAHRFK").run()
    assert "WVTFISLLLLFSSAYSR" in set(app.dataframe[0].value["peptide"])
    app.number_input(key="tool-digest-min").set_value(50).run()
    assert not app.exception
    assert any("minimum length (50) is larger than" in text for text in texts(app, "error"))


def test_fragment_and_isotope_pages_show_their_messages(monkeypatch, settings):
    use_env(monkeypatch, settings)
    app = page("content/tool_fragments.py")
    assert len(app.get("plotly_chart")) == 1
    for ion_type in ("b", "y"):
        app.checkbox(key=f"tool-ions-{ion_type}").uncheck()
    app.run()
    assert any("Choose at least one ion type" in text for text in texts(app, "error"))
    app = page("content/tool_isotopes.py")
    assert round(app.dataframe[0].value.iloc[0]["m/z"], 4) == 181.0707
    app.text_input(key="tool-isotopes-formula").set_value("C6H12Xy").run()
    assert not app.exception
    assert any("'Xy' is not a chemical element" in text for text in texts(app, "error"))


def _page_that_fails(kind: str) -> None:
    from src.core.errors import WorkspaceError
    from src.ui.navigation import user_errors_shown

    with user_errors_shown():
        if kind == "user":
            raise WorkspaceError("This workspace is full: remove files you no longer need.")
        raise RuntimeError("a bug")


def test_a_user_error_no_section_caught_shows_its_message_and_a_bug_stays_a_bug():
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_function(_page_that_fails, args=("user",)).run()
    assert not app.exception
    assert texts(app, "error") == ["This workspace is full: remove files you no longer need."]
    bug = AppTest.from_function(_page_that_fails, args=("bug",)).run()
    assert bug.exception and not bug.error  # reported as an app error (its details only in the log)
