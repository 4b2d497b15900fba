"""Typer needs each option spelled in the command's signature; these tests keep those
parameters in agreement with the configuration fields they set (visim.train.config), and
`visim eval` / `visim embed` with their settings dataclasses."""

import dataclasses
import inspect
import types
import typing

import pytest
import typer.main

from visim.cli.app import app
from visim.cli.demo import demo
from visim.cli.embed import embed
from visim.cli.eval import evaluate
from visim.cli.pretrain import _parameter, pretrain
from visim.demo.settings import DemoSettings
from visim.evaluation.eval_settings import EmbedSettings, EvalSettings
from visim.train.config import CHOICES, CLI_OPTIONS, OPTIONS, TrainConfig

# pretrain()'s parameters that say where the run goes, not how it trains.
NOT_CONFIG = {"out", "config_file", "resume"}
DEFAULTS = TrainConfig()
COMMAND = typer.main.get_command(app).commands["pretrain"]
PARAMS = {param.name: param for param in COMMAND.params}


def default_of(path: str):
    section, key = path.split(".")
    return getattr(getattr(DEFAULTS, section), key)


def members(hint) -> set:
    """The types a hint admits: int | None -> {int, NoneType}."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return set(typing.get_args(hint))
    return {hint}


def test_every_flag_has_a_parameter_and_every_parameter_a_flag():
    parameters = set(inspect.signature(pretrain).parameters) - NOT_CONFIG
    assert parameters == {_parameter(flag) for flag in CLI_OPTIONS}


@pytest.mark.parametrize(("flag", "path"), sorted(CLI_OPTIONS.items()))
def test_each_parameter_takes_its_flag_with_the_fields_type_help_and_choices(flag, path):
    param = PARAMS[_parameter(flag)]
    # None: "not given", so that only options on the command line override the TOML file.
    assert param.default is None
    if flag != "DATA":
        assert param.opts == [flag]
        is_bool = isinstance(default_of(path), bool)
        assert param.secondary_opts == ([f"--no-{flag[2:]}"] if is_bool else [])
    section, key = path.split(".")
    field_hint = typing.get_type_hints(type(getattr(DEFAULTS, section)))[key]
    parameter_hint = typing.get_type_hints(pretrain)[param.name]
    assert members(parameter_hint) == members(field_hint) | {type(None)}
    help_text = param.help or ""
    assert help_text.startswith(OPTIONS[path].get("help", ""))
    for choice in CHOICES.get(path, ()):
        assert choice in help_text
    default = default_of(path)
    if default is not None and OPTIONS[path].get("show_default", True):
        assert help_text.endswith(f"(default: {default})")


@pytest.mark.parametrize(
    ("command", "settings", "extra"),
    [
        (evaluate, EvalSettings, {"run_dir"}),
        (embed, EmbedSettings, {"run_dir"}),
        (demo, DemoSettings, set()),
    ],
)
def test_eval_embed_and_demo_parameters_are_their_settings_fields(command, settings, extra):
    # The commands build their settings from locals(): a parameter without a field, or a
    # field without a parameter, would fail only when the command runs. Each parameter takes
    # its field's flag, help, choices and default.
    parameters = inspect.signature(command).parameters
    fields = {f.name: f for f in dataclasses.fields(settings)}
    assert set(parameters) - extra == set(fields)
    for name, field in fields.items():
        option = parameters[name].default  # typer's OptionInfo
        if field.default is dataclasses.MISSING:
            assert option.default is ..., name  # required on the command line too
        else:
            assert option.default == field.default, name
        assert field.metadata["flag"] in option.param_decls, name
        assert option.help.startswith(field.metadata["help"]), name
        for choice in field.metadata.get("choices", ()):
            assert choice in option.help, (name, choice)
