"""The training loop of one process: Accelerate for devices, precision and DDP.

Every process runs train_process (process.py), which drives one ProcessRun; what must
happen in one place only (writing files, printing) happens on rank 0. Decisions that change
the course of a run - skipping a non-finite step, stopping on a signal, writing a timed
checkpoint - are summed over the processes first, so all of them take the same branch at the
same step and no collective is left waiting.

The host never waits for the GPU inside a step, so it queues the next step's work while the
GPU runs this one: the loss stays on the device, a non-finite step is skipped on the device
(nonfinite_guard), and the host reads what the device holds only at a metrics line (every
--log-every steps) and at the last step of an epoch or of the run. Those are also the only
steps where several processes agree on a stop request or a timed checkpoint (one collective);
a run of one process acts on them at the step they arrive.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object, set_seed

from visim.core.exit_codes import EXIT_NONFINITE
from visim.core.stop_signals import GracefulStop
from visim.models.siamese import SiameseOutput, build_model
from visim.train.checkpoint import (
    NoUsableCheckpoint,
    Position,
    capture_rng,
    latest_checkpoint,
    restore_newest,
    save_checkpoint,
)
from visim.train.config import ConfigError, TrainConfig
from visim.train.export import export_weights
from visim.train.metrics import MetricsLog, MetricsWindow, combine_processes
from visim.train.nonfinite_guard import NO_STEP, NonfiniteGuard
from visim.train.optimizer import build_optimizer, create_momentum_buffers
from visim.train.optimizer_step import OptimizerStep
from visim.train.precision import (
    Precision,
)
from visim.train.progress import make_display
from visim.train.run_dir import RunDir
from visim.train.run_storage import (
    estimated_checkpoint_bytes,
    space_warning,
)
from visim.train.sample_record import SampleRecord
from visim.train.schedule import build_scheduler
from visim.train.tracking import scalars
from visim.train.training_curves import write_training_curves
from visim.train.training_loader import make_training_loader
from visim.train.training_state import TrainingState


@dataclass(frozen=True)
class _StepFlags:
    """Decisions of the host, each true if true in any process."""

    stop: bool
    checkpoint_due: bool


class ProcessRun:
    """One process's share of a run: its model, optimiser, loader, and where it stands."""

    def __init__(
        self, config: TrainConfig, run_dir: RunDir, accelerator: Accelerator, stop: GracefulStop
    ) -> None:
        self.config, self.run_dir, self.accelerator, self.stop = config, run_dir, accelerator, stop
        self.rank, self.world = accelerator.process_index, accelerator.num_processes
        self.main = accelerator.is_main_process

        set_seed(config.runtime.seed)  # the same initial weights in every process
        self.model = build_model(config.model)
        if config.runtime.sync_bn and self.world > 1:
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        optimizer = build_optimizer(self.model, config.optim)
        self.loader, self.loader_workers = make_training_loader(
            config, accelerator.device, self.rank, self.world
        )
        self.steps_per_epoch = len(self.loader)
        total_steps = config.optim.epochs * self.steps_per_epoch
        self.max_steps = min(config.runtime.max_steps or total_steps, total_steps)
        self.scheduler = build_scheduler(
            optimizer,
            total_steps=total_steps,
            warmup_steps=round(config.optim.warmup_epochs * self.steps_per_epoch),
        )
        # The scheduler stays out of prepare(): this loop steps it once per optimizer step.
        self.trained_model, self.optimizer = accelerator.prepare(self.model, optimizer)
        create_momentum_buffers(optimizer)  # the parameters are on the device now
        self.groups = {group["name"]: i for i, group in enumerate(optimizer.param_groups)}
        self.guard = NonfiniteGuard(
            optimizer,
            accelerator.device,
            limit=config.runtime.max_nonfinite_steps,
            scaler_skips=accelerator.scaler is not None,
            all_reduce_sum=(lambda t: accelerator.reduce(t, "sum")) if self.world > 1 else None,
        )
        self.state = TrainingState(
            self.model, self.optimizer, self.scheduler, accelerator.scaler, self.guard
        )

        self.position = Position(epoch=0, batch=0, step=0)
        self.last_checkpoint: Path | None = None
        self.space_warned = False  # once per run is enough
        self.saved_at_step = -1
        self.checkpoint_clock = time.monotonic()
        self.metrics = MetricsLog(run_dir.metrics)
        self.window = MetricsWindow()
        self.step = OptimizerStep(
            self.trained_model,
            self.model,
            accelerator,
            self.optimizer,
            self.scheduler,
            self.guard,
            self.window,
            config.optim.clip_grad_norm,
        )
        self.samples = SampleRecord(run_dir, self.rank, config.runtime.record_samples)
        self.display = make_display(is_main_process=self.main, quiet=config.runtime.quiet)

    def describe(self, precision: Precision) -> dict:
        """How this run trains, for env.json."""
        return {
            "device": str(self.accelerator.device),
            "processes": self.world,
            "precision": precision.name,
            "per_process_batch_size": self.config.optim.batch_size // self.world,
            "loader_workers": self.loader_workers,
            "steps_per_epoch": self.steps_per_epoch,
        }

    # -- checkpoints -------------------------------------------------------------------------

    def restore_latest_checkpoint(self) -> None:
        """Continue from the run's newest checkpoint that loads; from the start when it has
        none yet. ConfigError when it has some and none of them loads."""
        try:
            path, passed_over = restore_newest(self.run_dir.checkpoints, self._restore)
        except NoUsableCheckpoint as error:
            raise ConfigError(f"--resume {self.run_dir.path}: {error}") from None
        for line in passed_over if self.main else ():
            self.display.message(f"skipped checkpoint {line}")
        if path is not None:
            self.last_checkpoint, self.saved_at_step = path, self.position.step
        # The steps after the checkpoint are trained again: their old lines must go.
        if self.main:
            self.metrics.drop_after(self.position.step)

    def _restore(self, position: Position, state: dict) -> None:
        self.state.load_checkpoint(state, self.rank, self.world)
        self.position = position

    def warn_about_space(self) -> None:
        """A line when the next checkpoint may not fit (run_storage.space_warning): sized
        by the newest checkpoint on disk, or estimated from the model before the first."""
        if not self.main:
            return
        newest = latest_checkpoint(self.run_dir.checkpoints)
        size = newest.stat().st_size if newest else estimated_checkpoint_bytes(self.model)
        warning = space_warning(self.run_dir, size)
        if warning is not None:
            self.display.message(f"warning: {warning}")
            self.space_warned = True

    def save_checkpoint(self) -> None:
        rng_states = self._from_every_process(capture_rng())
        if self.main:
            state = self.state.to_checkpoint(rng_states)
            self.last_checkpoint = save_checkpoint(self.run_dir.checkpoints, self.position, state)
            if not self.space_warned:
                self.warn_about_space()
        # Nobody leaves before the file is complete: a launcher may end the stragglers.
        self.accelerator.wait_for_everyone()
        self.saved_at_step, self.checkpoint_clock = self.position.step, time.monotonic()

    # -- collectives ---------------------------------------------------------------------------

    def _agree(self, *flags: bool) -> _StepFlags:
        """The flags OR-ed over the processes: one collective that waits for the device."""
        if self.world == 1:
            return _StepFlags(*flags)
        local = torch.tensor([float(f) for f in flags], device=self.accelerator.device)
        return _StepFlags(*(v > 0 for v in self.accelerator.reduce(local, "sum").tolist()))

    def _from_every_process(self, value: object) -> list:
        """[value of rank 0, value of rank 1, ...] on every process."""
        return [value] if self.world == 1 else gather_object([value])

    # -- training ------------------------------------------------------------------------------

    def train(self) -> int:
        self.display.start(
            epochs=self.config.optim.epochs,
            steps_per_epoch=self.steps_per_epoch,
            epoch=self.position.epoch,
            batch=self.position.batch,
        )
        self.window.reset()  # images/s and data wait count from here, not from setup
        try:
            while self.position.step < self.max_steps:
                code = self._train_epoch()
                if code is not None:
                    return code
            if self.main:
                export_weights(self.model, self.run_dir)
            self.samples.write(self.model)
            self.display.message(
                f"done: {self.position.step} steps; weights in {self.run_dir.model} and "
                f"{self.run_dir.backbone}"
            )
            if self.main:
                self.display.message(write_training_curves(self.run_dir))
            return 0
        finally:
            self.display.close()

    def _train_epoch(self) -> int | None:
        """Train from the current position to the epoch's end (or max_steps); an exit code
        when the run must stop early."""
        epoch = self.position.epoch
        self.loader.set_epoch(epoch, self.position.batch)
        self.trained_model.train()
        batches = iter(self.loader)
        while self.position.step < self.max_steps:
            waited_from = time.perf_counter()
            batch = next(batches, None)
            if batch is None:
                break
            data_wait = time.perf_counter() - waited_from
            log_step = (self.position.step + 1) % self.config.runtime.log_every == 0
            output, lrs, grad_norm = self.step(batch, self.position.step + 1, log_step, data_wait)
            self.position = self._advanced(self.position)
            self.samples.add(batch)
            self.display.advance(epoch=self.position.epoch, batch=self.position.batch)
            # Where the host reads the device; the run's course is decided there.
            sync_point = self._is_sync_point()
            if log_step:
                self._log(output, lrs, epoch, grad_norm)
            code = self._nonfinite_stop_code() if sync_point else None
            if code is not None:
                return code
            if not (sync_point or self.world == 1):
                continue
            flags = self._agreed_flags()
            if flags.stop:
                return self._stop_on_signal()
            if flags.checkpoint_due:
                self.save_checkpoint()
        if self.saved_at_step != self.position.step:
            self.save_checkpoint()  # at each epoch's end, and at max_steps
        return None

    def _is_sync_point(self) -> bool:
        """After a metrics line, the last batch of an epoch, or the run's last step."""
        position = self.position
        return (
            position.step % self.config.runtime.log_every == 0
            or position.batch == 0
            or position.step == self.max_steps
        )

    def _agreed_flags(self) -> _StepFlags:
        runtime = self.config.runtime
        return self._agree(
            self.stop.requested,
            runtime.checkpoint_every > 0
            and time.monotonic() - self.checkpoint_clock >= runtime.checkpoint_every * 60,
        )

    def _advanced(self, position: Position) -> Position:
        """The position after one more batch; past an epoch's last batch, the next epoch."""
        if position.batch + 1 == self.steps_per_epoch:
            return Position(position.epoch + 1, 0, position.step + 1)
        return Position(position.epoch, position.batch + 1, position.step + 1)

    def _log(self, output: SiameseOutput, lrs: list[float], epoch: int, grad_norm: float) -> None:
        summaries = self._from_every_process(self.window.summary(self.model, output, grad_norm))
        if self.main:
            record = {
                "step": self.position.step,
                "epoch": epoch + 1,
                **combine_processes(
                    summaries,
                    proj_dim=self.config.model.proj_dim,
                    global_batch_size=self.config.optim.batch_size,
                    collapse_ratio=self.config.runtime.collapse_ratio,
                ),
                "lr": lrs[self.groups["encoder"]],
                "lr_predictor": lrs[self.groups["predictor"]],
                "nonfinite_steps": self.guard.read().total,
                "eta_s": (self.max_steps - self.position.step) * self.window.seconds_per_step(),
            }
            record["effective_lr"] = record["lr"] * record["align_grad_scale"]
            self.metrics.append(record)
            # The tracker gets the same numbers at the same step (no-op without --log-with).
            self.accelerator.log(
                scalars({k: v for k, v in record.items() if k != "step"}),
                step=self.position.step,
            )
            self.display.show(record)
        self.window.reset()

    def _nonfinite_stop_code(self) -> int | None:
        """EXIT_NONFINITE when too many steps in a row were skipped by now, else None."""
        limit_step = self.guard.read().limit_step
        if limit_step == NO_STEP:
            return None
        limit = self.config.runtime.max_nonfinite_steps
        reached = "" if limit_step == self.position.step else f" by step {limit_step}"
        self.display.message(
            f"stopped at step {self.position.step}: {limit} non-finite losses in a row{reached} "
            f"([runtime] max_nonfinite_steps = {limit}); last good checkpoint: "
            f"{self.last_checkpoint or 'none yet'}"
        )
        return EXIT_NONFINITE

    def _stop_on_signal(self) -> int:
        """Checkpoint, say how to resume, and return 128 + the signal."""
        self.save_checkpoint()
        name = signal.Signals(self.stop.signum or signal.SIGTERM).name
        self.display.message(
            f"stopped by {name} after step {self.position.step}; checkpoint: "
            f"{self.last_checkpoint}; resume with: visim pretrain --resume {self.run_dir.path}"
        )
        return self.stop.exit_code
