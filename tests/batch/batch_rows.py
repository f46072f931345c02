"""Comparing two sets of face rows: the same images, faces and labels, numbers equal
up to float32 rounding (a face's numbers can differ in the last bits with the other
faces in its model batch)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

ORDER = [("path", "ascending"), ("face_index", "ascending")]


def _numbers(column: pa.ChunkedArray) -> np.ndarray | None:
    kind = column.type
    if pa.types.is_floating(kind):
        return column.to_numpy(zero_copy_only=False).astype(np.float64)
    if pa.types.is_fixed_size_list(kind):
        size = kind.list_size
        return np.array([[np.nan] * size if v is None else v for v in column.to_pylist()], float)
    if pa.types.is_struct(kind):
        names = [f.name for f in kind]
        return np.array([[np.nan] * len(names) if v is None else [v[n] for n in names]
                         for v in column.to_pylist()], np.float64)  # fmt: skip
    return None


def assert_same_rows(a: pa.Table, b: pa.Table, tolerance: float = 1e-4) -> None:
    """Same schema, same rows in (path, face_index) order; floats within ``tolerance``."""
    assert a.schema.equals(b.schema), f"{a.schema}\n!=\n{b.schema}"
    assert a.num_rows == b.num_rows, (a.num_rows, b.num_rows)
    a, b = a.sort_by(ORDER), b.sort_by(ORDER)
    for name in a.column_names:
        x, y = _numbers(a[name]), _numbers(b[name])
        if x is None:
            x, y = a[name].to_pylist(), b[name].to_pylist()
            assert x == y, (
                name,
                [(i, u, v) for i, (u, v) in enumerate(zip(x, y, strict=True)) if u != v][:3],
            )
        else:
            np.testing.assert_allclose(x, y, rtol=tolerance, atol=tolerance, err_msg=name)
