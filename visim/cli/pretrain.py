"""`visim pretrain`: SimSiam / VI-SimSiam pre-training into a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from visim.cli import interrupts
from visim.core.exit_codes import EXIT_BAD_INPUT, EXIT_ENVIRONMENT
from visim.pipeline.sources.demo import is_demo_spec
from visim.train.config import (
    CHOICES,
    CLI_OPTIONS,
    OPTIONS,
    ConfigError,
    TrainConfig,
    apply_overrides,
    load_config,
)

_DEFAULTS = TrainConfig()


def _default(path: str) -> Any:
    section, key = path.split(".")
    return getattr(getattr(_DEFAULTS, section), key)


def _help(path: str) -> str:
    """The --help text of option "section.field": its field's help, choices and default."""
    meta, default = OPTIONS[path], _default(path)
    parts = [meta["help"]] if "help" in meta else []
    if path in CHOICES:
        parts.append(" | ".join(CHOICES[path]))
    if default is not None and meta.get("show_default", True):
        parts.append(f"(default: {default})")
    return " ".join(parts)


def _option(path: str) -> Any:
    """The Typer option of "section.field", from its field's metadata.

    Its default is None, "not given", so that the TOML file and the run's own configuration
    are only overridden by options on the command line.
    """
    flag = OPTIONS[path]["flag"]
    if isinstance(_default(path), bool):
        return typer.Option(None, f"{flag}/--no-{flag[2:]}", help=_help(path))
    return typer.Option(None, flag, help=_help(path))


def _parameter(flag: str) -> str:
    """The parameter of pretrain() that takes `flag`: --batch-size -> batch_size, DATA -> data."""
    return flag.lstrip("-").replace("-", "_").lower()


def pretrain(
    data: str | None = typer.Argument(None, help=_help("data.source"), show_default=False),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory to create."),
    config_file: Path | None = typer.Option(
        None, "--config", help="TOML file of options: tables data, model, optim, runtime."
    ),
    resume: Path | None = typer.Option(
        None, "--resume", help="Continue the run in this directory from its last checkpoint."
    ),
    method: str | None = _option("model.method"),
    backend: str | None = _option("data.backend"),
    arch: str | None = _option("model.arch"),
    cifar_stem: bool | None = _option("model.cifar_stem"),
    vi_loss: str | None = _option("model.vi_loss"),
    kappa_source: str | None = _option("model.kappa_source"),
    kappa_param: str | None = _option("model.kappa_param"),
    kappa_detach: bool | None = _option("model.kappa_detach"),
    kappa_support: str | None = _option("model.kappa_support"),
    recipe: str | None = _option("data.recipe"),
    size: int | None = _option("data.size"),
    epochs: int | None = _option("optim.epochs"),
    batch_size: int | None = _option("optim.batch_size"),
    lr: float | None = _option("optim.lr"),
    weight_decay: float | None = _option("optim.weight_decay"),
    momentum: float | None = _option("optim.momentum"),
    warmup_epochs: float | None = _option("optim.warmup_epochs"),
    fix_pred_lr: bool | None = _option("optim.fix_pred_lr"),
    clip_grad_norm: float | None = _option("optim.clip_grad_norm"),
    precision: str | None = _option("runtime.precision"),
    channels_last: bool | None = _option("model.channels_last"),
    compile: bool | None = _option("runtime.compile"),
    sync_bn: bool | None = _option("runtime.sync_bn"),
    gpus: int | None = _option("runtime.gpus"),
    cpu_processes: int | None = _option("runtime.cpu_processes"),
    workers: int | None = _option("data.workers"),
    seed: int | None = _option("runtime.seed"),
    checkpoint_every: float | None = _option("runtime.checkpoint_every"),
    max_steps: int | None = _option("runtime.max_steps"),
    log_every: int | None = _option("runtime.log_every"),
    log_with: str | None = _option("runtime.log_with"),
    quiet: bool | None = _option("runtime.quiet"),
) -> None:
    """Pre-train a SimSiam or VI-SimSiam model; Ctrl-C checkpoints, --resume continues."""
    # These load torch and accelerate: imported once the options are parsed.
    from visim.core.atomic_write import WriteFailed
    from visim.train.launch import run_pretrain
    from visim.train.resume import resumed_config
    from visim.train.run_dir import RunDir

    if data is not None and not is_demo_spec(data) and Path(data).exists():
        data = str(Path(data).resolve())  # config.toml must still find it from anywhere
    options = locals()
    # tests/cli/test_pretrain_options.py checks that every flag has its parameter.
    overrides = {path: options[_parameter(flag)] for flag, path in CLI_OPTIONS.items()}
    try:
        if resume is not None:
            if out is not None and out.resolve() != resume.resolve():
                raise ConfigError("--out and --resume name different run directories")
            run_dir = RunDir(resume)
            config, changed = resumed_config(run_dir, overrides, config_file)
            if changed:
                typer.echo(f"resuming with changed options: {', '.join(changed)}")
        else:
            if out is None:
                raise ConfigError("--out RUN_DIR is required (or --resume RUN_DIR)")
            base = load_config(config_file) if config_file else TrainConfig()
            config = apply_overrides(base, overrides)
            run_dir = RunDir(out)
        code = run_pretrain(config, run_dir, resume=resume is not None)
    except ConfigError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except WriteFailed as error:  # before training: the run directory cannot be written
        typer.echo(f"error: {error}; nothing was trained", err=True)
        raise typer.Exit(EXIT_ENVIRONMENT) from None
    except KeyboardInterrupt:
        # Before training started, or a second Ctrl-C while the first one's checkpoint was
        # being written: the run continues from its last complete checkpoint.
        where = resume or out
        hint = ""
        if where is not None and RunDir(where).holds_run():
            hint = f"; continue with: visim pretrain --resume {where}"
        interrupts.report_interrupt(f"interrupted{hint}")
        raise typer.Exit(interrupts.EXIT_INTERRUPTED) from None
    raise typer.Exit(code)
