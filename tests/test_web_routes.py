"""The web server's own routes (``src/web/server.py``: Starlette routes of ``st.App``) on a real
server: /metrics counts the browser sessions open on it (Streamlit's runtime has no public count:
the server counts the websockets it lets through), and each route answers every method and path
under it with its own status and text, never with Streamlit's page."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest

from src.web import downloads
from tests.browser_support import AppServer
from tests.conftest import wait_for
from tests.web_sessions import session

pytestmark = pytest.mark.slow

TOKEN = "metrics-token-for-the-test"


@pytest.fixture
def server(settings, tmp_path):
    env = {"WORKSPACES_DIR": str(settings.workspaces_dir), "METRICS_ENABLED": "true", "METRICS_TOKEN": TOKEN}
    running = AppServer(env, tmp_path / "streamlit.log")
    yield running
    running.stop()


def answer(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as refused:
        response = refused
    with response:
        found = {name.lower(): value for name, value in response.headers.items()}
        return response.status, found, response.read().decode()


def web_sessions(server: AppServer) -> int:
    _, _, text = answer(f"{server.url}/metrics", Authorization=f"Bearer {TOKEN}")
    [count] = re.findall(r'^openms_web_sessions\{server="[^"]+"\} (\S+)$', text, re.MULTILINE)
    return int(float(count))


def test_metrics_count_the_sessions_open_on_the_server(server):
    assert web_sessions(server) == 0
    with session(server.url), session(server.url), session(server.url):
        wait_for(lambda: web_sessions(server) == 3, 10, what="three open sessions counted")
    wait_for(lambda: web_sessions(server) == 0, 10, what="the closed sessions to drop out")


def test_each_route_answers_every_method_with_its_own_text(server):
    metrics = f"{server.url}/metrics"
    assert answer(metrics, "POST", Authorization=f"Bearer {TOKEN}")[::2] == (405, "Only GET.\n")
    status, headers, text = answer(metrics, "DELETE")  # no token: refused before the method is judged
    assert (status, headers["www-authenticate"]) == (401, 'Bearer realm="metrics"')
    assert "METRICS_TOKEN" in text
    status, headers, _ = answer(metrics, Authorization=f"Bearer {TOKEN}")
    assert status == 200 and headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert headers["cache-control"] == "no-store"

    expired = "This download link is not valid or has expired. Open the Results page again."
    for method, path in [("GET", "nonsense"), ("POST", "nonsense"), ("GET", "a/b/c"), ("GET", "")]:
        status, headers, text = answer(f"{server.url}{downloads.PREFIX}{path}", method)
        assert (status, text, headers["cache-control"]) == (404, expired, "no-store"), (method, path)

    status, headers, text = answer(f"{server.url}/notify/stop?workspace=none&token=none", "PUT")
    assert status == 405 and "This link does not stop anything" in text
    assert headers["content-security-policy"].startswith("default-src 'none'")
