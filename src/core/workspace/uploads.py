"""Uploads into a workspace: checked, and written to disk in chunks, never held whole in memory.

An upload is first written to ``<workspace>/.uploads/<token>.part`` by an
:class:`UploadSink`, which enforces the size limit, the workspace quota and the
free-disk guard as the bytes arrive; :func:`adopt` then checks the file's head
(an XML/mzML header) and moves it into the input folder. The spool folder sits
inside the workspace, so a file in flight counts against the quota and the move
is a rename on the same volume. Only cheap checks happen here; a file that passes
but is damaged further in is caught by the TOPP tool, whose error the Run page shows.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from src.core import jsonfile
from src.core.errors import InputError, StorageRefused
from src.core.layout import SPOOL_DIR  # uploads in flight, inside the workspace (so counted by its quota)
from src.core.settings import Limits
from src.core.workspace.space import check_free_disk, check_quota, human, used_bytes

#: How many leading bytes are searched for the mzML root element.
HEADER_BYTES = 4096
#: Longest file name kept (most file systems allow 255 bytes; the rest is room for suffixes).
MAX_NAME_LENGTH = 200
#: The free-disk guard is checked again after every this many bytes written.
FREE_CHECK_BYTES = 16 * 1024**2
#: Bytes collected before they are checked against the quota and written (under the lock).
QUOTA_BLOCK_BYTES = 1024**2
#: The lock file in a workspace's spool folder.
LOCK_NAME = ".lock"
#: Spooled uploads nobody added to the workspace are removed after this many seconds.
SPOOL_MAX_AGE_SECONDS = 3600
#: Tokens name spool files; they come from the browser, so only harmless characters pass.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: The name Streamlit is told for an upload whose own name was refused.
REFUSED_NAME = "refused-upload.mzML"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str) -> str:
    """A file name reduced to its last path part and harmless characters."""
    base = Path(name.replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base).lstrip(".")
    if not cleaned:
        raise InputError(f"{name!r} is not a usable file name.")
    return cleaned


#: The kinds of file an upload may be unless the workflows say otherwise (``WorkflowBase.upload_types``).
MZML = (".mzML",)


def check_name(name: str, suffixes: tuple[str, ...] = MZML) -> str:
    """A safe file name for an upload of one of the kinds ``suffixes`` names, or InputError saying
    what is wrong with it."""
    filename = safe_filename(name)
    if len(filename) > MAX_NAME_LENGTH:
        raise InputError(
            f"{name[:40]}…: the file name has {len(filename)} characters, more than the {MAX_NAME_LENGTH} "
            "allowed. Rename the file and upload it again."
        )
    if not filename.lower().endswith(tuple(suffix.lower() for suffix in suffixes)):
        others = [suffix for suffix in suffixes if suffix.lower() != ".mzml"]
        where = f" (and {', '.join(others)} where a workflow asks for them)" if others else ""
        raise InputError(
            f"{name}: only .mzML files are accepted{where}. Convert other formats with ProteoWizard "
            "msconvert."
        )
    return filename


def check_mzml(name: str, head: bytes, size: int) -> str:
    """Return a safe file name for an mzML upload, or raise InputError saying what is wrong."""
    filename = check_name(name)
    if size == 0:
        raise InputError(f"{name}: the file is empty. Upload the complete file again.")
    text = head[:HEADER_BYTES].decode("utf-8", errors="replace").lstrip("\ufeff \r\n\t")
    if not text.startswith("<?xml") and not text.startswith("<"):
        raise InputError(f"{name}: this is not an XML file, so it cannot be mzML.")
    if "<mzML" not in text and "<indexedmzML" not in text:
        raise InputError(f"{name}: no <mzML> element at the start of the file; is it really mzML?")
    return filename


def too_large_message(name: str, limits: Limits) -> str:
    return (
        f"{name}: the file is larger than the limit of {human(limits.max_upload_bytes)} per file. "
        "Split the run or ask the administrator of this server about larger files."
    )


def spool_path(workspace: Path, token: str) -> Path:
    if not _TOKEN.match(token or ""):
        raise InputError("The upload has no valid id; upload the file again.")
    return workspace / SPOOL_DIR / f"{token}.part"


class UploadSink:
    """Writes one upload in chunks to the workspace's spool folder, within every limit.

    The quota holds for every upload of a workspace together, however many arrive at once and
    on however many web server processes: each block of bytes is checked against what the
    workspace holds on disk at that moment (other uploads in flight included) and written under
    an exclusive lock on the workspace's spool folder, so no two checks see the same free room.
    Used as a context manager: leaving it with an exception removes the partial file, so nothing
    half-written remains.
    """

    def __init__(
        self,
        workspace: Path,
        token: str,
        name: str,
        limits: Limits,
        root: Path,
        expected: int = 0,
        suffixes: tuple[str, ...] = MZML,
    ) -> None:
        """``expected``: the size announced by the browser, if any, to refuse at once what cannot fit;
        ``suffixes``: the kinds of file this server's workflows take (mzML unless they say more)."""
        self.name = check_name(name, suffixes)
        self.workspace, self.limits, self.root = workspace, limits, root
        self.path = spool_path(workspace, token)
        if expected > limits.max_upload_bytes:
            raise InputError(too_large_message(self.name, limits))
        check_free_disk(root, limits, expected)
        check_quota(workspace, limits, expected)
        self.size = 0
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("wb")

    def __enter__(self) -> UploadSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()

    def write(self, chunk: bytes) -> None:
        if self.size + self._pending_bytes + len(chunk) > self.limits.max_upload_bytes:
            raise InputError(too_large_message(self.name, self.limits))
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        if self._pending_bytes >= QUOTA_BLOCK_BYTES:
            self._flush()

    def _flush(self) -> None:
        """Write the pending bytes if the workspace has room for them now (see the class's doc)."""
        data, self._pending, self._pending_bytes = b"".join(self._pending), [], 0
        if not data:
            return
        total = self.size + len(data)
        with _spool_lock(self.workspace):
            # What the workspace holds now, every upload's bytes so far included (this one's less its
            # own, so the message speaks of the rest of the workspace and of this whole file).
            others = used_bytes(self.workspace) - self.size
            check_quota(self.workspace, self.limits, total, others)
            if total // FREE_CHECK_BYTES != self.size // FREE_CHECK_BYTES:
                check_free_disk(self.root, self.limits)
            try:
                self._handle.write(data)
                self._handle.flush()  # on disk before the lock is released, where the next check looks
            except OSError as err:
                raise _disk_error(err, self.name) from None
        self.size = total

    def close(self) -> Path:
        if not self._handle.closed:
            try:
                self._flush()
                self._handle.close()
            except InputError:
                self.discard()
                raise
            except OSError as err:  # the last buffered bytes did not fit
                self.path.unlink(missing_ok=True)
                raise _disk_error(err, self.name) from None
        return self.path

    def discard(self) -> None:
        self._pending, self._pending_bytes = [], 0
        try:
            self._handle.close()
        except OSError:
            pass  # the file is being thrown away: a failed flush does not matter
        self.path.unlink(missing_ok=True)


