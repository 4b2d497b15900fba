"""Run one TrainCase in a child process (visim.bench.train.case_process) and collect its result.

A case that fails, crashes or runs past its time limit becomes an outcome with the reason,
so one bad configuration (a torch.compile failure, say) never stops the others.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from visim.bench.train.case import TrainCase

REASON_CHARS = 2000  # compiler errors run to pages; the head says what went wrong


@dataclass(frozen=True)
class CaseOutcome:
    measurement: dict | None  # case_process.measure's result; None when it failed
    problem: str | None  # why there is no measurement
    wall_seconds: float  # the whole child process: start-up, build, training, teardown


# A traceback's conclusion, "SomeError: what happened", possibly with a module path.
_ERROR_LINE = re.compile(r"^[\w.]*(Error|Exception|Interrupt)\b.*:")


def _output_lines(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if line.strip()]


def _last_error(lines: list[str]) -> str | None:
    return next((line for line in reversed(lines) if _ERROR_LINE.match(line)), None)


def _kill_group(process: subprocess.Popen) -> None:
    """End the child and the loader workers it started (its own process group)."""
    with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _run_child(command: list[str], log: Path, timeout_s: float) -> int | None:
    """Run the child with its output in `log`; its exit code, None when it ran out of time."""
    with open(log, "w") as output:
        # A session of its own, so that a timeout can end the loader workers too.
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return None
        except BaseException:  # Ctrl-C: leave nothing running behind
            _kill_group(process)
            raise


def run_case(case: TrainCase, workdir: Path, timeout_s: float) -> CaseOutcome:
    """Measure `case` in a child process; its files go under `workdir`, its run is removed."""
    workdir.mkdir(parents=True, exist_ok=True)
    case_file, result_file, log = (workdir / name for name in ("case.json", "result.json", "log"))
    run_dir = workdir / "run"
    case_file.write_text(json.dumps(case.to_json()))
    command = [
        sys.executable,
        "-m",
        "visim.bench.train.case_process",
        case_file,
        result_file,
        run_dir,
    ]
    started = time.monotonic()
    try:
        code = _run_child([str(part) for part in command], log, timeout_s)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)  # checkpoints and weights: not needed
    wall = time.monotonic() - started
    result = json.loads(result_file.read_text()) if result_file.exists() else {}
    if "measurement" in result:
        return CaseOutcome(result["measurement"], None, wall)
    lines = _output_lines(log)
    error = _last_error(lines)
    if code is None:
        problem = f"ran past --case-timeout ({timeout_s:g} s) and was stopped"
        # A loader thread that died leaves training waiting forever: say why.
        if error is not None:
            problem += f"; the last error in its output: {error}"
    else:
        ended = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        last = error or (lines[-1] if lines else "no output")
        problem = result.get("error") or f"the process {ended}: {last}"
    return CaseOutcome(None, problem[:REASON_CHARS], wall)
