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


def _resolve(target: str, modules: dict[str, Path]) -> str:
    """The project module ``target`` names (``a.b.C`` is the module ``a.b``), or ""."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of the project that ``name`` imports (a package's __init__ counts as the package).

    A name taken from a package (``from src.core.workflow import FileManager``, ``import
    src.core.workflow``) is an edge to that package's ``__init__``, also when it is the importing
    module's own package: that is a loop through the package's face. Only ``from pkg import
    submodule`` with ``pkg`` an ancestor of the importer adds no edge to ``pkg`` (its ``__init__``
    has run first anyway, and the name is the submodule itself)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(_resolve(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in modules:
                    found.add(submodule)
                    if base not in ancestors:
                        found.add(_resolve(base, modules))
                else:
                    found.add(_resolve(base, modules))
    found.discard("")
    found.discard(name)
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


#: Where a layer's exceptions are defined: one module each, so that a reader finds every error a
#: layer may raise (and its message's promise) in one place.
ERRORS_MODULES = {"src/core/errors.py", "src/jobs/errors.py"}


def _exception_classes(path: Path) -> list[str]:
    """Public classes in ``path`` whose bases look like exceptions (``...Error``, ``Exception``,
    ``...Refused`` ...). A private one (``_Abort``) is a module's own control flow and may stay."""
    endings = ("Error", "Exception", "Refused", "Failed", "Unavailable", "Unreachable", "Missing")
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
            continue
        bases = [ast.unparse(base).rpartition(".")[2] for base in node.bases]
        if any(
            base.endswith(endings) or base in {"DiskFull", "CommandFailed", "RunCancelled"} for base in bases
        ):
            found.append(node.name)
    return found


def test_every_exception_class_is_defined_in_its_layers_errors_module():
    elsewhere = [
        f"{path.relative_to(REPO)}: {name}"
        for path in sorted((REPO / "src").rglob("*.py"))
        if str(path.relative_to(REPO)) not in ERRORS_MODULES and "tests" not in path.relative_to(REPO).parts
        for name in _exception_classes(path)
    ]
    assert elsewhere == [], "move these into src/core/errors.py or src/jobs/errors.py"


def test_the_exception_check_finds_what_it_must(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "import x\nclass A(x.UserError): pass\nclass B(RuntimeError): pass\nclass _C(Exception): pass\n"
        "class D(dict): pass\n"
    )
    assert _exception_classes(module) == ["A", "B"]


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


def test_an_import_through_the_own_package_face_is_an_edge(tmp_path):
    """``pkg/mod.py`` taking a name from ``pkg`` (whose ``__init__`` imports ``pkg.mod``) is a loop;
    ``from pkg import other_module`` and ``from pkg.other import name`` are not edges to ``pkg``."""
    (tmp_path / "pkg").mkdir()
    files = {
        "pkg/__init__.py": "from pkg.mod import A\nfrom pkg.other import B\n",
        "pkg/mod.py": "from pkg import B\n",
        "pkg/other.py": "from pkg import mod\nfrom pkg.mod import A\nimport pkg.mod\n",
    }
    modules = {}
    for relative, text in files.items():
        path = tmp_path / relative
        path.write_text(text)
        modules[".".join(Path(relative).with_suffix("").parts).removesuffix(".__init__")] = path
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph == {"pkg": {"pkg.mod", "pkg.other"}, "pkg.mod": {"pkg"}, "pkg.other": {"pkg.mod"}}
    assert _cycles(graph) == [["pkg", "pkg.mod", "pkg.other"]]  # pkg.other joins it through pkg.mod


# ---- the docs name what there is ------------------------------------------------------------------

#: Where the docs name modules: every guide, and the README.
DOCS = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]
#: A path under src/ (``src/jobs/scheduler.py``, ``src/core/run/``) or a dotted name (``src.runs.start``).
SRC_PATH = re.compile(r"(?<![\w/.-])src/[\w/]*(?:\.py)?")
SRC_DOTTED = re.compile(r"(?<![\w/.-])src(?:\.\w+)+")


def _product_files() -> list[Path]:
    """Every module of the app under src/: not the tests a workflow package keeps beside it."""
    return sorted(p for p in (REPO / "src").rglob("*.py") if "tests" not in p.relative_to(REPO).parts)


def _named_in_module(path: Path) -> set[str]:
    """The names a module defines or imports at its top level."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _stale(name: str) -> bool:
    """Does a path or dotted name of the docs name something that is not there?"""
    if "/" in name:
        return not (REPO / name).exists()
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):  # the longest prefix that is a module or package
        base = REPO.joinpath(*parts[:cut])
        path = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if path.is_file():
            rest = parts[cut:]
            return bool(rest) and rest[0] not in _named_in_module(path)
    return True


def test_docs_architecture_names_every_module():
    """Each module under src/ by its path (``src/jobs/scheduler.py``); a package's ``__init__.py``
    may be named by the package's path (``src/jobs/``), as its section's heading does."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(SRC_PATH.findall(text))
    missing = [
        str(path.relative_to(REPO))
        for path in _product_files()
        if str(path.relative_to(REPO)) not in named
        and not (path.name == "__init__.py" and f"{path.parent.relative_to(REPO)}/" in named)
    ]
    assert missing == [], f"docs/architecture.md does not name: {missing}"


def test_every_module_the_docs_name_exists():
    stale = [
        f"{doc.relative_to(REPO)}: {name}"
        for doc in DOCS
        for name in sorted(set(SRC_PATH.findall(doc.read_text(encoding="utf-8"))))
        + sorted(set(SRC_DOTTED.findall(doc.read_text(encoding="utf-8"))))
        if _stale(name)
    ]
    assert stale == []


def test_the_stale_check_finds_what_it_must():
    assert not _stale("src/jobs/") and not _stale("src/runs.py") and not _stale("src.runs.start")
    assert not _stale("src.jobs.ops.admin.move") and not _stale("src.core.settings")
    assert _stale("src/jobs/runs") and _stale("src.jobs.runs.start") and _stale("src.jobs.ops.admin.nothing")
