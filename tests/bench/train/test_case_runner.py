"""Each case runs in a child process; failures and overruns come back as reasons."""

from visim.bench.train.case import TrainCase
from visim.bench.train.case_runner import run_case


def tiny_case(**changes) -> TrainCase:
    values = {
        "method": "simsiam",
        "arch": "resnet18",
        "precision": "fp32",
        "channels_last": True,
        "compile": False,
        "backend": "synthetic",
        "size": 16,
        "recipe": "small",
        "cifar_stem": False,
        "batch_size": 4,
        "device": "cpu",
        "workers": 0,
        "data": "",
        "samples": 16,
        "window_steps": 1,
        "max_steps": 3,
    }
    return TrainCase(**{**values, **changes})


def test_a_case_that_fails_reports_the_error(tmp_path):
    case = tiny_case(backend="torch", data=str(tmp_path / "missing-folder"))
    result = run_case(case, tmp_path / "case", timeout_s=120)
    assert result.measurement is None
    assert result.problem.startswith("ConfigError: DATA")
    assert not (tmp_path / "case" / "run").exists()


def test_a_case_past_its_time_limit_is_stopped(tmp_path):
    result = run_case(tiny_case(), tmp_path / "case", timeout_s=0.2)
    assert result.measurement is None
    assert result.problem == "ran past --case-timeout (0.2 s) and was stopped"
