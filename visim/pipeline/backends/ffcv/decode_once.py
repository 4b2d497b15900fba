"""An FFCV decoder that decodes each image once and cuts both views from it.

FFCV's own route to two views is a second named pipeline on the same field, which gives each
view its own decoder node and so decodes every JPEG twice. Decoding dominates the cost of
the crop-and-flip stage, so this decoder decodes once into a scratch buffer and then samples
two independent random-resized crops (and flips) from it, writing uint8 [2, S, S, 3] per
sample. Boxes come from crop_box, torchvision's RandomResizedCrop rule, the reference
backend's.

Only numba-compilable code lives in generate_code's closure: FFCV jit-compiles it with the
rest of the pipeline on a loader's first batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from ffcv.fields.rgb_image import IMAGE_MODES
from ffcv.libffcv import imdecode, resize_crop
from ffcv.pipeline.allocation_query import AllocationQuery
from ffcv.pipeline.compiler import Compiler
from ffcv.pipeline.operation import Operation
from ffcv.pipeline.state import State

from visim.pipeline.augment.crop_box import CROP_ATTEMPTS, DRAWS_PER_ATTEMPT, crop_box
from visim.pipeline.augment.recipe import VIEWS


def uniform_crop_draws() -> np.ndarray:
    """crop_box's draws from numba's generator of the calling thread.

    A function of its own: numba cannot build the array inside the parallel loop itself.
    """
    return np.random.random((CROP_ATTEMPTS, DRAWS_PER_ATTEMPT))


def mirror_columns_in_place(image: np.ndarray) -> None:
    """Horizontal flip of uint8 [H, W, C] without a temporary image."""
    width = image.shape[1]
    for row in range(image.shape[0]):
        for col in range(width // 2):
            for channel in range(image.shape[2]):
                kept = image[row, col, channel]
                image[row, col, channel] = image[row, width - 1 - col, channel]
                image[row, width - 1 - col, channel] = kept


class TwoViewRandomResizedCropDecoder(Operation):
    """Decoder for an RGBImageField: uint8 [B, 2, size, size, 3], two independent crops+flips.

    Works on jpg and raw records and on images of varying resolution, like FFCV's
    RandomResizedCropRGBImageDecoder, whose scratch-buffer scheme it follows.
    """

    def __init__(
        self,
        size: int,
        scale: tuple[float, float],
        ratio: tuple[float, float],
        flip_prob: float,
    ) -> None:
        super().__init__()
        self.size = size
        self.scale = scale
        self.ratio = ratio
        self.flip_prob = flip_prob

    def declare_state_and_memory(self, previous_state: State) -> tuple[State, tuple]:
        # uint64 so that height * width * 3 cannot overflow the metadata's uint16s.
        max_height = np.uint64(self.metadata["height"].max())
        max_width = np.uint64(self.metadata["width"].max())
        output_shape = (VIEWS, self.size, self.size, 3)
        uint8 = np.dtype("<u1")
        state = replace(previous_state, jit_mode=True, shape=output_shape, dtype=uint8)
        return state, (
            AllocationQuery(output_shape, uint8),
            # One decoded image per sample of the batch: [max_height * max_width * 3].
            AllocationQuery((max_height * max_width * np.uint64(3),), uint8),
        )

    def generate_code(self) -> Callable:
        memory_read = self.memory_read
        parallel_range = Compiler.get_iterator()
        imdecode_c = Compiler.compile(imdecode)
        resize_crop_c = Compiler.compile(resize_crop)
        crop_box_c = Compiler.compile(crop_box)
        uniform_crop_draws_c = Compiler.compile(uniform_crop_draws)
        mirror_c = Compiler.compile(mirror_columns_in_place)
        jpg = IMAGE_MODES["jpg"]
        scale = np.array(self.scale, dtype=np.float64)
        log_ratio = np.log(np.array(self.ratio, dtype=np.float64))
        flip_prob = self.flip_prob

        def decode(batch_indices, storage, metadata, storage_state):
            destination, scratch = storage  # [B, 2, S, S, 3], [B, max_h * max_w * 3]
            for slot in parallel_range(len(batch_indices)):
                record = metadata[batch_indices[slot]]
                encoded = memory_read(record["data_ptr"], storage_state)
                height = np.uint32(record["height"])
                width = np.uint32(record["width"])
                if record["mode"] == jpg:
                    decoded = scratch[slot]
                    imdecode_c(
                        encoded, decoded, height, width, height, width, 0, 0, 1, 1, False, False
                    )
                    image = decoded[: 3 * height * width].reshape(height, width, 3)
                else:
                    image = encoded.reshape(height, width, 3)
                for view in range(VIEWS):
                    draws = uniform_crop_draws_c()
                    top, left, crop_h, crop_w = crop_box_c(height, width, scale, log_ratio, draws)
                    out = destination[slot, view]
                    resize_crop_c(image, top, top + crop_h, left, left + crop_w, out)
                    if np.random.random() < flip_prob:
                        mirror_c(out)
            return destination[: len(batch_indices)]

        decode.is_parallel = True  # type: ignore[attr-defined]  # FFCV reads the flag here
        return decode
