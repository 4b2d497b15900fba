"""Columns of numbers and text as a Parquet file, through pyarrow (the `parquet` extra).

Plain 1-D arrays become plain columns; 2-D [N, D] arrays become columns of fixed-size lists
of D values, which pandas reads as arrays, polars as Array and DuckDB as FLOAT[D].
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from visim.core import extras
from visim.evaluation.eval_settings import EvalError


def require_pyarrow() -> None:
    """EvalError naming the extra unless pyarrow imports: checked before any work is done."""
    fix = extras.missing(extras.PARQUET)
    if fix is not None:
        raise EvalError(f"writing Parquet needs pyarrow, which is missing; run: {fix}")


def write_parquet(
    path: Path,
    columns: dict[str, np.ndarray | list[str]],
    nulls: dict[str, np.ndarray],
    metadata: dict,
) -> None:
    """One Parquet table of `columns` (N rows each) at `path`, with `metadata` as JSON under
    the schema key "visim". nulls: column name -> bool [N], true where that row has no value."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for name, values in columns.items():
        mask = nulls.get(name)
        if isinstance(values, np.ndarray) and values.ndim == 2:
            flat = pa.array(np.ascontiguousarray(values).reshape(-1))  # [N * D]
            arrays[name] = pa.FixedSizeListArray.from_arrays(
                flat, values.shape[1], mask=None if mask is None else pa.array(mask)
            )
        else:
            arrays[name] = pa.array(values, mask=mask)
    table = pa.table(arrays).replace_schema_metadata({"visim": json.dumps(metadata)})
    pq.write_table(table, path)
