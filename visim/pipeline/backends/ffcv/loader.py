"""The ffcv backend: a .beton in, two views out; FFCV decodes, crops and flips on CPU threads.

FFCV 1.0.2 has no hue, grayscale, blur or solarize, so the rest of the recipe (colour jitter,
grayscale, blur, solarize) runs in one of two places, chosen by spec.device.type:

- a GPU: the batched torch colour stage (augment.batched) on the device, compiled into a few
  fused kernels (compiled_color_stage), leaving FFCV's CPU threads to decoding.
- the CPU: RecipeColorStage (color_stage), numba code on the uint8 crops inside FFCV,
  samples in parallel over the loader's workers; torch then only converts to float and
  normalises (batched_color_ops.normalize_uint8). The batched torch stage makes many passes
  over the whole batch per op and on a CPU would cost far more than decoding.

Two ways to get the two crops, selectable per loader:

- "decode-once" (default): TwoViewRandomResizedCropDecoder decodes each JPEG once and cuts both
  views from it.
- "decode-twice": FFCV's stock route, a second named pipeline on the same field, so each view
  has its own RandomResizedCropRGBImageDecoder and every JPEG is decoded twice.

Order and sharding are epoch_order.shard_indices, fed to FFCV through a TraversalOrder, so one
FFCV Loader (and one numba compilation, which costs 6-60 s) serves every epoch.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from ffcv.fields.basics import IntDecoder
from ffcv.fields.rgb_image import RandomResizedCropRGBImageDecoder
from ffcv.loader import Loader
from ffcv.pipeline import PipelineSpec
from ffcv.transforms import RandomHorizontalFlip, ToDevice, ToTensor, ToTorchImage
from ffcv.traversal_order.base import TraversalOrder

from visim.pipeline.augment.batched import augment_colors_and_normalize
from visim.pipeline.augment.batched_color_ops import normalize_uint8
from visim.pipeline.augment.compiled_color_stage import compiled_color_stage
from visim.pipeline.augment.random_streams import stream_seed
from visim.pipeline.backends.batch import Batch
from visim.pipeline.backends.epoch_order import (
    batches_per_epoch,
    check_epoch_position,
    spec_shard_indices,
)
from visim.pipeline.backends.ffcv.color_stage import RecipeColorStage
from visim.pipeline.backends.ffcv.decode_once import TwoViewRandomResizedCropDecoder
from visim.pipeline.backends.loader_spec import LoaderSpec
from visim.pipeline.backends.loader_workers import check_loader_workers
from visim.pipeline.convert.manifest import IMAGE_FIELD, LABEL_FIELD
from visim.pipeline.torch_threads import kept_torch_threads, set_torch_threads

TwoViewMode = Literal["decode-once", "decode-twice"]
TWO_VIEW_MODES: tuple[TwoViewMode, ...] = ("decode-once", "decode-twice")
# The faster of the two on the benchmark (benchmarks/throughput/pipeline.md).
DEFAULT_TWO_VIEW_MODE: TwoViewMode = "decode-once"

# The extra output of decode-twice: FFCV yields it after the stored fields.
SECOND_VIEW_OUTPUT = "image2"
# FFCV's reading thread checks for a stop every 0.5 s while its queue is full, and otherwise
# after the batch it is computing: 30 s covers even a large batch on a slow CPU.
READER_STOP_TIMEOUT_S = 30.0


class EpochShardOrder(TraversalOrder):
    """FFCV traversal order that yields this rank's epoch_order.shard_indices.

    FFCV counts epochs itself; ours come from set_epoch (a resumed run starts anywhere), so
    FFCV's epoch argument is ignored. Skipped batches are sliced off the front, so resuming
    mid-epoch decodes nothing it does not return.
    """

    def __init__(self, spec: LoaderSpec) -> None:
        # TraversalOrder.__init__ needs the Loader, which exists only once FFCV calls us.
        self.spec = spec
        self.num_samples = 0
        self.epoch = 0
        self.start_batch = 0

    def __call__(self, loader: Loader) -> EpochShardOrder:
        """FFCV's Loader binds a TraversalOrder instance by calling it with itself."""
        self.num_samples = loader.reader.num_samples
        return self

    def sample_order(self, epoch: int) -> np.ndarray:
        indices = spec_shard_indices(self.spec, self.num_samples, self.epoch)
        return indices[self.start_batch * self.spec.batch_size :]


def _label_pipeline(device: torch.device) -> list:
    return [IntDecoder(), ToTensor(), ToDevice(device, non_blocking=True)]


def color_ops_in_ffcv(device: torch.device | str) -> bool:
    """Whether a loader for `device` runs the colour ops inside FFCV (see the module docstring)."""
    return torch.device(device).type == "cpu"


