"""The experimental design: which condition each mzML file belongs to, and the file ProteomicsLFQ reads.

The conditions are edited on the Configure page and saved in the workflow's parameters
(``{"conditions": {"BSA1.mzML": "control", ...}}``), so a run's record keeps them like any other
parameter. A file without an entry is its own condition, named after the file: with no edits
every sample stands alone, as in the design that comes with OpenMS's BSA example.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from src.core.errors import ParameterError

CONDITIONS_PARAM = "conditions"
#: Longest condition name; it becomes a column header and a plot label.
NAME_MAX_CHARS = 40
_NAME = re.compile(r"^[\w .+\-()/]+$")
FILE_COLUMN, CONDITION_COLUMN = "file", "condition"


def default_condition(path: Path) -> str:
    return path.stem[:NAME_MAX_CHARS]


def check_name(name: object) -> str:
    """A condition name, stripped; ParameterError says what is wrong with it."""
    text = str(name).strip() if name is not None else ""
    if not text:
        raise ParameterError("A condition name is empty. Give every file a condition on the Configure page.")
    if len(text) > NAME_MAX_CHARS or not _NAME.match(text):
        raise ParameterError(
            f"The condition name {text[:NAME_MAX_CHARS]!r} is not allowed: use up to {NAME_MAX_CHARS} "
            "letters, digits, spaces and . + - ( ) /. Change it on the Configure page."
        )
    return text


def saved(params: dict) -> dict[str, str]:
    """The conditions in a parameters dict, checked; ParameterError for a damaged entry."""
    found = params.get(CONDITIONS_PARAM, {})
    if not isinstance(found, dict):
        raise ParameterError(
            f"'{CONDITIONS_PARAM}' in params.json must be an object. Reset it on the Configure page."
        )
    return {str(name): check_name(value) for name, value in found.items()}


def conditions(files: list[Path], params: dict) -> dict[str, str]:
    """Each file's condition (by file name), in the files' order."""
    chosen = saved(params)
    return {path.name: chosen.get(path.name, default_condition(path)) for path in files}


def table(files: list[Path], params: dict) -> pd.DataFrame:
    """The design as the Configure page shows it: one row per file."""
    found = conditions(files, params)
    return pd.DataFrame({FILE_COLUMN: list(found), CONDITION_COLUMN: list(found.values())})


def from_table(edited: pd.DataFrame, files: list[Path]) -> dict[str, str]:
    """The conditions to save from an edited table: only those that differ from a file's default,
    so params.json stays short; ParameterError for a bad name."""
    defaults = {path.name: default_condition(path) for path in files}
    chosen = {}
    for name, condition in zip(edited[FILE_COLUMN], edited[CONDITION_COLUMN], strict=True):
        if name in defaults:
            checked = check_name(condition)
            if checked != defaults[name]:
                chosen[str(name)] = checked
    return chosen


def write(path: Path, files: list[Path], params: dict) -> Path:
    """ProteomicsLFQ's design file: each file its own sample (one fraction, label-free), each sample
    in its condition. Paths are absolute: the tool resolves relative ones against the design file."""
    found = conditions(files, params)
    runs = ["Fraction_Group\tFraction\tSpectra_Filepath\tLabel\tSample"]
    samples = ["Sample\tMSstats_Condition\tMSstats_BioReplicate"]
    for index, file in enumerate(files, start=1):
        runs.append(f"{index}\t1\t{file.resolve()}\t1\t{index}")
        samples.append(f"{index}\t{found[file.name]}\t{index}")
    path.write_text("\n".join(runs) + "\n\n" + "\n".join(samples) + "\n", encoding="utf-8")
    return path
