"""Many visitors waiting at once: K real browser sessions on the Run page of the image.

    .venv/bin/python -m bench.viewers [--sessions 4,8,16,20] [--servers 1] [--workers 1]

Each session is a fresh visitor (its own browser context, so its own workspace): it loads the
example data, presses Start Workflow and waits on the Run page until it shows the run
Completed. With one worker the runs queue up, so most sessions wait queued, then running.
Recorded per K: sessions that never saw their end, console errors (disconnects, delta-path
crashes, anything else), the time from the run's end (its status file) to the page showing
it (p50/p95), and the web server's CPU while the sessions wait, per viewer. Writes
bench/results/viewers-<UTC time>.json; BENCHMARKS.md quotes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field

from playwright.async_api import TimeoutError as PlaywrightTimeout
from playwright.async_api import async_playwright

from bench.harness import REPO, percentile
from tests.chromium import CHROMIUM, CHROMIUM_ARGS

IMAGE = os.environ.get("IMAGE_TAG", "openms-workflow-server:latest")
RESULTS = REPO / "bench" / "results"
#: Sessions set up (example data loaded) at the same time; then all press Start within seconds.
SETUP_AT_ONCE = 4
WAIT_SECONDS = 900


@dataclass
class Session:
    index: int
    workspace: str = ""
    started: float = 0.0
    seen_end: float | None = None
    errors: list[str] = field(default_factory=list)


class Appliance:
    """The image, started for one measurement and removed after it."""

    def __init__(self, servers: int, workers: int) -> None:
        variables = {
            "RQ_WORKER_COUNT": workers,
            "STREAMLIT_SERVER_COUNT": servers,
            "RUNNING_RUNS_PER_CLIENT": 1000,  # every session comes from this one host
        }
        env = [arg for name, value in variables.items() for arg in ("-e", f"{name}={value}")]
        self.name = f"bench-viewers-{os.getpid()}"
        run = ["docker", "run", "-d", "--name", self.name, *env, IMAGE]
        subprocess.run(run, check=True, capture_output=True)
        self.ip = self._inspect("{{.NetworkSettings.IPAddress}}")
        deadline = time.monotonic() + 120
        while self._inspect("{{.State.Health.Status}}") != "healthy":
            if time.monotonic() > deadline:
                raise SystemExit(f"the appliance did not become healthy: {self.logs()[-2000:]}")
            time.sleep(1)

    def _inspect(self, template: str) -> str:
        return subprocess.run(
            ["docker", "inspect", "-f", template, self.name], capture_output=True, text=True, check=True
        ).stdout.strip()

    def logs(self) -> str:
        return subprocess.run(["docker", "logs", self.name], capture_output=True, text=True).stdout

    def web_pids(self) -> list[int]:
        """Host pids of the container's Streamlit servers (their CPU is read from /proc)."""
        top = subprocess.run(
            ["docker", "top", self.name, "-eo", "pid,args"], capture_output=True, text=True, check=True
        ).stdout.splitlines()[1:]
        return [int(line.split()[0]) for line in top if "streamlit run" in line]

    def ended_at(self, workspace: str) -> float | None:
        path = f"/data/workspaces/{workspace}/topp-workflow/run/status.json"
        out = subprocess.run(["docker", "exec", self.name, "cat", path], capture_output=True, text=True)
        return json.loads(out.stdout).get("ended_at") if out.returncode == 0 else None

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True)


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def settle(page) -> None:
    await page.locator('[data-test-script-state="notRunning"]').wait_for(timeout=120_000)


async def set_up(browser, base: str, session: Session, gate: asyncio.Semaphore) -> object:
    context = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await context.new_page()
    page.on("console", lambda m: session.errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: session.errors.append(f"pageerror: {e}"))
    async with gate:
        await page.goto(f"{base}/file_upload", timeout=120_000)
        await settle(page)
        await page.get_by_role("button", name="Load example data").click(timeout=120_000)
        await page.get_by_text("Example data loaded").wait_for(timeout=120_000)
        await page.get_by_role("link", name="Run", exact=True).click()
        await page.get_by_role("heading", name="Run", exact=True).wait_for(timeout=120_000)
        await settle(page)
    session.workspace = re.search(r"workspace=([0-9a-f]{32})", page.url).group(1)
    return page


async def wait_for_end(page, session: Session) -> None:
    await page.get_by_role("button", name="Start Workflow").click(timeout=120_000)
    session.started = time.time()
    try:
        await page.get_by_text(re.compile(r"Completed\s+in")).first.wait_for(timeout=WAIT_SECONDS * 1000)
        session.seen_end = time.time()
    except PlaywrightTimeout:
        session.seen_end = None


