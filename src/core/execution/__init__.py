"""Running a run's commands: TOPP tools and scripts as processes (``commands``), several at once
(``executor``), each stopped with its whole process tree (``process_tree``), fenced into its run's folder
(``sandbox``).
"""

from src.core.execution import commands
from src.core.execution.executor import CommandExecutor, RunCancelled
from src.core.execution.memory import run_memory_bytes
from src.core.execution.process_tree import die_with_parent, forks_die_with_parent, is_alive, kill_tree
from src.core.execution.sandbox import Sandbox

__all__ = [
    "CommandExecutor",
    "RunCancelled",
    "Sandbox",
    "commands",
    "die_with_parent",
    "forks_die_with_parent",
    "is_alive",
    "kill_tree",
    "run_memory_bytes",
]
