"""The registry of installed workflows: the project's own, then those of installed packages.

A workflow is one package (``src/workflows/<name>/`` here, or an app author's own distribution)
whose class extends ``WorkflowBase``. The project's own are listed in :data:`BUILT_IN`; any
installed distribution adds its own through the entry point group :data:`ENTRY_POINT_GROUP`, so
an author's package installed into the image (``pip install``) appears without an edit to the app
(docs/authoring.md). Entry points rather than a list alone: a lab's app then lives in its own
repository and survives an upgrade of this one. The ``workflows`` setting picks which installed
ones are offered and in which order.

Everything that serves workflows in general (navigation, the queue's job function, metrics,
history) asks this module; nothing outside a workflow's package names one. Classes are imported
on first use only: a worker that serves one workflow loads that one's modules first.
"""

from __future__ import annotations

import functools
import logging
import re
from importlib.metadata import entry_points
from pathlib import Path

from src.core.errors import RegistryError
from src.core.settings import Settings
from src.core.workflow import WorkflowBase, load_workflow_class, workflow_ref

log = logging.getLogger(__name__)

#: The project's own workflows, in the order the app offers them by default.
BUILT_IN = (
    "src.workflows.metabolomics:MetabolomicsWorkflow",
    "src.workflows.proteomics:ProteomicsWorkflow",
)
#: The entry point group an installed package registers its workflow class in.
ENTRY_POINT_GROUP = "openms_workflow_server.workflows"
#: What a workflow id may be: it names a folder in every workspace.
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@functools.cache
def installed() -> tuple[type[WorkflowBase], ...]:
    """Every installed workflow class, built-in ones first, each id once."""
    refs = list(BUILT_IN) + [point.value for point in entry_points(group=ENTRY_POINT_GROUP)]
    found: dict[str, type[WorkflowBase]] = {}
    for ref in dict.fromkeys(refs):
        cls = _load(ref)
        if cls.id in found and found[cls.id] is not cls:
            raise RegistryError(
                f"Two installed workflows use the id '{cls.id}' ({workflow_ref(found[cls.id])} and {ref}); "
                "give one of them another id."
            )
        found[cls.id] = cls
    return tuple(found.values())


def _load(ref: str) -> type[WorkflowBase]:
    try:
        cls = load_workflow_class(ref)
    except (ImportError, AttributeError, TypeError, ValueError) as err:
        raise RegistryError(f"The workflow '{ref}' cannot be loaded: {type(err).__name__}: {err}") from err
    if not ID_PATTERN.fullmatch(cls.id):
        raise RegistryError(
            f"The workflow '{ref}' has the id '{cls.id}': use lower-case letters, digits and '-' "
            "(it names a folder in every workspace)."
        )
    return cls


def upload_types() -> tuple[str, ...]:
    """The kinds of file (suffixes) an upload may be: those of every installed workflow."""
    return tuple(dict.fromkeys(suffix for cls in installed() for suffix in cls.upload_types))


def offered(settings: Settings) -> tuple[type[WorkflowBase], ...]:
    """The workflows the app offers, the first one first (setting ``workflows``; empty: all)."""
    every = installed()
    if not settings.workflows:
        return every
    by_id = {cls.id: cls for cls in every}
    unknown = [name for name in settings.workflows if name not in by_id]
    if unknown:
        raise RegistryError(
            f"The setting 'workflows' names {', '.join(map(repr, unknown))}, which "
            f"{'is' if len(unknown) == 1 else 'are'} not installed. Installed: "
            f"{', '.join(by_id)}. Fix WORKFLOWS (or 'workflows' in settings.json)."
        )
    return tuple(by_id[name] for name in dict.fromkeys(settings.workflows))


def by_id(workflow_id: str) -> type[WorkflowBase]:
    """The installed workflow with this id."""
    for cls in installed():
        if cls.id == workflow_id:
            return cls
    raise RegistryError(f"No installed workflow has the id '{workflow_id}'.")


def resolve(ref: str) -> type[WorkflowBase]:
    """The workflow class a job names: by the import path it has now or had in an earlier release
    (a job queued before an upgrade), else by importing that path (a workflow class a test or a
    script queued without installing it). Redis is the trust boundary here, not this lookup: RQ's
    job records are pickled calls, so whoever may write them may run code anyway."""
    for cls in installed():
        if ref == workflow_ref(cls) or ref in cls.former_refs:
            return cls
    return _load(ref)


def build(ref: str, workspace: str | Path, settings: Settings) -> WorkflowBase:
    """The workflow a job names, for its workspace, built with its normal constructor."""
    return resolve(ref)(Path(workspace), settings)


__all__ = [
    "BUILT_IN",
    "ENTRY_POINT_GROUP",
    "RegistryError",
    "build",
    "by_id",
    "installed",
    "offered",
    "resolve",
    "upload_types",
]
