"""The dali backend: the whole recipe inside an NVIDIA DALI graph, on the GPU or the CPU.

Input: any ImageSource (image folder, IDX, CIFAR, .npz, demo) through fn.external_source
(feed): an image folder's files as encoded bytes, decoded by fn.decoders.image; the
array formats as decoded arrays. Why not fn.readers.file: a reader shuffles and shards by its
own rules (its own shuffle buffer, shard boundaries and end-of-epoch policy), and every
backend here must read exactly epoch_order.shard_indices (the same order, the same shards,
the same per-epoch reshuffle from (seed, epoch), and a resume at any batch); a reader also
cannot read the array formats. Feeding the order ourselves gives all of that.

Device: where the batch is wanted. When spec.device is a CUDA device, the pipeline runs on that
GPU (spec.device.index, numbered as this process sees the GPUs, so after CUDA_VISIBLE_DEVICES)
and decodes with 'mixed' (nvJPEG); otherwise everything runs on the CPU. The
training loop asks for CUDA whenever there is a GPU, so the choice is automatic there.
Sharding is by spec.rank / spec.world_size (the global rank), through shard_indices.

The augmentation graph is in graph.py (one decode, two views); its random parameters are
drawn per batch from (seed, epoch, rank, batch) in view_params.py and fed in, so every
batch replays exactly: the same seed gives the same batches, and a resumed epoch the same
batches as an uninterrupted one.

One pipeline serves every epoch: after an epoch's last batch the loader lets DALI see the
feed's end, resets the pipeline and points the feed at the next epoch. Building a pipeline
with 'mixed' decoding sets up nvJPEG and its memory pools on the GPU, which is worth doing
once. A pipeline whose epoch was left early (its queue holds batches of that epoch), or that
failed, is dropped, and the next batch is served by a new one built for that epoch and start
batch (a resumed run starts so too). spec.workers sets DALI's thread count; batches are
prepared PREFETCH_BATCHES ahead.

The feed's Python code (reading files, drawing the views' parameters) runs when DALI asks
for a batch ahead, inside pipeline.run() on the training thread. On a 2-core AMD EPYC it took
24-32 ms per batch of 64 photo-sized JPEGs (the first epoch also parses every header; later
ones reuse the sizes). The host does it while the GPU runs the step queued before, so it costs
the GPU nothing as long as the host's whole step stays shorter than the GPU's. DALI's
parallel external source would move it to worker processes, but the feed could then no longer
record which items it fed and which it substituted, which the unreadable-image handling below
needs.

Unreadable images: as in the torch backend, an unreadable item's slot is filled by the next
readable item, a warning names each such item once, and `unreadable_items` and
`substitutions` report them (see feed). A file that passes the header check but fails to
decode stops the pipeline; the loader then decodes the batches in flight with PIL, records
the culprits, and rebuilds the pipeline from the failed batch, so the epoch goes on with the
same batches and parameters.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import nvidia.dali.fn as fn
import nvidia.dali.types as types
import torch
from nvidia.dali import pipeline_def
from nvidia.dali.backend import GetCUDADeviceCount
from nvidia.dali.plugin.pytorch import feed_ndarray

from visim.pipeline.augment.recipe import AugmentationRecipe
from visim.pipeline.backends.batch import Batch
from visim.pipeline.backends.dali.feed import BatchFeed, UnreadableLog
from visim.pipeline.backends.dali.graph import augmented_view
from visim.pipeline.backends.epoch_order import (
    batches_per_epoch,
    check_epoch_position,
    spec_shard_indices,
)
from visim.pipeline.backends.loader_spec import LoaderSpec
from visim.pipeline.sources.base import ImageSource, UnreadableImage
from visim.pipeline.sources.factory import open_split
from visim.pipeline.sources.image_folder import ImageFolderSource

PREFETCH_BATCHES = 2


@pipeline_def(enable_conditionals=True)
def two_view_pipeline(feed: BatchFeed, recipe: AugmentationRecipe, encoded: bool, gpu: bool):
    """(view1, view2 float32 [B, S, S, 3] normalised, labels int64 [B]) per iteration."""
    data, labels, params1, params2 = fn.external_source(
        source=feed,
        num_outputs=4,
        batch=True,
        batch_info=True,
        layout=[None if encoded else "HWC", None, None, None],
    )
    if encoded:
        # EXIF orientation is ignored, as by the other backends' reader and the feed's sizes.
        images = fn.decoders.image(
            data,
            device="mixed" if gpu else "cpu",
            output_type=types.RGB,
            adjust_orientation=False,
        )
    else:
        images = data.gpu() if gpu else data
    return augmented_view(images, params1, recipe), augmented_view(images, params2, recipe), labels


def _reset_at_epoch_end(pipeline):
    """The pipeline, ready for another epoch, once it has shown the end of the feed; None when
    it has more batches (then it cannot start another epoch cleanly)."""
    try:
        pipeline.run()
    except StopIteration:
        pipeline.reset()
        return pipeline
    return None


def runs_on_gpu(spec: LoaderSpec) -> bool:
    """True when the batches are wanted on a CUDA device; DALI must then see a GPU."""
    if torch.device(spec.device).type != "cuda":
        return False
    if GetCUDADeviceCount() == 0:
        raise ValueError(f"the dali backend was asked for {spec.device}, but DALI sees no GPU")
    return True


class DALITwoViewLoader:
    """TwoViewLoader over any ImageSource, with the recipe run by DALI."""

    def __init__(self, spec: LoaderSpec, source: ImageSource) -> None:
        if batches_per_epoch(len(source), spec.batch_size, spec.world_size) == 0:
            raise ValueError(
                f"source {source.location} has {len(source)} images, fewer than batch_size "
                f"{spec.batch_size} x world_size {spec.world_size}: no full batch per process"
            )
        self.spec = spec
        self.source = source
        self.gpu = runs_on_gpu(spec)
        self.device = spec.device if self.gpu else torch.device("cpu")
        self.substitutions = 0
        self._unreadable = UnreadableLog()
        self._warned: set[int] = set()
        self._epoch = 0
        self._start_batch = 0
        self._feed = BatchFeed(source, spec.recipe, spec.batch_size, self._unreadable)
        self._kept = None  # a pipeline that finished an epoch and was reset, ready for another
        self.pipelines_built = 0

    @classmethod
    def from_spec(cls, spec: LoaderSpec) -> DALITwoViewLoader:
        return cls(spec, open_split(spec.source, spec.split))

    @property
    def num_samples(self) -> int:
        return len(self.source)

    @property
    def unreadable_items(self) -> dict[int, str]:
        """Items found unreadable so far: index -> name."""
        return {index: name for index, (name, _) in self._unreadable.items.items()}

    def __len__(self) -> int:
        return batches_per_epoch(self.num_samples, self.spec.batch_size, self.spec.world_size)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        check_epoch_position(epoch, start_batch, len(self))
        self._epoch, self._start_batch = epoch, start_batch

    def _pipeline(self, start_batch: int):
        """A pipeline whose next batch is `start_batch` of the current epoch."""
        spec = self.spec
        order = spec_shard_indices(spec, self.num_samples, self._epoch)
        self._feed.restart(order, start_batch, (spec.seed, self._epoch, spec.rank))
        if self._kept is not None and start_batch == 0:
            pipeline, self._kept = self._kept, None
            return pipeline  # reset at its epoch's end: it asks the feed afresh
        self._kept = None  # stops its threads
        pipeline = two_view_pipeline(
            self._feed,
            spec.recipe,
            isinstance(self.source, ImageFolderSource),
            self.gpu,
            batch_size=spec.batch_size,
            num_threads=max(1, spec.workers),
            device_id=self.device.index if self.gpu else None,
            prefetch_queue_depth=PREFETCH_BATCHES,
            # The graph moves GPU data to the CPU (a contrast centre per image), which only
            # the dynamic executor can do (DALI >= 1.44; the default since 2.0).
            exec_dynamic=True,
        )
        pipeline.build()
        self.pipelines_built += 1
        return pipeline

    def __iter__(self) -> Iterator[Batch]:
        batch_index = self._start_batch
        while batch_index < len(self):
            pipeline = self._pipeline(batch_index)
            try:
                while batch_index < len(self):
                    try:
                        outputs = pipeline.run()
                    except RuntimeError as error:
                        self._record_undecodable(self._feed.items_fed_from(batch_index), error)
                        break  # a new pipeline retries this batch without them
                    batch = self._batch(outputs)
                    self._report_unreadable(self._feed.fed[batch_index].replaced)
                    yield batch
                    batch_index += 1
                else:
                    self._kept = _reset_at_epoch_end(pipeline)
            finally:
                del pipeline  # a pipeline not kept stops its threads, also on an early exit

    def _record_undecodable(self, items: list[int], error: RuntimeError) -> None:
        """Record the files among `items` that PIL cannot decode either; re-raise `error` when
        there are none (the failure is not a bad file's)."""
        if not isinstance(self.source, ImageFolderSource):
            raise error  # arrays are fed decoded: no file to blame
        found = 0
        for index in sorted(set(items)):
            try:
                self.source.load(index)
            except UnreadableImage as unreadable:
                self._unreadable.add(index, unreadable.item, unreadable.reason)
                found += 1
        if not found:
            raise error

    def _to_torch(self, tensor_list, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        dense = tensor_list.as_tensor()
        out = torch.empty(dense.shape(), dtype=dtype, device=device)
        stream = torch.cuda.current_stream(device) if device.type == "cuda" else None
        return feed_ndarray(dense, out, cuda_stream=stream)

    def _batch(self, outputs) -> Batch:
        memory_format = torch.channels_last if self.spec.channels_last else torch.contiguous_format
        view1, view2 = (
            # [B, S, S, 3] -> [B, 3, S, S]: already channels_last in memory.
            self._to_torch(out, torch.float32, self.device)
            .permute(0, 3, 1, 2)
            .contiguous(memory_format=memory_format)
            for out in outputs[:2]
        )
        labels = self._to_torch(outputs[2], torch.int64, torch.device("cpu"))
        return Batch(view1, view2, labels.reshape(-1).to(self.device, non_blocking=True))

    def _report_unreadable(self, replaced: list[int]) -> None:
        self.substitutions += len(replaced)
        for index in replaced:
            if index not in self._warned:
                self._warned.add(index)
                warnings.warn(
                    f"unreadable image {self.source.describe(index)}: its slot was filled by "
                    "the next readable item",
                    RuntimeWarning,
                    stacklevel=2,
                )
