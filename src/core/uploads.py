"""Checks on uploaded files before they are stored in a workspace.

Only cheap checks happen here (name, emptiness, an XML/mzML header); a file that
passes but is damaged further in is caught by the TOPP tool, whose error the
Run page shows.
"""

from __future__ import annotations

from pathlib import Path

from src.core.files import InputError, safe_filename

#: How many leading bytes are searched for the mzML root element.
HEADER_BYTES = 4096


def check_mzml(name: str, head: bytes, size: int) -> str:
    """Return a safe file name for an upload, or raise InputError saying what is wrong."""
    filename = safe_filename(name)
    if not filename.lower().endswith(".mzml"):
        raise InputError(
            f"{name}: only .mzML files are accepted. Convert other formats with ProteoWizard msconvert."
        )
    if size == 0:
        raise InputError(f"{name}: the file is empty. Upload the complete file again.")
    text = head[:HEADER_BYTES].decode("utf-8", errors="replace").lstrip("\ufeff \r\n\t")
    if not text.startswith("<?xml") and not text.startswith("<"):
        raise InputError(f"{name}: this is not an XML file, so it cannot be mzML.")
    if "<mzML" not in text and "<indexedmzML" not in text:
        raise InputError(f"{name}: no <mzML> element at the start of the file; is it really mzML?")
    return filename


def store_upload(folder: Path, name: str, data: bytes) -> Path:
    """Validate and save one upload; an existing file of the same name is replaced."""
    filename = check_mzml(name, data[:HEADER_BYTES], len(data))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    tmp = folder / f".{filename}.part"
    tmp.write_bytes(data)
    tmp.replace(target)
    return target