def _spool_lock(workspace: Path) -> contextlib.AbstractContextManager[None]:
    """An exclusive lock per workspace, across processes (the web servers share the volume)."""
    return jsonfile.locked(workspace / SPOOL_DIR / LOCK_NAME)


def _disk_error(err: OSError, name: str) -> InputError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageRefused(
            f"{name}: the server's disk ran full while the file was being stored, so it was not added. "
            "Please tell the administrator of this server."
        )
    return InputError(f"{name}: the file could not be stored ({err.strerror}). Try again in a moment.")


def adopt(
    spooled: Path, name: str, folder: Path, check: Callable[[str, bytes, int], str] = check_mzml
) -> Path:
    """Check a spooled upload's head (``check(name, head, size)`` gives its safe name or raises
    InputError; mzML unless said otherwise) and move it into ``folder`` (replacing a file of that
    name). A refused upload is removed."""
    try:
        size = spooled.stat().st_size
        with spooled.open("rb") as handle:
            head = handle.read(HEADER_BYTES)
        filename = check(name, head, size)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / filename
        os.replace(spooled, target)
    except BaseException:
        spooled.unlink(missing_ok=True)
        raise
    return target


def store_chunks(
    workspace: Path, folder: Path, name: str, chunks: Iterable[bytes], limits: Limits, root: Path
) -> Path:
    """Write an upload that arrives as chunks (or is already in memory) through a sink, then adopt it."""
    token = uuid.uuid4().hex
    with UploadSink(workspace, token, name, limits, root) as sink:
        for chunk in chunks:
            sink.write(chunk)
    return adopt(sink.path, name, folder)


