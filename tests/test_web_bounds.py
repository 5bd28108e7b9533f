"""What a session may send the web server, and what Streamlit's own endpoints give away, checked on
a real web server (``streamlit run src/web/server.py``) with raw websockets and a real browser.

- 20 sessions that each send a 20 MB widget value are cut off at the frame's header: the server's
  memory grows by less than ``MEMORY_BOUND_MB`` and does not grow after they closed (it grew by
  1.2 GB and stayed there before ``server.maxMessageSize`` was set).
- One client address has at most SESSIONS_PER_CLIENT sessions on a server: the next is refused
  with 429 and its page says why, another visitor still connects, and a closed session frees its
  place (the waiting page then connects by itself).
- ``/_stcore/metrics`` answers 404 however its path is spelled.
- A websocket from another site's page is refused without the server contacting anyone: an audit
  hook in the server's process records every socket it connects and every name it looks up.
- A large study's Results page fits the message size: no frame the browser receives is near it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from playwright.sync_api import expect

from src.core.run import RunState
from src.core.settings import load_settings
from src.web import downloads
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.paths import table_in
from tests.browser_support import AppServer, go_to, open_app
from tests.conftest import REPO, wait_for
from tests.queue_support import free_port
from tests.web_sessions import (
    METRICS_SPELLINGS,
    PeakMemory,
    close_code,
    close_codes,
    fragments,
    get,
    refused,
    run_page,
    session,
    widget_value,
)

pytestmark = pytest.mark.slow

SESSIONS_PER_CLIENT = 25  # above the 20 of the flood, small enough to fill quickly
MEMORY_BOUND_MB = 50  # what 20 sessions sending 20 MB each may add to the server's memory
RECONNECT_SECONDS = 3  # the test server's server.disconnectedSessionTTL (120 in the product)
FLOODER, CROWD, NEIGHBOUR = "203.0.113.1", "198.51.100.7", "198.51.100.8"

#: Records the server's outbound attempts (socket connects, name lookups) and its binds (which
#: show that the hook runs in the server's process at all) into the file OPENMS_SOCKET_LOG names.
SOCKET_HOOK = """
import os, sys
_log = os.environ.get("OPENMS_SOCKET_LOG")
if _log:
    def _record(event, args):
        if event in ("socket.connect", "socket.getaddrinfo", "socket.sendto", "socket.bind"):
            target = args[1] if event in ("socket.connect", "socket.bind", "socket.sendto") else args[0]
            with open(_log, "a") as handle:
                handle.write(f"{event} {target!r}\\n")
    sys.addaudithook(_record)
