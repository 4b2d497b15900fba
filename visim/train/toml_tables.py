"""TOML text for tables of scalars: the shape of a run's config.toml.

A configuration is one level of tables holding strings, integers, floats and booleans, so
writing it takes a few lines; reading stays with the standard library's tomllib. Owning the
writer keeps visim free of a dependency that exists only to write config.toml and is missing
on stock GPU images. Anything else (lists, nested tables, None) is refused with a TypeError
naming the key, never written half-way.
"""

from __future__ import annotations

import math
import re

Scalar = str | int | float | bool

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
# TOML basic strings: these two and every control character must be escaped.
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n"}
_SHORT_ESCAPES.update({"\f": "\\f", "\r": "\\r"})


def _string(value: str) -> str:
    def escaped(char: str) -> str:
        if char in _SHORT_ESCAPES:
            return _SHORT_ESCAPES[char]
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return f"\\u{ord(char):04x}"
        return char

    return '"' + "".join(escaped(char) for char in value) + '"'


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else _string(name)


def _value(value: object, where: str) -> str:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        # repr is the shortest text that reads back to the same float, always with a '.' or
        # an exponent, both of which TOML reads as a float.
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    raise TypeError(f"{where}: TOML tables here hold str, int, float or bool, got {value!r}")


def dumps_tables(tables: dict[str, dict[str, Scalar]]) -> str:
    """`tables` as TOML: one [section] per key, its scalars as `key = value` lines."""
    blocks = []
    for section, values in tables.items():
        if not isinstance(values, dict):
            raise TypeError(f"[{section}] must be a table of scalars, got {values!r}")
        lines = [f"[{_key(section)}]"]
        lines += [
            f"{_key(name)} = {_value(value, f'[{section}] {name}')}"
            for name, value in values.items()
        ]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)