async def measure(k: int, servers: int, workers: int) -> dict:
    appliance = Appliance(servers, workers)
    base = f"http://{appliance.ip}:8501"
    sessions = [Session(i) for i in range(k)]
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            gate = asyncio.Semaphore(SETUP_AT_ONCE)
            pages = await asyncio.gather(*(set_up(browser, base, s, gate) for s in sessions))
            pids = appliance.web_pids()
            cpu0, wall0 = cpu_seconds(pids), time.monotonic()
            await asyncio.gather(*(wait_for_end(p, s) for p, s in zip(pages, sessions, strict=True)))
            cpu1, wall1 = cpu_seconds(pids), time.monotonic()
            await browser.close()
        return summarize(k, servers, workers, sessions, appliance, (cpu1 - cpu0) / (wall1 - wall0))
    finally:
        appliance.remove()


def summarize(k, servers, workers, sessions, appliance, cores: float) -> dict:
    latencies = []
    for s in sessions:
        ended = appliance.ended_at(s.workspace)
        if s.seen_end and ended:
            latencies.append(max(0.0, s.seen_end - ended))
    errors = [e for s in sessions for e in s.errors]
    return {
        "sessions": k,
        "web_servers": servers,
        "workers": workers,
        "lost_sessions": sum(1 for s in sessions if s.seen_end is None),
        "console_disconnected": sum("disconnected" in e for e in errors),
        "console_delta_path": sum("delta path" in e for e in errors),
        "console_other": sum("disconnected" not in e and "delta path" not in e for e in errors),
        "console_examples": sorted(set(e[:200] for e in errors))[:10],
        "end_to_screen_p50_s": round(percentile(latencies, 0.5), 2) if latencies else None,
        "end_to_screen_p95_s": round(percentile(latencies, 0.95), 2) if latencies else None,
        "web_cpu_cores": round(cores, 3),
        "web_cpu_ms_per_viewer_per_s": round(1000 * cores / k, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="4,8,16,20", help="comma-separated K values")
    parser.add_argument("--servers", type=int, default=1, help="STREAMLIT_SERVER_COUNT")
    parser.add_argument("--workers", type=int, default=1, help="RQ_WORKER_COUNT")
    args = parser.parse_args(argv)
    rows = []
    for k in (int(v) for v in args.sessions.split(",")):
        row = asyncio.run(measure(k, args.servers, args.workers))
        rows.append(row)
        print(json.dumps(row), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    out = RESULTS / f"viewers-{stamp}.json"
    out.write_text(
        json.dumps({"image": IMAGE, "cpus": os.cpu_count(), "when": stamp, "rows": rows}, indent=2)
    )
    print(f"wrote {out.relative_to(REPO)}")
    write_summary()
    return 0


#: Measured on the image before this benchmark's fixes (issue "Many users at once"), same data.
BEFORE = {
    4: "0 lost; ~90 ms per viewer",
    8: "1 to 3 of 8 lost in three trials; a blank page once (delta path)",
    20: "19 of 20 lost, 11 of 20 runs never queued; web server at 92 % of a core, unhealthy",
}


def write_summary() -> None:
    """bench/VIEWERS.md from every viewers record (BENCHMARKS.md includes it; bench.suite --render)."""
    lines = [
        "## Many visitors at once (`python -m bench.viewers`)",
        "",
        "K browser sessions (Playwright, Debian's Chromium, one context each) load the example data,",
        "press Start within seconds and wait on the Run page of the image (one worker) until it shows",
        "Completed. *screen lag* is the time from the run's end (its status file) to the page showing it;",
        "*web CPU* is the Streamlit server(s)' CPU while the sessions wait, per viewer and second.",
        "",
        "| run | K | web servers | lost | disconnects | delta path | screen lag p50 / p95 "
        "| web CPU per viewer | before |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(RESULTS.glob("viewers-*.json")):
        record = json.loads(path.read_text())
        for row in record["rows"]:
            lines.append(
                f"| {record.get('when', path.stem[8:])} | {row['sessions']} | {row['web_servers']} "
                f"| {row['lost_sessions']} | {row['console_disconnected']} | {row['console_delta_path']} "
                f"| {row['end_to_screen_p50_s']} / {row['end_to_screen_p95_s']} s "
                f"| {row['web_cpu_ms_per_viewer_per_s']} ms/s "
                f"| {BEFORE.get(row['sessions'], '') if row['web_servers'] == 1 else ''} |"
            )
    lines += [
        "",
        "*Web CPU per viewer* divides all of the web tier's CPU by K, its fixed cost included (the",
        "server's own housekeeping, the sidebar monitors): at K = 4 that shows as 15 ms/s per viewer,",
        "while each viewer added from K = 4 to K = 20 cost about 2 ms/s (4 × 15.1 ms/s against",
        "20 × 4.8 ms/s), within the target of 10 ms/s (1 % of a core). With two web servers the",
        "20 sessions were served as well as by one (0 lost, p95 1.5 s against 2.3 s).",
    ]
    (REPO / "bench" / "VIEWERS.md").write_text("\n".join(lines) + "\n")
    from bench import suite  # rewrite BENCHMARKS.md with this section, from the newest suite record

    suite.render_newest()


if __name__ == "__main__":
    sys.exit(main())
