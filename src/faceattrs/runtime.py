"""ONNX Runtime session options shared by the detector and the attribute model."""

from __future__ import annotations

import onnxruntime as ort


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
