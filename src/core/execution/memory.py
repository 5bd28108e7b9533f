"""How much memory one run's tools may use, and how a run that needed more is told so.

Every command a run starts is capped (``RLIMIT_AS``, set by ``prlimit`` as the command starts)
and made the kernel's first choice when memory runs out (``oom_score_adj`` 1000, set by
``choom``): a visitor's file that needs 30 GB ends that visitor's run, never Redis, a worker or
the web server. The cap is ``limits.run_memory_gb``, by default the container's memory limit (or
the machine's memory) divided by the runs that may run at once on it, and never below
``AUTO_FLOOR_BYTES`` (Python with pyOpenMS alone maps about 0.6 GB).
"""

from __future__ import annotations

import re
import shutil
import signal
from pathlib import Path

import psutil

from src.core.settings import GB, Settings

#: cgroup v2, then v1: the container's memory limit, if it has one.
CGROUP_LIMIT_FILES = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)
#: What a tool or script that could not get memory writes (C++, Python, libc), and the line
#: ALLOC_WATCH writes when an allocation fails, whatever the tool says next (an XML parser's failed
#: allocation comes out as "Parsing error").
OUT_OF_MEMORY_TEXT = re.compile(
    r"bad_alloc|MemoryError|Cannot allocate memory|out of memory|failed to map segment", re.IGNORECASE
)
#: The image's library that says so when a tool's allocation fails (docker/alloc-watch.c); the tools'
#: helper preloads it, and where there is no helper a command with a cap gets it by LD_PRELOAD.
ALLOC_WATCH = Path("/usr/local/lib/openms/alloc-watch.so")
#: The kernel's choice when memory runs out: the tools first.
TOOL_OOM_SCORE_ADJ = 1000
#: The least the automatic limit gives one run.
AUTO_FLOOR_BYTES = 1 * GB


def machine_memory_bytes() -> int:
    """The container's memory limit if it has one below the machine's memory, else the machine's."""
    total = psutil.virtual_memory().total
    for path in CGROUP_LIMIT_FILES:
        text = path.read_text().strip() if path.is_file() else ""
        if text.isdigit() and 0 < int(text) < total:
            return int(text)
    return total


def run_memory_bytes(settings: Settings) -> int:
    """The memory one run's tools may use each."""
    if settings.limits.run_memory_gb > 0:
        return int(settings.limits.run_memory_gb * GB)
    return max(AUTO_FLOOR_BYTES, machine_memory_bytes() // max(1, settings.limits.runs_at_once))


def limit_prefix(limit_bytes: int) -> list[str]:
    """What a command starts under so it gets the cap and the raised OOM score (nothing where
    util-linux's prlimit and choom are missing, e.g. not Linux)."""
    prlimit, choom = shutil.which("prlimit"), shutil.which("choom")
    prefix = [prlimit, f"--as={limit_bytes}", "--"] if prlimit else []
    return prefix + ([choom, "-n", str(TOOL_OOM_SCORE_ADJ), "--"] if choom else [])


def ran_out(exit_code: int, said_out_of_memory: bool) -> bool:
    """True if a command ended because it could not get memory: it (or ALLOC_WATCH in it) said so
    anywhere in its output, or the kernel's OOM killer (SIGKILL; a stop of ours is told apart
    before this is asked) ended it."""
    return exit_code == -signal.SIGKILL or said_out_of_memory


def preload(limit_bytes: int) -> dict[str, str]:
    """The environment a capped command gets where no helper preloads ALLOC_WATCH for it."""
    return {"LD_PRELOAD": str(ALLOC_WATCH)} if limit_bytes and ALLOC_WATCH.is_file() else {}


def gigabytes(limit_bytes: int) -> str:
    """2 GB, 0.25 GB, 11.7 GB: the limit as a person reads it."""
    return f"{limit_bytes / GB:.2f}".rstrip("0").rstrip(".")
