"""The training loop of one process: Accelerate for devices, precision and DDP.

Every process runs train_process; what must happen in one place only (writing files,
printing) happens on rank 0. Decisions that change the course of a run - skipping a
non-finite step, stopping on a signal, writing a timed checkpoint - are summed over the
processes first, so all of them take the same branch at the same step and no collective is
left waiting.

The host never waits for the GPU inside a step, so it queues the next step's work while the
GPU runs this one: the loss stays on the device, a non-finite step is skipped on the device
(nonfinite_guard), and the host reads what the device holds only at a metrics line (every
--log-every steps) and at the last step of an epoch or of the run. Those are also the only
steps where several processes agree on a stop request or a timed checkpoint (one collective);
a run of one process acts on them at the step they arrive.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import gather_object, set_seed

from visim.core.atomic_write import WriteFailed
from visim.core.exit_codes import EXIT_ENVIRONMENT, EXIT_NONFINITE
from visim.core.stop_signals import GracefulStop
from visim.models.siamese import SiameseOutput, build_model
from visim.pipeline.backends.batch import Batch
from visim.pipeline.backends.loader_spec import LoaderSpec
from visim.pipeline.backends.loader_workers import resolve_loader_workers
from visim.pipeline.backends.registry import make_loader
from visim.pipeline.indexed_device import indexed_device
from visim.train.checkpoint import (
    NoUsableCheckpoint,
    Position,
    capture_rng,
    latest_checkpoint,
    restore_newest,
    restore_rng,
    save_checkpoint,
)
from visim.train.config import ConfigError, TrainConfig, config_to_dict
from visim.train.export import export_weights
from visim.train.metrics import MetricsLog, MetricsWindow, combine_processes
from visim.train.nonfinite_guard import NO_STEP, NonfiniteGuard
from visim.train.optimizer import build_optimizer, create_momentum_buffers
from visim.train.precision import (
    Precision,
    PrecisionError,
    resolve_precision,
    training_device_info,
)
from visim.train.preflight import check_batch_split, check_workers
from visim.train.progress import make_display
from visim.train.run_dir import RunDir
from visim.train.run_storage import (
    estimated_checkpoint_bytes,
    failed_write_line,
    space_warning,
)
from visim.train.sample_record import SampleRecord
from visim.train.schedule import apply_scheduled_lr, build_scheduler
from visim.train.tracking import init_trackers, scalars
from visim.train.training_curves import write_training_curves


def train_process(
    config: TrainConfig, run_dir: RunDir, *, resume: bool, cpu: bool, stop: GracefulStop
) -> int:
    """Train (or continue) the run in `run_dir`; returns the process exit code.

    0 when done (or at --max-steps), 128 + signal after a graceful stop, EXIT_NONFINITE when
    too many non-finite losses in a row stopped the run. ConfigError for bad options found
    only here (batch size vs processes, a source with too few images).
    """
    # The accelerator comes first: it picks this process's CUDA device, which loaders need.
    accelerator, precision = _make_accelerator(config, cpu, run_dir)
    if accelerator.device.type == "cpu":
        # Values in float32's subnormal range make CPU matrix products several times slower.
        # VI-SimSiam's first hundred steps on Fashion-MNIST ran at 10-19 images/s without this
        # and 50-57 with it, logging the same losses (separate runs on a shared 2-core EPYC,
        # so a hint rather than a measurement: benchmarks/fashion_mnist.md).
        torch.set_flush_denormal(True)
    try:
        check_batch_split(config.optim.batch_size, accelerator.num_processes)
        run = _ProcessRun(config, run_dir, accelerator, stop)
        if accelerator.is_main_process:
            run_dir.write_config(config)
            run_dir.write_environment(run.describe(precision))
        if config.runtime.log_with != "none":
            init_trackers(accelerator, config.runtime.log_with, run_dir, config_to_dict(config))
        if resume:
            run.restore_latest_checkpoint()
        run.warn_about_space()
        return run.train()
    except WriteFailed as error:
        print(f"error: {failed_write_line(error, run_dir)}", file=sys.stderr, flush=True)
        return EXIT_ENVIRONMENT
    finally:
        accelerator.end_training()


def _make_accelerator(
    config: TrainConfig, cpu: bool, run_dir: RunDir
) -> tuple[Accelerator, Precision]:
    # Accelerate picks this process's device: its local process index modulo the GPUs the
    # process sees, so a launcher that gives each process one GPU through CUDA_VISIBLE_DEVICES
    # works. The precision must suit that device, not whichever GPU LOCAL_RANK would name, and
    # is fixed when the Accelerator is made: ask the (shared) process state for the device first.
    device = indexed_device(PartialState(cpu=cpu).device)
    try:
        precision = resolve_precision(
            config.runtime.precision, training_device_info(device.type != "cuda", device.index)
        )
    except PrecisionError as error:
        raise ConfigError(str(error)) from None
    accelerator = Accelerator(
        cpu=cpu,
        mixed_precision=precision.mixed_precision,
        dynamo_backend="inductor" if config.runtime.compile else "no",
        log_with=None if config.runtime.log_with == "none" else [config.runtime.log_with],
        project_dir=run_dir.logs,  # where trackers keep their files
    )
    if device.type == "cuda":
        # Every step has the same shapes (fixed batch and crop size, drop-last loaders), so
        # cuDNN's search for the fastest convolution algorithms pays off after the first step.
        torch.backends.cudnn.benchmark = True
    return accelerator, precision


@dataclass(frozen=True)
class _StepFlags:
    """Decisions of the host, each true if true in any process."""

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
        create_momentum_buffers(optimizer)  # the parameters are on the device now
        self.groups = {group["name"]: i for i, group in enumerate(optimizer.param_groups)}
        self.guard = NonfiniteGuard(
            optimizer,
            accelerator.device,
            limit=config.runtime.max_nonfinite_steps,
            scaler_skips=accelerator.scaler is not None,
            all_reduce_sum=(lambda t: accelerator.reduce(t, "sum")) if self.world > 1 else None,
        )

        self.position = Position(epoch=0, batch=0, step=0)
        self.last_checkpoint: Path | None = None
        self.space_warned = False  # once per run is enough
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
        self.guard.restore(total=state["nonfinite_steps"])
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
            state = {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.accelerator.scaler.state_dict() if self.accelerator.scaler else None,
                "rng": rng_states,
                "nonfinite_steps": self.guard.read().total,
            }
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
            output, lrs, grad_norm = self._step(batch, log_step, data_wait)
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

    def _step(
        self, batch: Batch, log_step: bool, data_wait: float
    ) -> tuple[SiameseOutput, list[float], float]:
        """One optimizer step, skipped on the device when the loss or a gradient is not finite,
        added to the metrics window: (output, LRs used, the encoder's gradient norm on a log
        step, else NaN). Nothing here waits for the device except that norm on a log step."""
        output = self.trained_model(batch.view1, batch.view2)
        loss = self.model.loss(output)  # float32 whatever the precision
        self.accelerator.backward(loss)
        # Read only on log steps, which are sync points anyway. Under fp16 the gradients are
        # still scaled here, so the norm is divided by the scale to stay comparable.
        grad_norm = self._encoder_grad_norm() if log_step else math.nan
        clip = self.config.optim.clip_grad_norm
        # Clipping unscales fp16 gradients first, and returns the norm before clipping: the
        # guard judges that one (a non-finite norm skips the step) instead of reading every
        # gradient again. Logged norms above are the unclipped ones too.
        unclipped_norm = (
            self.accelerator.clip_grad_norm_(self.model.parameters(), clip)
            if clip is not None
            else None
        )
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        self.guard.check(
            loss, self.model.parameters(), step=self.position.step + 1, gradient_norm=unclipped_norm
        )
        self.optimizer.step()  # a no-op where the guard found a non-finite value
        self.optimizer.zero_grad(set_to_none=True)
        # Skipped steps advance the schedule too: the LR stays a function of the step.
        self.scheduler.step()
        # Whether clipping scaled this step's gradient down (a skipped step's was not used).
        clipped = (
            None
            if unclipped_norm is None
            else torch.isfinite(unclipped_norm) & (unclipped_norm > clip)
        )
        self.window.add_step(loss.detach(), data_wait, clipped)
        return output, lrs, grad_norm

    def _encoder_grad_norm(self) -> float:
        encoder = self.model.parameter_groups()["encoder"]
        grads = [p.grad for p in encoder if p.grad is not None]
        if not grads:
            return math.nan
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        scaler = self.accelerator.scaler
        return norm.item() / (scaler.get_scale() if scaler is not None else 1.0)

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
