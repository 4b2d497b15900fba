"""What one training process does, from its Accelerator to its exit code."""

from __future__ import annotations

import sys

from visim.core.atomic_write import WriteFailed
from visim.core.exit_codes import EXIT_ENVIRONMENT
from visim.core.stop_signals import GracefulStop
from visim.train.accelerator_setup import make_accelerator
from visim.train.config import TrainConfig, config_to_dict
from visim.train.loop import ProcessRun
from visim.train.preflight import check_batch_split
from visim.train.run_dir import RunDir
from visim.train.run_storage import failed_write_line
from visim.train.tracking import init_trackers


def train_process(
    config: TrainConfig, run_dir: RunDir, *, resume: bool, cpu: bool, stop: GracefulStop
) -> int:
    """Train (or continue) the run in `run_dir`; returns the process exit code.

    0 when done (or at --max-steps), 128 + signal after a graceful stop, EXIT_NONFINITE when
    too many non-finite losses in a row stopped the run. ConfigError for bad options found
    only here (batch size vs processes, a source with too few images).
    """
    # The accelerator comes first: it picks this process's CUDA device, which loaders need.
    accelerator, precision = make_accelerator(config, cpu, run_dir)
    try:
        check_batch_split(config.optim.batch_size, accelerator.num_processes)
        run = ProcessRun(config, run_dir, accelerator, stop)
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
