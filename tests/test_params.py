"""Parameters: the tools' own ini descriptions, params.json keeping only non-defaults."""

from __future__ import annotations

import json

import pytest

from src.core.errors import ParameterError, ToolNotFoundError
from src.core.params import ParameterManager, topp_ini

FFM = "FeatureFinderMetabo"
NOISE = "algorithm:common:noise_threshold_int"


@pytest.fixture
def params(tmp_path, settings) -> ParameterManager:
    return ParameterManager(tmp_path / "wf", settings.workspaces_dir / ".cache" / "ini")


def test_every_tool_parameter_is_read_from_write_ini(params):
    known = params.tool_params(FFM)
    assert known[NOISE].type == "double" and known[NOISE].default == 10.0
    assert known["algorithm:mtd:quant_method"].choices == ("area", "median", "max_height")
    assert known["algorithm:epd:enabled"].is_bool
    assert "in" not in known and "threads" not in known  # owned by the engine
    assert len(known) > 20


def test_params_json_keeps_only_values_that_differ_from_defaults(params):
    params.set_tool_value(FFM, NOISE, "100")
    params.set("custom", 5, default=1)
    assert json.loads(params.path.read_text()) == {FFM: {NOISE: 100.0}, "custom": 5}
    params.set_tool_value(FFM, NOISE, 10.0)
    params.set("custom", 1, default=1)
    assert json.loads(params.path.read_text()) == {}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("algorithm:mtd:quant_method", "mean", "must be one of area, median, max_height"),
        ("algorithm:common:chrom_peak_snr", "lots", "must be of type double"),
        ("no:such:param", 1, "has no parameter"),
    ],
)
def test_bad_values_are_refused_and_not_saved(params, name, value, message):
    with pytest.raises(ParameterError, match=message):
        params.set_tool_value(FFM, name, value)
    assert not params.path.exists()


def test_out_of_range_numbers_are_refused(params):
    tool = "FeatureLinkerUnlabeledKD"
    known = params.tool_params(tool)
    partitions = known["algorithm:nr_partitions"]
    assert (partitions.type, partitions.minimum, partitions.maximum) == ("int", 1, None)
    with pytest.raises(ParameterError, match="must be at least 1"):
        params.set_tool_value(tool, "algorithm:nr_partitions", 0)
    fraction = next(p for p in known.values() if p.maximum == 1.0)
    with pytest.raises(ParameterError, match="must be at most 1.0"):
        params.set_tool_value(tool, fraction.name, 1.5)
    assert not params.path.exists()


def test_a_hand_edited_invalid_value_is_caught_before_a_run(params):
    params.save({FFM: {"algorithm:mtd:quant_method": "mean"}})
    with pytest.raises(ParameterError, match="must be one of"):
        params.tool_values(FFM)
    params.path.write_text("{broken")
    with pytest.raises(ParameterError, match="not valid JSON"):
        params.load()


def test_missing_tool_is_reported_with_install_advice(tmp_path):
    with pytest.raises(ToolNotFoundError, match="apt-get install"):
        topp_ini.ini_path(tmp_path, "NoSuchOpenMSTool")


def test_a_list_parameter_is_a_list_of_its_type_each_within_range(params):
    levels = params.tool_params("PeakPickerHiRes")["algorithm:ms_levels"]
    assert levels.is_list and levels.type == "intlist" and levels.default == [] and levels.minimum == 1
    params.set_tool_value("PeakPickerHiRes", "algorithm:ms_levels", "1\n2".splitlines())
    assert params.tool_values("PeakPickerHiRes") == {"algorithm:ms_levels": [1, 2]}
    assert topp_ini.command_line_value(levels, [1, 2]) == ["1", "2"]
    with pytest.raises(ParameterError, match="at least 1"):
        params.set_tool_value("PeakPickerHiRes", "algorithm:ms_levels", ["0"])
    with pytest.raises(ParameterError, match="must be of type intlist"):
        params.set_tool_value("PeakPickerHiRes", "algorithm:ms_levels", ["one"])
    params.set_tool_value("PeakPickerHiRes", "algorithm:ms_levels", [])
    assert params.tool_values("PeakPickerHiRes") == {}
