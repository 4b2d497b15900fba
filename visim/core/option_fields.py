"""Configuration fields that describe their own option: flag, help, choices and bound.

Each option is described once, on its dataclass field (see option()); config.py derives
CLI_OPTIONS, CHOICES and validate()'s bounds from there, and `visim pretrain --help` too, so
that a flag, its help, its choices and its bounds cannot drift apart; ModelConfig declares
its fields the same way, and so do the settings of `visim eval`, `visim embed` and
`visim demo` (field_problem checks them; cli/settings_option.py makes their parameters).
The metadata keys:
  flag          how the command line sets it: "--lr", "--plots/--no-plots" for a switch
                with both spellings, or "DATA" for the argument; a field without one is set
                from the TOML file only
  help          the --help text; the choices and the default are appended to it
  show_default  False: --help leaves the default out
  choices       the names the value must be one of
  check         a Check of the value alone (None, where the field allows it, passes);
                validate() checks what depends on several fields
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

OPTION_KEYS = frozenset({"flag", "help", "show_default", "choices", "check"})


@dataclass(frozen=True)
class Check:
    """A bound on a value, and how an error says it: "--lr must be " + wanted."""

    ok: Callable[[Any], bool]
    wanted: str

    def problem(self, option: str, value: Any) -> str | None:
        """The line "OPTION must be WANTED, got VALUE" when `value` breaks the bound; None when it
        holds or is None (not given)."""
        if value is None or self.ok(value):
            return None
        return f"{option} must be {self.wanted}, got {value!r}"


def at_least(low: int, unit: str = "") -> Check:
    return Check(lambda value: value >= low, f"at least {low}{unit}")


POSITIVE = Check(lambda value: value > 0, "positive")


def option(
    default: Any,
    *,
    flag: str | None = None,
    help: str = "",
    choices: tuple[str, ...] | None = None,
    check: Check | None = None,
    show_default: bool = True,
) -> Any:
    """A dataclass field that carries its option metadata (the keys above)."""
    metadata: dict[str, Any] = {"help": help} if help else {}
    if flag is not None:
        metadata["flag"] = flag
    if choices is not None:
        metadata["choices"] = choices
    if check is not None:
        metadata["check"] = check
    if not show_default:
        metadata["show_default"] = False
    return field(default=default, metadata=metadata)


def _flag_name(metadata: Mapping[str, Any], field_name: str) -> str:
    """The option an error names: the flag's first spelling ("--plots" of "--plots/--no-plots"),
    or the field's name for a field set from a file only."""
    flag = metadata.get("flag")
    return field_name if flag is None else flag.split("/")[0]


def field_problem(instance: Any) -> str | None:
    """The first field of the dataclass `instance` whose value breaks its option's choices or
    check, as "--flag must be ..., got value"; None when every field holds. None passes: a
    field that allows it means "not given"."""
    for f in fields(instance):
        value = getattr(instance, f.name)
        if value is None:
            continue
        name, choices = _flag_name(f.metadata, f.name), f.metadata.get("choices")
        if choices is not None and value not in choices:
            return f"{name} must be one of {', '.join(choices)}, got {value!r}"
        check = f.metadata.get("check")
        problem = None if check is None else check.problem(name, value)
        if problem is not None:
            return problem
    return None
