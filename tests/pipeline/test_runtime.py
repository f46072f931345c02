"""ONNX Runtime session options shared by the detector and the attribute model."""

import pytest

from faceattrs.pipeline.analyzer import FaceAnalyzer
from faceattrs.pipeline.runtime import session_options

SPIN = "session.intra_op.allow_spinning"


def test_spinning_only_while_a_run_is_in_progress():
    options = session_options(2)
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry(SPIN) == "1"
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"


def test_no_spinning_when_asked():
    options = session_options(None, spinning=False)
    assert options.intra_op_num_threads == 0  # ONNX Runtime's default: one per core
    assert options.get_session_config_entry(SPIN) == "0"


def _spins(analyzer: FaceAnalyzer) -> tuple[str, str]:
    sessions = (analyzer.detector.onnx.session, analyzer.model.onnx.session)
    return tuple(s.get_session_options().get_session_config_entry(SPIN) for s in sessions)


def test_analyzer_sets_spinning_on_both_models():
    assert _spins(FaceAnalyzer(threads=2)) == ("1", "1")
    assert _spins(FaceAnalyzer(threads=2, spinning=False)) == ("0", "0")


def test_server_analyzer_does_not_spin():
    pytest.importorskip("fastapi")
    from faceattrs.server.app import create_app
    from faceattrs.server.settings import ServerSettings

    assert _spins(create_app(ServerSettings()).state.analyzer) == ("0", "0")
