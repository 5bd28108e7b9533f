"""Upload checks: non-mzML, empty and unsafe names are refused with a message."""

from __future__ import annotations

import pytest

from src.core.files import InputError, safe_filename
from src.core.uploads import check_mzml, store_upload

MZML_HEAD = b'<?xml version="1.0" encoding="utf-8"?>\n<indexedmzML xmlns="http://psi.hupo.org/ms/mzml">'


def test_real_mzml_is_accepted_and_stored(tmp_path, nz_files):
    data = nz_files[0].read_bytes()
    stored = store_upload(tmp_path, nz_files[0].name, data)
    assert stored.read_bytes() == data
    assert not list(tmp_path.glob(".*part"))


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("sample.txt", MZML_HEAD, "only .mzML"),
        ("empty.mzML", b"", "empty"),
        ("photo.mzML", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "not an XML file"),
        ("other.mzML", b'<?xml version="1.0"?><mzXML>', "no <mzML> element"),
    ],
)
def test_bad_uploads_are_refused_with_a_reason(tmp_path, name, data, message):
    with pytest.raises(InputError, match=message):
        store_upload(tmp_path, name, data)
    assert list(tmp_path.iterdir()) == []


def test_names_are_reduced_to_a_safe_basename():
    assert safe_filename("../../etc/evil.mzML") == "evil.mzML"
    assert safe_filename("C:\\data\\run 1.mzML") == "run_1.mzML"
    assert check_mzml("..hidden.mzML", MZML_HEAD, 10) == "hidden.mzML"
    with pytest.raises(InputError):
        safe_filename("...")
