"""The experiment trackers --log-with can name, and whether each one's package is installed.

Each tracker is an extra of the same name (pip install 'visim[tensorboard]'); asking for one
whose package is missing is a one-line error naming that extra, before any work starts.
"""

from __future__ import annotations

from visim.core import extras

LOG_WITH_CHOICES = ("none", *extras.TRACKERS)


class TrackerUnavailable(ValueError):
    """The tracker asked for cannot be used here; the message is one line naming the extra."""


def require_tracker(name: str, option: str = "--log-with") -> None:
    """TrackerUnavailable unless `name` is a tracker whose package imports here."""
    if name not in extras.TRACKERS:
        raise TrackerUnavailable(
            f"{option} must be one of {', '.join(LOG_WITH_CHOICES)}, got {name!r}"
        )
    fix = extras.missing(extras.TRACKERS[name])
    if fix is not None:
        raise TrackerUnavailable(
            f"{option} {name}: the {name} package is not installed; run: {fix}"
        )
