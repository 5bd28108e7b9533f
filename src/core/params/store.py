"""A workflow's parameters: ``params.json`` keeps only what differs from the defaults.

Keeping only changed values means a new OpenMS version's defaults apply to
everything the user never touched, and the file stays short enough to read.
Layout::

    {"noise_threshold": 100,                       # the workflow's own parameters
     "FeatureFinderMetabo": {"algorithm:common:noise_threshold_int": 100}}   # TOPP tools
"""

from __future__ import annotations

from pathlib import Path

from src.core.errors import ParameterError
from src.core.jsonfile import DamagedFile, load_json, write_json
from src.core.layout import WorkflowLayout
from src.core.params import topp_ini
from src.core.params.topp_ini import ToppParam


class ParameterManager:
    """Reads and writes one workflow's params.json; TOPP defaults come from the tools' ini files."""

    def __init__(self, workflow_dir: Path, ini_dir: Path) -> None:
        self.path = WorkflowLayout(workflow_dir).params
        self.ini_dir = ini_dir

    def load(self) -> dict:
        """The saved non-default values; a damaged file is reported, not silently dropped."""
        try:
            return load_json(self.path)
        except DamagedFile as err:
            raise ParameterError(str(err)) from None

    def save(self, data: dict) -> None:
        """Write atomically so a reader (a running job) never sees half a file."""
        write_json(self.path, data, pretty=True)

    # ---- the workflow's own parameters ---------------------------------------------------------
    def get(self, key: str, default: object = None) -> object:
        return self.load().get(key, default)

    def set(self, key: str, value: object, default: object = None) -> None:
        """Store a value, or drop it when it equals the default."""
        data = self.load()
        if value == default:
            data.pop(key, None)
        else:
            data[key] = value
        self.save(data)

    # ---- TOPP tool parameters ------------------------------------------------------------------
    def tool_params(self, tool: str) -> dict[str, ToppParam]:
        return topp_ini.read_ini(topp_ini.ini_path(self.ini_dir, tool), tool)

    def tool_values(self, tool: str) -> dict[str, object]:
        """Saved non-default values for a tool, checked against the tool's ini."""
        saved = self.load().get(tool, {})
        if not isinstance(saved, dict):
            raise ParameterError(f"The entry for {tool} in {self.path} must be an object.")
        known = self.tool_params(tool)
        values = {}
        for name, value in saved.items():
            if name not in known:
                raise ParameterError(f"{tool} has no parameter '{name}'. Remove it in the Configure page.")
            values[name] = topp_ini.coerce(known[name], value)
        return values

    def set_tool_value(self, tool: str, name: str, value: object) -> None:
        """Validate and store one TOPP parameter; raises ParameterError if it is out of range."""
        param = self.tool_params(tool).get(name)
        if param is None:
            raise ParameterError(f"{tool} has no parameter '{name}'.")
        converted = topp_ini.coerce(param, value)
        data = self.load()
        section = data.setdefault(tool, {})
        if converted == param.default:
            section.pop(name, None)
        else:
            section[name] = converted
        if not section:
            data.pop(tool)
        self.save(data)

    def reset(self) -> None:
        if self.path.exists():
            self.path.unlink()
