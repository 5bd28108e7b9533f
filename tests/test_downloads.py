"""Results downloads by a link that expires: signed, bound to its folder and to the browser whose
page made it, refused when changed or opened anywhere else."""

from __future__ import annotations

import io
import os
import tracemalloc
import urllib.error
import urllib.request
import zipfile

from src.core.workflow import FileManager
from src.web import downloads
from tests.browser_support import AppServer

MB = 1024**2


def test_a_link_opens_its_own_folder_in_its_own_browser_until_it_expires(settings):
    folder = settings.workspaces_dir / "ws-secret-id" / "topp-workflow" / "results"
    folder.mkdir(parents=True)
    link = downloads.link(settings, folder, "topp-workflow-results.zip", "browser-a", now=1000.0)
    token = link.removeprefix(downloads.PREFIX)
    assert "ws-secret-id" not in link and len(token) >= 30
    found = downloads.resolve(settings, token, now=1000.0 + downloads.LINK_SECONDS - 1)
    assert (found.folder, found.name) == (folder.resolve(), "topp-workflow-results.zip")
    assert found.opens_for("browser-a")
    assert not found.opens_for("browser-b") and not found.opens_for("")
    links = settings.workspaces_dir / downloads.LINKS_DIR
    [entry] = links.glob("*.json")
    assert "browser-a" not in entry.read_text()  # the server keeps a hash of the cookie, not the cookie
    assert downloads.resolve(settings, token, now=1000.0 + downloads.LINK_SECONDS + 1) is None  # expired
    for forged in (token[:-1] + ("A" if token[-1] != "A" else "B"), "", "../../etc/passwd", "x" * 500):
        assert downloads.resolve(settings, forged, now=1000.0) is None
    assert links.stat().st_mode & 0o077 == 0  # the tools' uid cannot list the links
    downloads.link(settings, folder, "again.zip", "browser-a", now=1000.0 + downloads.LINK_SECONDS + 5)
    assert len(list(links.glob("*.json"))) == 1  # the expired one went when a new one was made


def test_a_link_made_by_a_page_without_the_cookie_opens_nowhere(settings):
    folder = settings.workspaces_dir / "ws" / "topp-workflow" / "results"
    folder.mkdir(parents=True)
    token = downloads.link(settings, folder, "r.zip", "").removeprefix(downloads.PREFIX)
    assert not downloads.resolve(settings, token).opens_for("")


def fetch(url: str, cookie: str = "") -> tuple[int, dict[str, str], bytes]:
    """Status, headers (``set-cookie``: only this server's own cookie) and body."""
    headers = {"Cookie": f"{downloads.COOKIE}={cookie}"} if cookie else {}
    try:
        answer = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10)
    except urllib.error.HTTPError as refused:
        answer = refused
    with answer:
        found = {name.lower(): value for name, value in answer.headers.items()}
        found.pop("set-cookie", None)
        ours = [c for c in answer.headers.get_all("set-cookie") or [] if c.startswith(f"{downloads.COOKIE}=")]
        return answer.status, {**found, **({"set-cookie": ours[0]} if ours else {})}, answer.read()


def test_the_web_server_serves_a_link_as_a_zip_to_its_browser_only(settings, tmp_path):
    folder = settings.workspaces_dir / "ws" / "topp-workflow" / "results" / "consensus-table"
    folder.mkdir(parents=True)
    (folder / "consensus_features.tsv").write_text("a\tb\n1\t2\n")
    server = AppServer({"WORKSPACES_DIR": str(settings.workspaces_dir)}, tmp_path / "streamlit.log")
    try:
        status, headers, _ = fetch(server.url + "/")  # a browser's first visit gets its cookie
        cookie = headers["set-cookie"]
        assert cookie.startswith(f"{downloads.COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        browser = cookie.split(";")[0].split("=", 1)[1]
        assert headers["cache-control"] == "no-store"  # a page with a cookie of its own is cached nowhere
        assert "set-cookie" not in fetch(server.url + "/", browser)[1]  # the browser keeps its cookie
        assert "set-cookie" not in fetch(server.url + "/_stcore/health")[1]  # only pages get one

        link = downloads.link(settings, folder.parent, "results.zip", browser)
        status, headers, body = fetch(server.url + link, browser)
        assert status == 200 and headers["content-type"] == "application/zip"
        assert headers["content-disposition"] == 'attachment; filename="results.zip"'
        assert headers["cache-control"] == "no-store" and body[:2] == b"PK"
        for stranger in ("", "another-browser"):  # no cookie, or another browser's
            status, _, body = fetch(server.url + link, stranger)
            assert status == 403 and b"belongs to the browser whose Results page made it" in body
        assert fetch(server.url + link[:-3] + "xyz", browser)[0] == 404
    finally:
        server.stop()


def test_the_results_zip_is_made_while_it_is_read_with_the_same_entries(tmp_path):
    """40 MB of results (incompressible, so the zip is as large): the archive holds what the
    in-memory zip of before held (names, contents, times, modes), and making it never holds
    more than a few MB at once (about 1.4 MB; it was a 40 MB bytes object, twice)."""
    results = tmp_path / "topp-workflow" / "results"
    for step in ("feature-detection", "consensus-table", "consensus-table/plots"):
        (results / step).mkdir(parents=True)
    for n in range(4):
        (results / "feature-detection" / f"sample{n}.featureXML").write_bytes(os.urandom(10 * MB))
    (results / "consensus-table" / "consensus_features.tsv").write_text("a\tb\n1\t2\n" * 1000)
    (results / "consensus-table" / "plots" / "empty.txt").write_bytes(b"")
    total = sum(p.stat().st_size for p in results.rglob("*") if p.is_file())
    files = FileManager(results.parent)

    tracemalloc.start()
    try:
        with (tmp_path / "streamed.zip").open("wb") as out:
            for piece in files.results_zip():
                out.write(piece)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < total / 8, f"{peak / MB:.1f} MB held at once for {total / MB:.0f} MB of results"

    before = io.BytesIO()  # the zip as it was made before, whole in memory
    with zipfile.ZipFile(before, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(results.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(results).as_posix())
    with zipfile.ZipFile(before) as old, zipfile.ZipFile(tmp_path / "streamed.zip") as new:
        assert new.testzip() is None
        fields = ("filename", "file_size", "compress_type", "date_time", "external_attr")
        assert [[getattr(i, f) for f in fields] for i in new.infolist()] == [
            [getattr(i, f) for f in fields] for i in old.infolist()
        ]
        assert all(new.read(name) == old.read(name) for name in old.namelist())
    nothing = b"".join(FileManager(tmp_path / "no-run").results_zip())
    assert zipfile.ZipFile(io.BytesIO(nothing)).namelist() == []  # no results: an empty archive
