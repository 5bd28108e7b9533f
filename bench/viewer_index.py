"""The raw data viewer on a 1 GB centroided mzML (made with pyOpenMS, bench/big_mzml.py), side by
side in one run:

1. the file's index built through the queue (a real redis-server, one real worker, from
   ``view_index.request`` to "ready") against reading the file once with pyOpenMS by hand
   (``MzMLFile().load``), alternated ``--repeats`` times (target: within 1.2x);
2. answers from the index: a spectrum, the whole map, zooms, an XIC (target: under 0.5 s);
3. the web server's resident memory while ``--sessions`` Chromium sessions look at the file (map,
   a zoom box, the Spectrum tab) through the workspace's link (target: grows by under 50 MB),
   and how many index jobs the queue ran for them (1).

    .venv/bin/python -m bench.viewer_index [--gb 1.0] [--sessions 5] [--repeats 3]

Writes bench/results/viewer-index-<UTC time>.json and bench/VIEWER-INDEX.md, and puts that section
into BENCHMARKS.md (``bench.suite`` keeps it when it rewrites the file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pyopenms as oms
from playwright.sync_api import sync_playwright
from rq import Queue

from bench import big_mzml, harness
from bench.harness import REPO, median, percentile, wait
from src.core.settings import load_settings
from src.core.viewer import store
from src.core.viewer.reading import ViewIndex
from src.jobs.client import view_index
from src.jobs.job_model import view_queue_name
from tests.chromium import CHROMIUM, CHROMIUM_ARGS

SECTION = "## Raw data viewer: a 1 GB file"
WORKSPACE = "b1" * 16  # a valid online workspace id (32 hex digits)


def by_hand(path: Path) -> float:
    os.sync()  # the index just written (or the file) is on disk: no writeback during the timing
    started = time.perf_counter()
    experiment = oms.MSExperiment()
    oms.MzMLFile().load(str(path), experiment)
    seconds = time.perf_counter() - started
    del experiment
    return seconds


def through_queue(settings, workspace: Path, path: Path) -> float:
    store.remove_for(workspace, path)
    os.sync()
    started = time.perf_counter()
    view_index.request(settings, workspace, path, "bench")
    wait(
        lambda: view_index.state(settings, workspace, path).kind in (store.Index.READY, store.Index.BROKEN),
        600,
        0.05,
        "the index",
    )
    assert view_index.state(settings, workspace, path).kind == store.Index.READY
    return time.perf_counter() - started


def answers(folder: Path, calls: int = 50) -> dict[str, dict[str, float]]:
    index = ViewIndex(folder)
    rt_lo, rt_hi, mz_lo, mz_hi = index.extent
    rng = random.Random(5)

    def zoom(share: float):
        width, height = (rt_hi - rt_lo) * share**0.5, (mz_hi - mz_lo) * share**0.5
        r, m = rng.uniform(rt_lo, rt_hi - width), rng.uniform(mz_lo, mz_hi - height)
        return lambda: index.region(r, r + width, m, m + height)

    cases = {
        "a spectrum": lambda: index.spectrum(rng.randrange(index.summary["spectra"])),
        "the whole map": lambda: index.region(),
        "a zoom to a tenth of the map": None,
        "a zoom to a hundredth": None,
        "an XIC (10 ppm)": lambda: index.xic(rng.uniform(mz_lo, mz_hi), 10),
    }
    timed = {}
    for name, call in cases.items():
        seconds = []
        for _ in range(calls if "XIC" not in name else 10):
            one = call or zoom(0.1 if "tenth" in name else 0.01)
            started = time.perf_counter()
            one()
            seconds.append(time.perf_counter() - started)
        timed[name] = {"median": median(seconds), "p95": percentile(seconds, 0.95)}
    return timed


class WebServer:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = harness.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("w")
        command = [sys.executable, "-m", "streamlit", "run", "src/web/server.py", "--server.address",
                   "127.0.0.1", "--server.port", str(self.port), "--server.headless", "true"]  # fmt: skip
        environment = {**os.environ, **env, "MALLOC_ARENA_MAX": "2"}  # as supervisord.conf starts it
        self.process = subprocess.Popen(
            command, cwd=REPO, env=environment, stdout=self._log, stderr=subprocess.STDOUT
        )

    def rss(self) -> int:
        return psutil.Process(self.process.pid).memory_info().rss

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


def sessions_memory(env: dict[str, str], root: Path, count: int) -> dict:
    """Peak growth of the web server's memory while ``count`` sessions look at the file."""
    server = WebServer(env, root / "streamlit.log")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            warm = browser.new_context().new_page()
            warm.goto(f"{server.url}/viewer?workspace={WORKSPACE}", timeout=120_000)
            warm.get_by_text("Drawn from").first.wait_for(timeout=180_000)  # the viewer's code, warmed
            time.sleep(2)
            before, peak = server.rss(), [server.rss()]
            stop = threading.Event()
            sampler = threading.Thread(target=_sample, args=(server, peak, stop), daemon=True)
            sampler.start()
            seen = [_look(browser, server.url) for _ in range(count)]
            for page in seen:
                page.get_by_text("Drawn from").first.wait_for(timeout=180_000)
            for page in seen:
                page.get_by_role("tab", name="Spectrum").click()
                page.get_by_text("MS1 spectrum at RT").first.wait_for(timeout=120_000)
            stop.set()
            sampler.join()
            after = server.rss()
            shown = sum(1 for page in seen if page.locator(".js-plotly-plot").count())
            browser.close()
    finally:
        server.stop()
    return {"before_mb": before / 1e6, "peak_mb": peak[0] / 1e6, "after_mb": after / 1e6, "maps_shown": shown}


