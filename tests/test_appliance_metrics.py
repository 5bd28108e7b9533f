"""The image's /metrics, scraped by a real Prometheus server (Debian's package): an appliance with
2 workers and 2 web servers runs 3 runs (one fails), and PromQL answers the finished and failed
counts, the duration histogram's count, the queue's depth and the busy workers as they were; the
token is required; both web servers' sessions are reported whichever one a scrape reaches. The
image carries its version as a label and says it in its first log line."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

from src.core.version import VERSION
from tests.appliance_support import IMAGE, Box
from tests.conftest import DATA_DIR, wait_for
from tests.queue_support import free_port

pytestmark = [pytest.mark.slow, pytest.mark.container]

GOOD = [DATA_DIR / "NZ_20200227_025.mzML", DATA_DIR / "NZ_20200227_027.mzML"]
SCRAPE_SECONDS = 1  # the two good runs take about 3 s each, side by side for about 2 s
CONFIG = """
global:
  scrape_interval: {interval}s
  scrape_timeout: {interval}s
scrape_configs:
  - job_name: openms
    metrics_path: /metrics
    authorization:
      credentials: {token}
    static_configs:
      - targets: ["{target}"]
"""


def get(url: str, token: str = "") -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers.get("content-type", ""), answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("content-type", ""), err.read().decode()


class Prometheus:
    """A real prometheus server scraping one target, queried through its HTTP API."""

    def __init__(self, folder, target: str, token: str) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus is not installed; scripts/install-deps.sh --dev installs it")
        config = folder / "prometheus.yml"
        config.write_text(CONFIG.format(interval=SCRAPE_SECONDS, token=token, target=target))
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = (folder / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
             f"--web.listen-address={self.url.removeprefix('http://')}"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for(lambda: self._ready(), 60, interval=0.5, what="Prometheus to be ready")

    def _ready(self) -> bool:
        assert self.process.poll() is None, "prometheus exited; see its log"
        try:
            return get(f"{self.url}/-/ready")[0] == 200
        except OSError:
            return False

    def query(self, promql: str) -> float | None:
        """The query's single value now, or None when it has none (yet)."""
        status, _, body = get(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        assert status == 200, body
        result = json.loads(body)["data"]["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


@pytest.fixture
def prometheus_for(tmp_path):
    started: list[Prometheus] = []

    def start(target: str, token: str) -> Prometheus:
        started.append(Prometheus(tmp_path, target, token))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def test_prometheus_scrapes_runs_queue_and_workers_of_two_workers_and_two_web_servers(box, prometheus_for):
    token = secrets.token_hex(16)
    # Lending off: with it, the first run's step borrows the idle worker and the second run waits
    # for that step's end (docs/queue.md), so the two may never be busy at once (the CI run of
    # 0d3d6e5 and 2 of 3 runs here saw at most 1 busy, and 1 lent); the lent gauge is test_lending's.
    appliance: Box = box(
        environment={"RQ_WORKER_COUNT": "2", "STREAMLIT_SERVER_COUNT": "2", "METRICS_ENABLED": "true",
                     "METRICS_TOKEN": token, "QUEUE_LEND_IDLE_WORKERS": "false"},
    )  # fmt: skip
    appliance.wait_healthy()
    assert f"OpenMS Workflow Server {VERSION} (appliance)" in appliance.logs()
    endpoint = f"http://{appliance.ip}:8501/metrics"
    assert get(endpoint)[0] == 401
    assert get(endpoint, "not-the-token-at-all")[0] == 401
    status, content_type, text = get(endpoint, token)
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4"), (status, content_type)
    assert f'openms_build_info{{version="{VERSION}"}} 1' in text
    server = prometheus_for(f"{appliance.ip}:8501", token)
    wait_for(lambda: server.query('up{job="openms"}') == 1, 60, interval=1, what="a successful scrape")

    workspaces = ["metrics-a", "metrics-b", "metrics-bad"]
    for ws in workspaces:
        appliance.run(ws, "status", setup='workflow.files.input_dir("mzML-files")')
    folder = "/data/workspaces/{}/topp-workflow/input-files/mzML-files"
    for ws, source in zip(workspaces, GOOD, strict=False):
        appliance.put(folder.format(ws), source.name, source.read_bytes())
    appliance.put(folder.format("metrics-bad"), "cut.mzML", GOOD[0].read_bytes()[:100_000])
    for ws in workspaces:  # two good runs take both workers; the bad one waits behind them
        appliance.run(ws, "start")
    for ws in workspaces:
        appliance.wait_run(ws, ("finished", "failed"), timeout=600)

    wait_for(
        lambda: server.query("sum(openms_runs_ended_total)") == 3, 30, interval=1, what="3 ended runs scraped"
    )
    assert server.query('openms_runs_ended_total{outcome="finished"}') == 2
    assert server.query('openms_runs_ended_total{outcome="failed"}') == 1
    assert server.query("sum(openms_run_duration_seconds_count)") == 3
    assert server.query('openms_run_duration_seconds_bucket{outcome="finished",le="+Inf"}') == 2
    assert server.query("sum(openms_queue_depth)") == 0
    assert server.query("max_over_time(sum(openms_queue_depth)[15m:1s])") >= 1
    assert server.query('sum(openms_workers{state="busy"})') in (0, None)
    assert server.query('max_over_time(sum(openms_workers{state="busy"})[15m:1s])') == 2
    assert server.query("sum(openms_workers)") == 2
    assert server.query("openms_redis_up") == 1
    wait_for(lambda: server.query("count(openms_web_sessions)") == 2, 60, interval=1, what="both web servers")
    scraped = get(endpoint, token)[2]
    for visitor_data in (*workspaces, "cut.mzML", "NZ_2020"):
        assert visitor_data not in scraped, visitor_data


def test_the_image_is_labelled_with_its_version(docker_client):
    labels = docker_client.images.get(IMAGE).labels
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.revision"]
