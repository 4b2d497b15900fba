"""Experiment trackers (--log-with) through Accelerate's tracker API.

A run's trackers are named after the run directory (the TensorBoard run, the W&B project,
the MLflow experiment, the Aim run) and keep their local files in RUN_DIR/logs:

    tensorboard   RUN_DIR/logs/<run name>/ (`tensorboard --logdir RUN_DIR/logs`)
    wandb         RUN_DIR/logs/wandb/ (WANDB_MODE=offline keeps it there)
    aim           the Aim repository in RUN_DIR/logs
    mlflow        wherever MLFLOW_TRACKING_URI points (mlflow's own default without it)

Pre-training and evaluation log as two runs of that project, "pretrain" and "eval" (in
TensorBoard, one run whose eval tags start with eval/).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from visim.train.run_dir import RunDir

if TYPE_CHECKING:
    from accelerate import Accelerator
    from accelerate.tracking import GeneralTracker


def tracker_project(run_dir: RunDir) -> str:
    """The name every tracker files a run under: the run directory's name."""
    return run_dir.path.resolve().name


def tracker_init_kwargs(name: str, run_dir: RunDir, job: str) -> dict[str, dict]:
    """Accelerate's init_kwargs for tracker `name`: where it writes and what the run is called.

    job: "pretrain" or "eval", the run's name inside the project.
    """
    per_tracker = {
        "wandb": {"name": job, "dir": str(run_dir.logs)},
        "mlflow": {"run_name": job},
        "aim": {"experiment": job},
    }
    return {name: per_tracker[name]} if name in per_tracker else {}


def init_trackers(accelerator: Accelerator, name: str, run_dir: RunDir, config: dict) -> None:
    """Start the pre-training run of tracker `name` (the Accelerator was made with log_with),
    with the resolved configuration tree `config` as its hyperparameters."""
    if accelerator.is_main_process:
        run_dir.logs.mkdir(parents=True, exist_ok=True)
    accelerator.init_trackers(  # on the main process only
        tracker_project(run_dir),
        config=hyperparameters(config),
        init_kwargs=tracker_init_kwargs(name, run_dir, "pretrain"),
    )


def start_tracker(name: str, run_dir: RunDir, job: str, config: dict) -> GeneralTracker:
    """Tracker `name` started as Accelerator.init_trackers starts it, with the tree `config` as
    its hyperparameters, for a process that has no Accelerator of its own (evaluation)."""
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS

    run_dir.logs.mkdir(parents=True, exist_ok=True)
    tracker_class = LOGGER_TYPE_TO_CLASS[name]
    project = tracker_project(run_dir)
    kwargs = tracker_init_kwargs(name, run_dir, job).get(name, {})
    if tracker_class.requires_logging_directory:
        tracker = tracker_class(project, str(run_dir.logs), **kwargs)
    else:
        tracker = tracker_class(project, **kwargs)
    tracker.start()
    tracker.store_init_configuration(hyperparameters(config))
    return tracker


def hyperparameters(tree: dict[str, dict]) -> dict[str, bool | int | float | str]:
    """{"optim": {"lr": 0.05}} -> {"optim.lr": 0.05}: the flat form trackers take."""
    return {f"{section}.{key}": v for section, part in tree.items() for key, v in part.items()}


def scalars(record: dict, prefix: str = "") -> dict[str, float]:
    """The numbers of `record` (nested dicts joined with "/"), as floats trackers accept.

    Booleans become 0/1; None (a value not measured), text and lists are left out.
    """
    found: dict[str, float] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            found.update(scalars(value, f"{name}/"))
        elif isinstance(value, (bool, int, float)):
            found[name] = float(value)
    return found
