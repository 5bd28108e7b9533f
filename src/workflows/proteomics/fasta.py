"""Protein databases (FASTA files): checking one, counting its decoys, and where they come from.

A visitor either uploads a FASTA file into the workspace or picks one of the server's databases
(the ``protein_databases_dir`` setting). The choice is saved in the workflow's parameters as
``"workspace:<name>"`` or ``"server:<name>"`` and resolved against the listing, never used as a
path, so a hand-edited params.json cannot point the tools at another file.

The search needs decoys to estimate its false discovery rate. A database whose accessions carry
one of the usual decoy marks (``DECOY_``, ``rev_``, ``_rev`` ...; the ones PeptideIndexer finds by
itself) on a good share of its entries is used as it is; one without any gets reversed decoys from
DecoyDatabase first. One with only a few such entries is refused: decoys for part of the targets
would make every FDR wrong.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from src.core.errors import InputError, StorageRefused
from src.core.settings import Settings
from src.core.workspace import space, uploads

#: The parameter that holds the visitor's choice of database.
DATABASE_PARAM = "database"
SERVER, WORKSPACE = "server", "workspace"
#: File name endings taken as FASTA.
SUFFIXES = (".fasta", ".fa", ".faa")
#: Accession marks of decoy entries (as prefix ``REV_x`` or suffix ``x_rev``, any case).
DECOY_MARKS = ("decoy", "rev", "reverse", "xxx", "shuffled", "random")
_DECOY = re.compile(rf"^(?:{'|'.join(DECOY_MARKS)})[_-]|[_-](?:{'|'.join(DECOY_MARKS)})$", re.IGNORECASE)
#: A database with at least this share of decoy entries is a target-decoy database (usually 1/2).
DECOY_SHARE = 0.25


@dataclass(frozen=True)
class FastaSummary:
    """What a FASTA file holds, from one pass over it."""

    name: str
    entries: int
    decoys: int

    @property
    def has_decoys(self) -> bool:
        return self.decoys > 0 and self.decoys >= DECOY_SHARE * self.entries

    def describe(self) -> str:
        """A line for the upload page: how many entries, and whether decoys will be made."""
        if self.has_decoys:
            return f"{self.name}: {self.entries:,} proteins, {self.decoys:,} of them decoys (used as it is)."
        return (
            f"{self.name}: {self.entries:,} proteins without decoys; each run adds reversed decoys "
            "(DecoyDatabase) before the search."
        )

    def problem(self) -> str:
        """Why a run cannot use the file ("" if it can)."""
        if 0 < self.decoys < DECOY_SHARE * self.entries:
            return (
                f"{self.name}: only {self.decoys:,} of its {self.entries:,} proteins are decoys, so it is "
                "neither a target-decoy database nor one without decoys. Upload the target proteins "
                "alone (the workflow then adds one decoy per protein) or a complete target-decoy database."
            )
        return ""


def is_decoy(header: str) -> bool:
    """Does a FASTA header line (``>accession description``) name a decoy entry?"""
    accession = header[1:].split(maxsplit=1)[0] if header[1:].strip() else ""
    return bool(_DECOY.search(accession))


def summarize(path: Path) -> FastaSummary:
    """Count the entries and decoys of a FASTA file; InputError says what is wrong with a damaged one.

    Cached by size and modification time: the Run page checks the database before every start."""
    stat = path.stat()
    return _summarize(str(path), (stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=16)
def _summarize(path: str, stamp: tuple[int, int]) -> FastaSummary:
    """``stamp`` (size, modification time) makes a changed file a new cache entry."""
    name = Path(path).name
    if stamp[0] == 0:
        raise InputError(f"{name} is empty. Upload the complete FASTA file again.")
    entries = decoys = 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if text.startswith(">"):
                entries += 1
                decoys += is_decoy(text)
            elif text and (entries == 0 or not _is_sequence(text)):
                raise InputError(_damage(name, number, entries))
    if entries == 0:
        raise InputError(f"{name} holds no protein entries ('>' header lines). Upload a FASTA file.")
    return FastaSummary(name, entries, decoys)


def _is_sequence(text: str) -> bool:
    residues = text.rstrip("*")
    return residues.isascii() and residues.isalpha()


def _damage(name: str, number: int, entries: int) -> str:
    if entries == 0:
        return (
            f"{name} is not a FASTA file: line {number} comes before any '>' header line. "
            "Upload a protein database in FASTA format."
        )
    return (
        f"{name} is damaged or not a protein FASTA file: line {number} holds characters that are not "
        "amino acids. Check the file (or download it again) and upload it again."
    )


# ---- the visitor's own files ----------------------------------------------------------------------
def check_name(name: str) -> str:
    """A safe file name for an uploaded FASTA file, or InputError saying what is wrong with it."""
    filename = uploads.safe_filename(name)
    if len(filename) > uploads.MAX_NAME_LENGTH:
        raise InputError(f"{name[:40]}…: the file name is too long. Rename the file and upload it again.")
    if not filename.lower().endswith(SUFFIXES):
        raise InputError(f"{name}: a protein database must be a FASTA file ending in {', '.join(SUFFIXES)}.")
    return filename


def check_head(name: str, head: bytes, size: int) -> str:
    """The safe name of an uploaded FASTA file whose first bytes are ``head``, or InputError; the
    whole file is checked when a run is started (``summarize``)."""
    filename = check_name(name)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \r\n\t")
    if not size or not text:
        raise InputError(f"{name}: the file is empty. Upload the complete file again.")
    if not text.startswith(">"):
        raise InputError(f"{name}: a FASTA file starts with a '>' header line; this one does not.")
    return filename


def adopt(spooled: Path, name: str, folder: Path) -> Path:
    """Check an upload's name and head and move it into ``folder`` (replacing a file of that name)."""
    return uploads.adopt(spooled, name, folder, check_head)


