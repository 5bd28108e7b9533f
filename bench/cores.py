"""A study at the machine's limit: the consensus table script and one worker's cores, each against
the code before the change, run in turn in the same process.

    .venv/bin/python -m bench.cores [--files 31] [--baseline cb574f8] [--quick] [--tables-only]

1. The table script on the consensus map of an N-file study (the 12 real runs of
   ``../shared/data/mzML``, repeated under new names up to N: FeatureFinderMetabo's defaults, then
   FeatureLinkerUnlabeledKD), this tree's script against the script of ``--baseline`` (taken with
   ``git show``), alternated; the two tables must be identical (same values, same types).
2. The same with the shift table of an aligned study (``--features``, ``--shifts``: every sample's
   featureXML read again for its retention times before alignment), this tree's script on as many
   threads as the machine has cores against the script of ``SHIFT_BASELINE`` (one read after
   another), alternated; both tables must be identical byte for byte.
3. The 3-file run (the three NZ files, FeatureFinderMetabo's defaults, alignment on) through the queue
   with one worker that may use 2 threads (``MAX_THREADS=2``, ``RQ_WORKER_COUNT=1``), this tree against
   a ``git worktree`` of ``--baseline``, alternated round by round.

Prints a table, writes bench/results/cores-<UTC time>.json and bench/CORES.md (which BENCHMARKS.md
includes). Nothing passes or fails here: targets stand next to the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.harness import DATA, REPO, median
from bench.suite import print_header, record_section, write_section

STUDY = sorted(DATA.glob("NZ_20200227_*.mzML")) + sorted((DATA / "study").glob("*.mzML"))
SCRIPT = "src/workflows/metabolomics/consensus_table.py"
#: The code before issue 34's first steps (per-feature Python rows, pandas' CSV writer; one piece
#: at a time in the run's own job): the landed commit before them. (Figures before 2026-12-04 name
#: 7a023a8, a commit of the same code that landing folded into its stop's commit.)
BASELINE = "cb574f8"
PY = sys.executable
#: The code before the shift table's reads went onto threads and its lookups into NumPy.
SHIFT_BASELINE = "8aa38c9"

THREE_FILE_RUN = """
import json, sys
from bench.harness import median
from bench.spreading import STUDY, SpreadBench
bench = SpreadBench(True)
try:
    pool = bench.pool(1, MAX_THREADS="2", RQ_WORKER_COUNT="1")
    times = [bench.study_run(STUDY[:3])[0] for _ in range(int(sys.argv[1]))]
    pool.stop()
finally:
    bench.close()
