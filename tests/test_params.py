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


def test_a_flag_is_given_alone_when_set_and_a_true_false_option_with_its_value(params, tmp_path):
    """OpenMS refuses ``-keep_subelements true`` ("Trailing text argument(s)"): a flag (type bool
    in the ini) is written alone, and not at all when it is off; an option restricted to
    true/false takes its value. The tool itself accepts the command line (real FeatureLinkerUnlabeledKD)."""
    import subprocess

    known = params.tool_params("FeatureLinkerUnlabeledKD")
    flag, option = known["keep_subelements"], known["algorithm:warp:enabled"]
    assert flag.is_flag and not option.is_flag and option.is_bool
    assert topp_ini.command_line(flag, True) == ["-keep_subelements"]
    assert topp_ini.command_line(flag, False) == []
    assert topp_ini.command_line(option, False) == ["-algorithm:warp:enabled", "false"]
    written = tmp_path / "with-flag.ini"
    command = ["FeatureLinkerUnlabeledKD", *topp_ini.command_line(flag, True), "-write_ini", str(written)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    refused = subprocess.run([*command[:2], "true", *command[2:]], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "Trailing text argument" in refused.stdout + refused.stderr


def test_an_option_whose_default_is_not_among_its_choices_offers_it(params):
    """FileFilter's in_type defaults to "" (the tool decides from the file) with a list of types."""
    in_type = params.tool_params("FileFilter")["in_type"]
    assert in_type.choices[0] == "" and "mzML" in in_type.choices
    assert topp_ini.coerce(in_type, "") == ""
