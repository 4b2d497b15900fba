"""How long one benchmark case takes in all, before it runs: the time budget's arithmetic.

A case is a process of its own, so its wall time is the process's start and end (imports,
CUDA context, model build, run directory, teardown), the warm-up (first allocations; on CUDA
cuDNN's algorithm search for every convolution shape, which cudnn.benchmark turns on; with
torch.compile the whole compilation of forward and backward), the timed steps, and for a real
backend its loader's start (worker processes; FFCV's numba compilation).

The CPU figures come from runs on the project's 2-core machines (docs/benchmarks.md:
ResNet-18 at 32 px, about 135 image pairs/s in fp32, bf16 from x0.07 to x1.04 by processor,
a cold compile 58 s).
The CUDA figures are assumptions for one H200 until a GPU run records its cases' wall_s: the
step rates lie well under the project's targets so that a slow start errs on the safe side,
and the compile times are those of ResNet-sized graphs with inductor on a 16-core host. After
each case the bench scales the remaining estimates by what the finished cases really took
(scaled_estimate), so a wrong assumption costs at most the first cases' share of the budget.
"""

from __future__ import annotations

from visim.bench.train.case import TrainCase

PROCESS_S = {"cpu": 15.0, "cuda": 15.0}
WARMUP_S = {"cpu": 2.0, "cuda": 8.0}  # CUDA: cuDNN's search, first allocations
COMPILE_S = {
    ("cpu", "resnet18"): 60.0,
    ("cpu", "resnet34"): 90.0,
    ("cpu", "resnet50"): 150.0,
    ("cuda", "resnet18"): 60.0,
    ("cuda", "resnet34"): 80.0,
    ("cuda", "resnet50"): 110.0,
}
# Image pairs/s of the step at REFERENCE_SIZE px, fp32 on the CPU, bf16 on CUDA.
STEP_RATE = {
    ("cpu", "resnet18"): 120.0,
    ("cpu", "resnet34"): 60.0,
    ("cpu", "resnet50"): 35.0,
    ("cuda", "resnet18"): 4000.0,
    ("cuda", "resnet34"): 2500.0,
    ("cuda", "resnet50"): 1500.0,
}
REFERENCE_SIZE = {"cpu": 32, "cuda": 224}
# What else slows a step, relative to the reference.
CPU_BF16_FACTOR = 0.1  # CPUs without bf16 units (the slow end of what was measured)
CHANNELS_FIRST_FACTOR = {"cpu": 1.0, "cuda": 0.75}  # channels_last off: cuDNN's NCHW kernels
# A real backend's loader: its start (seconds) and its rate per worker (source images/s at
# 224 px, full recipe); the case trains at the slower of step and loader.
LOADER_START_S = {"torch": 8.0, "ffcv": 25.0, "dali": 10.0}
LOADER_RATE_PER_WORKER = {"torch": 40.0, "ffcv": 150.0, "dali": 80.0}
# Making the demo set and the .beton the real backends read, per image.
PREPARE_S_PER_IMAGE = 0.004


def step_rate(case: TrainCase) -> float:
    """Expected image pairs/s of the case's training step (synthetic data)."""
    rate = STEP_RATE[(case.device, case.arch)]
    rate *= (REFERENCE_SIZE[case.device] / case.size) ** 2
    if case.device == "cpu" and case.precision == "bf16":
        rate *= CPU_BF16_FACTOR
    if not case.channels_last:
        rate *= CHANNELS_FIRST_FACTOR[case.device]
    return rate


def estimate_seconds(case: TrainCase) -> float:
    """The case's expected wall time, process start to exit."""
    seconds = PROCESS_S[case.device] + WARMUP_S[case.device]
    if case.compile:
        seconds += COMPILE_S[(case.device, case.arch)]
    rate = step_rate(case)
    if case.backend != "synthetic":
        seconds += LOADER_START_S[case.backend]
        loader = LOADER_RATE_PER_WORKER[case.backend] * max(1, case.workers)
        rate = min(rate, loader * (224 / case.size) ** 2)
    return seconds + case.max_steps * case.batch_size / rate


def prepare_seconds(images: int) -> float:
    return images * PREPARE_S_PER_IMAGE


def scaled_estimate(case: TrainCase, finished: list[tuple[float, float]]) -> float:
    """estimate_seconds scaled by finished cases' (estimated, measured) seconds: by how much
    the estimates were off so far, never below half of them."""
    estimate = estimate_seconds(case)
    if not finished:
        return estimate
    ratio = sum(measured for _, measured in finished) / sum(guess for guess, _ in finished)
    return estimate * max(0.5, ratio)
