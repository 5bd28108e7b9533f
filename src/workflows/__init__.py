"""The workflows this app offers. Each is a WorkflowBase subclass; the first is the default."""

from __future__ import annotations

from src.workflows.topp_workflow import TOPPWorkflow

WORKFLOWS = (TOPPWorkflow,)
DEFAULT_WORKFLOW = TOPPWorkflow
