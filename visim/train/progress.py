"""What a run shows while it trains: a rich live display, or plain lines.

A terminal gets epoch and step bars with a status line (loss, kappa, images/s, data wait,
ETA, and a collapse warning when the monitor fires). With --quiet, or when stdout is not a
terminal (logs, CI), each metrics record becomes one plain line instead. Only rank 0 shows
anything; the other processes get a display that does nothing.
"""

from __future__ import annotations

import datetime
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text


class Display(Protocol):
    def start(self, *, epochs: int, steps_per_epoch: int, epoch: int, batch: int) -> None: ...

    def advance(self, *, epoch: int, batch: int) -> None:
        """After every step: `epoch` epochs and `batch` batches of the next one are done."""

    def show(self, record: dict) -> None:
        """A metrics record (see visim.train.metrics), at every log step."""

    def message(self, text: str) -> None: ...

    def close(self) -> None: ...


def status_text(record: dict) -> str:
    """The record's essentials on one line."""
    loss = record["loss"]
    parts = ["loss " + ("skipped (non-finite)" if loss is None else f"{loss:.4f}")]
    if record.get("loss_vs_uniform") is not None:
        parts[0] += f" (vs uniform {record['loss_vs_uniform']:.3f})"
    if "kappa_mean" in record:
        parts.append(
            f"kappa {record['kappa_mean']:.3g} [{record['kappa_min']:.3g}, "
            f"{record['kappa_max']:.3g}]"
        )
    parts += [
        f"cos {record['cosine']:.3f}",
        f"std(z) {record['z_std']:.4f}/{record['z_std_ideal']:.4f}",
        f"{record['images_per_s']:.0f} img/s",
        f"data wait {record['data_wait']:.0%}",
        f"ETA {datetime.timedelta(seconds=round(record['eta_s']))}",
    ]
    if record["nonfinite_steps"]:
        parts.append(f"{record['nonfinite_steps']} non-finite steps skipped")
    if record["collapse"]:
        parts.append("WARNING: collapse? std(z) far below 1/sqrt(d)")
    return " | ".join(parts)


class PlainDisplay:
    """One line per metrics record, on stdout."""

    def start(self, *, epochs: int, steps_per_epoch: int, epoch: int, batch: int) -> None:
        self.epochs, self.steps_per_epoch = epochs, steps_per_epoch

    def advance(self, *, epoch: int, batch: int) -> None:
        pass

    def show(self, record: dict) -> None:
        total = self.epochs * self.steps_per_epoch
        where = f"epoch {record['epoch']}/{self.epochs} step {record['step']}/{total}"
        self.message(f"{where} | {status_text(record)}")

    def message(self, text: str) -> None:
        print(text, flush=True)

    def close(self) -> None:
        pass


class _TrainingProgress(Progress):
    """rich Progress bars with a status line under them."""

    def __init__(self, *columns, **options) -> None:
        # Progress may render while it initialises, so the status must exist first.
        self.status = Text("waiting for the first metrics line...")
        super().__init__(*columns, **options)

    def get_renderables(self):
        yield self.make_tasks_table(self.tasks)
        yield self.status


class LiveDisplay:
    def __init__(self, console: Console) -> None:
        self.progress = _TrainingProgress(
            TextColumn("{task.description:>5}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )

    def start(self, *, epochs: int, steps_per_epoch: int, epoch: int, batch: int) -> None:
        self.epoch_task = self.progress.add_task("epoch", total=epochs, completed=epoch)
        self.step_task = self.progress.add_task("step", total=steps_per_epoch, completed=batch)
        self.progress.start()

    def advance(self, *, epoch: int, batch: int) -> None:
        self.progress.update(self.epoch_task, completed=epoch)
        self.progress.update(self.step_task, completed=batch)

    def show(self, record: dict) -> None:
        style = "bold red" if record["collapse"] else ""
        self.progress.status = Text(status_text(record), style=style)

    def message(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        self.progress.stop()


class SilentDisplay:
    """For processes other than rank 0."""

    def start(self, *, epochs: int, steps_per_epoch: int, epoch: int, batch: int) -> None:
        pass

    def advance(self, *, epoch: int, batch: int) -> None:
        pass

    def show(self, record: dict) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def make_display(*, is_main_process: bool, quiet: bool) -> Display:
    if not is_main_process:
        return SilentDisplay()
    console = Console(emoji=False)
    if quiet or not console.is_terminal:
        return PlainDisplay()
    return LiveDisplay(console)
