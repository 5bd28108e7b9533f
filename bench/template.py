"""The 3-file run against the OpenMS template's own queue, side by side on one redis-server.

    .venv/bin/python -m bench.template --template DIR [--rounds 9] [--quick]

DIR is a checkout of https://github.com/OpenMS/streamlit-template (``git clone`` it anywhere). Its
code is run from there, never copied into this project: one stock ``rq worker`` started in DIR
listens on the template's queue (``openms-workflows``) and runs its ``execute_workflow`` task on its
TOPP workflow (``src.Workflow``: FeatureFinderMetabo on every file, FeatureLinkerUnlabeledKD, the
consensus table script), the way its appliance does. Beside it on the same redis-server, one of this
project's workers (``RQ_WORKER_COUNT=1``) runs the metabolomics workflow with the same steps
(alignment off, FeatureFinderMetabo's and the linker's defaults). Both may use 2 threads: the
template's ``max_threads`` parameter, this project's ``MAX_THREADS``. The two runs alternate round by
round (which goes first alternates too), each on the three NZ files of ``../shared/data/mzML``; the
time is from the enqueue to the end the queue records (the template's job's ``ended_at``, this
project's run's end in its status file). Both give a consensus table; their row counts are compared.

The template's modules import a few packages this project does not need (``captcha``); those missing
from this virtualenv are installed once with pip into DIR/.bench-packages at the template's pinned
versions and put on its worker's path only.

Prints a table, writes bench/results/template-<UTC time>.json and bench/TEMPLATE.md (which
BENCHMARKS.md includes). Nothing passes or fails here: the target stands next to the figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rq import Queue, Worker
from rq.job import Job

from bench import harness
from bench.harness import NZ_FILES, median, wait
from bench.suite import Bench, print_header, record_section, write_section
from src import runs
from src.core.settings import load_settings
from src.workflows.metabolomics.paths import TABLE_NAME, TABLE_STEP

TEMPLATE_QUEUE = "openms-workflows"
TEMPLATE_TASK = "src.workflow.tasks.execute_workflow"
TEMPLATE_TABLE = Path("results", "feature-linking", "feature_matrix.tsv")
THREADS = "2"
#: Each way's FeatureFinderMetabo options: the tool's defaults, and the noise threshold the
#: template's Configure page sets (its ``custom_defaults``; a run queued without that page gets
#: the tool's defaults, as above).
RUNS = {
    "FeatureFinderMetabo's defaults": {},
    "noise threshold 1000 (the template's page)": {"algorithm:common:noise_threshold_int": 1000.0},
}


def template_env(template: Path) -> dict[str, str]:
    """The template worker's environment: its own ``src`` first (this project has one too), the
    packages installed for it, and this virtualenv's ``python`` on PATH (its script steps call it)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = f"{template}{os.pathsep}{template / '.bench-packages'}"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def make_importable(template: Path) -> None:
    """Install into DIR/.bench-packages, at the template's pins, the modules its workflow imports
    that this virtualenv lacks; stop with a message if a module stays missing."""
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (template / "requirements.txt").read_text(), re.M))
    probe = [sys.executable, "-c", f"import {TEMPLATE_TASK.rsplit('.', 1)[0]}, src.Workflow"]
    for _ in range(5):
        done = subprocess.run(probe, cwd=template, env=template_env(template), capture_output=True, text=True)
        if done.returncode == 0:
            return
        missing = re.search(r"No module named '([^'.]+)", done.stderr)
        if missing is None or missing.group(1) not in pins:
            raise SystemExit(f"the template's workflow does not import here:\n{done.stderr[-2000:]}")
        name = missing.group(1)
        print(f"installing {name}=={pins[name]} for the template into {template / '.bench-packages'}")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
             str(template / ".bench-packages"), f"{name}=={pins[name]}"],
            check=True,
        )  # fmt: skip
    raise SystemExit("the template's workflow still misses modules after five installs")


