"""A workflow's inputs and results in its folder (the layout: ``src/core/layout.py``)."""

from __future__ import annotations

import io
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from src.core.errors import InputError
from src.core.execution import Sandbox
from src.core.layout import WorkflowLayout
from src.core.viewer import store as viewer_store

#: How much of a result file is read and compressed at a time while its zip is made.
ZIP_READ = 256 * 1024


class FileManager:
    def __init__(self, workflow_dir: Path, fence: Sandbox | None = None) -> None:
        self.workflow_dir = workflow_dir
        self.fence = fence  # who may write the result folders (src/core/execution/sandbox.py)
        layout = WorkflowLayout(workflow_dir)
        self.input_root, self.results_root = layout.inputs, layout.results

    def input_dir(self, key: str) -> Path:
        path = self.input_root / key
        path.mkdir(parents=True, exist_ok=True)
        return path

    def inputs(self, key: str, suffix: str | None = None) -> list[Path]:
        """Input files of one kind, sorted by name."""
        folder = self.input_root / key
        if not folder.is_dir():
            return []
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        if suffix:
            files = [p for p in files if p.name.lower().endswith(suffix.lower())]
        return files

    def remove_input(self, key: str, name: str) -> None:
        """Remove an input file, and the raw data viewer's index of it (it counts against the quota)."""
        path = self.input_root / key / Path(name).name
        path.unlink(missing_ok=True)
        viewer_store.remove_for(self.workflow_dir.parent, path)

    def all_inputs(self) -> list[Path]:
        """Every input file, of every kind."""
        if not self.input_root.is_dir():
            return []
        return sorted(p for p in self.input_root.rglob("*") if p.is_file() and not p.name.startswith("."))

    def require_inputs(self, key: str, suffix: str | None = None, label: str = "input files") -> list[Path]:
        files = self.inputs(key, suffix)
        if not files:
            raise InputError(
                f"No {label} found. Upload files on the File Upload page or load the example data."
            )
        return files

    def result_dir(self, step: str) -> Path:
        """The step's result folder, writable for the run's tools: in the appliance they run as a
        uid of their own that may write nothing else (src/core/execution/sandbox.py)."""
        path = self.results_root / step
        path.mkdir(parents=True, exist_ok=True)
        if self.fence is not None:
            for folder in (self.results_root, path):
                self.fence.open(folder)
        return path

    def outputs(self, inputs: Iterable[Path], step: str, suffix: str) -> list[Path]:
        """One output path per input, same stem, in the step's result folder."""
        folder = self.result_dir(step)
        return [folder / f"{Path(p).stem}{suffix}" for p in inputs]

    def clear_results(self) -> None:
        shutil.rmtree(self.results_root, ignore_errors=True)

    def results_zip(self, root: Path | None = None) -> Iterator[bytes]:
        """All result files (of the latest run, or under ``root``) as one zip archive, in pieces
        made as they are asked for: however large the results, only about ``ZIP_READ`` bytes of
        them are in memory at a time (the entries carry their sizes after their data, as a zip
        written to a stream does)."""
        root = root or self.results_root
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
        out = _Pieces()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                entry = zipfile.ZipInfo.from_file(path, path.relative_to(root).as_posix())
                entry.compress_type = zipfile.ZIP_DEFLATED
                with path.open("rb") as source, archive.open(entry, "w") as target:
                    while block := source.read(ZIP_READ):
                        target.write(block)
                        yield from out.take()
                yield from out.take()
        yield from out.take()  # the central directory


class _Pieces(io.RawIOBase):
    """A stream that cannot seek, into which ``zipfile`` writes and from which the bytes are taken."""

    def __init__(self) -> None:
        super().__init__()
        self._written: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._written.append(bytes(data))
        return len(data)

    def take(self) -> Iterator[bytes]:
        """What was written since the last take, as one piece (none if nothing was)."""
        if self._written:
            piece = b"".join(self._written)
            self._written.clear()
            yield piece
