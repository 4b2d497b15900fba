"""The error of `visim eval` and `visim embed`, in a module light enough for the CLI to import."""

from __future__ import annotations


class EvalError(ValueError):
    """Evaluation cannot go on; the message is one line naming the argument at fault."""


def check_options(settings: object, checks: list[tuple[bool, str, str]]) -> None:
    """EvalError for the first (ok, "--option", "what it must be") that is not ok, with the
    value the option's field of `settings` holds."""
    for ok, option, wanted in checks:
        if not ok:
            value = getattr(settings, option.removeprefix("--").replace("-", "_"))
            raise EvalError(f"{option} must be {wanted}, got {value!r}")
