import json

import torch
from typer.testing import CliRunner

from visim.cli.app import app

runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "info" in result.output


def test_info_reports_versions_devices_and_backends():
    result = runner.invoke(app, ["info", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["packages"]["torch"] == torch.__version__.split("+")[0]
    assert report["cuda_available"] == torch.cuda.is_available()
    assert len(report["cuda_devices"]) == torch.cuda.device_count()
    assert set(report["backends"]) == {"ffcv", "dali", "torch", "synthetic"}
    for status in report["backends"].values():
        # A backend is either usable or carries the command that would make it so.
        assert status["usable"] or status["fix"].startswith(("pip install", "apt-get"))


def test_info_table_names_each_backend():
    result = runner.invoke(app, ["info"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in ("ffcv", "dali", "torch", "synthetic", "CUDA devices"):
        assert name in result.output
    # The processor with the kernels torch chose on it: what tells two machines apart.
    assert f"torch kernels {torch.backends.cpu.get_cpu_capability()}" in result.output
