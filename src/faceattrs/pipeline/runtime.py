"""The one model base: every ONNX model (detector, attribute model, heads) loads here.

:class:`OnnxModel` holds a model's path (or bytes), its execution providers and
session options, creates the ONNX Runtime session on first use under a lock, and
reads the JSON spec the model carries in its metadata (never guessed).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnxruntime as ort

# what --provider names, and the ONNX Runtime package that brings each provider
PROVIDERS = {
    "cpu": ("CPUExecutionProvider", "onnxruntime"),
    "cuda": ("CUDAExecutionProvider", "onnxruntime-gpu (pip install 'faceattrs[gpu]')"),
    "coreml": ("CoreMLExecutionProvider", "onnxruntime on macOS"),
    "dml": ("DmlExecutionProvider", "onnxruntime-directml"),
}
AUTO_ORDER = ("CUDAExecutionProvider", "CoreMLExecutionProvider", "DmlExecutionProvider")


class ProviderError(ValueError):
    """An execution provider was asked for that this ONNX Runtime does not have."""


class ModelLoadError(ValueError):
    """A model file is missing, not ONNX, or lacks the metadata it must carry."""


def resolve_providers(providers: str | Sequence[str] | None) -> list[str]:
    """ONNX Runtime provider names from ``"cpu"``, ``"cuda"``, ``"coreml"``, ``"dml"``,
    ``"auto"`` (the best installed, then CPU), a list of such names or of ONNX Runtime
    names, or None (CPU). A provider asked for explicitly that is not installed raises
    :class:`ProviderError` naming the package to install: never a silent fallback."""
    available = ort.get_available_providers()
    if providers is None:
        return ["CPUExecutionProvider"]
    if isinstance(providers, str):
        providers = [providers]
    if list(providers) == ["auto"]:
        return [p for p in AUTO_ORDER if p in available] + ["CPUExecutionProvider"]
    resolved = []
    for name in providers:
        full, package = PROVIDERS.get(name.lower(), (name, "an onnxruntime build with it"))
        if full not in available:
            raise ProviderError(
                f"execution provider {name!r} is not available in this ONNX Runtime "
                f"(available: {', '.join(available)}); install {package}"
            )
        resolved.append(full)
    if "CPUExecutionProvider" not in resolved:
        resolved.append("CPUExecutionProvider")  # for operators the accelerator lacks
    return resolved


def session_options(threads: int | None = None, spinning: bool = True) -> ort.SessionOptions:
    """CPU session options: ``threads`` intra-op threads (None: one per core),
    sequential execution, full graph optimisation, warnings off.

    ``spinning``: worker threads busy-wait while a run is in progress and stop
    when it ends (``session.force_spinning_stop``), for one caller at a time.
    Without spinning every operator waits for its worker thread to wake up:
    measured on 2 cores, a 1280x720 photo took 30 ms instead of 26.5 ms at the
    same CPU time. Spinning that went on after a run (ONNX Runtime's default)
    made the detector's idle threads compete with the attribute model's: 41 ms.
    Turn it off where several threads run models at once (the server): there
    the spinning threads take CPU from each other (measured 14 instead of 18
    photos/s in bench/load_test.py).
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    if spinning:
        options.add_session_config_entry("session.force_spinning_stop", "1")
    return options


class OnnxModel:
    """One ONNX model: ``source`` (a path or the model's bytes), ``providers`` (see
    :func:`resolve_providers`), ``threads`` and ``spinning`` (see
    :func:`session_options`). The session is created on first use, once, under a lock;
    ``metadata`` and :meth:`spec_json` read the model's own metadata."""

    def __init__(
        self,
        source: str | os.PathLike | bytes,
        *,
        providers: str | Sequence[str] | None = None,
        threads: int | None = None,
        spinning: bool = True,
        name: str = "model",
    ) -> None:
        self.name = name
        if isinstance(source, bytes):
            self.path: Path | None = None
            self._bytes: bytes | None = source
        else:
            self.path, self._bytes = Path(source), None
            if not self.path.is_file():
                raise ModelLoadError(f"{name} not found: {self.path}")
        self.providers = resolve_providers(providers)
        self.threads = threads if threads else (os.cpu_count() or 1)
        self.spinning = spinning
        self._session: ort.InferenceSession | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path or '<bytes>')!r}, providers={self.providers})"

    @property
    def label(self) -> str:
        return str(self.path) if self.path is not None else f"<{self.name} bytes>"

    @property
    def session(self) -> ort.InferenceSession:
        """The ONNX Runtime session (created on first use)."""
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._open()
        return self._session

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def _open(self) -> ort.InferenceSession:
        source = self._bytes if self._bytes is not None else str(self.path)
        try:
            return ort.InferenceSession(
                source,
                sess_options=session_options(self.threads, self.spinning),
                providers=self.providers,
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            reason = " ".join(str(exc).split())[:300]
            raise ModelLoadError(f"{self.label}: not a loadable ONNX model ({reason})") from None

    @property
    def metadata(self) -> dict[str, str]:
        """The model's custom metadata (loads the model)."""
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def spec_json(self, key: str) -> dict[str, Any]:
        """The JSON object stored under metadata ``key``; a one-line error without it."""
        metadata = self.metadata
        if key not in metadata:
            raise ModelLoadError(f"{self.label}: not a faceattrs {self.name} (no {key!r} metadata)")
        try:
            return json.loads(metadata[key])
        except ValueError as exc:
            raise ModelLoadError(f"{self.label}: invalid {key!r} metadata ({exc})") from None

    def input_names(self) -> list[str]:
        return [i.name for i in self.session.get_inputs()]

    def output_names(self) -> list[str]:
        return [o.name for o in self.session.get_outputs()]

    def run(self, outputs: Sequence[str] | None, feeds: dict[str, Any]) -> list[Any]:
        """``session.run``: the named outputs (None: all) for the input ``feeds``."""
        return self.session.run(None if outputs is None else list(outputs), feeds)


class ModelHead:
    """What every head (attributes, expression, embedding) shares: its :class:`OnnxModel`,
    a batch size, and its spec read from the model's metadata once, on first use, under a
    lock. Subclasses implement ``_load_spec`` (read and check the spec)."""

    kind = "model"  # named in errors
    default_path: Path | None = None  # the packaged model, used when ``path`` is None
    default_batch_size = 32

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        threads: int | None = None,
        batch_size: int | None = None,
        providers: str | Sequence[str] | None = None,
        spinning: bool = True,
    ) -> None:
        batch_size = self.default_batch_size if batch_size is None else batch_size
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if path is None and self.default_path is None:
            raise ValueError(f"{self.kind}: no path given and no packaged default")
        self.path = Path(self.default_path if path is None else path)
        self.onnx = OnnxModel(
            self.path, providers=providers, threads=threads, spinning=spinning, name=self.kind
        )
        self.batch_size = batch_size
        self._spec: Any = None
        self._spec_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={str(self.path)!r})"

    @property
    def spec(self) -> Any:
        """The model's spec (loads the model)."""
        if self._spec is None:
            with self._spec_lock:
                if self._spec is None:
                    self._spec = self._load_spec()
        return self._spec

    def _load_spec(self) -> Any:
        raise NotImplementedError

    def _read_spec(self, spec_type: Any, key: str, invalid: str) -> Any:
        """The model's ``key`` metadata as a ``spec_type`` (its ``from_json``);
        ``invalid``: what the one-line error calls a file whose metadata does not parse."""
        raw = self.onnx.spec_json(key)
        try:
            return spec_type.from_json(json.dumps(raw))
        except (ValueError, TypeError) as exc:
            raise ModelLoadError(f"{self.path}: {invalid} ({exc})") from None

    def _check_signature(
        self, inputs: Sequence[str], outputs: Sequence[str], exact_inputs: bool = False
    ) -> None:
        """A one-line error unless the model has the spec's ``inputs`` (exactly these, in
        this order, with ``exact_inputs``) and ``outputs``."""
        have_inputs, have_outputs = self.onnx.input_names(), set(self.onnx.output_names())
        missing = [n for n in inputs if n not in have_inputs]
        missing += [n for n in outputs if n not in have_outputs]
        if missing or (exact_inputs and list(inputs) != have_inputs):
            raise ModelLoadError(
                f"{self.path}: model signature does not match its spec (inputs {have_inputs}, "
                f"missing {missing})"
            )
