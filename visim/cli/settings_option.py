"""The Typer parameter of a settings field, from the field (visim/core/option_fields.py).

`visim eval`, `visim embed` and `visim demo` build their settings dataclass from the
command's parameters; each parameter is `settings_option(Settings, "name")`, so that its flag,
help, choices and default are the ones declared on the field, once.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import typer


def settings_option(settings: type, name: str, *aliases: str) -> Any:
    """typer.Option for field `name` of the dataclass `settings`: the field's flag (with
    `aliases` such as "-o"), its help followed by its choices, and its default; a field
    without a default is required."""
    found = {f.name: f for f in dataclasses.fields(settings)}[name]
    meta = found.metadata
    help_text = meta.get("help", "")
    if "choices" in meta:
        help_text += f" One of: {' | '.join(meta['choices'])}."
    default = ... if found.default is dataclasses.MISSING else found.default
    return typer.Option(default, meta["flag"], *aliases, help=help_text)
