"""What a run measures every --log-every steps, and metrics.jsonl, where it goes.

Each process keeps a MetricsWindow over the steps since the last line, its loss sums on the
device (adding a step never waits for the GPU); at a log step the windows of all processes are
combined into one record:

    step, epoch             optimizer steps done; the epoch in progress (1-based)
    loss                    mean finite loss of the window (null if every step was skipped)
    loss_vs_uniform         VI only: loss + log density of the uniform distribution on the
                            sphere; 0 for kappa = 0, negative as the fit improves
    lr, lr_predictor        learning rates of the window's last step
    kappa_mean/min/max      VI only: concentration over both views of the last batch
    kappa_std, kappa_q05, kappa_median, kappa_q95
                            VI only: its spread over the same views (mean over processes)
    align_grad_scale        mean |dl/dc| of the last batch: the encoder's step through the
                            alignment relative to SimSiam's (1 for SimSiam)
    encoder_grad_norm       L2 norm of the backbone's and projector's gradient at the log step
    effective_lr            lr * align_grad_scale: the step size SimSiam would need to match
    cosine                  mean cos(p1, z2), cos(p2, z1) of the last batch: the alignment
                            that both methods maximise (independent of kappa)
    z_std, z_std_ideal      collapse monitor: std of z/|z| over the batch and 1/sqrt(proj_dim)
    collapse                z_std below collapse_ratio * z_std_ideal
    images_per_s            source images per second, all processes together
    data_wait               fraction of the window spent waiting for the loader
    nonfinite_steps         steps skipped for a non-finite loss since the run started
    clipped_share           with --clip-grad-norm: share of the window's steps whose gradient
                            norm was above the limit and scaled down to it
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from pathlib import Path

import torch

from visim.core.atomic_write import WriteFailed, storage_failure, write_text_atomically
from visim.models.collapse_monitor import (
    alignment_gradient_scale,
    kappa_statistics,
    representation_std,
)
from visim.models.losses import negative_cosine, uniform_log_density
from visim.models.siamese import SiameseModel, SiameseOutput


class MetricsWindow:
    """The steps of one process since the last metrics line."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.started = time.perf_counter()
        self.steps = 0
        self.loss_sum: torch.Tensor | float = 0.0  # a device scalar once a step is added
        self.finite_steps: torch.Tensor | int = 0
        self.clipped_steps: torch.Tensor | int | None = None  # None: the run does not clip
        self.data_wait = 0.0

    def add_step(
        self, loss: torch.Tensor, data_wait: float, clipped: torch.Tensor | None = None
    ) -> None:
        """Add a step's loss (a scalar tensor, left on its device), its wait for data and,
        where the run clips gradients, whether this step's were (a boolean device scalar)."""
        self.steps += 1
        self.data_wait += data_wait
        finite = torch.isfinite(loss)
        self.loss_sum = self.loss_sum + torch.where(finite, loss, 0.0)
        self.finite_steps = self.finite_steps + finite.to(torch.int64)
        if clipped is not None:
            so_far = 0 if self.clipped_steps is None else self.clipped_steps
            self.clipped_steps = so_far + clipped.to(torch.int64)

    def seconds_per_step(self) -> float:
        return (time.perf_counter() - self.started) / max(1, self.steps)

    @torch.no_grad()
    def summary(
        self, model: SiameseModel, output: SiameseOutput, encoder_grad_norm: float
    ) -> dict[str, float]:
        """This process's share of the record, from the window and the last batch."""
        # Reading the sums waits for the device to finish the window's steps, so the time
        # taken after it covers their work, not only the host's queueing of it.
        loss_sum, finite_steps = float(self.loss_sum), int(self.finite_steps)
        seconds = time.perf_counter() - self.started
        # Per-sample cosines of each view's prediction with the other view's target: [B] each.
        cosines = (-negative_cosine(output.p1, output.z2), -negative_cosine(output.p2, output.z1))
        kappas = (output.kappa1, output.kappa2)
        dim, form = output.p1.shape[-1], model.config.vi_loss
        summary = {
            "loss_sum": loss_sum,
            "finite_steps": finite_steps,
            "steps": self.steps,
            "seconds": seconds,
            "data_wait": self.data_wait / seconds if seconds > 0 else 0.0,
            "cosine": torch.cat(cosines).mean().item(),
            "z_std": representation_std(output.z1),
            "align_grad_scale": sum(
                alignment_gradient_scale(c, k, dim, form)
                for c, k in zip(cosines, kappas, strict=True)
            )
            / 2,
            "encoder_grad_norm": encoder_grad_norm,
        }
        if self.clipped_steps is not None:
            summary["clipped_steps"] = int(self.clipped_steps)
        if output.kappa1 is not None and output.kappa2 is not None:
            kappa = torch.cat([output.kappa1, output.kappa2])
            stats = kappa_statistics(kappa, model.config.kappa_max)
            summary.update({f"kappa_{name}": value for name, value in stats.items()})
        return summary