class TemplateBench(Bench):
    def __init__(self, template: Path, quick: bool) -> None:
        super().__init__(quick)
        self.template = template
        self.settings = load_settings(env={**self.env, "MAX_THREADS": THREADS, "RQ_WORKER_COUNT": "1"})
        self.ours = harness.Workers({"MAX_THREADS": THREADS, "RQ_WORKER_COUNT": "1"})
        self.theirs: subprocess.Popen | None = None
        self.queue = Queue(TEMPLATE_QUEUE, connection=self.redis.client)

    def start_workers(self) -> None:
        self.ours.start_project(1, self.redis.client)
        rq = str(Path(sys.executable).with_name("rq"))
        self.theirs = subprocess.Popen(
            [rq, "worker", "--url", self.redis.url, "--path", str(self.template), TEMPLATE_QUEUE],
            cwd=self.template, env=template_env(self.template),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait(lambda: len(Worker.all(connection=self.redis.client)) >= 2, 60, 0.1, "both workers to register")
        time.sleep(1.0)  # each worker reaches its blocking dequeue

    # ---- one run each way -------------------------------------------------------------------------
    def our_run(self, options: dict[str, float]) -> tuple[float, int]:
        workflow = self.workflow(self.settings, NZ_FILES, noise=False)
        workflow.params.set("rt_alignment", False)  # the template's steps: features, linking, table
        for key, value in options.items():
            workflow.params.set_tool_value("FeatureFinderMetabo", key, value)
        start = time.time()
        runs.start(workflow)
        self.wait_final(workflow, interval=0.2)
        seconds = workflow.state.read().ended_at - start
        return seconds, rows_of(workflow.files.results_root / TABLE_STEP / TABLE_NAME)

    def template_run(self, options: dict[str, float]) -> tuple[float, int]:
        self.count += 1
        folder = self.root / "template-runs" / f"run-{self.count}"
        inputs = folder / "input-files" / "mzML-files"
        inputs.mkdir(parents=True)
        for path in NZ_FILES:
            shutil.copy(path, inputs / path.name)
        params = {
            "mzML-files": [str(p) for p in sorted(inputs.iterdir())],
            "max_threads": int(THREADS),
            "run-python-script": False,
            "FeatureFinderMetabo": options,  # the template passes a tool's entries as its options
        }
        (folder / "params.json").write_text(json.dumps(params))
        start = time.time()
        task_args = (str(folder), "Workflow", "src.Workflow")  # its task, class and module
        job = self.queue.enqueue(TEMPLATE_TASK, args=task_args, job_timeout=600)
        wait(lambda: job.get_status(refresh=True) in ("finished", "failed"), 600, 0.2, "the template's run")
        job = Job.fetch(job.id, connection=self.redis.client)
        outcome = job.return_value()
        if job.get_status() != "finished" or not (outcome or {}).get("success"):
            raise SystemExit(f"benchmark aborted: the template's run failed: {outcome or job.exc_info}")
        ended = job.ended_at if job.ended_at.tzinfo else job.ended_at.replace(tzinfo=dt.UTC)
        return ended.timestamp() - start, rows_of(folder / TEMPLATE_TABLE)

    def three_file_run(self, rounds: int, label: str, options: dict[str, float]) -> None:
        ours, theirs, our_rows, their_rows = [], [], set(), set()
        for round_ in range(rounds):
            order = ("template", "ours") if round_ % 2 == 0 else ("ours", "template")
            for side in order:
                if side == "ours":
                    seconds, rows = self.our_run(options)
                    ours.append(seconds)
                    our_rows.add(rows)
                else:
                    seconds, rows = self.template_run(options)
                    theirs.append(seconds)
                    their_rows.add(rows)
            print(f"  round {round_ + 1}: this project {ours[-1]:.2f} s, the template {theirs[-1]:.2f} s")
        self.figures[label] = {
            "options": options,
            "seconds": {"ours": ours, "template": theirs},
            "consensus_rows": {"ours": sorted(our_rows), "template": sorted(their_rows)},
        }
        ratio = median(ours) / median(theirs)
        self.row(f"3-file run, {label}", f"{median(ours):.2f} s", f"template {median(theirs):.2f} s",
                 f"{ratio:.2f}", "<= 0.7 x template", ratio <= 0.7)  # fmt: skip
        same = our_rows == their_rows and len(our_rows) == 1
        self.row(f"consensus features, {label}", ", ".join(map(str, sorted(our_rows))),
                 "template " + ", ".join(map(str, sorted(their_rows))), "", "the same", same)  # fmt: skip

    def close(self) -> None:
        self.ours.stop()
        if self.theirs is not None and self.theirs.poll() is None:
            self.theirs.terminate()
            self.theirs.wait(20)
        self.redis.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def rows_of(table: Path) -> int:
    """The consensus features of a tab-separated table: its lines less the header."""
    with table.open() as handle:
        return sum(1 for _ in handle) - 1


def template_commit(template: Path, given: str) -> str:
    """The template's commit: as given, else its checkout's HEAD."""
    if given:
        return given
    command = ["git", "rev-parse", "--short", "HEAD"]
    done = subprocess.run(command, cwd=template, capture_output=True, text=True)
    return done.stdout.strip() or "an unknown commit (not a git checkout; see --template-commit)"


def write_template_section(record: dict) -> None:
    intro = [
        "## The 3-file run against the OpenMS template's queue (`python -m bench.template`)",
        "",
        f"Last run: {record['when']} on {record['machine']['cpus']} CPUs; the template at "
        f"{record['template_commit']}, run from its own folder on the same redis-server, "
        f"{record['rounds']} rounds alternated.",
    ]
    write_section("TEMPLATE", intro, record["rows"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, required=True, help="OpenMS/streamlit-template's code (DIR)")
    parser.add_argument("--template-commit", default="", help="its commit, if DIR is no git checkout")
    parser.add_argument("--rounds", type=int, default=9, help="runs each way, alternated")
    parser.add_argument("--quick", action="store_true", help="3 rounds (a first look)")
    args = parser.parse_args()
    template = args.template.resolve()
    if not (template / TEMPLATE_TASK.rsplit(".", 1)[0].replace(".", "/")).with_suffix(".py").exists():
        raise SystemExit(f"{template} holds no OpenMS/streamlit-template (no src/workflow/tasks.py)")
    if len(NZ_FILES) != 3:
        raise SystemExit("the three NZ files are expected in ../shared/data/mzML")
    make_importable(template)
    rounds = 3 if args.quick else args.rounds
    when = dt.datetime.now(dt.UTC)
    bench = TemplateBench(template, args.quick)
    print_header()
    try:
        bench.start_workers()
        for label, options in RUNS.items():
            bench.three_file_run(rounds, label, options)
    finally:
        bench.close()
    commit = template_commit(template, args.template_commit)
    return record_section(
        "template", when, bench, write_template_section, template_commit=commit, rounds=rounds
    )


if __name__ == "__main__":
    sys.exit(main())
