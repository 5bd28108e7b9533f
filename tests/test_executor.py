"""The executor with real processes: parallelism bound, failures, logs, killing a process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid

import pyopenms as oms
import pytest

from src.core.errors import CommandFailed
from src.core.execution import CommandExecutor, RunCancelled
from src.core.params import ParameterManager
from src.core.run import Progress, WorkflowLogger, read_log
from tests.conftest import DATA_DIR, processes_mentioning, wait_for


def make_executor(tmp_path, settings, max_threads: int = 2) -> CommandExecutor:
    logger = WorkflowLogger(tmp_path / "logs")
    logger.reset()
    params = ParameterManager(tmp_path, settings.workspaces_dir / ".cache" / "ini")
    return CommandExecutor(logger, params, Progress(), max_threads)


SLEEPER = (
    "import sys, time; open(sys.argv[1], 'a').write(f'{time.time()} {time.time()+0.6}\\n'); time.sleep(0.6)"
)


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    level = peak = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    return peak


def test_parallel_commands_are_bounded_by_max_threads(tmp_path, settings):
    executor = make_executor(tmp_path, settings, max_threads=2)
    stamps = tmp_path / "stamps"
    commands = [[sys.executable, "-c", SLEEPER, str(stamps)] for _ in range(5)]
    executor.progress.plan(len(commands))
    executor.run_multiple(commands)
    intervals = [tuple(map(float, line.split())) for line in stamps.read_text().splitlines()]
    assert len(intervals) == 5
    assert max_overlap(intervals) == 2  # parallel, but never more than two at once
    assert executor.progress.fraction == 1.0
    commands_log = read_log(executor.logger.log_dir, "commands")
    assert commands_log.count("Running: ") == 5 and commands_log.count("finished in") == 5


def test_output_goes_to_the_full_log_only(tmp_path, settings):
    executor = make_executor(tmp_path, settings)
    executor.run_command([sys.executable, "-c", "print('hello from ' + 'the tool')"])
    assert "hello from the tool" in read_log(executor.logger.log_dir, "all")
    assert "hello from the tool" not in read_log(executor.logger.log_dir, "commands")
    assert "Running: " in read_log(executor.logger.log_dir, "commands")


def test_a_failing_topp_tool_is_named_with_its_exit_code_and_error(tmp_path, settings):
    executor = make_executor(tmp_path, settings)
    empty = tmp_path / "empty.mzML"
    empty.write_bytes(b"")
    with pytest.raises(CommandFailed) as info:
        executor.run_topp("FeatureFinderMetabo", {"in": [empty], "out": [tmp_path / "out.featureXML"]})
    failure = info.value
    assert failure.tool == "FeatureFinderMetabo" and failure.exit_code != 0
    assert "File empty" in failure.error_text
    minimal = read_log(executor.logger.log_dir, "minimal")
    assert "FeatureFinderMetabo failed on empty.mzML with exit code" in minimal and "File empty" in minimal


def test_a_missing_program_fails_clearly(tmp_path, settings):
    executor = make_executor(tmp_path, settings)
    with pytest.raises(CommandFailed, match="not found"):
        executor.run_command(["no-such-openms-tool-xyz", "-in", "x"])


def test_one_failure_among_parallel_commands_fails_the_batch(tmp_path, settings):
    executor = make_executor(tmp_path, settings, max_threads=2)
    good = [sys.executable, "-c", "pass"]
    bad = [sys.executable, "-c", "import sys; sys.stderr.write('Error: boom\\n'); sys.exit(3)"]
    with pytest.raises(CommandFailed) as info:
        executor.run_multiple([good, bad, good])
    assert info.value.exit_code == 3 and "boom" in info.value.error_text


def test_cancel_kills_the_whole_process_tree(tmp_path, settings):
    executor = make_executor(tmp_path, settings)
    marker = f"marker-{uuid.uuid4().hex}"
    # A parent that starts a grandchild and waits: both must die on cancel.
    script = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', sys.argv[1]]); time.sleep(60)"
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            executor.run_command([sys.executable, "-c", script, marker])
        except BaseException as err:  # noqa: BLE001 - collected for the assertion below
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    wait_for(lambda: len(processes_mentioning(marker)) == 2, 10, what="parent and grandchild to start")
    executor.cancel()
    thread.join(10)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], RunCancelled)
    wait_for(lambda: not processes_mentioning(marker), 5, what="all processes of the command to die")
    with pytest.raises(RunCancelled):
        executor.run_command([sys.executable, "-c", "pass"])  # nothing new starts after a cancel


def test_tools_die_with_a_killed_run_process(tmp_path, settings):
    """A silent tool (no output, so no SIGPIPE) must still die when its run process is SIGKILLed."""
    import signal
    import subprocess

    from tests.conftest import REPO

    marker = f"silent-{uuid.uuid4().hex}"
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from pathlib import Path\n"
        "from src.core.execution.executor import CommandExecutor\n"
        "from src.core.run.logs import WorkflowLogger\n"
        "from src.core.params import ParameterManager\n"
        "from src.core.run.progress import Progress\n"
        f"logger = WorkflowLogger(Path({str(tmp_path)!r}) / 'logs')\n"
        f"params = ParameterManager(Path({str(tmp_path)!r}), Path('.'))\n"
        "executor = CommandExecutor(logger, params, Progress(), 1)\n"
        f"executor.run_command([sys.executable, '-c', 'import time; time.sleep(60)', {marker!r}])\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])

    def tools() -> list:
        return [p for p in processes_mentioning(marker) if p.pid != parent.pid]

    wait_for(tools, 20, what="the silent tool to start")
    parent.send_signal(signal.SIGKILL)
    parent.wait(5)
    wait_for(lambda: not tools(), 5, what="the tool to die with its run process")


def _feature_map(path, rt_shift: float) -> None:
    features = oms.FeatureMap()
    for index in range(30):
        feature = oms.Feature()
        feature.setMZ(150.0 + 7.3 * index)
        feature.setRT(20.0 + 9.0 * index + rt_shift)
        feature.setIntensity(1000.0 + index)
        feature.setCharge(1)
        features.push_back(feature)
    features.setUniqueIds()
    oms.FeatureXMLFile().store(str(path), features)


def test_a_tool_unsafe_with_threads_gets_one(tmp_path, settings):
    """MapAlignerPoseClustering shares one aligner between its OpenMP threads (see
    SINGLE_THREADED_TOOLS): whatever the run may use, it gets ``-threads 1``; others get the rest."""
    executor = make_executor(tmp_path, settings, max_threads=4)
    maps = [tmp_path / f"{name}.featureXML" for name in ("a", "b")]
    for path, shift in zip(maps, (0.0, 5.0), strict=True):
        _feature_map(path, shift)
    trafos = [tmp_path / f"{name}.trafoXML" for name in ("a", "b")]
    executor.run_topp("MapAlignerPoseClustering", {"in": [maps], "trafo_out": [trafos]})
    moved = {"in": [maps[1]], "trafo_in": [trafos[1]], "out": [tmp_path / "c.featureXML"]}
    executor.run_topp("MapRTTransformer", moved)
    ran = [line for line in read_log(executor.logger.log_dir, "commands").splitlines() if "Running: " in line]
    assert "MapAlignerPoseClustering" in ran[0] and "-threads 1 " in ran[0]
    assert "MapRTTransformer" in ran[1] and "-threads 4 " in ran[1]
    assert all(path.is_file() for path in trafos)


def test_no_tool_asks_openms_de_for_a_newer_release(tmp_path, settings, monkeypatch):
    """A TOPP tool notes its daily check for a newer OpenMS in ~/.OpenMS/<tool>.ver (with no
    network each check waited about a second). Started by a run it makes no check; started plainly
    with the same HOME, the same tool does (so the test can fail)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("OPENMS_DISABLE_UPDATE_CHECK", raising=False)
    mzml = DATA_DIR / "FeatureFinderMetabo_2_input.mzML"
    executor = make_executor(tmp_path / "run", settings)
    executor.run_topp("FileInfo", {"in": [mzml]})
    assert "FileInfo (1/1) finished" in read_log(executor.logger.log_dir, "commands")
    assert not (home / ".OpenMS").exists()
    subprocess.run(["FileInfo", "-in", str(mzml)], env=dict(os.environ), capture_output=True, check=True)
    assert (home / ".OpenMS" / "FileInfo.ver").is_file()