"""


def message_limit_bytes() -> int:
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    return int(config["server"]["maxMessageSize"] * 1e6)


def watched_env(root: Path) -> dict[str, str]:
    """The environment of a server whose sockets are recorded in ``root / "sockets.log"``."""
    hook = root / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SOCKET_HOOK)
    workspaces = root / "workspaces"
    workspaces.mkdir()
    return {
        "WORKSPACES_DIR": str(workspaces),
        "ONLINE_DEPLOYMENT": "false",
        "PYTHONPATH": str(hook),
        "OPENMS_SOCKET_LOG": str(root / "sockets.log"),
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("web-bounds")
    env = {
        **watched_env(root),
        "SESSIONS_PER_CLIENT": str(SESSIONS_PER_CLIENT),
        # Streamlit keeps a closed page's session (at most 128) this many seconds, for the page to
        # reconnect to after a network blip: short here, so the rounds below see them go.
        "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(RECONNECT_SECONDS),
    }
    workspaces = Path(env["WORKSPACES_DIR"])
    app = AppServer(env, root / "streamlit.log")
    app.sockets = root / "sockets.log"
    app.workspaces = workspaces
    yield app
    app.stop()


def test_twenty_sessions_sending_20_mb_values_leave_the_servers_memory_alone(server):
    run_page(server.url, FLOODER)  # the app's imports: what the server holds in use
    huge = widget_value(20 * 10**6)
    process = psutil.Process(server.process.pid)
    with PeakMemory(lambda: process.memory_info().rss) as memory:
        before = memory.rss()
        codes = close_codes(server.url, FLOODER, [huge] * 15 + [fragments(huge)] * 5)
        closed = memory.rss()
        time.sleep(5)
        after = memory.rss()
    assert len(codes) == 20 and set(codes) <= {1009, None} and 1009 in codes, codes  # 1009: too big
    grown = (memory.peak - before) / 1e6
    assert grown < MEMORY_BOUND_MB, f"the server grew by {grown:.0f} MB"
    assert after - closed < 10e6, "the server's memory kept growing after the sessions closed"
    assert "Traceback" not in server.log_text()


def test_closed_sessions_do_not_pile_up_in_memory(server):
    """Sessions that each leave a value just inside the bound: after a few rounds the memory they
    take is used again, not added to. A closed page's session goes once the time a page may
    reconnect has passed and another page closes (Streamlit lets it go then); the server then
    frees what it held with one full collection (src/web/session_memory.py). Before, that waited
    for Python's own thresholds: the later rounds added 6 to 18 MB each until one happened to run
    (here: 214, 235, 245, 259 MB after the rounds, now 214, 220, 214, 220)."""
    process = psutil.Process(server.process.pid)
    after_round = []
    for _ in range(4):
        threads = [threading.Thread(target=run_page, args=(server.url, FLOODER, 900_000)) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
        time.sleep(RECONNECT_SECONDS + 1)
        run_page(server.url, NEIGHBOUR)  # a page that closes: Streamlit lets the round's sessions go
        time.sleep(2 * RECONNECT_SECONDS + 1)  # the window of that page, and a check of the server's
        after_round.append(process.memory_info().rss)
    # Values that piled up would add their 18 MB in every round; one later round must add < 10 MB.
    later = [after_round[n + 1] - after_round[n] for n in (1, 2)]
    assert max(later) < 10e6, [f"{rss / 1e6:.0f} MB" for rss in after_round]


def test_a_value_over_the_widget_bound_closes_its_session_and_an_ordinary_one_works(server):
    over = widget_value(message_limit_bytes() // 2 + 10**5)  # fits a message, not a widget's share
    assert close_code(server.url, FLOODER, over) == 1009
    run_page(server.url, FLOODER)  # the same visitor goes on with an ordinary page


def test_sessions_beyond_the_bound_of_one_client_wait_with_a_message(server, new_page):
    with contextlib.ExitStack() as open_sessions:
        crowd = [open_sessions.enter_context(session(server.url, CROWD)) for _ in range(SESSIONS_PER_CLIENT)]
        status, text = refused(server.url, CROWD)
        assert status == 429 and "Too many pages of this app are open from your network" in text
        status, body = get(server.url, "/_stcore/host-config", CROWD)
        assert status == 429  # the page shows the text of a JSON answer, so the text is a JSON string
        assert "Close a tab of it you no longer need" in " ".join(json.loads(body).split())
        assert get(server.url, "/_stcore/host-config", NEIGHBOUR)[0] == 200
        with session(server.url, NEIGHBOUR):  # another visitor (another household) is not affected
            pass

        page = new_page(visitor=CROWD)
        page.goto(server.url)
        expect(page.get_by_text("Connection failed with status 429")).to_be_visible()
        expect(page.get_by_text(re.compile(r"Too many pages of this app are open"))).to_be_visible()
        crowd[0].close()  # a tab closes: the waiting page connects by itself
        sidebar = page.get_by_test_id("stSidebar").get_by_text(re.compile(r"local mode"))
        expect(sidebar).to_be_visible(timeout=90_000)
    wait_for(
        lambda: get(server.url, "/_stcore/host-config", CROWD)[0] == 200,
        30,
        what="the crowd's sessions to close",
    )


@pytest.mark.parametrize("path", METRICS_SPELLINGS)
def test_streamlits_metrics_are_closed_however_the_path_is_spelled(server, path):
    status, body = get(server.url, path)
    assert status == 404, (path, status, body[:200])
    assert "session" not in body.lower() and "# TYPE" not in body


def outbound_attempts(log: Path) -> list[str]:
    """Connects and name lookups of anything but the machine itself."""
    local = re.compile(r"'(127\.\d+\.\d+\.\d+|localhost|::1|0\.0\.0\.0)'|^socket\.bind")
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if not local.search(line)]


def test_a_websocket_from_another_site_is_refused_and_the_server_contacts_nobody(server):
    assert any(line.startswith("socket.bind") for line in server.sockets.read_text().splitlines())
    server.sockets.write_text("")  # the hook runs in the server; from now on nothing may go out
    for origin in ("http://evil.example.org", "https://203.0.113.9:8501", "null"):
        status, text = refused(server.url, NEIGHBOUR, Origin=origin)
        assert status == 403 and "other sites" in text
    with session(server.url, NEIGHBOUR, Origin=server.url):  # the app's own page connects
        pass
    time.sleep(1)
    assert outbound_attempts(server.sockets) == []
    assert "external IP" not in server.log_text()


def test_a_server_started_as_on_a_laptop_contacts_nobody(tmp_path):
    """scripts/run-local.sh names no address: Streamlit's start-up message then looked up the
    machine's addresses, the external one at checkip.amazonaws.com."""
    port = free_port()
    with (tmp_path / "streamlit.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "src/web/server.py", "--server.port", str(port)],
            cwd=REPO,
            env={**os.environ, **watched_env(tmp_path)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "URL:" in (tmp_path / "streamlit.log").read_text(), 60, what="the start-up message")
        assert "socket.bind" in (tmp_path / "sockets.log").read_text()  # the hook runs in the server
        assert outbound_attempts(tmp_path / "sockets.log") == []
    finally:
        process.terminate()
        process.wait(10)


def large_study(workspaces: Path, rows: int, samples: int) -> None:
    """A local workspace ``big`` whose latest run ended with a consensus table of ``rows`` features
    in ``samples`` samples."""
    settings = load_settings(env={"WORKSPACES_DIR": str(workspaces), "ONLINE_DEPLOYMENT": "false"})
    workflow = MetabolomicsWorkflow(workspaces / "big", settings)
    random = np.random.default_rng(7)
    table = pd.DataFrame(
        {
            "consensus_id": np.arange(rows),
            "rt": random.uniform(0, 1200, rows),
            "mz": random.uniform(100, 1000, rows),
            "quality": random.uniform(0, 1, rows),
            "n_samples": random.integers(1, samples + 1, rows),
            **{f"intensity_sample{i:02d}": random.uniform(0, 1e7, rows) for i in range(samples)},
        }
    )
    path = table_in(workflow.files.results_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, sep="\t", index=False)
    now = time.time()
    workflow.state.update(state=RunState.FINISHED, started_at=now - 60, ended_at=now)


def test_a_large_studys_results_fit_the_message_size_and_download_in_its_browser_only(server, new_page):
    large_study(server.workspaces, rows=50_000, samples=20)  # its table alone is 10 MB as Arrow
    page = new_page()
    frames: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(len(payload))))
    open_app(page, server, "results?workspace=big")
    go_to(page, "Results")
    expect(page.get_by_text("Consensus features", exact=True).first).to_be_visible()
    # RT vs m/z, intensities across samples, features per sample (no alignment in this run)
    expect(page.locator(".js-plotly-plot")).to_have_count(3)
    expect(page.get_by_text("10,000 of 50,000, highest quality").first).to_be_visible()
    expect(page.get_by_text(re.compile("exceeds the message size limit"))).to_have_count(0)
    assert max(frames) < message_limit_bytes() / 2, f"largest message {max(frames) / 1e6:.1f} MB"

    href = page.get_by_role("link", name=re.compile("Download all results")).get_attribute("href")
    answer = page.request.get(server.url + href)  # the page's own browser: its cookie goes along
    assert answer.ok and answer.body()[:2] == b"PK"
    stranger = new_page()
    refused = stranger.request.get(server.url + href)  # another browser, without a cookie yet
    assert refused.status == 403 and "belongs to the browser" in refused.text()
    stranger.goto(server.url + "/_stcore/health")  # now with a cookie of its own
    assert stranger.request.get(server.url + href).status == 403
    [cookie] = [c for c in page.context.cookies() if c["name"] == downloads.COOKIE]
    assert cookie["httpOnly"]  # the page's scripts cannot read it
