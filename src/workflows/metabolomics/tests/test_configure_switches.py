"""The Configure page's switches: alignment on and adduct grouping off by default, each saved in the
workflow's parameters as the run reads them, each showing its tools' parameters only when on."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.workflow import ADDUCTS_KEY, ALIGN_KEY
from tests.conftest import REPO


def configure_page(monkeypatch, settings) -> AppTest:
    monkeypatch.setenv("WORKSPACES_DIR", str(settings.workspaces_dir))
    monkeypatch.setenv("ONLINE_DEPLOYMENT", "false")
    monkeypatch.chdir(REPO)
    app = AppTest.from_file(str(REPO / "content/configure.py"), default_timeout=60)
    app.query_params["workspace"] = "lab"
    return app.run()


def sections(app: AppTest) -> str:
    return " ".join(str(header.value) for header in app.subheader)


def test_switches_are_saved_and_show_their_tools_only_when_on(monkeypatch, settings):
    app = configure_page(monkeypatch, settings)
    assert not app.exception
    align, adducts = (app.checkbox(key=f"lab-topp-workflow::{key}") for key in (ALIGN_KEY, ADDUCTS_KEY))
    assert align.value is True and adducts.value is False
    assert "MapAlignerPoseClustering" in sections(app) and "MapRTTransformer" in sections(app)
    assert "MetaboliteAdductDecharger" not in sections(app)

    align.uncheck().run()
    app.checkbox(key=f"lab-topp-workflow::{ADDUCTS_KEY}").check().run()
    params = settings.workspaces_dir / "lab/topp-workflow/params.json"
    assert json.loads(params.read_text()) == {ALIGN_KEY: False, ADDUCTS_KEY: True}
    assert "MapAlignerPoseClustering" not in sections(app) and "MetaboliteAdductDecharger" in sections(app)
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "lab", settings)
    assert (workflow.switch(ALIGN_KEY), workflow.switch(ADDUCTS_KEY)) == (False, True)

    app.checkbox(key=f"lab-topp-workflow::{ALIGN_KEY}").check().run()  # back to the default: dropped
    assert json.loads(params.read_text()) == {ADDUCTS_KEY: True}
