"""`--log-format json|text` and `--log-level` for `fedward coordinator serve` and `fedward site run`."""

import json
import logging

import pytest

from fedward.cli.app import main
from fedward.deployment.logs import configure_logging


@pytest.fixture
def fedward_logger():
    root = logging.getLogger("fedward")
    saved = (root.handlers[:], root.level, root.propagate)
    yield logging.getLogger("fedward.test")
    root.handlers[:], root.level, root.propagate = saved


def test_json_is_the_default_one_object_per_line(fedward_logger, capsys):
    configure_logging()
    fedward_logger.info("task answered", extra={"site": "st-olav", "round": 3})
    line = json.loads(capsys.readouterr().err)
    assert line["message"] == "task answered" and line["site"] == "st-olav" and line["round"] == 3
    assert line["level"] == "info" and line["logger"] == "fedward.test"


def test_text_is_one_readable_line_with_the_fields(fedward_logger, capsys):
    configure_logging("text")
    fedward_logger.warning("upload refused", extra={"site": "st-olav", "reason": "too large"})
    err = capsys.readouterr().err.strip()
    assert err.endswith('WARNING fedward.test: upload refused site=st-olav reason="too large"')
    assert "{" not in err


def test_the_level_filters_and_debug_shows_more(fedward_logger, capsys):
    configure_logging("text", "warning")
    fedward_logger.info("hidden")
    assert capsys.readouterr().err == ""
    configure_logging("text", "debug")  # power check: the same record is written at a lower level
    fedward_logger.info("shown")
    assert "shown" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "named"), [(["--log-format", "xml"], "'xml'"), (["--log-level", "loud"], "'loud'")]
)
@pytest.mark.parametrize("command", [["site", "run"], ["coordinator", "serve"]])
def test_a_bad_choice_exits_2_naming_it(command, args, named, tmp_path, capsys, fedward_logger):
    with pytest.raises(SystemExit) as info:
        main([*command, str(tmp_path / "kit"), *args])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert named in err and "--log-format/--log-level" in err
