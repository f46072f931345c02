"""Detect, align, describe: the model base, the detector, alignment, the heads and
:class:`~faceattrs.pipeline.analyzer.FaceAnalyzer` (submodules import on use)."""