def _color_stage(spec: LoaderSpec, color_stream: Callable[[], int] | None, view: int) -> list:
    """The FFCV colour stage for crops whose first view is `view`, if this loader has one."""
    if color_stream is None or not spec.recipe.color_ops_enabled:
        return []
    return [RecipeColorStage(spec.recipe, color_stream, first_view=view)]


def _view_transforms(spec: LoaderSpec, color_stage: list) -> list:
    """After a crop decoder: flip, colour (if given), then uint8 [B, 3, S, S] on the device."""
    return [
        RandomHorizontalFlip(spec.recipe.flip_prob),
        *color_stage,
        ToTensor(),
        ToDevice(spec.device, non_blocking=True),
        ToTorchImage(channels_last=True),
    ]


def _crop_decoder(spec: LoaderSpec) -> RandomResizedCropRGBImageDecoder:
    recipe = spec.recipe
    return RandomResizedCropRGBImageDecoder(
        (recipe.size, recipe.size), scale=recipe.crop_scale, ratio=recipe.crop_ratio
    )


def build_pipelines(
    spec: LoaderSpec, mode: TwoViewMode, color_stream: Callable[[], int] | None = None
) -> dict:
    """FFCV pipelines for `mode`; batches come out as (image, label[, image2]).

    color_stream: the stream key of the FFCV colour stage, read once per batch; None leaves
    the colour ops out of FFCV.
    """
    recipe = spec.recipe
    if mode == "decode-once":
        decoder = TwoViewRandomResizedCropDecoder(
            recipe.size, recipe.crop_scale, recipe.crop_ratio, recipe.flip_prob
        )
        # uint8 [B, 2, S, S, 3] on the device; split into views in torch.
        to_device = [
            *_color_stage(spec, color_stream, view=0),
            ToTensor(),
            ToDevice(spec.device, non_blocking=True),
        ]
        return {
            IMAGE_FIELD: PipelineSpec(IMAGE_FIELD, decoder=decoder, transforms=to_device),
            LABEL_FIELD: _label_pipeline(spec.device),
        }
    return {
        IMAGE_FIELD: PipelineSpec(
            IMAGE_FIELD,
            decoder=_crop_decoder(spec),
            transforms=_view_transforms(spec, _color_stage(spec, color_stream, view=0)),
        ),
        LABEL_FIELD: _label_pipeline(spec.device),
        SECOND_VIEW_OUTPUT: PipelineSpec(
            IMAGE_FIELD,
            decoder=_crop_decoder(spec),
            transforms=_view_transforms(spec, _color_stage(spec, color_stream, view=1)),
        ),
    }


def _check_beton(source: str | Path) -> Path:
    path = Path(source).expanduser()
    if path.suffix != ".beton" or not path.is_file():
        raise ValueError(
            f"the ffcv backend reads a .beton file, got {str(source)!r}; write one with "
            "`visim convert SRC OUT.beton`"
        )
    return path


