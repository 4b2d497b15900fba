"""The dali backend: the whole recipe inside an NVIDIA DALI graph, on the GPU or the CPU.

Input: any ImageSource (image folder, IDX, CIFAR, .npz, demo) through fn.external_source
(dali_feed): an image folder's files as encoded bytes, decoded by fn.decoders.image; the
array formats as decoded arrays. Why not fn.readers.file: a reader shuffles and shards by its
own rules (its own shuffle buffer, shard boundaries and end-of-epoch policy), and every
backend here must read exactly epoch_order.shard_indices (the same order, the same shards,
the same per-epoch reshuffle from (seed, epoch), and a resume at any batch); a reader also
cannot read the array formats. Feeding the order ourselves gives all of that.

Device: where the batch is wanted. When spec.device is a CUDA device, the pipeline runs on GPU
spec.local_rank and decodes with 'mixed' (nvJPEG); otherwise everything runs on the CPU. The
training loop asks for CUDA whenever there is a GPU, so the choice is automatic there.
Sharding is by spec.rank / spec.world_size (the global rank), through shard_indices.

The augmentation graph is dali_graph (one decode, two views); its random parameters are
drawn per batch from (seed, epoch, rank, batch) in dali_view_params and fed in, so every
batch replays exactly: the same seed gives the same batches, and a resumed epoch the same
batches as an uninterrupted one.

Each epoch runs its own pipeline, built for that epoch's order and start batch: a pipeline
holds no state worth keeping (its random parameters are fed in), and building one takes
milliseconds on the CPU, so a loop that leaves an epoch early or resumes mid-epoch needs no
reset logic. spec.workers sets DALI's thread count; batches are prepared PREFETCH_BATCHES
ahead.

Unreadable images: as in the torch backend, an unreadable item's slot is filled by the next
readable item, a warning names each such item once, and `unreadable_items` and
`substitutions` report them (see dali_feed). A file that passes the header check but fails to
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

from visim.pipeline.batch import Batch
from visim.pipeline.dali_feed import BatchFeed, UnreadableLog
from visim.pipeline.dali_graph import augmented_view
from visim.pipeline.epoch_order import (
    batches_per_epoch,
    check_epoch_position,
    spec_shard_indices,
)
from visim.pipeline.loader_spec import LoaderSpec
from visim.pipeline.recipe import AugmentationRecipe
from visim.pipeline.source_image_folder import ImageFolderSource
from visim.pipeline.sources import ImageSource, UnreadableImage, open_split

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
        self.device = torch.device("cuda", spec.local_rank) if self.gpu else torch.device("cpu")
        self.substitutions = 0
        self._unreadable = UnreadableLog()
        self._warned: set[int] = set()
        self._epoch = 0
        self._start_batch = 0

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

    def _feed(self, start_batch: int) -> BatchFeed:
        spec = self.spec
        order = spec_shard_indices(spec, self.num_samples, self._epoch)
        key = (spec.seed, self._epoch, spec.rank)
        return BatchFeed(
            self.source, spec.recipe, order, spec.batch_size, start_batch, key, self._unreadable
        )

    def _pipeline(self, feed: BatchFeed):
        pipeline = two_view_pipeline(
            feed,
            self.spec.recipe,
            isinstance(self.source, ImageFolderSource),
            self.gpu,
            batch_size=self.spec.batch_size,
            num_threads=max(1, self.spec.workers),
            device_id=self.spec.local_rank if self.gpu else None,
            prefetch_queue_depth=PREFETCH_BATCHES,
        )
        pipeline.build()
        return pipeline

    def __iter__(self) -> Iterator[Batch]:
        batch_index = self._start_batch
        while batch_index < len(self):
            feed = self._feed(batch_index)
            pipeline = self._pipeline(feed)
            try:
                while batch_index < len(self):
                    try:
                        outputs = pipeline.run()
                    except RuntimeError as error:
                        self._record_undecodable(feed.items_fed_from(batch_index), error)
                        break  # a new pipeline retries this batch without them
                    batch = self._batch(outputs)
                    self._report_unreadable(feed.fed[batch_index].replaced)
                    yield batch
                    batch_index += 1
            finally:
                del pipeline  # stops its threads, also when the consumer leaves early

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
