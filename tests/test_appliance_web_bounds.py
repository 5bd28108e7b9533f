"""The web bounds on the image, through its HAProxy on port 8501 (tests/test_web_bounds.py checks the
same on a local web server): 20 sessions sending 20 MB each leave the web server's memory alone,
one visitor's sessions beyond SESSIONS_PER_CLIENT are refused with the reason, Streamlit's metrics
answer 404 however the path is spelled, and a websocket from another site's page is refused by
the app's own guard, which looks nothing up (Streamlit's check asked checkip.amazonaws.com, and
logged "Did not auto detect external IP" each time)."""

from __future__ import annotations

import contextlib
import json
import re
import time

import pytest

from tests.web_sessions import (
    METRICS_SPELLINGS,
    PeakMemory,
    close_codes,
    fragments,
    get,
    refused,
    run_page,
    session,
    widget_value,
)

pytestmark = [pytest.mark.slow, pytest.mark.container]

SESSIONS_PER_CLIENT = 25
MEMORY_BOUND_MB = 50  # what 20 sessions sending 20 MB each may add to the web server's memory


def web_server_rss(appliance) -> int:
    """Resident memory (bytes) of the image's web server (``streamlit run src/web/server.py``)."""
    # The pattern's brackets keep this shell's own command line from matching it.
    found = appliance.sh(
        "for f in $(grep -las 'src/web/serve[r][.]py' /proc/[0-9]*/cmdline); "
        "do grep VmRSS ${f%/cmdline}/status; done"
    )
    [kilobytes] = re.findall(r"VmRSS:\s+(\d+) kB", found)
    return int(kilobytes) * 1024


def test_the_web_bounds_hold_behind_the_images_proxy(box):
    appliance = box(environment={"RQ_WORKER_COUNT": "1", "SESSIONS_PER_CLIENT": str(SESSIONS_PER_CLIENT)})
    appliance.wait_healthy()
    base = f"http://{appliance.ip}:8501"

    for path in METRICS_SPELLINGS:
        status, body = get(base, path)
        assert status == 404 and "# TYPE" not in body, (path, status, body[:200])

    run_page(base)  # the app's imports: what the web server holds in use
    huge = widget_value(20 * 10**6)
    with PeakMemory(lambda: web_server_rss(appliance), interval=0.2) as memory:
        before = memory.rss()
        codes = close_codes(base, "", [huge] * 15 + [fragments(huge)] * 5)
        closed = memory.rss()
        time.sleep(5)
        after = memory.rss()
    assert len(codes) == 20 and set(codes) <= {1009, None}, codes  # HAProxy may drop the close frame
    grown = (memory.peak - before) / 1e6
    assert grown < MEMORY_BOUND_MB, f"the web server grew by {grown:.0f} MB"
    assert after - closed < 10e6, "the web server's memory kept growing after the sessions closed"

    with contextlib.ExitStack() as open_sessions:  # every session here comes from one address
        for _ in range(SESSIONS_PER_CLIENT):
            open_sessions.enter_context(session(base))
        status, text = refused(base)
        assert status == 429 and "Too many pages of this app are open from your network" in text
        status, body = get(base, "/_stcore/host-config")
        assert status == 429 and "Close a tab" in " ".join(json.loads(body).split())
    assert get(base, "/_stcore/host-config")[0] == 200  # closed sessions free their places

    status, text = refused(base, Origin="http://evil.example.org")
    assert status == 403 and "Pages of other sites may not connect" in text
    logs = appliance.logs()
    assert "external IP" not in logs and "Traceback" not in logs
