"""Untargeted metabolomics: centroiding, feature finding, alignment and linking (``workflow``), its
Results page (``results``), the consensus table script, and the demo runs it offers (``demo_data``)."""

from src.workflows.metabolomics.workflow import MetabolomicsWorkflow

__all__ = ["MetabolomicsWorkflow"]
