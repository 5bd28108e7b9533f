"""Raw Streamlit sessions for the web-bounds tests (tests/test_web_bounds.py on a local web server,
tests/test_appliance_web_bounds.py through the image's HAProxy): a websocket opened as a browser
opens it, messages of any size, the answers of Streamlit's own endpoints, the server's memory."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from urllib.parse import urlparse

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

#: How ``close_code`` reports a session the server left open.
STAYED_OPEN = -1

#: Spellings of Streamlit's /_stcore/metrics that a server decoding or folding the path could serve.
METRICS_SPELLINGS = (
    "/_stcore/metrics",
    "/_stcore/%6detrics",
    "/_stcore/metric%73",
    "/_stcore/%6D%65%74%72%69%63%73",
    "/_STCORE/METRICS",
    "/_stcore/Metrics",
    "//_stcore//metrics",
    "/_stcore/./metrics",
    "/_stcore/x/../metrics",
    "/_stcore/%256detrics",
    "/_stcore/metrics/",
)


def session(base: str, visitor: str = "", **headers: str) -> ClientConnection:
    """A raw Streamlit session on the app at ``base`` (http://host:port), as a browser opens it;
    ``client`` is the address a proxy in front would write into X-Forwarded-For (a web server
    believes it from loopback; HAProxy writes its own)."""
    forwarded = {"X-Forwarded-For": visitor} if visitor else {}
    return connect(
        base.replace("http://", "ws://") + "/_stcore/stream",
        subprotocols=["streamlit"],
        additional_headers={**forwarded, **headers},
        open_timeout=30,
        max_size=None,
    )


def widget_value(size: int) -> bytes:
    """A rerun whose e-mail field holds ``size`` characters."""
    message = BackMsg()
    widget = message.rerun_script.widget_states.widgets.add()
    widget.id = "$$ID-0123456789abcdef-email"
    widget.string_value = "x" * size
    return message.SerializeToString()


def fragments(payload: bytes, size: int = 10**5) -> list[bytes]:
    """One message sent as many websocket frames."""
    return [payload[i : i + size] for i in range(0, len(payload), size)]


def run_page(base: str, visitor: str = "", value: int = 10) -> None:
    """One ordinary session that runs the app's first page (with a widget value of ``value``
    characters) and ends."""
    with session(base, visitor) as ws:
        ws.send(widget_value(value))
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if ForwardMsg.FromString(ws.recv(timeout=180)).WhichOneof("type") == "script_finished":
                return
    pytest.fail("the page's script did not finish")


def close_code(base: str, visitor: str, payload: bytes | list[bytes]) -> int | None:
    """Send one message (a list: as fragments); the code the server closes the session with (None:
    it dropped the connection without one; STAYED_OPEN: it kept the session)."""
    try:
        with session(base, visitor) as ws:
            ws.send(payload)
            while True:
                ws.recv(timeout=30)
    except TimeoutError:
        return STAYED_OPEN
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except OSError:  # the server closed the connection while the message was still being sent
        return None


def close_codes(base: str, visitor: str, payloads: list[bytes | list[bytes]]) -> list[int | None]:
    """``close_code`` of each payload, all sent at once."""
    codes: list[int | None] = []
    threads = [
        threading.Thread(target=lambda p=p: codes.append(close_code(base, visitor, p))) for p in payloads
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return codes


def refused(base: str, visitor: str = "", **headers: str) -> tuple[int, str]:
    """Status and text with which the server refuses a session."""
    with pytest.raises(InvalidStatus) as refusal, session(base, visitor, **headers):
        pass
    response = refusal.value.response
    return response.status_code, bytes(response.body or b"").decode()


def get(base: str, path: str, visitor: str = "") -> tuple[int, str]:
    """GET ``path`` exactly as written (http.client neither decodes nor folds it)."""
    address = urlparse(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    connection.request("GET", path, headers={"X-Forwarded-For": visitor} if visitor else {})
    answer = connection.getresponse()
    return answer.status, answer.read().decode(errors="replace")


class PeakMemory:
    """A process's resident memory (``rss()``, bytes), sampled while it is watched."""

    def __init__(self, rss: Callable[[], int], interval: float = 0.02) -> None:
        self.rss, self.interval = rss, interval
        self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
