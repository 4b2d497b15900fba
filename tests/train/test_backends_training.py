"""`visim pretrain` trains through the ffcv and dali loaders: two steps each on the CPU."""

import math

import pytest
from conftest import tiny_config, write_toml
from typer.testing import CliRunner

from visim.cli.app import app
from visim.train.metrics import read_metrics
from visim.train.run_dir import RunDir


def pretrain_two_steps(tmp_path, data: str, backend: str) -> RunDir:
    """TINY's model and recipe from a TOML file; DATA and --backend on the command line."""
    config_file = write_toml(tmp_path / "tiny.toml", tiny_config(data={"workers": 1}))
    out = tmp_path / "run"
    args = [data, "--backend", backend, "--config", str(config_file), "--out", str(out)]
    result = CliRunner().invoke(app, ["pretrain", *args, "--max-steps", "2"])
    assert result.exit_code == 0, result.output
    return RunDir(out)


def assert_trained_two_steps(run_dir: RunDir, backend: str) -> None:
    assert run_dir.load_config().data.backend == backend
    records = read_metrics(run_dir.metrics)
    assert [record["step"] for record in records] == [1, 2]
    assert all(math.isfinite(record["loss"]) for record in records)


@pytest.mark.ffcv
def test_pretrain_with_the_ffcv_backend_on_a_converted_demo_set(tmp_path, fresh_accelerate):
    pytest.importorskip("ffcv", reason="the ffcv extra is not installed")
    from visim.pipeline.convert.to_beton import WriteSettings, convert_source
    from visim.pipeline.sources.demo import DemoSource

    beton = tmp_path / "demo.beton"
    convert_source(DemoSource(96), beton, WriteSettings(workers=1))
    assert_trained_two_steps(pretrain_two_steps(tmp_path, str(beton), "ffcv"), "ffcv")


@pytest.mark.dali
def test_pretrain_with_the_dali_backend_on_the_demo_set(tmp_path, fresh_accelerate):
    pytest.importorskip("nvidia.dali", reason="the dali extra is not installed")
    assert_trained_two_steps(pretrain_two_steps(tmp_path, "demo:96", "dali"), "dali")