@contextmanager
def collection_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector for the block, then restore it as it was.

    On CPython 3.11 the AST builder keeps its recursion depth in one counter per interpreter.
    A collection inside ast.parse can run a finalizer whose error goes to a Python
    unraisablehook (pytest's, IPython's), which formats the traceback and so parses source
    itself; the outer parse then fails with "SystemError: AST constructor recursion depth
    mismatch". numba's dispatcher finalizers raise such errors, and FFCV's code generation
    parses a line per pipeline stage.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class FFCVTwoViewLoader:
    """Two-view batches from a .beton written by `visim convert` (fields image, label).

    Reproducibility: order, shards and resume points follow epoch_order exactly, and the
    colour stage replays exactly, resumed or not: on the CPU view v of sample i draws from
    the keyed stream (seed, epoch, i, v) inside FFCV, on a GPU batch b from a torch generator
    seeded with (seed, epoch, rank, b). Crops and flips do not: FFCV draws them inside numba
    code, whose per-thread generators are seeded from OS entropy when a process starts.
    On the CPU the views are rounded to uint8 once after the colour ops, before normalising.
    """

    def __init__(
        self,
        spec: LoaderSpec,
        two_view_mode: TwoViewMode = DEFAULT_TWO_VIEW_MODE,
        batches_ahead: int = 3,
    ) -> None:
        if two_view_mode not in TWO_VIEW_MODES:
            raise ValueError(
                f"two_view_mode must be one of {', '.join(TWO_VIEW_MODES)}, got {two_view_mode!r}"
            )
        self.spec = spec
        self.two_view_mode = two_view_mode
        self.color_ops_in_ffcv = color_ops_in_ffcv(spec.device)
        self._order = EpochShardOrder(spec)
        self._epoch = 0
        self._start_batch = 0
        color_stream = self._color_stream_key if self.color_ops_in_ffcv else None
        # FFCV reads 0 as "every core"; ours means "no extra workers": one numba thread.
        workers = max(1, spec.workers)
        check_loader_workers("ffcv", workers)  # numba's own error would not say what to change
        # Building the Loader sets torch's threads to its worker count; it also writes the
        # pipeline's code through ast.parse, which a collection must not interrupt.
        with kept_torch_threads(), collection_paused():
            self._loader = Loader(
                str(_check_beton(spec.source)),
                batch_size=spec.batch_size,
                num_workers=workers,
                order=self._order,
                pipelines=build_pipelines(spec, two_view_mode, color_stream),
                drop_last=True,
                batches_ahead=batches_ahead,
            )
        if len(self) == 0:
            raise ValueError(
                f"{spec.source} has {self.num_samples} images, fewer than batch_size "
                f"{spec.batch_size} x world_size {spec.world_size}: no full batch per process"
            )

    @classmethod
    def from_spec(cls, spec: LoaderSpec) -> FFCVTwoViewLoader:
        return cls(spec)

    @property
    def num_samples(self) -> int:
        return self._order.num_samples

    def __len__(self) -> int:
        return batches_per_epoch(self.num_samples, self.spec.batch_size, self.spec.world_size)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        check_epoch_position(epoch, start_batch, len(self))
        self._epoch, self._start_batch = epoch, start_batch
        self._order.epoch, self._order.start_batch = epoch, start_batch

    def _color_stream_key(self) -> int:
        """The FFCV colour stage's stream for the current epoch; FFCV's reading thread asks
        once per batch, and set_epoch changes it only between epochs."""
        return stream_seed("ffcv-colour-stage", self.spec.seed, self._epoch)

    def _views(self, outputs: tuple) -> tuple[list[torch.Tensor], torch.Tensor]:
        """FFCV's outputs -> ([view1, view2] uint8 [B, 3, S, S] channels_last, labels [B, 1])."""
        if self.two_view_mode == "decode-once":
            crops, labels = outputs  # uint8 [B, 2, S, S, 3]
            return [crops[:, v].permute(0, 3, 1, 2) for v in range(2)], labels
        first, labels, second = outputs
        return [first, second], labels

    def __iter__(self) -> Iterator[Batch]:
        spec = self.spec
        memory_format = torch.channels_last if spec.channels_last else torch.contiguous_format
        generator = torch.Generator(device=spec.device)  # indexed by LoaderSpec
        stage = None if self.color_ops_in_ffcv else compiled_color_stage(spec.recipe)
        # FFCV's reading thread sets torch's intra-op thread count to its own worker count
        # before its first batch; the training step gets the caller's count back.
        caller_threads = torch.get_num_threads()
        epoch_batches = iter(self._loader)
        try:
            for batch_index, outputs in enumerate(epoch_batches, start=self._start_batch):
                set_torch_threads(caller_threads)
                # FFCV reuses its output buffers a few batches later, so everything yielded
                # is a copy: normalising writes new tensors and labels are copied. On a GPU the
                # copies are only queued when this loop moves on, and FFCV's thread rewrites a
                # buffer on its own stream; it first waits there for an event it records on
                # the stream that was current when the epoch began (this thread's), once we
                # have asked for the batches after this one. Every read of a batch is queued
                # on that stream before the next batch is asked for, so none races a rewrite
                # however far the host runs ahead of the GPU
                # (tests/pipeline/backends/test_cuda_routes.py).
                views, labels = self._views(outputs)
                if self.color_ops_in_ffcv:
                    finished = [
                        normalize_uint8(v, spec.recipe.mean, spec.recipe.std) for v in views
                    ]
                else:
                    generator.manual_seed(
                        stream_seed("ffcv-colour", spec.seed, self._epoch, spec.rank, batch_index)
                    )
                    finished = [
                        augment_colors_and_normalize(v, spec.recipe, generator, stage)
                        for v in views
                    ]
                view1, view2 = (v.contiguous(memory_format=memory_format) for v in finished)
                yield Batch(view1, view2, labels.reshape(-1).to(torch.int64, copy=True))
        finally:
            # Stops FFCV's reading thread now when a consumer leaves the epoch early. That
            # daemon thread sees the stop only between batches, and one still inside its numba
            # code when the interpreter exits aborts the process ("terminate called without an
            # active exception"): wait for it to leave.
            epoch_batches.close()
            epoch_batches.join(timeout=READER_STOP_TIMEOUT_S)
