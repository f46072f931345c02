"""faceattrs: find faces and estimate their perceived age, gender and race, offline."""

from faceattrs.results import Face

__all__ = ["Face", "FaceAnalyzer", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy so that `import faceattrs` stays cheap and never loads ONNX Runtime.
    if name == "FaceAnalyzer":
        from faceattrs.pipeline.analyzer import FaceAnalyzer

        return FaceAnalyzer
    raise AttributeError(name)
