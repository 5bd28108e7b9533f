"""The workflow's own defaults: where a tool's default does not suit the data it is made for.

CometAdapter's defaults describe high-resolution fragment spectra (0.01 Da bins). The common
data-dependent runs of ion-trap instruments, among them OpenMS's BSA example, have low-resolution
fragments: with the defaults only 8 PSMs of BSA1 pass 1 % FDR, with Comet's recommended low-resolution
settings (1.0005 Da bins, offset 0.4) 30 do, at the same speed (CometAdapter 2.6, Comet 2019.01).
These defaults are shown on the Configure page as the parameters' defaults and saved like the
tools' own: only a value that differs from them is kept in params.json.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from src.core.params import ParameterManager, ToppParam, topp_ini

#: TOPP parameters whose default this workflow sets, by tool.
TOOL_DEFAULTS: dict[str, dict[str, object]] = {
    "CometAdapter": {
        "fragment_mass_tolerance": 0.5,  # half of Comet's low-resolution bin of 1.0005 Da
        "fragment_bin_offset": 0.4,
        "instrument": "low_res",
    },
}

#: The workflow's own parameters and their defaults.
PSM_FDR, PROTEIN_FDR = "psm_fdr", "protein_fdr"
WORKFLOW_DEFAULTS: dict[str, float] = {
    PSM_FDR: 0.01,
    # Off: a protein's q-value is at least about 1/(proteins found), so a sample of a few proteins
    # (BSA: 2 quantified) has none below 0.3 and ProteomicsLFQ stops with "No proteins left".
    PROTEIN_FDR: 1.0,
}


class TunedParameters(ParameterManager):
    """A workflow's parameters with some TOPP defaults replaced by the workflow's (``tuned``)."""

    def __init__(self, workflow_dir: Path, ini_dir: Path, tuned: dict[str, dict[str, object]]) -> None:
        super().__init__(workflow_dir, ini_dir)
        self.tuned = tuned

    def tool_params(self, tool: str) -> dict[str, ToppParam]:
        """The tool's parameters, the tuned ones with the workflow's default (as the Configure page
        shows them, and as a saved value is compared with to keep only changes)."""
        params = super().tool_params(tool)
        for name, value in self.tuned.get(tool, {}).items():
            if name in params:
                params[name] = dataclasses.replace(params[name], default=topp_ini.coerce(params[name], value))
        return params

    def untouched(self, tool: str) -> dict[str, object]:
        """The tuned values the visitor has not changed: a run passes them to the tool itself, since
        the tool does not know them (the executor passes only saved values)."""
        saved = self.tool_values(tool)
        return {name: value for name, value in self.tuned.get(tool, {}).items() if name not in saved}
