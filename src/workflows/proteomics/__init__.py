"""Peptides and proteins: database search with Comet, PSM and protein false discovery rates, and
label-free quantification with ProteomicsLFQ (``workflow``); its Results page (``results``), the
script that makes its tables (``tables``), the protein databases (``fasta``), the experimental
design (``design``), its tuned defaults (``tuning``) and OpenMS's BSA example data (``demo_data``)."""

from src.workflows.proteomics.workflow import ProteomicsWorkflow

__all__ = ["ProteomicsWorkflow"]
