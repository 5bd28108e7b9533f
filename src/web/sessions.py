"""Which workspace each browser session works in, for the upload middleware.

The pages record it (``register``) every time they run; the middleware, which sees
only Streamlit's session id in an upload's URL, looks it up here to know where the
bytes go and which limits apply. It lives in the web server's process, as the
sessions do.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from src.core.settings import Settings

#: Sessions remembered at most; the oldest are forgotten first (a forgotten session re-registers
#: on its next page run, and an upload from it is refused with "reload the page" meanwhile).
MAX_SESSIONS = 20_000


@dataclass(frozen=True)
class UploadTarget:
    workspace: Path
    settings: Settings


_targets: OrderedDict[str, UploadTarget] = OrderedDict()
_lock = threading.Lock()


def register(session_id: str, workspace: Path, settings: Settings) -> None:
    with _lock:
        _targets[session_id] = UploadTarget(workspace, settings)
        _targets.move_to_end(session_id)
        while len(_targets) > MAX_SESSIONS:
            _targets.popitem(last=False)


def target(session_id: str) -> UploadTarget | None:
    with _lock:
        return _targets.get(session_id)
