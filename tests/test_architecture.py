"""The tree's shape holds: no module imports itself in a circle, imports go one way between the
layers (pages -> ui -> web -> runs -> jobs -> workflows -> core), and docs/architecture.md describes
exactly the packages there are. Imports are read from the source (lazy ones inside functions too)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import REPO

#: From the top down: a module may import from its own layer and the ones below it, never above.
LAYERS = ["content", "src.ui", "src.web", "src.runs", "src.jobs", "src.workflows", "src.core"]


def _modules() -> dict[str, Path]:
    found = {}
    for path in [*(REPO / "src").rglob("*.py"), *(REPO / "content").glob("*.py"), REPO / "app.py"]:
        if "tests" in path.parts or path.name == "conftest.py":
            continue  # a workflow package's own tests use the whole app, as the suite's do
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of the project that ``name`` imports (a package's __init__ counts as the package)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            # a module's own packages (their __init__ runs first anyway) are not an edge
            if target and target != name and not name.startswith(target + "."):
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, groups, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _layer(name: str) -> int:
    if name == "app":
        return 0
    return max(i for i, prefix in enumerate(LAYERS) if name == prefix or name.startswith(prefix + "."))


def test_no_module_imports_itself_in_a_circle():
    assert _cycles(_graph()) == []


def test_imports_go_down_the_layers_only():
    wrong = [
        f"{name} imports {target}"
        for name, targets in _graph().items()
        for target in targets
        if _layer(target) < _layer(name)
    ]
    assert wrong == []


def test_the_checks_find_what_they_must():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert (
        _layer("src.core.run.state")
        > _layer("src.jobs.client")
        > _layer("src.ui.page")
        > _layer("content.run")
    )


def _packages() -> set[str]:
    return {
        str(init.parent.relative_to(REPO))
        for init in (REPO / "src").rglob("__init__.py")
        if init.parent != REPO / "src" and "tests" not in init.relative_to(REPO).parts
    }


def test_docs_architecture_describes_every_package_and_no_other():
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    described = set(re.findall(r"^#+ `(src/[a-z_/]+)/`", text, re.M))
    assert described == _packages(), (
        f"missing from docs/architecture.md: {sorted(_packages() - described)}; "
        f"described but gone: {sorted(described - _packages())}"
    )
