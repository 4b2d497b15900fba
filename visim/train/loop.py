"""The training loop of one process: Accelerate for devices, precision and DDP.

Every process runs train_process; what must happen in one place only (writing files,
printing) happens on rank 0. Decisions that change the course of a run - skipping a
non-finite step, stopping on a signal, writing a timed checkpoint - are summed over the
processes first, so all of them take the same branch at the same step and no collective is
left waiting.
"""

from __future__ import annotations

import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object, set_seed

from visim.models.siamese import SiameseOutput, build_model
from visim.pipeline.backends import make_loader
from visim.pipeline.batch import Batch
from visim.pipeline.loader_spec import LoaderSpec
from visim.pipeline.loader_workers import resolve_loader_workers
from visim.train.checkpoint import (
    NoUsableCheckpoint,
    Position,
    capture_rng,
    restore_newest,
    restore_rng,
    save_checkpoint,
)
from visim.train.config import ConfigError, TrainConfig
from visim.train.export import export_weights
from visim.train.metrics import MetricsLog, MetricsWindow, combine_processes
from visim.train.optimizer import build_optimizer
from visim.train.precision import (
    Precision,
    PrecisionError,
    resolve_precision,
    training_device_info,
)
from visim.train.preflight import check_batch_split, check_workers
from visim.train.progress import make_display
from visim.train.run_dir import RunDir
from visim.train.sample_record import SampleRecord
from visim.train.schedule import apply_scheduled_lr, build_scheduler
from visim.train.signals import GracefulStop

EXIT_NONFINITE = 1


def train_process(
    config: TrainConfig, run_dir: RunDir, *, resume: bool, cpu: bool, stop: GracefulStop
) -> int:
    """Train (or continue) the run in `run_dir`; returns the process exit code.

    0 when done (or at --max-steps), 128 + signal after a graceful stop, EXIT_NONFINITE when
    too many non-finite losses in a row stopped the run. ConfigError for bad options found
    only here (batch size vs processes, a source with too few images).
    """
    # The accelerator comes first: it picks this process's CUDA device, which loaders need.
    accelerator, precision = _make_accelerator(config, cpu)
    try:
        check_batch_split(config.optim.batch_size, accelerator.num_processes)
        run = _ProcessRun(config, run_dir, accelerator, stop)
        if accelerator.is_main_process:
            run_dir.write_config(config)
            run_dir.write_environment(run.describe(precision))
        if resume:
            run.restore_latest_checkpoint()
        return run.train()
    finally:
        accelerator.end_training()


def _make_accelerator(config: TrainConfig, cpu: bool) -> tuple[Accelerator, Precision]:
    # Set by visim's launcher and by `accelerate launch`; absent in a single-process run.
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    try:
        precision = resolve_precision(
            config.runtime.precision, training_device_info(cpu, local_rank)
        )
    except PrecisionError as error:
        raise ConfigError(str(error)) from None
    accelerator = Accelerator(
        cpu=cpu,
        mixed_precision=precision.mixed_precision,
        dynamo_backend="inductor" if config.runtime.compile else "no",
    )
    return accelerator, precision


@dataclass(frozen=True)
class _StepFlags:
    """Per-step decisions, each true if true in any process."""

    nonfinite: bool
    stop: bool
    checkpoint_due: bool


