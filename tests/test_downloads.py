"""Results downloads by a link that expires: signed, bound to its folder, refused when changed."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from src.web import downloads
from tests.browser_support import AppServer


def test_a_link_opens_its_own_folder_until_it_expires_and_says_nothing_itself(settings):
    folder = settings.workspaces_dir / "ws-secret-id" / "topp-workflow" / "results"
    folder.mkdir(parents=True)
    link = downloads.link(settings, folder, "topp-workflow-results.zip", now=1000.0)
    token = link.removeprefix(downloads.PREFIX)
    assert "ws-secret-id" not in link and len(token) >= 30
    found = downloads.resolve(settings, token, now=1000.0 + downloads.LINK_SECONDS - 1)
    assert found == (folder.resolve(), "topp-workflow-results.zip")
    assert downloads.resolve(settings, token, now=1000.0 + downloads.LINK_SECONDS + 1) is None  # expired
    for forged in (token[:-1] + ("A" if token[-1] != "A" else "B"), "", "../../etc/passwd", "x" * 500):
        assert downloads.resolve(settings, forged, now=1000.0) is None
    links = settings.workspaces_dir / downloads.LINKS_DIR
    assert links.stat().st_mode & 0o077 == 0  # the tools' uid cannot list the links
    downloads.link(settings, folder, "again.zip", now=1000.0 + downloads.LINK_SECONDS + 5)
    assert len(list(links.glob("*.json"))) == 1  # the expired one went when a new one was made


def test_the_web_server_serves_a_link_as_a_zip_and_refuses_a_forged_one(settings, tmp_path):
    folder = settings.workspaces_dir / "ws" / "topp-workflow" / "results" / "consensus-table"
    folder.mkdir(parents=True)
    (folder / "consensus_features.tsv").write_text("a\tb\n1\t2\n")
    server = AppServer({"WORKSPACES_DIR": str(settings.workspaces_dir)}, tmp_path / "streamlit.log")
    try:
        link = downloads.link(settings, folder.parent, "results.zip")
        with urllib.request.urlopen(server.url + link, timeout=10) as answer:
            assert answer.headers["Content-Type"] == "application/zip"
            assert answer.headers["Content-Disposition"] == 'attachment; filename="results.zip"'
            assert answer.headers["Cache-Control"] == "no-store" and answer.read()[:2] == b"PK"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url + link[:-3] + "xyz", timeout=10)
        assert refused.value.code == 404
    finally:
        server.stop()
