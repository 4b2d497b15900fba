"""Each option is described once, on its config field; these tests keep the descriptions, the
tables derived from them and the loader's own defaults in agreement."""

import dataclasses
import inspect
import re
import typing

import pytest

from visim.core.option_fields import OPTION_KEYS
from visim.models.model_config import ModelConfig
from visim.pipeline.backends.loader_spec import LoaderSpec
from visim.train.config import (
    CHOICES,
    CLI_OPTIONS,
    OPTIONS,
    ConfigError,
    TrainConfig,
    apply_overrides,
    option_name,
    validate,
)
from visim.train.training_loader import make_training_loader

DEFAULTS = TrainConfig()


def default_of(path: str):
    section, key = path.split(".")
    return getattr(getattr(DEFAULTS, section), key)


def field_type(path: str):
    section, key = path.split(".")
    return typing.get_type_hints(type(getattr(DEFAULTS, section)))[key]


def test_options_cover_every_field_of_every_section():
    expected = {
        f"{section.name}.{f.name}"
        for section in dataclasses.fields(TrainConfig)
        for f in dataclasses.fields(getattr(DEFAULTS, section.name))
    }
    assert set(OPTIONS) == expected


@pytest.mark.parametrize("path", sorted(OPTIONS))
def test_option_metadata_uses_known_keys(path):
    # A misspelt key ("choice", "flags") would otherwise be ignored without a word.
    assert set(OPTIONS[path]) <= OPTION_KEYS


def test_every_flag_is_well_formed_and_names_one_field():
    flagged = [path for path, meta in OPTIONS.items() if "flag" in meta]
    assert len(CLI_OPTIONS) == len(flagged), "two fields share a flag"
    for flag in CLI_OPTIONS:
        assert flag == "DATA" or re.fullmatch(r"--[a-z0-9]+(-[a-z0-9]+)*", flag), flag


@pytest.mark.parametrize("path", sorted(CHOICES))
def test_a_choice_is_a_string_whose_default_is_among_them(path):
    assert field_type(path) is str
    assert default_of(path) in CHOICES[path]
    section, key = path.split(".")
    config_default = getattr(type(getattr(DEFAULTS, section))(), key)
    assert config_default in CHOICES[path]


@pytest.mark.parametrize("path", sorted(CHOICES))
def test_a_value_outside_the_choices_is_refused_naming_the_option(path):
    with pytest.raises(ConfigError, match=f"^{re.escape(option_name(path))} must be one of"):
        apply_overrides(TrainConfig(), {path: "no-such-choice"})


@pytest.mark.parametrize("name", [p.split(".")[1] for p in CHOICES if p.startswith("model.")])
def test_model_config_refuses_a_value_outside_its_fields_choices(name):
    # ModelConfig checks the choices of its own fields, for callers without a TrainConfig.
    with pytest.raises(ValueError, match=f"{name} must be one of"):
        ModelConfig(**{name: "no-such-choice"})


# A value that each bounded option refuses: a bound added without a case here fails below.
OUT_OF_BOUNDS = {
    "data.workers": -1,
    "data.synthetic_samples": 0,
    "optim.epochs": 0,
    "optim.batch_size": 0,
    "optim.lr": 0.0,
    "optim.weight_decay": -1e-4,
    "optim.momentum": 1.0,
    "optim.clip_grad_norm": 0.0,
    "runtime.gpus": 0,
    "runtime.cpu_processes": -1,
    "runtime.checkpoint_every": -1.0,
    "runtime.max_steps": -1,
    "runtime.log_every": 0,
    "runtime.max_nonfinite_steps": 0,
    "runtime.collapse_ratio": 1.0,
}


def test_every_bound_has_an_out_of_bounds_case():
    assert set(OUT_OF_BOUNDS) == {path for path, meta in OPTIONS.items() if "check" in meta}


@pytest.mark.parametrize("path", sorted(OUT_OF_BOUNDS))
def test_a_bound_admits_the_default_and_refuses_naming_the_option(path):
    check = OPTIONS[path]["check"]
    default = default_of(path)
    assert default is None or check.ok(default)
    with pytest.raises(ConfigError) as caught:
        validate(apply_overrides(TrainConfig(), {path: OUT_OF_BOUNDS[path]}))
    message = str(caught.value)
    assert message.startswith(f"{option_name(path)} must be {check.wanted}, got ")


def test_the_defaults_pass_validate():
    validate(TrainConfig())


# LoaderSpec (pipeline) cannot import the config (train), and the config cannot import
# LoaderSpec without loading torch for --help: their agreement is checked here instead.
# LoaderSpec field -> the configuration field that training fills it from (loop.py).
LOADER_FROM_CONFIG = {
    "source": "data.source",
    "seed": "runtime.seed",
    "workers": "data.workers",
    "channels_last": "model.channels_last",
    "synthetic_samples": "data.synthetic_samples",
}
# Fields that depend on the process, not on the configuration: the loop computes them.
LOADER_PER_PROCESS = {"recipe", "batch_size", "device", "rank", "world_size", "split", "shuffle"}
# data.workers None means "follow the machine"; it is resolved to a count
# (pipeline.backends.loader_workers) before a LoaderSpec exists, whose own default is a fixed
# count for tests and benchmarks.
RESOLVED_BEFORE_THE_SPEC = {"workers"}


def test_every_loader_spec_field_is_either_configured_or_per_process():
    names = {f.name for f in dataclasses.fields(LoaderSpec)}
    assert names == set(LOADER_FROM_CONFIG) | LOADER_PER_PROCESS
    assert not set(LOADER_FROM_CONFIG) & LOADER_PER_PROCESS


def test_loader_spec_and_config_agree_on_shared_defaults():
    disagree = {}
    for spec_field in dataclasses.fields(LoaderSpec):
        path = LOADER_FROM_CONFIG.get(spec_field.name)
        if path is None or spec_field.default is dataclasses.MISSING:
            continue
        if spec_field.name in RESOLVED_BEFORE_THE_SPEC:
            assert default_of(path) is None, "no longer resolved before the spec"
        elif spec_field.default != default_of(path):
            disagree[spec_field.name] = (spec_field.default, default_of(path))
    assert disagree == {}


def test_the_training_loop_fills_the_spec_from_those_fields():
    source = inspect.getsource(make_training_loader)
    for name, path in LOADER_FROM_CONFIG.items():
        if name not in RESOLVED_BEFORE_THE_SPEC:
            assert f"{name}=config.{path}," in source, name
    assert "config.data.workers" in source
