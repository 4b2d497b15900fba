"""`visim --help` and every command's --help answer without loading torch or any extra.

Checked in a fresh interpreter, command by command, from the app's own list of commands, so
that a command added later is checked too.
"""

import json
import subprocess
import sys

HEAVY = ("torch", "torchvision", "accelerate", "safetensors", "ffcv", "numba", "cv2",
         "nvidia.dali", "matplotlib")  # fmt: skip

HELP_OF_EVERY_COMMAND = f"""
import json, sys
import typer.main
from typer.testing import CliRunner
from visim.cli.app import app

def command_paths(command, path):
    yield path
    for name, sub in sorted(getattr(command, "commands", {{}}).items()):
        yield from command_paths(sub, [*path, name])

runner = CliRunner()
answered = []
for path in command_paths(typer.main.get_command(app), []):
    result = runner.invoke(app, [*path, "--help"])
    if result.exit_code != 0:
        sys.exit(f"{{path}}: {{result.output}}")
    answered.append(" ".join(path))
print(json.dumps({{"answered": answered,
                  "loaded": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
"""


def test_every_help_answers_without_loading_torch_or_an_extra():
    done = subprocess.run(
        [sys.executable, "-c", HELP_OF_EVERY_COMMAND],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    expected = {"", "info", "pretrain", "convert", "eval", "demo", "bench", "bench pipeline",
                "bench train", "bench scaling"}  # fmt: skip
    assert expected <= set(report["answered"])
    assert report["loaded"] == []


def test_the_executable_answers_help():
    done = subprocess.run(
        [sys.executable, "-m", "visim", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for command in ("convert", "pretrain", "eval", "demo", "info", "bench"):
        assert command in done.stdout