class _ProcessRun:
    """One process's share of a run: its model, optimiser, loader, and where it stands."""

    def __init__(
        self, config: TrainConfig, run_dir: RunDir, accelerator: Accelerator, stop: GracefulStop
    ) -> None:
        self.config, self.run_dir, self.accelerator, self.stop = config, run_dir, accelerator, stop
        self.rank, self.world = accelerator.process_index, accelerator.num_processes
        self.main = accelerator.is_main_process
        per_process_batch = config.optim.batch_size // self.world

        set_seed(config.runtime.seed)  # the same initial weights in every process
        self.model = build_model(config.model)
        if config.runtime.sync_bn and self.world > 1:
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        optimizer = build_optimizer(self.model, config.optim)
        self.loader = self._make_loader(per_process_batch)
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
        self.groups = {group["name"]: i for i, group in enumerate(optimizer.param_groups)}

        self.position = Position(epoch=0, batch=0, step=0)
        self.nonfinite_total = 0
        self.consecutive_nonfinite = 0
        self.last_checkpoint: Path | None = None
        self.saved_at_step = -1
        self.checkpoint_clock = time.monotonic()
        self.metrics = MetricsLog(run_dir.metrics)
        self.window = MetricsWindow()
        self.samples = SampleRecord(run_dir, self.rank, config.runtime.record_samples)
        self.display = make_display(is_main_process=self.main, quiet=config.runtime.quiet)

    def _make_loader(self, per_process_batch: int):
        config = self.config
        check_workers(config)  # a ConfigError naming --workers for callers without preflight()
        self.loader_workers = resolve_loader_workers(
            config.data.workers,
            config.data.backend,
            self.accelerator.device.type,
            # Set by visim's launcher, torchrun and accelerate launch: the processes that
            # share this machine's cores.
            processes=int(os.environ.get("LOCAL_WORLD_SIZE", 1)),
        )
        spec = LoaderSpec(
            source=config.data.source,
            recipe=config.recipe,
            batch_size=per_process_batch,
            device=self.accelerator.device,
            seed=config.runtime.seed,
            rank=self.rank,
            world_size=self.world,
            local_rank=self.accelerator.local_process_index,
            workers=self.loader_workers,
            channels_last=config.model.channels_last,
            synthetic_samples=config.data.synthetic_samples,
        )
        try:
            return make_loader(config.data.backend, spec)
        except ValueError as error:  # a source too small for one batch per process, for one
            raise ConfigError(f"DATA {config.data.source!r}: {error}") from None

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
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        # The restored LRs follow the old schedule; --epochs may have changed it.
        apply_scheduled_lr(self.scheduler)
        if self.accelerator.scaler is not None and state["scaler"] is not None:
            self.accelerator.scaler.load_state_dict(state["scaler"])
        # Per-process generators only fit the same number of processes.
        if len(state["rng"]) == self.world:
            restore_rng(state["rng"][self.rank])
        self.nonfinite_total = state["nonfinite_steps"]
        self.position = position

    def save_checkpoint(self) -> None:
        rng_states = self._from_every_process(capture_rng())
        if self.main:
            state = {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.accelerator.scaler.state_dict() if self.accelerator.scaler else None,
                "rng": rng_states,
                "nonfinite_steps": self.nonfinite_total,
            }
            self.last_checkpoint = save_checkpoint(self.run_dir.checkpoints, self.position, state)
        # Nobody leaves before the file is complete: a launcher may end the stragglers.
        self.accelerator.wait_for_everyone()
        self.saved_at_step, self.checkpoint_clock = self.position.step, time.monotonic()

    # -- collectives ---------------------------------------------------------------------------

    def _agree(self, *flags: bool) -> _StepFlags:
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
            output, loss, flags, lrs = self._step(batch)
            self.position = self._advanced(self.position)
            self.window.add_step(loss, data_wait)
            self.samples.add(batch)
            self.display.advance(epoch=self.position.epoch, batch=self.position.batch)
            if self.position.step % self.config.runtime.log_every == 0:
                self._log(output, lrs, epoch)
            code = self._stop_code(flags)
            if code is not None:
                return code
            if flags.checkpoint_due:
                self.save_checkpoint()
        if self.saved_at_step != self.position.step:
            self.save_checkpoint()  # at each epoch's end, and at max_steps
        return None

    def _advanced(self, position: Position) -> Position:
        """The position after one more batch; past an epoch's last batch, the next epoch."""
        if position.batch + 1 == self.steps_per_epoch:
            return Position(position.epoch + 1, 0, position.step + 1)
        return Position(position.epoch, position.batch + 1, position.step + 1)

    def _step(self, batch: Batch) -> tuple[SiameseOutput, float, _StepFlags, list[float]]:
        """One optimizer step (skipped on a non-finite loss): (output, loss, flags, LRs used)."""
        output = self.trained_model(batch.view1, batch.view2)
        loss = self.model.loss(output)  # float32 whatever the precision
        self.accelerator.backward(loss)
        loss_value = loss.item()
        runtime = self.config.runtime
        flags = self._agree(
            not math.isfinite(loss_value),
            self.stop.requested,
            runtime.checkpoint_every > 0
            and time.monotonic() - self.checkpoint_clock >= runtime.checkpoint_every * 60,
        )
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        if flags.nonfinite:
            self.consecutive_nonfinite += 1
            self.nonfinite_total += 1
        else:
            self.optimizer.step()
            self.consecutive_nonfinite = 0
        self.optimizer.zero_grad(set_to_none=True)
        # Skipped steps advance the schedule too: the LR stays a function of the step.
        self.scheduler.step()
        return output, loss_value, flags, lrs

    def _log(self, output: SiameseOutput, lrs: list[float], epoch: int) -> None:
        summaries = self._from_every_process(self.window.summary(self.model, output))
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
                "nonfinite_steps": self.nonfinite_total,
                "eta_s": (self.max_steps - self.position.step) * self.window.seconds_per_step(),
            }
            self.metrics.append(record)
            self.display.show(record)
        self.window.reset()

    def _stop_code(self, flags: _StepFlags) -> int | None:
        """The exit code when the run must stop after this step, else None."""
        limit = self.config.runtime.max_nonfinite_steps
        if self.consecutive_nonfinite >= limit:
            self.display.message(
                f"stopped at step {self.position.step}: {self.consecutive_nonfinite} non-finite "
                f"losses in a row ([runtime] max_nonfinite_steps = {limit}); last good "
                f"checkpoint: {self.last_checkpoint or 'none yet'}"
            )
            return EXIT_NONFINITE
        if flags.stop:
            self.save_checkpoint()
            name = signal.Signals(self.stop.signum or signal.SIGTERM).name
            self.display.message(
                f"stopped by {name} after step {self.position.step}; checkpoint: "
                f"{self.last_checkpoint}; resume with: visim pretrain --resume {self.run_dir.path}"
            )
            return self.stop.exit_code
        return None
