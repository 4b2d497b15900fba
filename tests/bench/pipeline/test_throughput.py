"""The pipeline benchmark's library: timing, ordering, failure rows, data and .beton reuse."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.pipeline.image_files import rgb_image, save
from visim.bench.pipeline import runner as bench_runner
from visim.bench.pipeline.contenders import CONTENDERS, Contender, parse_contenders
from visim.bench.pipeline.data import (
    BenchData,
    describe_images,
    open_image_folder,
    prepare_data,
)
from visim.bench.pipeline.runner import BenchSettings, round_orders, run_bench
from visim.bench.pipeline.throughput import BatchStream, time_slice
from visim.bench.ratios import ratios_to
from visim.pipeline.augment.recipe import recipe_preset
from visim.pipeline.backends.batch import Batch
from visim.pipeline.convert.to_beton import WriteSettings
from visim.pipeline.sources.base import SourceError


class CountingLoader:
    """A TwoViewLoader stand-in: `batches` batches of `batch_size` per epoch, epochs recorded."""

    def __init__(self, batches: int = 3, batch_size: int = 4) -> None:
        self.batches, self.batch_size = batches, batch_size
        self.epochs: list[int] = []
        self.drawn = 0

    def __len__(self) -> int:
        return self.batches

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epochs.append(epoch)

    def __iter__(self) -> Iterator[Batch]:
        for _ in range(self.batches):
            self.drawn += 1
            views = torch.zeros(self.batch_size, 3, 2, 2)
            yield Batch(views, views, torch.zeros(self.batch_size, dtype=torch.int64))


class TickingClock:
    """A clock that advances one second each time it is read."""

    def __init__(self) -> None:
        self.now = -1.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def image_folder(root: Path, images: int = 12) -> Path:
    for index in range(images):
        save(root / f"class_{index % 2}" / f"{index:02d}.jpg", rgb_image(48, 40, seed=index))
    return root


def settings(**overrides) -> BenchSettings:
    values = {
        "recipe": recipe_preset("imagenet", size=32),
        "batch_size": 4,
        "seconds": 2.5,
        "workers": 1,
        "device": torch.device("cpu"),
        "rounds": 2,
        "warmup_batches": 1,
    }
    return BenchSettings(**{**values, **overrides})


def test_stream_runs_epoch_after_epoch_and_counts_source_images():
    loader = CountingLoader(batches=3, batch_size=4)
    stream = BatchStream(loader)
    assert [stream.next_images() for _ in range(7)] == [4] * 7
    assert loader.epochs == [0, 1, 2]


def test_stream_of_a_loader_without_batches_fails_clearly():
    stream = BatchStream(CountingLoader(batches=0))
    with pytest.raises(RuntimeError, match="no batches"):
        stream.next_images()


def test_slice_leaves_warm_up_batches_out_and_times_at_least_the_seconds():
    loader = CountingLoader(batches=100, batch_size=4)
    piece = time_slice(BatchStream(loader), seconds=2.5, warmup_batches=2, clock=TickingClock())
    # Clock reads: start 0, after batches 1, 2, 3 (3 >= 2.5 stops), then the end at 4.
    assert piece.images == 3 * 4
    assert piece.seconds == 4.0
    assert loader.drawn == 2 + 3


def test_ratios_are_to_the_baseline_and_unknown_without_it():
    assert ratios_to("torch", {"torch": 50.0, "ffcv": 200.0, "dali": None}) == {
        "torch": 1.0,
        "ffcv": 4.0,
        "dali": None,
    }
    assert ratios_to("torch", {"ffcv": 200.0}) == {"ffcv": None}


def test_order_reverses_every_other_round():
    assert round_orders(["a", "b", "c"], 3) == [["a", "b", "c"], ["c", "b", "a"], ["a", "b", "c"]]


def test_backend_names_are_checked():
    assert [c.name for c in parse_contenders("torch, ffcv-decode-twice")] == [
        "torch",
        "ffcv-decode-twice",
    ]
    with pytest.raises(ValueError, match="unknown backend.*nope.*choose from"):
        parse_contenders("torch,nope")
    with pytest.raises(ValueError, match="more than once"):
        parse_contenders("torch,torch")


def test_bench_times_every_contender_and_turns_failures_into_rows(tmp_path, monkeypatch):
    def broken(spec):
        raise OSError("cannot open the data")

    contenders = [
        Contender("torch", "synthetic", "folder", lambda spec: CountingLoader()),
        Contender("broken", "synthetic", "folder", broken),
        Contender("absent", "dali", "folder", lambda spec: CountingLoader()),
    ]
    monkeypatch.setattr(
        bench_runner,
        "missing_requirement",
        lambda c: "not installed; run: pip install it" if c.name == "absent" else None,
    )
    results, orders = run_bench(
        contenders, BenchData(tmp_path, 12), settings(), clock=TickingClock()
    )

    assert [r.name for r in results] == ["torch", "broken", "absent"]
    timed, broken_row, absent = results
    assert timed.status == "ok" and len(timed.slices) == 2 and timed.images_per_s > 0
    assert broken_row.status == "failed" and "cannot open the data" in broken_row.reason
    assert absent.status == "unavailable" and "pip install it" in absent.reason
    assert broken_row.images_per_s is None and absent.images_per_s is None
    assert orders == [["torch"], ["torch"]]


def test_timing_keeps_the_order_asked_for_though_forking_loaders_start_first(tmp_path):
    started = []

    def loader_of(name):
        def build(spec):
            started.append(name)
            return CountingLoader()

        return build

    contenders = [
        Contender("first", "synthetic", "folder", loader_of("first")),
        Contender("forking", "synthetic", "folder", loader_of("forking"), forks_workers=True),
    ]
    _, orders = run_bench(contenders, BenchData(tmp_path, 12), settings(), clock=TickingClock())
    assert started == ["forking", "first"]
    assert orders == [["first", "forking"], ["forking", "first"]]


def test_settings_name_the_option_at_fault():
    with pytest.raises(ValueError, match="--seconds must be positive"):
        settings(seconds=0)


def test_src_must_be_an_image_folder(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("hello")
    for src, why in (
        (a_file, "is not a folder of class folders"),
        (tmp_path / "missing", "does not exist"),
    ):
        with pytest.raises(SourceError, match=f"SRC .*{why}.*image folder"):
            open_image_folder(src)


def test_the_data_is_described(tmp_path):
    source = open_image_folder(image_folder(tmp_path / "images"))
    described = describe_images(source)
    assert described["images"] == 12 and described["classes"] == 2
    assert described["width_px"] == {"min": 48, "median": 48, "max": 48}
    assert 0 < described["file_kb"]["min"] <= described["file_kb"]["max"]


def test_beton_is_made_once_then_reused_until_its_settings_change(tmp_path):
    pytest.importorskip("ffcv", reason="the ffcv extra is not installed")
    source = open_image_folder(image_folder(tmp_path / "images"))
    beton = tmp_path / "images.beton"
    contenders = [CONTENDERS["ffcv"]]
    write = WriteSettings(max_resolution=512, workers=1)

    first = prepare_data(source, contenders, beton, write, lambda *progress: None)
    written = beton.stat()
    second = prepare_data(source, contenders, beton, write, lambda *progress: None)
    assert (first.beton_reused, second.beton_reused) == (False, True)
    assert second.beton == beton and beton.stat().st_mtime_ns == written.st_mtime_ns

    smaller = WriteSettings(max_resolution=32, workers=1)
    third = prepare_data(source, contenders, beton, smaller, lambda *progress: None)
    assert third.beton_reused is False and beton.stat().st_mtime_ns != written.st_mtime_ns


def test_no_beton_is_made_when_no_contender_reads_one(tmp_path):
    source = open_image_folder(image_folder(tmp_path / "images"))
    data = prepare_data(
        source, [CONTENDERS["torch"]], tmp_path / "x.beton", WriteSettings(workers=1), print
    )
    assert data.beton is None and not (tmp_path / "x.beton").exists()
