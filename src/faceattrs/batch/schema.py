"""The Parquet schema of face rows, and the rows of analysed images.

One row per face; an image with no face or with an error gets one row with the face
columns null (the CSV rule). Numbers that fit are float32, labels are dictionary
columns whose dictionary is the model's label list (the same in every part), the
probabilities are structs with one float32 field per label. ``file_size`` and
``file_mtime`` identify the input file version: they are the resume key
(:mod:`faceattrs.batch.resume`).

Heads added later (expression, identity) add columns through :class:`ColumnGroup`:
``face_schema(genders, races, extras=[label_probs_group("expression", labels, get)])``
adds ``expression`` (dictionary) and ``expression_probs`` (struct) only when asked for,
so files written without them keep the base schema.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from faceattrs.resources import file_sha256
from faceattrs.results import NOTICE, Face

SCHEMA_VERSION = "1"
KEYPOINT_VALUES = 12  # BlazeFace: 6 keypoints, x and y
LABEL_INDEX = pa.int8()


@dataclass(frozen=True)
class AnalysedImage:
    """One input image's outcome: its faces, or an error; ``width``/``height`` of the
    decoded image (None when unreadable), ``file_size``/``file_mtime_ns`` from ``stat``."""

    path: str
    faces: Sequence[Face] = ()
    error: str | None = None
    width: int | None = None
    height: int | None = None
    file_size: int | None = None
    file_mtime_ns: int | None = None


@dataclass(frozen=True)
class ColumnGroup:
    """Extra face columns: their fields and a function giving a face's values by name."""

    name: str
    fields: Sequence[pa.Field]
    values: Callable[[Face], dict[str, Any]] = field(compare=False)


def label_probs_group(
    name: str, labels: Sequence[str], probs_of: Callable[[Face], dict[str, float]]
) -> ColumnGroup:
    """``name`` (dictionary label, the most probable) and ``name_probs`` (struct)."""

    def values(face: Face) -> dict[str, Any]:
        probs = probs_of(face)
        if not probs:  # not asked for: null columns
            return {}
        return {name: max(probs, key=probs.__getitem__), f"{name}_probs": probs}

    fields = [label_field(name, labels), probs_field(f"{name}_probs", labels)]
    return ColumnGroup(name, fields, values)


def vector_group(name: str, size: int, vector_of: Callable[[Face], Sequence[float]]) -> ColumnGroup:
    """One fixed-size float32 list column (e.g. an identity embedding)."""
    column = pa.field(name, pa.list_(pa.float32(), size))
    return ColumnGroup(name, [column], lambda face: {name: list(vector_of(face))})


def label_field(name: str, labels: Sequence[str]) -> pa.Field:
    return pa.field(name, pa.dictionary(LABEL_INDEX, pa.string()), metadata=_labels_meta(labels))


def probs_field(name: str, labels: Sequence[str]) -> pa.Field:
    return pa.field(name, pa.struct([pa.field(label, pa.float32()) for label in labels]))


def _labels_meta(labels: Sequence[str]) -> dict[bytes, bytes]:
    return {b"labels": ",".join(labels).encode()}


def face_schema(
    genders: Sequence[str], races: Sequence[str], extras: Sequence[ColumnGroup] = ()
) -> pa.Schema:
    """The explicit schema of face rows for a model with these labels."""
    f32 = pa.float32()
    fields = [
        pa.field("path", pa.string(), nullable=False),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("face_index", pa.int32()),
        *(pa.field(name, f32) for name in ("x1", "y1", "x2", "y2", "score")),
        pa.field("keypoints", pa.list_(f32, KEYPOINT_VALUES)),
        *(pa.field(name, f32) for name in ("age", "age_low", "age_high")),
        label_field("gender", genders),
        probs_field("gender_probs", genders),
        label_field("race", races),
        probs_field("race_probs", races),
        *(column for group in extras for column in group.fields),
        pa.field("error", pa.string()),
        pa.field("file_size", pa.int64()),
        pa.field("file_mtime", pa.timestamp("ns", tz="UTC")),
        pa.field("model_sha256", pa.string()),
    ]
    metadata = {b"faceattrs_schema": SCHEMA_VERSION.encode(), b"faceattrs_notice": NOTICE.encode()}
    return pa.schema(fields, metadata=metadata)


