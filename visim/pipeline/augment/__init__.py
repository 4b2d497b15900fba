"""The augmentation recipe (recipe) and what executes its parts outside DALI.

The colour stage has two executors: batched torch ops on the training device (batched,
batched_color_ops; compiled_color_stage fuses them for the GPU) and numba kernels that run
inside FFCV's CPU threads (color_kernels, color_view, color_view_params, keyed_random). The
crop (crop_box), the blur's taps (blur_taps) and the seeds every backend draws from
(random_streams) are shared by all of them.
"""
