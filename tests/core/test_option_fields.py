"""field_problem: the one check of every settings field declared with option()."""

from dataclasses import dataclass

from visim.core.option_fields import POSITIVE, at_least, field_problem, option


@dataclass(frozen=True)
class Settings:
    count: int = option(1, flag="--count", check=at_least(1))
    rate: float | None = option(None, flag="--rate", check=POSITIVE)
    mode: str = option("a", flag="--mode", choices=("a", "b"))
    plots: bool = option(True, flag="--plots/--no-plots")
    file_only: int = option(3, check=at_least(0))


def test_settings_that_hold_have_no_problem():
    assert field_problem(Settings()) is None
    assert field_problem(Settings(rate=0.5, mode="b", plots=False)) is None


def test_the_first_broken_field_is_named_by_its_flag_with_what_it_must_be():
    assert field_problem(Settings(count=0)) == "--count must be at least 1, got 0"
    assert field_problem(Settings(rate=0.0)) == "--rate must be positive, got 0.0"
    assert field_problem(Settings(mode="c")) == "--mode must be one of a, b, got 'c'"
    # A field without a flag is named as the file sets it.
    assert field_problem(Settings(file_only=-1)) == "file_only must be at least 0, got -1"
    # In field order: --count before --mode.
    assert field_problem(Settings(count=0, mode="c")).startswith("--count")
