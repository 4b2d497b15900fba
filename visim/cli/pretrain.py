"""`visim pretrain`: SimSiam / VI-SimSiam pre-training into a run directory."""

from __future__ import annotations

from pathlib import Path

import typer

from visim.cli import interrupts
from visim.pipeline.sources.demo import is_demo_spec
from visim.train.config import (
    CHOICES,
    CLI_OPTIONS,
    ConfigError,
    TrainConfig,
    apply_overrides,
    load_config,
)

EXIT_BAD_OPTION = 2


def _help(path: str, text: str = "") -> str:
    """`text`, the choices and the default of option "section.field", from TrainConfig."""
    section, key = path.split(".")
    default = getattr(getattr(TrainConfig(), section), key)
    parts = [text] if text else []
    if path in CHOICES:
        parts.append(" | ".join(CHOICES[path]))
    if default is not None:
        parts.append(f"(default: {default})")
    return " ".join(parts)


def pretrain(
    data: str | None = typer.Argument(
        None,
        help="What to train on: a .beton (ffcv), an image folder / IDX / CIFAR / .npz source or "
        "'demo' (torch, dali); ignored by the synthetic backend. Taken from the run on --resume.",
        show_default=False,
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory to create."),
    config_file: Path | None = typer.Option(
        None, "--config", help="TOML file of options: tables data, model, optim, runtime."
    ),
    resume: Path | None = typer.Option(
        None, "--resume", help="Continue the run in this directory from its last checkpoint."
    ),
    method: str | None = typer.Option(None, help=_help("model.method")),
    backend: str | None = typer.Option(None, help=_help("data.backend")),
    arch: str | None = typer.Option(None, help=_help("model.arch")),
    cifar_stem: bool | None = typer.Option(
        None,
        "--cifar-stem/--no-cifar-stem",
        help=_help("model.cifar_stem", "3x3 stride-1 stem without max-pool, for small images."),
    ),
    vi_loss: str | None = typer.Option(
        None,
        help=_help(
            "model.vi_loss",
            "VI-SimSiam: nll trains on the full likelihood; relative and unweighted give the "
            "encoder SimSiam-scale steps (weighted by relative kappa, or not) and fit kappa "
            "beside them.",
        ),
    ),
    kappa_source: str | None = typer.Option(
        None, help=_help("model.kappa_source", "What the kappa head reads:")
    ),
    kappa_param: str | None = typer.Option(
        None,
        help=_help(
            "model.kappa_param",
            "How the kappa head gives kappa: softplus of its output, or the kappa whose "
            "expected log(1 + cosine) it outputs:",
        ),
    ),
    kappa_detach: bool | None = typer.Option(
        None,
        "--kappa-detach/--no-kappa-detach",
        help=_help("model.kappa_detach", "The kappa head reads a detached input."),
    ),
    recipe: str | None = typer.Option(None, help=_help("data.recipe", "Augmentation preset:")),
    size: int | None = typer.Option(None, help="Crop size in pixels (default: the recipe's)."),
    epochs: int | None = typer.Option(None, help=_help("optim.epochs")),
    batch_size: int | None = typer.Option(
        None, help=_help("optim.batch_size", "Global batch size, split over the processes.")
    ),
    lr: float | None = typer.Option(None, help=_help("optim.lr", "Base LR, times batch/256.")),
    weight_decay: float | None = typer.Option(None, help=_help("optim.weight_decay")),
    momentum: float | None = typer.Option(None, help=_help("optim.momentum")),
    warmup_epochs: float | None = typer.Option(
        None, help=_help("optim.warmup_epochs", "Linear warmup before the cosine decay.")
    ),
    fix_pred_lr: bool | None = typer.Option(
        None,
        "--fix-pred-lr/--no-fix-pred-lr",
        help=_help("optim.fix_pred_lr", "Predictor at the peak LR, unscheduled."),
    ),
    precision: str | None = typer.Option(
        None,
        help=_help("runtime.precision", "auto: bf16 (or fp16) on GPUs, fp32 on the CPU."),
    ),
    channels_last: bool | None = typer.Option(
        None, "--channels-last/--no-channels-last", help=_help("model.channels_last")
    ),
    compile: bool | None = typer.Option(
        None, "--compile/--no-compile", help=_help("runtime.compile", "torch.compile the model.")
    ),
    sync_bn: bool | None = typer.Option(
        None, "--sync-bn/--no-sync-bn", help=_help("runtime.sync_bn", "SyncBatchNorm (GPUs).")
    ),
    gpus: int | None = typer.Option(
        None, help="Processes on this machine, one GPU each (default: 1 GPU, or the CPU)."
    ),
    cpu_processes: int | None = typer.Option(
        None, help="Train on the CPU in this many processes (gloo), even where GPUs exist."
    ),
    workers: int | None = typer.Option(
        None,
        help="Loader workers per process (default: all cores but one on a CPU; with GPUs, the "
        "cores per process).",
    ),
    seed: int | None = typer.Option(None, help=_help("runtime.seed")),
    checkpoint_every: float | None = typer.Option(
        None,
        help=_help("runtime.checkpoint_every", "Minutes between checkpoints (0: at epoch ends)."),
    ),
    max_steps: int | None = typer.Option(
        None, help=_help("runtime.max_steps", "Stop after this many steps (0: no limit).")
    ),
    log_every: int | None = typer.Option(
        None, help=_help("runtime.log_every", "Steps between metrics lines.")
    ),
    log_with: str | None = typer.Option(
        None,
        help=_help(
            "runtime.log_with",
            "Experiment tracker for the metrics and the configuration (each an extra):",
        ),
    ),
    quiet: bool | None = typer.Option(
        None, "--quiet/--no-quiet", help="Plain log lines instead of the live display."
    ),
) -> None:
    """Pre-train a SimSiam or VI-SimSiam model; Ctrl-C checkpoints, --resume continues."""
    # These load torch and accelerate: imported once the options are parsed.
    from visim.train.launch import run_pretrain
    from visim.train.resume import resumed_config
    from visim.train.run_dir import RunDir

    if data is not None and not is_demo_spec(data) and Path(data).exists():
        data = str(Path(data).resolve())  # config.toml must still find it from anywhere
    options = locals()
    # Each parameter is named after its flag: --batch-size -> batch_size, DATA -> data.
    overrides = {
        path: options[flag.lstrip("-").replace("-", "_").lower()]
        for flag, path in CLI_OPTIONS.items()
    }
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
        raise typer.Exit(EXIT_BAD_OPTION) from None
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