def add_copy(source: Path, folder: Path, workspace: Path, settings: Settings) -> Path:
    """A copy of a database the server made available (the example's) among the workspace's own,
    counted against its quota and refused, as an upload is, when it does not fit."""
    size = source.stat().st_size
    try:
        space.check_free_disk(settings.workspaces_dir, settings.limits, size)
        space.check_quota(workspace, settings.limits, size)
    except StorageRefused as err:
        raise StorageRefused(f"The example database ({space.human(size)}) was not added. {err}") from None
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{source.name}.part"  # hidden from the inputs until complete
    shutil.copyfile(source, partial)
    target = folder / source.name
    os.replace(partial, target)
    return target


# ---- the server's databases and the choice ----------------------------------------------------------
def databases_dir(settings: Settings) -> Path:
    """The server's folder of databases (setting ``protein_databases_dir``)."""
    return settings.protein_databases_dir


def server_databases(settings: Settings) -> list[Path]:
    """The FASTA files the server offers (none if its folder is missing)."""
    folder = databases_dir(settings)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(SUFFIXES))


def options(settings: Settings, uploaded: list[Path]) -> dict[str, str]:
    """Every database a run may use: the choice's value -> how the page names it."""
    found = {f"{WORKSPACE}:{p.name}": f"{p.name} (uploaded)" for p in uploaded}
    found.update({f"{SERVER}:{p.name}": f"{p.name} (on the server)" for p in server_databases(settings)})
    return found


def resolve(choice: object, settings: Settings, uploaded: list[Path]) -> Path | None:
    """The file a saved choice names, if it still exists (else None)."""
    if not isinstance(choice, str):
        return None
    source, _, name = choice.partition(":")
    listing = uploaded if source == WORKSPACE else server_databases(settings) if source == SERVER else []
    return next((path for path in listing if path.name == name), None)


def default_choice(uploaded: list[Path]) -> str | None:
    """What a run uses when nothing was chosen: the only uploaded database, if there is one."""
    return f"{WORKSPACE}:{uploaded[0].name}" if len(uploaded) == 1 else None
