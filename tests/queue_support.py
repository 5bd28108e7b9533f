"""Fixtures for the queue tests: a real redis-server with AOF in a temp dir, real RQ workers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from src.core.settings import Settings, load_settings
from tests.conftest import REPO, wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server process on a free port, configured like the appliance's (AOF on, no eviction)."""

    def __init__(self, data_dir: Path) -> None:
        if shutil.which("redis-server") is None:
            pytest.fail(
                "redis-server is not installed; tests/run.sh installs it (apt-get install redis-server)"
            )
        self.data_dir = data_dir
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--maxmemory-policy",
            "noeviction",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        self.process = subprocess.Popen(command)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        wait_for(lambda: self._pings(client), 20, what="redis-server to answer")

    @staticmethod
    def _pings(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.exceptions.RedisError:
            return False

    def aof_bytes(self) -> bytes:
        """Everything Redis wrote to its append-only files so far."""
        return b"".join(f.read_bytes() for f in sorted(self.data_dir.rglob("*.aof")))

    def kill(self) -> None:
        """SIGKILL, like a crash: only what reached the AOF survives."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()  # a previous test killed it
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


def online_env(settings: Settings, redis_url: str, **extra: str) -> dict[str, str]:
    env = {
        "WORKSPACES_DIR": str(settings.workspaces_dir),
        "ONLINE_DEPLOYMENT": "true",
        "REDIS_URL": redis_url,
        "QUEUE_RETRY_INTERVALS": "1",
    }
    env.update(extra)
    return env


@pytest.fixture
def online_settings(settings, redis_url) -> Settings:
    return load_settings(env=online_env(settings, redis_url))


class WorkerPool:
    """Real `python -m src.jobs.worker` processes; all are stopped at the end of the test."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    def start(
        self, settings: Settings, redis_url: str, count: int = 1, **extra: str
    ) -> list[subprocess.Popen]:
        env = dict(os.environ, **online_env(settings, redis_url, **extra))
        started = []
        for _ in range(count):
            log = (self.log_dir / f"worker-{len(self.processes)}.log").open("w")
            process = subprocess.Popen(
                [sys.executable, "-m", "src.jobs.worker"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a group of its own, as under supervisord
            )
            self.processes.append(process)
            started.append(process)
        client = redis.Redis.from_url(redis_url)
        wait_for(
            lambda: len(self.ready_names(client)) >= len(self.running()),
            60,
            interval=0.2,
            what="the workers to register and reach their first dequeue",
        )
        return started

    def running(self) -> list[subprocess.Popen]:
        return [p for p in self.processes if p.poll() is None]

    @staticmethod
    def alive_names(client: redis.Redis) -> list[str]:
        from rq import Worker

        return [w.name for w in Worker.all(connection=client)]

    @staticmethod
    def ready_names(client: redis.Redis) -> list[str]:
        """Workers past start-up: RQ registers a worker (with no state yet, then "started")
        before its first dequeue sets "idle"."""
        from rq import Worker

        return [w.name for w in Worker.all(connection=client) if w.get_state() in ("idle", "busy")]

    def stop_all(self) -> None:
        for process in self.running():
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.log_dir.glob("worker-*.log")))


@pytest.fixture
def workers(tmp_path):
    pool = WorkerPool(tmp_path)
    yield pool
    pool.stop_all()
