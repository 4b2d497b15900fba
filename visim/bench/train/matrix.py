"""Which model settings a training benchmark measures: every combination of the axes, or a
baseline and one changed setting at a time."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

SWEEPS = ("cross", "one-at-a-time")
# Where the real-data backends run: at every model setting, only at the one that was fastest
# on synthetic data for each method and arch (the setting one would train with, and where a
# slow loader shows most), or only at the baseline (the first setting).
REAL_DATA_AT = ("fastest", "all", "baseline")
# The command-line option that sets each axis.
AXIS_OPTIONS = {
    "method": "--methods",
    "arch": "--archs",
    "precision": "--precisions",
    "channels_last": "--channels-last",
    "compile": "--compile",
}


@dataclass(frozen=True)
class ModelAxes:
    """The values measured per setting; field names are TrainCase's. The first value of each
    axis makes the baseline."""

    method: tuple[str, ...]
    arch: tuple[str, ...]
    precision: tuple[str, ...]
    channels_last: tuple[bool, ...]
    compile: tuple[bool, ...]

    def __post_init__(self) -> None:
        for name, values in self.values().items():
            if not values:
                raise ValueError(f"{AXIS_OPTIONS[name]} needs at least one value")
            if len(set(values)) != len(values):
                raise ValueError(f"{AXIS_OPTIONS[name]} repeats a value: {values}")

    def values(self) -> dict[str, tuple]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def baseline(self) -> dict[str, object]:
        return {name: values[0] for name, values in self.values().items()}


def model_settings(
    axes: ModelAxes, sweep: str, compile_archs: tuple[str, ...] | None = None
) -> list[dict[str, object]]:
    """The settings to measure, baseline first, as {TrainCase field: value}.

    compile_archs: when given, torch.compile on is measured only for these archs and at the
    first channels_last value (compiling costs a minute or more per case); None: wherever the
    sweep puts it.
    """
    settings = _swept_settings(axes, sweep)
    if compile_archs is None:
        return settings
    return [
        s
        for s in settings
        if not s["compile"]
        or (s["arch"] in compile_archs and s["channels_last"] == axes.channels_last[0])
    ]


def _swept_settings(axes: ModelAxes, sweep: str) -> list[dict[str, object]]:
    if sweep not in SWEEPS:
        raise ValueError(f"--sweep must be one of {', '.join(SWEEPS)}, got {sweep!r}")
    values = axes.values()
    if sweep == "cross":
        return [
            dict(zip(values, combo, strict=True)) for combo in itertools.product(*values.values())
        ]
    baseline = axes.baseline()
    changed = [
        {**baseline, name: value} for name, options in values.items() for value in options[1:]
    ]
    return [baseline, *changed]
