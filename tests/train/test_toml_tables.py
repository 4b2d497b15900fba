import math
import random
import sys

import pytest

from visim.train.toml_tables import dumps_tables

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def round_trip(tables: dict) -> dict:
    return tomllib.loads(dumps_tables(tables))


def test_scalars_of_every_kind_read_back_equal_and_of_the_same_type():
    tables = {
        "data": {"source": "demo:96", "workers": 0, "size": 224, "shuffle": True},
        "optim": {"lr": 0.05, "weight_decay": 1e-4, "tiny": 5e-324, "huge": 1.7976931348623157e308},
        "runtime": {"negative": -3, "big": 2**62, "minus_zero": -0.0, "whole": 30.0, "off": False},
    }
    back = round_trip(tables)
    assert back == tables
    for section, values in tables.items():
        for key, value in values.items():
            assert type(back[section][key]) is type(value), (section, key)
    assert math.copysign(1, back["runtime"]["minus_zero"]) == -1


def test_infinities_and_nan_read_back():
    back = round_trip({"t": {"up": math.inf, "down": -math.inf, "nan": math.nan}})
    assert back["t"]["up"] == math.inf and back["t"]["down"] == -math.inf
    assert math.isnan(back["t"]["nan"])


@pytest.mark.parametrize(
    "text",
    [
        'say "hi"',
        "C:\\runs\\new",
        "two\nlines\ttab\r\x0c\x08",
        "\x00\x1f\x7f",
        "kappa κ ≥ 1 🙂",
        "",
    ],
)
def test_strings_with_quotes_escapes_control_characters_and_unicode_read_back(text):
    assert round_trip({"data": {"source": text}}) == {"data": {"source": text}}


def test_random_strings_read_back():
    rng = random.Random(12)
    alphabet = [chr(c) for c in range(0x250)] + ["\u2028", "\ufeff", "\U0001f600"]
    for _ in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        assert round_trip({"s": {"v": text}})["s"]["v"] == text


def test_keys_that_are_not_bare_are_quoted():
    tables = {"my section": {"a.b": 1, "with space": 2, 'q"uote': 3, "plain_key-1": 4}}
    assert round_trip(tables) == tables


@pytest.mark.parametrize(
    ("tables", "named"),
    [
        ({"data": {"sizes": [1, 2]}}, r"\[data\] sizes"),
        ({"data": {"nested": {"a": 1}}}, r"\[data\] nested"),
        ({"model": {"kappa_max": None}}, r"\[model\] kappa_max"),
        ({"model": 3}, r"\[model\] must be a table"),
    ],
)
def test_values_toml_tables_cannot_hold_are_refused_naming_the_key(tables, named):
    with pytest.raises(TypeError, match=named):
        dumps_tables(tables)
