"""What a run's tools may touch: their own run's result folders, and nothing else of anyone's.

In the image every command of a run starts under a small setuid helper (``docker/run-as-tool.c``)
that runs it as a uid of its own, so that a tool taken over by a crafted input can neither read
the app's secrets nor change what other visitors have:

- The uid is one of ``TOOL_UID_FIRST`` .. (one per workflow folder, :func:`tool_uid`), in no
  group of the app's: the workspaces volume (group 0, the app's) is not its to write. The app
  gives that uid write access to the run's result folders with an ACL (:meth:`Sandbox.open`),
  the only folders it may write; its files there are the app's to read and remove (the ACL's
  default entries).
- Where the kernel has Landlock (5.13 and later; no privilege needed), the helper also fences
  the command in: it writes only under its run's result folder, ``/tmp`` and ``/dev``, and reads
  nothing under the workspaces root but its own visitor's workspace.

Outside the image (local mode, tests) the helper is absent and commands run as the app's user.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

#: The appliance's setuid helper (docker/run-as-tool.c).
RUN_AS_TOOL = Path("/usr/local/libexec/openms/run-as-tool")
#: The uids runs' tools get (the helper is compiled with the same range and refuses others).
TOOL_UID_FIRST, TOOL_UID_COUNT = 20000, 40000


@cache
def helper_works() -> bool:
    """True where tools can run under the helper (the image, unless no-new-privileges or a missing
    CAP_SETUID rule it out). Says once in the log whether Landlock fences them in too."""
    if not sys.platform.startswith("linux") or not RUN_AS_TOOL.is_file():
        return False
    try:
        checked = subprocess.run([str(RUN_AS_TOOL), "--check"], capture_output=True, text=True, timeout=10)
    except OSError as err:
        log.warning("tools run as the app's own uid: %s cannot be run (%s)", RUN_AS_TOOL, err)
        return False
    if checked.returncode != 0:
        log.warning(
            "tools run as the app's own uid: this container does not allow the switch to the tools' uid "
            "(%s); see docs/security.md",
            checked.stderr.strip() or f"exit code {checked.returncode}",
        )
        return False
    if "landlock off" in checked.stdout:
        log.warning(
            "tools run as uids of their own, without Landlock (%s): a run's tools are kept out of other "
            "runs' folders by their uid alone; see docs/security.md",
            checked.stdout.strip().partition(": ")[2],
        )
    return True


def tool_uid(results_root: Path) -> int:
    """The uid of the tools of the workflow folder whose results are ``results_root``: the same for
    every run and piece of it on every worker (the path decides), another for other workspaces."""
    digest = hashlib.sha256(str(Path(results_root).absolute()).encode()).digest()
    return TOOL_UID_FIRST + int.from_bytes(digest[:8], "big") % TOOL_UID_COUNT


@dataclass(frozen=True)
class Sandbox:
    """The fence of one workflow folder's commands: ``results`` is theirs to write, ``workspace``
    (the visitor's) to read, nothing else under ``root`` (the workspaces folder)."""

    workspace: Path
    results: Path
    root: Path

    @property
    def uid(self) -> int:
        return tool_uid(self.results)

    def helper_args(self) -> list[str]:
        """The helper's options before ``--`` for a command of this run."""
        return [
            "--uid", str(self.uid), "--write", str(self.results.absolute()),
            "--read", str(self.workspace.absolute()), "--hide", str(self.root.absolute()),
        ]  # fmt: skip

    def open(self, folder: Path) -> None:
        """Let this run's tools write ``folder`` (a result folder of ours), and the app read and
        remove what they write there. A no-op where tools run as the app's user."""
        if helper_works():
            grant(folder, self.uid)


def grant(folder: Path, uid: int) -> None:
    """An ACL that gives ``uid`` rwx on ``folder``, and everything made in it rw for the folder's
    group (the app's) and ``uid``. A volume without ACLs gets ``o+rwx`` instead (said once)."""
    setfacl = shutil.which("setfacl")
    entries = f"u:{uid}:rwx,d:u:{uid}:rwx,d:g::rwx,d:m::rwx"
    if setfacl:
        done = subprocess.run([setfacl, "-m", entries, str(folder)], capture_output=True, text=True)
        if done.returncode == 0:
            return
        reason = done.stderr.strip()
    else:
        reason = "setfacl is not installed"
    _warn_no_acl(reason)
    folder.chmod(folder.stat().st_mode | 0o007)


@cache
def _warn_no_acl(reason: str) -> None:
    log.warning(
        "result folders are made writable for every uid (%s): the workspaces volume should support "
        "POSIX ACLs (ext4, xfs, btrfs, tmpfs do) so that only each run's tools may write them",
        reason,
    )