print("SECONDS", json.dumps(times))
"""


def tool(*command: object) -> None:
    subprocess.run([str(c) for c in command], check=True, capture_output=True)


def study_map(root: Path, files: int) -> Path:
    """The consensus map of ``files`` runs: the 12 real ones, repeated under new names."""
    features = []
    for source in STUDY:
        out = root / f"{source.stem}.featureXML"
        tool("FeatureFinderMetabo", "-in", source, "-out", out, "-threads", "2", "-no_progress")
        features.append(out)
    named = []
    for index in range(files):
        copy = root / "runs" / f"run_{index:03d}.featureXML"
        copy.parent.mkdir(exist_ok=True)
        text = features[index % len(features)].read_text()
        # the run's own name, where the linker takes the column's file name from
        start = text.index('name="spectra_data" value="[') + len('name="spectra_data" value="[')
        end = text.index("]", start)
        copy.write_text(text[:start] + f"/data/run_{index:03d}.mzML" + text[end:])
        named.append(copy)
    consensus = root / "study.consensusXML"
    tool("FeatureLinkerUnlabeledKD", "-in", *named, "-out", consensus, "-threads", "2", "-no_progress")
    return consensus


def timed(command: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True)
    return time.monotonic() - started


class CoresBench:
    def __init__(self, files: int, baseline: str, quick: bool) -> None:
        self.files, self.baseline, self.quick = files, baseline, quick
        self.root = Path(tempfile.mkdtemp(prefix="bench-cores-"))
        self.rows: list[dict] = []
        self.figures: dict = {}

    def row(self, measure, figure, baseline="", ratio="", target="", met=None) -> None:
        verdict = "" if met is None else ("yes" if met else "NO")
        self.rows.append(dict(measure=measure, figure=figure, baseline=baseline, ratio=ratio,
                              target=target, met=verdict))  # fmt: skip
        print(f"  {measure:44} {figure:>14}  {baseline:>22}  {ratio:>8}  {target:22} {verdict}", flush=True)

    def script_at(self, commit: str) -> Path:
        """The table script as it was at ``commit`` (``git show``), as a file to run."""
        shown = ["git", "show", f"{commit}:{SCRIPT}"]
        script = self.root / f"consensus_table_{commit}.py"
        script.write_text(subprocess.run(shown, cwd=REPO, check=True, capture_output=True, text=True).stdout)
        return script

    def table_script(self) -> None:
        consensus = study_map(self.root, self.files)
        before = self.script_at(self.baseline)
        now_out, before_out = self.root / "now.tsv", self.root / "before.tsv"
        now_cmd = [PY, str(REPO / SCRIPT), "--in", str(consensus), "--out", str(now_out)]
        before_cmd = [PY, str(before), "--in", str(consensus), "--out", str(before_out)]
        timed(now_cmd), timed(before_cmd)  # warm the page cache
        pairs = [(timed(now_cmd), timed(before_cmd)) for _ in range(3 if self.quick else 5)]
        now, then = median([a for a, _ in pairs]), median([b for _, b in pairs])
        table, old = (pd.read_csv(p, sep="\t") for p in (now_out, before_out))
        pd.testing.assert_frame_equal(table, old, check_exact=True)  # the same table, faster
        self.figures["table_script_s"] = {"now": [a for a, _ in pairs], "before": [b for _, b in pairs]}
        measure = f"table script, {self.files}-file map ({len(table)} rows)"
        self.row(measure, f"{now:.2f} s", f"before {then:.2f} s", f"{now / then:.2f}",
                 "< 2 s (was 6.9 s, 110k rows)", now < 2)  # fmt: skip

    def shift_table(self) -> None:
        consensus = self.root / "study.consensusXML"  # made by table_script
        features = sorted((self.root / "runs").glob("run_*.featureXML"))
        before = self.script_at(SHIFT_BASELINE)
        outs = {n: (self.root / f"{n}.tsv", self.root / f"{n}-shifts.tsv") for n in ("now", "then")}
        cores = os.cpu_count() or 1

        def command(script: Path, name: str) -> list[str]:
            out, shifts = outs[name]
            return [PY, str(script), "--in", str(consensus), "--out", str(out), "--shifts", str(shifts),
                    "--features", *map(str, features)]  # fmt: skip

        now_cmd = [*command(REPO / SCRIPT, "now"), "--threads", str(cores)]
        before_cmd = command(before, "then")
        timed(now_cmd), timed(before_cmd)  # warm the page cache
        pairs = [(timed(now_cmd), timed(before_cmd)) for _ in range(3 if self.quick else 5)]
        now, then = median([a for a, _ in pairs]), median([b for _, b in pairs])
        for mine, theirs in zip(outs["now"], outs["then"], strict=True):
            if mine.read_bytes() != theirs.read_bytes():
                raise SystemExit(f"{mine.name} differs from the baseline's {theirs.name}")
        self.figures["shift_table_s"] = {"now": [a for a, _ in pairs], "before": [b for _, b in pairs]}
        self.figures["shift_table_threads"] = cores
        self.row(f"table + shift table, {self.files}-file map, {cores} threads", f"{now:.2f} s",
                 f"before {then:.2f} s", f"{now / then:.2f}", "< 2 s", now < 2)  # fmt: skip

    def three_file_run(self) -> None:
        worktree = self.root / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(worktree), self.baseline],
                       cwd=REPO, check=True)  # fmt: skip
        (self.root / "shared").symlink_to(DATA.parents[1])  # the baseline's ../shared
        try:
            runs = 2 if self.quick else 4
            now, then = [], []
            for _ in range(2):
                for tree, into in ((worktree, then), (REPO, now)):
                    into += self._three(tree, runs)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, check=False)
        self.figures["three_file_run_s"] = {"now": now, "before": then}
        ratio = median(now) / median(then)
        self.row("3-file run, 1 worker, MAX_THREADS=2", f"{median(now):.1f} s",
                 f"before {median(then):.1f} s", f"{ratio:.2f}", "faster than before", ratio < 1)  # fmt: skip

    def _three(self, tree: Path, runs: int) -> list[float]:
        command = [PY, "-c", THREE_FILE_RUN, str(runs)]
        env = {**os.environ, "PYTHONPATH": str(tree)}
        done = subprocess.run(command, cwd=tree, check=True, capture_output=True, text=True, env=env)
        line = next(x for x in done.stdout.splitlines() if x.startswith("SECONDS "))
        return json.loads(line.removeprefix("SECONDS "))

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def write_cores_section(record: dict) -> None:
    intro = [
        "## A study at the machine's limit (`python -m bench.cores`)",
        "",
        f"Last run: {record['when']} on {record['machine']['cpus']} CPUs; each figure against the code of "
        f"{record['baseline']} in the same run.",
    ]
    write_section("CORES", intro, record["rows"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=31, help="runs in the study's consensus map")
    parser.add_argument("--baseline", default=BASELINE, help="the commit to compare with")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a first look)")
    parser.add_argument("--tables-only", action="store_true", help="the tables only, no 3-file run")
    args = parser.parse_args()
    if len(STUDY) != 12:
        raise SystemExit(f"the 12-run study is expected in {DATA} (three NZ files and study/)")
    when = dt.datetime.now(dt.UTC)
    bench = CoresBench(args.files, args.baseline, args.quick)
    print_header()
    try:
        bench.table_script()
        bench.shift_table()
        if not args.tables_only:
            bench.three_file_run()
    finally:
        bench.close()
    return record_section("cores", when, bench, write_cores_section, baseline=args.baseline)


if __name__ == "__main__":
    sys.exit(main())
