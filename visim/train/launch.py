"""Start a run: check it, then train in this process or in N processes on this machine.

One machine, several processes (--gpus N, or --cpu-processes N for gloo on the CPU): visim
starts them itself with multiprocessing's "spawn" and sets the variables Accelerate reads
(RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), so no launcher
configuration is needed. Several machines: `accelerate launch` starts the processes and
visim trains in each one it is started in (see preflight.external_world_size).

Signals: the parent forwards SIGINT/SIGTERM to every worker; each worker stops after its
current step, rank 0 writes a checkpoint, and the parent exits with the workers' code. A
worker whose parent dies (kill -9) stops the same way rather than train on unobserved.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess

from visim.core.exit_codes import EXIT_BAD_INPUT
from visim.core.stop_signals import STOP_SIGNALS, GracefulStop
from visim.pipeline.torch_threads import kept_torch_threads, set_torch_threads
from visim.train.config import ConfigError, TrainConfig
from visim.train.preflight import ProcessPlan, preflight
from visim.train.process import train_process
from visim.train.run_dir import RunDir

# After one worker fails, how long the others get to finish before they are killed: a
# crashed peer leaves them blocked in a collective they can never complete.
FAILURE_GRACE_SECONDS = 60


def run_pretrain(config: TrainConfig, run_dir: RunDir, *, resume: bool) -> int:
    """The exit code of the whole run. ConfigError when a check fails in this process."""
    plan = preflight(config, run_dir, resume=resume)
    if not plan.spawn:
        # The caller's thread count is given back: a run inside a Python session is a call.
        with kept_torch_threads(), GracefulStop(second_signal_aborts=True) as stop:
            if plan.cpu:
                _use_cpu_share(plan.processes)
            return train_process(config, run_dir, resume=resume, cpu=plan.cpu, stop=stop)
    return _run_workers(config, run_dir, resume, plan)


def _use_cpu_share(processes: int) -> None:
    """One intra-op thread per core this process's share of the machine has.

    Set, not inherited, because torch's count is process state that imports change (importing
    ffcv sets it to 1: pipeline.torch_threads) and a CPU float sum's rounding depends on how
    many threads split it: the same run must give the same weights wherever it starts.
    """
    set_torch_threads(_cpu_share(processes))


def _cpu_share(processes: int) -> int:
    return max(1, len(os.sched_getaffinity(0)) // processes)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run_workers(config: TrainConfig, run_dir: RunDir, resume: bool, plan: ProcessPlan) -> int:
    context = multiprocessing.get_context("spawn")  # fork would copy torch's threads and CUDA
    port = _free_port()
    workers = [
        context.Process(
            target=_worker,
            args=(config, run_dir, resume, plan, rank, port, os.getpid()),
            name=f"visim-rank{rank}",
        )
        for rank in range(plan.processes)
    ]

    def forward(signum: int, frame: object) -> None:
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signum)

    previous = {signum: signal.signal(signum, forward) for signum in STOP_SIGNALS}
    try:
        for worker in workers:
            worker.start()
        return _wait_for(workers)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _exit_code(worker: BaseProcess) -> int:
    code = worker.exitcode
    if code is None:
        raise RuntimeError(f"{worker.name} has not ended")
    # multiprocessing reports death by signal N as -N; shells say 128 + N.
    return 128 - code if code < 0 else code


def _wait_for(workers: Sequence[BaseProcess]) -> int:
    """Wait for every worker; the first non-zero exit code in rank order, else 0."""
    failed_at = None
    while any(w.is_alive() for w in workers):
        multiprocessing.connection.wait([w.sentinel for w in workers if w.is_alive()], 1.0)
        if failed_at is None and any(w.exitcode not in (None, 0) for w in workers):
            failed_at = time.monotonic()
        if failed_at is not None and time.monotonic() - failed_at > FAILURE_GRACE_SECONDS:
            for worker in workers:
                if worker.is_alive():
                    worker.kill()
    codes = [_exit_code(w) for w in workers]
    return next((code for code in codes if code != 0), 0)


def _watch_parent(parent_pid: int, stop: GracefulStop) -> None:
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        stop.request(signal.SIGTERM)

    threading.Thread(target=watch, name="visim-parent-watch", daemon=True).start()


def _worker(
    config: TrainConfig,
    run_dir: RunDir,
    resume: bool,
    plan: ProcessPlan,
    rank: int,
    port: int,
    parent_pid: int,
) -> None:
    """One training process started by _run_workers (on one machine: rank = local rank)."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(plan.processes),
        LOCAL_WORLD_SIZE=str(plan.processes),
    )
    if plan.cpu:
        # Not one thread per core in every process; the variable reaches what it starts.
        os.environ["OMP_NUM_THREADS"] = str(_cpu_share(plan.processes))
        _use_cpu_share(plan.processes)
    # The parent forwards every signal, and a terminal's Ctrl-C reaches the worker directly
    # too: a second signal must not abort the checkpoint the first one asked for.
    with GracefulStop(second_signal_aborts=False) as stop:
        _watch_parent(parent_pid, stop)
        try:
            code = train_process(config, run_dir, resume=resume, cpu=plan.cpu, stop=stop)
        except ConfigError as error:
            if rank == 0:
                print(f"error: {error}", file=sys.stderr, flush=True)
            code = EXIT_BAD_INPUT
    sys.exit(code)
