"""The tools' parameters: what each TOPP tool accepts, from its own ``-write_ini`` (``topp_ini``),
and the values a workflow saved in its workspace (``store``).
"""

from src.core.params import topp_ini
from src.core.params.store import ParameterManager
from src.core.params.topp_ini import ToppParam, tool_missing_message

__all__ = [
    "ParameterManager",
    "ToppParam",
    "tool_missing_message",
    "topp_ini",
]
