"""A workflow for tests whose one step prints the environment the tools of a run get."""

from __future__ import annotations

import sys

from src.core.workflow import WorkflowBase

PRINT_ENV = "import os\nfor name in sorted(os.environ):\n    print(f'ENV {name}={os.environ[name]}')\n"


class EnvWorkflow(WorkflowBase):
    name = "Environment check"
    id = "env-check"

    def execution(self) -> None:
        script = self.files.result_dir("env") / "print_env.py"
        script.write_text(PRINT_ENV)
        self.executor.run_command([sys.executable, str(script)], step="Print the environment")
