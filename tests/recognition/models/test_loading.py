"""edge.recognition.models.loading: plugins are called with their section, and what goes wrong in one is
its own error, or one line naming what the pipeline needs and the object lacks."""

from __future__ import annotations

import pytest

from edge.recognition.models.loading import StartupError, load_plugin, load_readers
from edge.configuration.settings import build_config


class NoSides:
    """A detector without `input_side` and `fine_side` (the PlateDetector protocol)."""

    name = "no-sides"

    def predict(self, image):
        return []


def no_sides_plugin(_section):
    return NoSides()


def broken_plugin(section):
    raise TypeError("the plugin's own mistake")


def test_a_plugin_is_called_with_its_section():
    config = build_config({"detector": {"plugin": "tests.helpers:detector_plugin"},
                           "reader": {"plugin": "tests.helpers:reader_plugin"}})
    models = load_readers(config)
    assert models.names == {"detector": "colour-plates", "reader": "hue-table"}


def test_a_plugins_own_type_error_is_not_hidden():
    config = build_config({})
    with pytest.raises(TypeError, match="the plugin's own mistake"):
        load_plugin("tests.recognition.models.test_loading:broken_plugin", config.detector, "detector")


def test_a_detector_plugin_without_the_protocol_is_refused_in_one_line():
    config = build_config({})
    with pytest.raises(StartupError, match=r"^detector\.plugin: 'tests\.recognition\.models\.test_loading:no_sides_plugin' "
                                           r"gave an object without input_side, fine_side \(the PlateDetector "):
        load_plugin("tests.recognition.models.test_loading:no_sides_plugin", config.detector, "detector")
    with pytest.raises(StartupError, match=r"^reader\.plugin: cannot load 'tests\.nowhere:make': "):
        load_plugin("tests.nowhere:make", config.reader, "reader")
