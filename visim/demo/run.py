"""`visim demo` from start to end: the built-in demo set, converted, pre-trained, evaluated.

OUT/data/demo-<N>.beton (+ .json)   the demo set as FFCV stores it (ffcv backend only)
OUT/run/                            the pre-training run (what `visim pretrain --out` writes)
OUT/run/eval/                       eval.json and the plots (what `visim eval` writes)

Every step leaves its result on disk and a re-run picks up from there: a converted set is
not written again, a finished run is not trained again, and an interrupted one resumes from
its last checkpoint. --force starts over.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from visim.demo.settings import (
    DemoSettings,
    demo_eval_settings,
    demo_train_config,
    resolve_backend,
)
from visim.evaluation.eval_report import EvalReport
from visim.evaluation.evaluate import evaluate_run
from visim.pipeline.backends.registry import get_backend
from visim.pipeline.convert.manifest import read_manifest
from visim.pipeline.convert.to_beton import ProgressCallback, WriteSettings, convert_source
from visim.pipeline.sources.base import SourceError
from visim.pipeline.sources.factory import open_source
from visim.train.config import (
    ConfigError,
    RuntimeConfig,
    TrainConfig,
    config_to_dict,
    option_name,
)
from visim.train.launch import run_pretrain
from visim.train.run_dir import RunDir

Done = TypeVar("Done")

STEPS = 3
# What a re-run may change and still reuse or resume the run: how it runs (loader workers,
# logging, checkpoints, processes), not what it learns. A change of backend is free too:
# _check_same_run compares with the run's own backend.
FREE_ON_RERUN = {"data.workers"} | {
    f"runtime.{field.name}" for field in dataclasses.fields(RuntimeConfig) if field.name != "seed"
}


class DemoDisplay(Protocol):
    def step(self, number: int, total: int, title: str) -> None:
        """A step starts."""

    def note(self, text: str) -> None:
        """A line about the step under way."""

    def convert_progress(self) -> AbstractContextManager[ProgressCallback]:
        """Progress of writing the .beton, for the time the conversion runs."""


class DemoStopped(Exception):
    """Pre-training stopped early (a signal, non-finite losses); `code` is its exit code."""

    def __init__(self, code: int, run_dir: Path) -> None:
        super().__init__(f"pre-training stopped with exit code {code}")
        self.code = code
        self.run_dir = run_dir


@dataclass(frozen=True)
class DemoResult:
    report: EvalReport  # what evaluate_run returned (eval.json's content)
    eval_dir: Path
    seconds: dict[str, float]  # per step: "data", "pretrain", "eval"

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


def run_demo(settings: DemoSettings, display: DemoDisplay) -> DemoResult:
    """Run (or pick up) every step. ConfigError before any work when an option is bad;
    DemoStopped when pre-training stops early."""
    backend = resolve_backend(settings.backend)
    config = demo_train_config(settings, backend)
    run_dir = RunDir(settings.run_dir)
    if settings.force and run_dir.holds_run():
        shutil.rmtree(run_dir.path)
    elif run_dir.holds_run():
        _check_same_run(settings, run_dir)
    seconds = {}
    _, seconds["data"] = _timed(lambda: _prepare_data(settings, backend, display))
    _, seconds["pretrain"] = _timed(lambda: _pretrain(config, run_dir, display))
    report, seconds["eval"] = _timed(lambda: _evaluate(settings, display))
    return DemoResult(report, run_dir.path / "eval", seconds)


def _timed(work: Callable[[], Done]) -> tuple[Done, float]:
    """(what `work` returned, the seconds it took)."""
    started = time.perf_counter()
    done = work()
    return done, time.perf_counter() - started


def _prepare_data(settings: DemoSettings, backend: str, display: DemoDisplay) -> None:
    display.step(1, STEPS, f"Demo data: {settings.source}")
    if not get_backend(backend).reads_beton:
        display.note(f"the {backend} backend draws the images on the fly: nothing to convert")
        return
    if not settings.force and _holds_converted(settings):
        display.note(f"reusing {settings.beton}")
        return
    source = open_source(settings.source, "train")
    with display.convert_progress() as progress:
        result = convert_source(
            source, settings.beton, WriteSettings(), force=True, progress=progress
        )
    display.note(
        f"wrote {result.manifest.num_images} images to {result.output} "
        f"({result.bytes_written / 2**20:.1f} MiB, {result.seconds:.1f} s)"
    )


def _holds_converted(settings: DemoSettings) -> bool:
    """Whether OUT/data already holds this demo set, complete (convert writes atomically)."""
    if not settings.beton.is_file():
        return False
    try:
        manifest = read_manifest(settings.beton)
    except SourceError:
        return False
    return manifest.source == settings.source and manifest.num_images == settings.images


def _pretrain(config: TrainConfig, run_dir: RunDir, display: DemoDisplay) -> None:
    model, optim = config.model, config.optim
    display.step(
        2,
        STEPS,
        f"Pre-training {model.method} ({model.arch}, {config.data.size} px, {optim.epochs} "
        f"epochs, batch {optim.batch_size}, {config.data.backend} backend) into {run_dir.path}",
    )
    resume = run_dir.holds_run()
    if resume:
        if run_dir.model.exists():
            display.note(f"reusing the finished run in {run_dir.path}")
            return
        display.note(f"resuming the run in {run_dir.path} from its last checkpoint")
    code = run_pretrain(config, run_dir, resume=resume)
    if code != 0:
        raise DemoStopped(code, run_dir.path)


def _flat(config: TrainConfig) -> dict[str, object]:
    """{"section.field": value} of every field that is set."""
    return {
        f"{section}.{key}": value
        for section, values in config_to_dict(config).items()
        for key, value in values.items()
    }


def _check_same_run(settings: DemoSettings, run_dir: RunDir) -> None:
    """ConfigError unless the run in `run_dir` is the one `settings` ask for, up to how it
    reads its data and how it runs: only then is a finished run reused, a stopped one resumed."""
    stored = run_dir.load_config()
    # Asked for through the backend it was trained with, the same run has the same source.
    wanted = _flat(demo_train_config(settings, stored.data.backend))
    made = _flat(stored)
    for path in sorted(set(made) | set(wanted)):
        if path not in FREE_ON_RERUN and made.get(path) != wanted.get(path):
            raise ConfigError(
                f"{run_dir.path} holds a demo run made with {option_name(path)} "
                f"{made.get(path)!r}, not {wanted.get(path)!r}; pass --force to start over, "
                "or pick another --out"
            )


def _evaluate(settings: DemoSettings, display: DemoDisplay) -> EvalReport:
    display.step(3, STEPS, "Evaluating: kNN and linear probe against a random init, kappa analysis")
    return evaluate_run(settings.run_dir, demo_eval_settings(settings), log=display.note)
