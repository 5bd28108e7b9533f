"""What a workflow author extends (``base``: ``WorkflowBase``), the inputs and results of its
folder (``files``), and a run as a local process (``local_runner``).
"""

from src.core.workflow.base import WorkflowBase
from src.core.workflow.files import FileManager
from src.core.workflow.local_runner import LocalRunner, build_workflow, load_workflow_class, workflow_ref

__all__ = [
    "FileManager",
    "LocalRunner",
    "WorkflowBase",
    "build_workflow",
    "load_workflow_class",
    "workflow_ref",
]