def _sample(server: WebServer, peak: list[int], stop: threading.Event) -> None:
    while not stop.wait(0.2):
        peak[0] = max(peak[0], server.rss())


def _look(browser, url: str):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{url}/viewer?workspace={WORKSPACE}", timeout=120_000)
    return page


def jobs_run(settings, redis) -> int:
    queue = Queue(view_queue_name(settings), connection=redis.client)
    return queue.finished_job_registry.count + queue.failed_job_registry.count


def measure(args) -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench-viewer-"))
    redis = harness.Redis()
    env = {"WORKSPACES_DIR": str(root / "workspaces"), "ONLINE_DEPLOYMENT": "true", "REDIS_URL": redis.url}
    os.environ.update(env)
    settings = load_settings(env=env)
    workspace = root / "workspaces" / WORKSPACE
    folder = workspace / "topp-workflow" / "input-files" / "mzML-files"
    folder.mkdir(parents=True)
    path = folder / "big_run.mzML"
    held = {**big_mzml.write(path, args.gb), "bytes": path.stat().st_size}
    workers = harness.Workers(env)
    try:
        workers.start_project(1, redis.client)
        hand, queued = [], []
        for _ in range(args.repeats):
            hand.append(by_hand(path))
            queued.append(through_queue(settings, workspace, path))
        index_folder = store.index_folder(workspace, path)
        index_bytes = sum(p.stat().st_size for p in index_folder.iterdir())
        timed = answers(index_folder)
        jobs_before = jobs_run(settings, redis)
        memory = sessions_memory(env, root, args.sessions)
        jobs = jobs_run(settings, redis) - jobs_before
    finally:
        workers.stop()
        redis.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "file": held,
        "by_hand_s": hand,
        "queue_s": queued,
        "index_bytes": index_bytes,
        "answers_s": timed,
        "memory": memory,
        "jobs_for_sessions": jobs,
    }


def write_section(record: dict) -> str:
    f = record["figures"]
    hand, queued = median(f["by_hand_s"]), median(f["queue_s"])
    memory = f["memory"]
    grown = memory["peak_mb"] - memory["before_mb"]
    rows = [
        ("index built through the queue (1 worker)", f"{queued:.1f} s", f"{hand:.1f} s (pyOpenMS load)",
         f"{queued / hand:.2f}", "<= 1.2", queued / hand <= 1.2),
        ("index size", f"{f['index_bytes'] / 1e6:.0f} MB", f"{record['file_mb']:.0f} MB (the file)",
         f"{f['index_bytes'] / 1e6 / record['file_mb']:.2f}", "", None),
    ]  # fmt: skip
    for name, t in f["answers_s"].items():
        target = "< 0.5 s" if "XIC" not in name else ""
        met = t["p95"] < 0.5 if target else None
        rows.append((f"{name} from the index (median, p95)", f"{t['median']:.3f} s, {t['p95']:.3f} s", "", "",
                     target, met))  # fmt: skip
    rows.append((f"web server memory, {record['sessions']} sessions looking", f"+{grown:.0f} MB peak",
                 f"{memory['before_mb']:.0f} MB before", "", "< 50 MB", grown < 50))  # fmt: skip
    shown = f"{memory['maps_shown']}; {f['jobs_for_sessions']}"
    wanted = f"{record['sessions']}; 0 (built before)"
    rows.append(("sessions that saw the map; index jobs for them", shown, "", "", wanted, None))
    lines = [
        SECTION,
        "",
        f"Last run: {record['when']} on {record['cpus']} CPUs; `{record['command']}`. A "
        f"{record['file_mb']:.0f} MB centroided mzML ({f['file']['ms1']:,} MS1 and {f['file']['ms2']:,} MS2 "
        f"spectra, {f['file']['peaks']:,} peaks). Load average before and after: {record['load']}.",
        "",
        "| measure | figure | baseline (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for measure, figure, baseline, ratio, target, met in rows:
        shown = "" if met is None else ("yes" if met else "no")
        lines.append(f"| {measure} | {figure} | {baseline} | {ratio} | {target} | {shown} |")
    notes = REPO / "bench" / "VIEWER-INDEX-NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    text = "\n".join(lines) + "\n"
    (REPO / "bench" / "VIEWER-INDEX.md").write_text(text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()
    figures = measure(args)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    record = {
        "when": when,
        "cpus": os.cpu_count(),
        "command": f"python -m bench.viewer_index --gb {args.gb} --sessions {args.sessions} "
        f"--repeats {args.repeats}",
        "file_mb": figures["file"]["bytes"] / 1e6,
        "sessions": args.sessions,
        "load": f"{load_before[0]:.2f} / {os.getloadavg()[0]:.2f}",
        "figures": figures,
    }
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"viewer-index-{when}.json").write_text(json.dumps(record, indent=2))
    section = write_section(record)
    harness.into_benchmarks(section, SECTION)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
