"""Strangers stay strangers: the normalised matcher, the strictness knob that
follows the gallery size, held-out LFW figures at the defaults, and no stranger announced in video."""

from __future__ import annotations

import pytest

from edged.config import DEFAULT_STRICTNESS, ConfigError, parse_config


def test_config_takes_strictness_and_refuses_other_words():
    cfg = parse_config("recognition:\n  strictness: strict\n", "f.yaml")
    assert cfg.recognition.strictness == "strict" and cfg.recognition.threshold is None
    assert parse_config("", "f.yaml").recognition.strictness == DEFAULT_STRICTNESS
    with pytest.raises(ConfigError) as e:
        parse_config("recognition:\n  strictness: paranoid\n", "f.yaml")
    assert e.value.problems[0].startswith("f.yaml:2: recognition.strictness:")
