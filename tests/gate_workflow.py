"""A workflow for tests whose one step waits until the test opens a gate, then ends as the test asked:
a run that stays running exactly as long as a test needs it to, on a real worker."""

from __future__ import annotations

import sys
from pathlib import Path

from src.core.workflow import WorkflowBase

#: The step: wait for ``open`` in the folder given, then fail if ``fail`` is there too.
WAIT_FOR_GATE = """import pathlib, sys, time
gate = pathlib.Path(sys.argv[1])
deadline = time.monotonic() + 120
while not (gate / "open").exists():
    if time.monotonic() > deadline:
        sys.exit("the test never opened the gate")
    time.sleep(0.05)
if (gate / "fail").exists():
    sys.exit("failed, as the test asked")
"""


class GateWorkflow(WorkflowBase):
    name = "Gate"
    id = "gate"

    def execution(self) -> None:
        script = self.files.result_dir("gate") / "wait_for_gate.py"
        script.write_text(WAIT_FOR_GATE)
        self.executor.run_command([sys.executable, str(script), str(gate_of(self))], step="Wait for the gate")


def gate_of(workflow: WorkflowBase) -> Path:
    """Where the test opens the gate: an input folder (kept from run to run, readable by the tools)."""
    return workflow.files.input_dir("gate")


def open_gate(workflow: WorkflowBase, fail: bool = False) -> None:
    gate = gate_of(workflow)
    (gate / "fail").unlink(missing_ok=True)
    if fail:
        (gate / "fail").touch()
    (gate / "open").touch()
