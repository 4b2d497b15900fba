"""Ctrl-C as a terminal sends it (SIGINT to the whole process group), at several moments of
every command: one line, exit code 130, no traceback, and nothing left at OUT.

Each command runs in a session of its own (start_new_session), so that the test can signal
its whole group the way a terminal's job control does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from visim.models.model_config import ModelConfig
from visim.train.config import DataConfig, TrainConfig
from visim.train.run_dir import RunDir

# Long enough that no command can be finished before its signal comes.
DEADLINE_S = 180


def interrupt(
    args: list[str], tmp_path: Path, ready: Callable[[str], bool], workers: int = 0
) -> tuple[int, str]:
    """Run `visim ARGS`, send SIGINT to its group once ready(output so far) is true and it
    runs at least `workers` child processes (loader workers); (exit code, stdout + stderr)."""
    log = tmp_path / "output.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "visim", *args],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=tmp_path,
        )
        try:
            deadline = time.monotonic() + DEADLINE_S
            while not (children(process.pid) >= workers and ready(log.read_text())):
                assert process.poll() is None, f"ended before the signal: {log.read_text()}"
                assert time.monotonic() < deadline, "the moment to interrupt never came"
                time.sleep(0.02)
            os.killpg(process.pid, signal.SIGINT)
            code = process.wait(timeout=DEADLINE_S)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return code, log.read_text()


def children(pid: int) -> int:
    try:
        return len(psutil.Process(pid).children())
    except psutil.NoSuchProcess:
        return 0


def after(seconds: float) -> Callable[[str], bool]:
    started = time.monotonic()
    return lambda output: time.monotonic() - started >= seconds


def printed(text: str) -> Callable[[str], bool]:
    return lambda output: text in output


def assert_one_line_and_130(code: int, output: str) -> str:
    """The line that says the command was interrupted (or stopped by SIGINT)."""
    assert code == 130, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    said = [line for line in output.splitlines() if "interrupted" in line or "SIGINT" in line]
    assert len(said) == 1, output
    return said[0]


def tiny_run(path: Path) -> Path:
    """A run directory as a finished run leaves it, for eval to read."""
    from visim.models.siamese import build_model
    from visim.train.export import export_weights

    config = TrainConfig(
        data=DataConfig(source="demo:40", recipe="cifar", size=16, workers=0),
        model=ModelConfig(arch="resnet18", cifar_stem=True, proj_dim=32, pred_hidden_dim=8),
    )
    run_dir = RunDir(path)
    run_dir.write_config(config)
    export_weights(build_model(config.model), run_dir)
    return path


TINY_PRETRAIN = ["--backend", "torch", "--recipe", "small", "--size", "16", "--arch",
                 "resnet18", "--batch-size", "16", "--epochs", "2", "--workers", "0",
                 "--quiet", "--log-every", "1", "--checkpoint-every", "0"]  # fmt: skip

# Each command while it is still importing (half a second in: typer, torch, FFCV), with the
# path its output would go to.
WHILE_IMPORTING = {
    "convert": (["convert", "demo:400", "out/o.beton"], "out"),
    "pretrain": (["pretrain", "demo:96", "--out", "run", *TINY_PRETRAIN], "run"),
    "eval": (["eval", "no-run", "--train", "demo:40", "--test", "demo:40"], "no-run/eval"),
    "demo": (["demo", "--out", "demo-out", "--backend", "torch"], "demo-out"),
    "info": (["info"], None),
    "bench": (["bench", "train", "--backends", "synthetic", "--json", "b.json"], "b.json"),
}


@pytest.mark.parametrize("command", WHILE_IMPORTING)
@pytest.mark.parametrize("seconds", [0.3, 1.5])
def test_ctrl_c_while_a_command_starts(tmp_path, command, seconds):
    args, out = WHILE_IMPORTING[command]
    code, output = interrupt(args, tmp_path, after(seconds))
    assert_one_line_and_130(code, output)
    if out is not None:
        assert not (tmp_path / out).exists()


def test_ctrl_c_while_convert_writes(tmp_path):
    out = tmp_path / "big.beton"

    def writing(output: str) -> bool:
        return bool(list(tmp_path.glob(".big.beton.tmp-*")))

    code, output = interrupt(["convert", "demo:40000", str(out), "--workers", "1"], tmp_path,
                             writing)  # fmt: skip
    assert "nothing written to" in assert_one_line_and_130(code, output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["output.log"]


@pytest.mark.slow
def test_ctrl_c_while_pretrain_trains_stops_at_a_checkpoint(tmp_path):
    args = ["pretrain", "demo:96", "--out", "run", *TINY_PRETRAIN]
    code, output = interrupt(args, tmp_path, printed("step 1/"))
    line = assert_one_line_and_130(code, output)
    assert line.startswith("stopped by SIGINT after step") and "resume with:" in line
    assert RunDir(tmp_path / "run").latest_checkpoint() is not None


@pytest.mark.slow
def test_ctrl_c_while_eval_extracts_features_writes_nothing(tmp_path):
    run = tiny_run(tmp_path / "run")
    args = ["eval", str(run), "--train", "demo:40", "--test", "demo:40", "--workers", "0"]
    code, output = interrupt(args, tmp_path, printed("features:"))
    assert_one_line_and_130(code, output)
    eval_dir = run / "eval"
    assert not (eval_dir / "eval.json").exists()
    assert not [p for p in eval_dir.rglob("*") if ".tmp" in p.name]


@pytest.mark.slow
def test_ctrl_c_while_the_demo_pretrains(tmp_path):
    args = ["demo", "--out", "demo-out", "--backend", "torch", "--images", "40", "--epochs",
            "2", "--batch-size", "8", "--size", "16", "--workers", "0", "--quiet"]  # fmt: skip
    code, output = interrupt(args, tmp_path, printed("Step 2/3"))
    assert_one_line_and_130(code, output)


# Moments of an evaluation whose torch loader runs worker processes: they get the SIGINT too.
EVAL_MOMENTS = {
    "first features": printed("features: pretrained"),
    "second weights": printed("features: random_init"),
    "degraded images": printed("features: cropped"),
}


@pytest.mark.slow
@pytest.mark.parametrize("moment", EVAL_MOMENTS)
def test_ctrl_c_in_eval_with_loader_workers(tmp_path, moment):
    run = tiny_run(tmp_path / "run")
    args = ["eval", str(run), "--train", "demo:600", "--test", "demo:600", "--workers", "2",
            "--no-plots", "--augmented-images", "0"]  # fmt: skip
    code, output = interrupt(args, tmp_path, EVAL_MOMENTS[moment], workers=2)
    assert_one_line_and_130(code, output)
    eval_dir = run / "eval"
    assert not (eval_dir / "eval.json").exists()
    assert not [p for p in eval_dir.rglob("*") if ".tmp" in p.name]


@pytest.mark.slow
@pytest.mark.parametrize("moment", [0.0, 2.0], ids=["workers started", "2 s later"])
def test_ctrl_c_in_embed_with_loader_workers(tmp_path, moment):
    pytest.importorskip("pyarrow", reason="the parquet extra is not installed")
    run = tiny_run(tmp_path / "run")
    args = ["embed", str(run), "--data", "demo:3000", "--out", "table.parquet", "--workers",
            "2", "--reference", "none"]  # fmt: skip
    started: list[float] = []

    def ready(output: str) -> bool:  # called only once the workers run
        started.append(started[0] if started else time.monotonic())
        return time.monotonic() - started[0] >= moment

    code, output = interrupt(args, tmp_path, ready, workers=2)
    assert "nothing written to table.parquet" in assert_one_line_and_130(code, output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["output.log", "run"]


def test_ctrl_c_in_a_lazy_import_while_a_file_is_written_leaves_no_temporary(tmp_path):
    # A writer that has created its temporary file, then imports a module lazily (as the
    # Parquet and plot writers import pyarrow and matplotlib): a Ctrl-C inside an import ends
    # the process at once, and must take the temporary with it.
    (tmp_path / "slow_module.py").write_text(
        "import pathlib, time\n"
        "pathlib.Path('importing').touch()\n"
        "time.sleep(60)\n"
    )  # fmt: skip
    script = (
        "from pathlib import Path\n"
        "from visim.cli import interrupts\n"
        "from visim.core.atomic_write import write_atomically\n"
        "interrupts.install()\n"
        "def write(temporary):\n"
        "    temporary.write_text('half a table')\n"
        "    import slow_module\n"
        "write_atomically(Path('table.parquet'), write)\n"
    )  # fmt: skip
    process = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path,
                               env={**os.environ, "PYTHONPATH": str(tmp_path)},
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + DEADLINE_S
    while not (tmp_path / "importing").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.02)
    assert (tmp_path / ".table.parquet.tmp").exists()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=DEADLINE_S) == 130
    assert process.stderr.read().strip() == "error: interrupted"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["importing", "slow_module.py"]


def test_an_interrupt_inside_code_run_from_source_text_still_exits_130(tmp_path):
    # dataclasses and namedtuple run generated source text with exec(): a Ctrl-C landing
    # there once ended `python -m visim` by SIGINT (-2) after its one line, because CPython
    # marks such an interrupt for a module's exit even when it was caught. Run as a module
    # too, as `python -m visim` is.
    package = tmp_path / "interrupted"
    package.mkdir()
    (package / "__main__.py").write_text(
        "import sys\n"
        "from visim.cli import interrupts\n"
        "interrupts.install()\n"
        "try:\n"
        "    exec('import os, signal\\nos.kill(os.getpid(), signal.SIGINT)\\n"
        "for _ in range(10**7): pass')\n"
        "except KeyboardInterrupt:\n"
        "    pass\n"
        "interrupts.exiting(interrupts.EXIT_INTERRUPTED)\n"
        "sys.exit(interrupts.EXIT_INTERRUPTED)\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "interrupted"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 130, done.stderr
    assert done.stderr == "error: interrupted\n"
