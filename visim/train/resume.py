"""Which options a resumed run may change, and the configuration it continues with.

A checkpoint's state only makes sense under the options it was trained with: the model's
shape, the optimiser's settings and the batch size and seed that fix the data order cannot
change. Everything else may (more --epochs, another data location or backend, precision,
process count, logging), and the changes are reported.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from visim.train.config import ConfigError, TrainConfig, apply_overrides, load_config, option_name
from visim.train.run_dir import RunDir

# Fields that may differ between a run and its resumption, as "section.field".
CHANGEABLE_ON_RESUME = {"model.channels_last", "optim.epochs"} | {
    f"{section}.{f.name}"
    for section in ("data", "runtime")
    for f in dataclasses.fields(getattr(TrainConfig(), section))
    if (section, f.name) != ("runtime", "seed")
}


def _fields(config: TrainConfig) -> dict[str, Any]:
    return {
        f"{section}.{key}": value
        for section in ("data", "model", "optim", "runtime")
        for key, value in dataclasses.asdict(getattr(config, section)).items()
    }


def resumed_config(
    run_dir: RunDir, overrides: dict[str, Any], config_file: Path | None = None
) -> tuple[TrainConfig, list[str]]:
    """(configuration to continue with, the options changed from the run's own).

    The run's config.toml is the base; --config and command-line options lay over it.
    """
    if not run_dir.holds_run():
        raise ConfigError(f"--resume {run_dir.path}: no config.toml there, so no run to resume")
    stored = run_dir.load_config()
    config = load_config(config_file, stored) if config_file else stored
    config = apply_overrides(config, overrides)
    before, after = _fields(stored), _fields(config)
    changed = [path for path in before if before[path] != after[path]]
    for path in changed:
        if path not in CHANGEABLE_ON_RESUME:
            raise ConfigError(
                f"--resume {run_dir.path}: {option_name(path)} was {before[path]!r} in that run "
                f"and cannot change when resuming (asked for {after[path]!r})"
            )
    return config, [option_name(path) for path in changed]