def labels_of(schema: pa.Schema, name: str) -> list[str]:
    """The label list stored with a dictionary column of :func:`face_schema`."""
    return schema.field(name).metadata[b"labels"].decode().split(",")


def face_rows(
    images: Sequence[AnalysedImage],
    schema: pa.Schema,
    model_sha256: str | None,
    extras: Sequence[ColumnGroup] = (),
) -> pa.Table:
    """The rows of these images as a table of ``schema``, in input then face order."""
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    face_names = [n for n in schema.names if n not in IMAGE_COLUMNS]
    for image in images:
        image_values = {
            "path": image.path, "width": image.width, "height": image.height,
            "error": image.error, "file_size": image.file_size,
            "file_mtime": image.file_mtime_ns, "model_sha256": model_sha256,
        }  # fmt: skip
        for face_index, face in list(enumerate(image.faces)) or [(None, None)]:
            if face is None:
                values: dict[str, Any] = {}
            else:
                values = _face_values(face, face_index)
                for group in extras:
                    values.update(group.values(face))
            for name in face_names:
                columns[name].append(values.get(name))
            for name, value in image_values.items():
                columns[name].append(value)
    arrays = []
    for column in schema:
        if pa.types.is_dictionary(column.type):
            arrays.append(_dictionary(columns[column.name], labels_of(schema, column.name)))
        else:
            arrays.append(pa.array(columns[column.name], column.type))
    return pa.Table.from_arrays(arrays, schema=schema)


IMAGE_COLUMNS = frozenset(
    {"path", "width", "height", "error", "file_size", "file_mtime", "model_sha256"}
)


def _face_values(face: Face, index: int) -> dict[str, Any]:
    x1, y1, x2, y2 = face.xyxy
    keypoints = [v for point in face.keypoints for v in point]
    low, high = face.age_interval if face.age_interval is not None else (None, None)
    return {
        "face_index": index, "x1": x1, "y1": y1, "x2": x2, "y2": y2, "score": face.score,
        "keypoints": keypoints if len(keypoints) == KEYPOINT_VALUES else None,
        "age": face.age, "age_low": low, "age_high": high,
        "gender": face.gender, "gender_probs": face.gender_probs,
        "race": face.race, "race_probs": face.race_probs,
    }  # fmt: skip


def _dictionary(values: list[str | None], labels: Sequence[str]) -> pa.DictionaryArray:
    """Labels as indices into the fixed label list (the same dictionary in every part)."""
    index = {label: i for i, label in enumerate(labels)}
    indices = pa.array([None if v is None else index[v] for v in values], LABEL_INDEX)
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(labels), pa.string()))


def stat_key(path: str | os.PathLike) -> tuple[int | None, int | None]:
    """``(size, mtime_ns)`` of a file, or ``(None, None)`` when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None, None
    return st.st_size, st.st_mtime_ns


def analyzer_sha256(analyzer: Any) -> str | None:
    """The SHA-256 of the analyzer's attribute model file (None when not a file); in the
    accurate tier, that and the heads file's, joined by "+"."""
    sha = file_sha256(getattr(getattr(analyzer, "model", None), "path", None))
    heads = getattr(analyzer, "embedding_heads", None)
    if sha is None or heads is None:
        return sha
    return f"{sha}+{file_sha256(heads.path)}"


def head_columns(analyzer: Any) -> list[ColumnGroup]:
    """The extra columns of the heads this analyzer runs besides the attribute model:
    ``expression`` and ``expression_probs`` when the expression head is asked for."""
    model = getattr(analyzer, "expression_model", None)
    if model is None:
        return []
    return [label_probs_group("expression", model.spec.labels, lambda f: f.expression_probs)]
