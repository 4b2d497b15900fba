import pytest

from visim.train.config import (
    ConfigError,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    dump_config,
    load_config,
    validate,
)
from visim.train.resume import resumed_config
from visim.train.run_dir import RunDir


def test_defaults_round_trip_through_toml(tmp_path):
    config = apply_overrides(TrainConfig(), {"runtime.gpus": 4, "model.kappa_max": 1e4})
    path = tmp_path / "run.toml"
    path.write_text(dump_config(config))
    assert load_config(path) == config


def test_none_fields_are_left_out_of_toml_and_read_back_as_none(tmp_path):
    text = dump_config(TrainConfig())
    assert "gpus" not in text and "kappa_max" not in text
    path = tmp_path / "run.toml"
    path.write_text(text)
    assert load_config(path).runtime.gpus is None


def test_command_line_wins_over_the_file_which_wins_over_defaults(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[optim]\nbatch_size = 64\nlr = 0.1\n[model]\nmethod = "simsiam"\n')
    config = apply_overrides(load_config(path), {"optim.batch_size": 128, "optim.epochs": None})
    assert config.optim.batch_size == 128  # command line
    assert config.optim.lr == 0.1  # file
    assert config.model.method == "simsiam"  # file
    assert config.optim.epochs == TrainConfig().optim.epochs  # default (None = not given)


def test_integers_are_accepted_for_floats():
    config = config_from_dict({"optim": {"lr": 1, "warmup_epochs": 2}})
    assert config.optim.lr == 1.0 and isinstance(config.optim.lr, float)


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ({"optim": {"batch_sise": 3}}, "unknown option 'batch_sise' in \\[optim\\]"),
        ({"trainer": {}}, "unknown section \\[trainer\\]"),
        ({"optim": {"lr": "fast"}}, "--lr must be float"),
        ({"runtime": {"quiet": 1}}, "--quiet must be bool"),
        ({"data": {"backend": "tfrecord"}}, "--backend must be one of ffcv, dali, torch"),
        ({"model": {"method": "byol"}}, "--method must be one of"),
        ({"model": {"proj_dim": 0}}, "proj_dim must be positive"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_option(tree, message):
    with pytest.raises(ConfigError, match=message) as caught:
        config_from_dict(tree)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"optim.batch_size": 0}, "--batch-size must be at least 1"),
        ({"optim.momentum": 1.0}, "--momentum must be in \\[0, 1\\)"),
        ({"optim.warmup_epochs": 200.0}, "--warmup-epochs must be in \\[0, --epochs\\]"),
        ({"runtime.log_every": 0}, "--log-every must be at least 1"),
        ({"runtime.max_nonfinite_steps": 0}, "\\[runtime\\] max_nonfinite_steps must be"),
        ({"runtime.gpus": 2, "runtime.cpu_processes": 2}, "exclude each other"),
        ({"data.size": 4}, "--recipe/--size"),
    ],
)
def test_validate_names_the_option(overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate(apply_overrides(TrainConfig(), overrides))


def test_bad_toml_file_is_a_config_error(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("[optim\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")


def test_resume_keeps_the_runs_options_and_allows_safe_changes(tmp_path):
    run_dir = RunDir(tmp_path / "run")
    stored = apply_overrides(TrainConfig(), {"optim.batch_size": 64, "data.source": "demo"})
    run_dir.write_config(stored)
    config, changed = resumed_config(run_dir, {"optim.epochs": 200, "runtime.quiet": True})
    assert config.optim.batch_size == 64
    assert config.optim.epochs == 200
    assert changed == ["--epochs", "--quiet"]


@pytest.mark.parametrize(
    "overrides",
    [{"optim.batch_size": 32}, {"model.arch": "resnet18"}, {"runtime.seed": 1}, {"optim.lr": 1.0}],
)
def test_resume_refuses_options_the_checkpoint_depends_on(tmp_path, overrides):
    run_dir = RunDir(tmp_path / "run")
    run_dir.write_config(TrainConfig())
    with pytest.raises(ConfigError, match="cannot change when resuming"):
        resumed_config(run_dir, overrides)


def test_a_run_made_before_a_field_existed_reads_it_as_visim_did_then(tmp_path):
    """kappa_support came after runs were made; such a run trained with none, whatever the
    default is now, and its weights only load into a model without the bank."""
    run_dir = RunDir(tmp_path / "run")
    run_dir.write_config(TrainConfig())
    text = run_dir.config.read_text()
    run_dir.config.write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("kappa_support"))
    )
    assert run_dir.load_config().model.kappa_support == "none"
    written = apply_overrides(TrainConfig(), {"model.kappa_support": "bank"})
    run_dir.write_config(written)
    assert run_dir.load_config() == written
