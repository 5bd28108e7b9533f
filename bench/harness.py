"""Real parts for the benchmarks: a redis-server, project workers, stock `rq worker`s, timing."""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import redis

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "mzML"
NZ_FILES = sorted(DATA.glob("NZ_20200227_*.mzML"))
NOISE = {"algorithm:common:noise_threshold_int": 100.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait(condition: Callable[[], object], timeout: float, interval: float = 0.01, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"benchmark aborted: timed out after {timeout} s waiting for {what}")


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Redis:
    """redis-server configured like the appliance's (AOF everysec, noeviction), in a temp dir."""

    def __init__(self) -> None:
        if not shutil.which("redis-server"):
            raise SystemExit("redis-server is missing: bash scripts/install-deps.sh --dev")
        self.dir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
             "--maxmemory-policy", "noeviction", "--logfile", str(self.dir / "redis.log")]
        )  # fmt: skip
        self.client = redis.Redis.from_url(self.url)
        wait(self._pings, 20, what="redis-server")

    def _pings(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.exceptions.ConnectionError:
            return False

    def used_memory(self) -> int:
        return int(self.client.info("memory")["used_memory"])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Workers:
    """Worker processes: the project's (`python -m src.jobs.worker`) or stock `rq worker`s."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {**os.environ, **env}
        self.processes: list[subprocess.Popen] = []

    def start_project(self, count: int, client: redis.Redis) -> None:
        for _ in range(count):
            self.processes.append(self._spawn([sys.executable, "-m", "src.jobs.worker"]))
        self._registered(client)

    def start_stock(self, count: int, client: redis.Redis, url: str, queue: str) -> None:
        rq = str(Path(sys.executable).with_name("rq"))
        for _ in range(count):
            self.processes.append(self._spawn([rq, "worker", "--url", url, "--path", str(REPO), queue]))
        self._registered(client)

    def _spawn(self, command: list[str]) -> subprocess.Popen:
        return subprocess.Popen(
            command, cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def _registered(self, client: redis.Redis) -> None:
        from rq import Worker

        alive = [p for p in self.processes if p.poll() is None]
        wait(lambda: len(Worker.all(connection=client)) >= len(alive), 60, 0.1, "the workers to register")
        time.sleep(1.0)  # let each worker reach its blocking dequeue

    def rss_mb(self) -> list[float]:
        """Resident memory of each worker with its children (the scheduler), in MB."""
        sizes = []
        for process in self.processes:
            try:
                tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
                sizes.append(sum(p.memory_info().rss for p in tree) / 2**20)
            except psutil.NoSuchProcess:
                continue
        return sizes

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()


def streamlit_idle_rss_mb(env: dict[str, str], settle: float = 5.0) -> float:
    """Start `streamlit run src/web/server.py` (the app as the appliance serves it), wait until it
    answers, then read its resident memory."""
    import urllib.request

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "src/web/server.py", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait(answers, 60, 0.2, "Streamlit")
        time.sleep(settle)
        return psutil.Process(process.pid).memory_info().rss / 2**20
    finally:
        process.terminate()
        process.wait(10)


def into_benchmarks(section: str, heading: str) -> None:
    """BENCHMARKS.md with this section (which starts with ``heading``) in place of its earlier
    version, or at its end. A section ends where the next '## ' heading begins."""
    path = REPO / "BENCHMARKS.md"
    text = path.read_text()
    start = text.find(heading)
    if start < 0:
        path.write_text(text.rstrip("\n") + "\n\n" + section)
        return
    following = text.find("\n## ", start + len(heading))
    rest = "" if following < 0 else "\n" + text[following + 1 :]
    path.write_text(text[:start] + section + rest)
