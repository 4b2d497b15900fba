"""How many workers the ffcv backend can run here, without importing FFCV itself.

FFCV runs its workers as numba threads, and numba refuses more threads than the cores it was
given (NUMBA_NUM_THREADS, by default the cores this process may use).
"""

from __future__ import annotations


def numba_threads() -> int | None:
    """numba's thread count; None where numba (FFCV's dependency) is not installed, so that
    using the backend fails with its own error instead."""
    try:
        from numba import config
    except ImportError:
        return None
    return int(config.NUMBA_NUM_THREADS)