def combine_processes(
    summaries: list[dict[str, float]],
    *,
    proj_dim: int,
    global_batch_size: int,
    collapse_ratio: float,
) -> dict:
    """One record from every process's summary (rank 0's first)."""
    first = summaries[0]

    def mean(key: str) -> float:
        return sum(s[key] for s in summaries) / len(summaries)

    finite = sum(s["finite_steps"] for s in summaries)
    loss = sum(s["loss_sum"] for s in summaries) / finite if finite else None
    z_std, ideal = mean("z_std"), 1 / math.sqrt(proj_dim)
    record: dict = {"loss": loss}
    if "kappa_mean" in first:
        record["loss_vs_uniform"] = None if loss is None else loss + uniform_log_density(proj_dim)
        record["kappa_mean"] = mean("kappa_mean")
        record["kappa_min"] = min(s["kappa_min"] for s in summaries)
        record["kappa_max"] = max(s["kappa_max"] for s in summaries)
        for spread in ("kappa_std", "kappa_q05", "kappa_median", "kappa_q95"):
            record[spread] = mean(spread)
        if "kappa_at_max_fraction" in first:
            record["kappa_at_max_fraction"] = mean("kappa_at_max_fraction")
    record.update(
        align_grad_scale=mean("align_grad_scale"),
        encoder_grad_norm=mean("encoder_grad_norm"),
        cosine=mean("cosine"),
        z_std=z_std,
        z_std_ideal=ideal,
        collapse=z_std < collapse_ratio * ideal,
        images_per_s=first["steps"] * global_batch_size / first["seconds"],
        data_wait=mean("data_wait"),
    )
    if "clipped_steps" in first:
        # Clipping scales by the norm of the gradient all processes share: rank 0's count is
        # every process's.
        record["clipped_share"] = first["clipped_steps"] / first["steps"]
    return record


class MetricsLog:
    """Appends records to metrics.jsonl, one line each, flushed at once so that a killed run
    keeps every line it wrote and a watcher sees each line as it comes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: dict) -> None:
        """WriteFailed when the storage refuses the line; the file then ends at its last
        whole line (a half line would make it unreadable)."""
        length = self.path.stat().st_size if self.path.exists() else 0
        try:
            with open(self.path, "a") as handle:
                handle.write(json.dumps(record) + "\n")
                handle.flush()
        except OSError as error:
            with contextlib.suppress(OSError):
                os.truncate(self.path, length)
            reason = storage_failure(error, self.path.parent)
            if reason is None:
                raise
            raise WriteFailed(self.path, reason) from error

    def drop_after(self, step: int) -> None:
        """Forget the lines of steps after `step`: a resumed run trains those steps again."""
        if self.path.exists():
            kept = [r for r in read_metrics(self.path) if r["step"] <= step]
            write_text_atomically(self.path, "".join(json.dumps(r) + "\n" for r in kept))


def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
