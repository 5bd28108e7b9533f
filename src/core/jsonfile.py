"""The app's small JSON files (run status, job record, parameters, an address, links): one policy.

* Every write replaces the file atomically (temp file + rename): a reader never sees half a file,
  and on a full disk an existing file is overwritten in place, so a run can still record that it
  failed.
* A file the app keeps for itself (a run's status, a job record) is read with :func:`read_json`:
  missing or damaged, it reads as empty, and a damaged one is logged; the app goes on with what
  it knows (a damaged status shows as "not run yet", a damaged address as none).
* A file that holds a person's choices (the parameters) is read with :func:`load_json`, which
  refuses a damaged one with a message, so nothing they set is silently replaced by defaults.
* A read-modify-write that several processes may do at once (web servers share the volume) holds
  :func:`locked` on a lock file beside it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from src.core.errors import DamagedFile

log = logging.getLogger(__name__)


def write_json(path: Path, data: dict, pretty: bool = False) -> None:
    """Replace ``path`` atomically; on a full disk overwrite an existing file in place."""
    text = json.dumps(data, indent=2, sort_keys=True) if pretty else json.dumps(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        _keep_owner(tmp, path.parent)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        if err.errno not in (errno.ENOSPC, errno.EDQUOT) or not path.exists():
            raise
        _overwrite_in_place(path, text.encode())


def _overwrite_in_place(path: Path, data: bytes) -> None:
    with path.open("r+b") as handle:  # no truncation on open: the file keeps its block
        handle.write(data)
        handle.truncate(len(data))


def _keep_owner(path: str, directory: Path) -> None:
    """A root process (e.g. `docker exec <c> rq info`, whose registry clean-up runs a lost job's
    callbacks) must not leave root-owned files the app's own user can no longer read."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        owner = directory.stat()
        os.chown(path, owner.st_uid, owner.st_gid)


def load_json(path: Path) -> dict:
    """A file of a person's choices: {} if there is none; DamagedFile if it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as err:
        message = f"{path} is not valid JSON ({err}). Fix or delete it to return to the defaults."
        raise DamagedFile(message) from None
    return data if isinstance(data, dict) else {}


def read_json(path: Path) -> dict:
    """A file the app keeps for itself: {} if it is missing or damaged (a damaged one is logged)."""
    try:
        return load_json(path)
    except DamagedFile as err:
        log.warning("%s; read as empty", err)
        return {}


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """An exclusive lock on ``lock_file`` (made if missing), across threads and processes."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