def add_made_files(workspace: Path, folder: Path, made: list[Path], limits: Limits, root: Path) -> list[Path]:
    """Add files the server made (the example data) to ``folder`` as uploads are added: refused
    as a whole, with an upload's message, if they would take the workspace over its quota or the
    volume below its free-disk guard; then each through the upload path (chunks, the quota under
    the workspace's lock, the mzML check)."""
    total = sum(path.stat().st_size for path in made)
    try:
        check_free_disk(root, limits, total)
        check_quota(workspace, limits, total)
    except StorageRefused as err:
        raise StorageRefused(f"The example data ({human(total)}) was not added. {err}") from None
    added = []
    for path in made:
        with path.open("rb") as handle:
            chunks = iter(lambda handle=handle: handle.read(QUOTA_BLOCK_BYTES), b"")
            added.append(store_chunks(workspace, folder, path.name, chunks, limits, root))
    return added


def remove_stale_spools(workspace: Path, max_age: float = SPOOL_MAX_AGE_SECONDS) -> int:
    """Remove spooled uploads older than ``max_age`` that were never added; return how many."""
    folder = workspace / SPOOL_DIR
    if not folder.is_dir():
        return 0
    removed = 0
    cutoff = time.time() - max_age
    for path in folder.glob("*.part"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


#: What the web server hands Streamlit instead of a spooled upload's bytes (see src/web/upload_stream.py).
TICKET_PREFIX = b"openms-upload:"


def ticket(token: str = "", refused: str = "", name: str = "") -> bytes:
    """A few bytes standing for an upload: the spool token it was written to, or why it was refused,
    and the name the browser sent (for the page's messages)."""
    return TICKET_PREFIX + json.dumps({"token": token, "refused": refused, "name": name}).encode()


def display_name(raw: str) -> str:
    """An upload's name as the browser sent it, fit for a one-line message: control characters
    (NUL, CR, LF, ...) shown as U+FFFD, at most MAX_NAME_LENGTH characters."""
    shown = _CONTROL.sub("\ufffd", raw)
    return shown if len(shown) <= MAX_NAME_LENGTH else shown[:MAX_NAME_LENGTH] + "…"


def safe_forward_name(raw: str, suffixes: tuple[str, ...] = MZML) -> str:
    """The file name the web server hands on to Streamlit for an upload: the stored name if the
    browser's passes the checks, else a placeholder (Streamlit refuses other names with a traceback)."""
    try:
        return check_name(raw, suffixes)
    except InputError:
        return REFUSED_NAME


def read_ticket(data: bytes) -> dict | None:
    """The ticket in ``data``, or None when ``data`` is an upload's real content."""
    if len(data) > 64 * 1024 or not data.startswith(TICKET_PREFIX):
        return None
    try:
        found = json.loads(data[len(TICKET_PREFIX) :])
    except ValueError:
        return None
    return found if isinstance(found, dict) else None
