"""Fixtures every test gets."""

import pytest
import torch


@pytest.fixture(autouse=True)
def distribution_validation_restored():
    """torch.compile's first use turns torch.distributions' argument checks off for the whole
    process (torch._dynamo sets Distribution's default validate_args to False): restore the
    default after each test, so a test that compiles leaves later tests' checks on."""
    default = torch.distributions.Distribution._validate_args
    yield
    torch.distributions.Distribution.set_default_validate_args(default)


@pytest.fixture(autouse=True)
def interrupt_state_reset():
    """A command run in-process that was interrupted marks its one line printed for the rest
    of the process (visim.cli.interrupts): the next test's command starts unmarked."""
    from visim.cli import interrupts

    yield
    interrupts._State.seen = interrupts._State.reported = False


@pytest.fixture
def fresh_accelerate():
    """Accelerate's state is a process-wide singleton: start and leave it empty (the
    training and demo tests that run a loop in-process ask for this)."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
