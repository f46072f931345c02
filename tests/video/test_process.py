"""video/process.py: the analyzer a video's frames get."""

from __future__ import annotations


def test_frame_analyzer_gives_a_photo_analyzer_the_video_rules() -> None:
    """A server's one analyzer (photos: 20 px faces, the edge border) analyses a video
    job's frames as `faceattrs video` does, its models shared, itself unchanged."""
    from faceattrs.pipeline.analyzer import FaceAnalyzer
    from faceattrs.video.process import frame_analyzer

    photos = FaceAnalyzer(spinning=False)
    frames = frame_analyzer(photos, 1920, 1080)
    assert (frames.min_face, frames.detector.edge_margin) == (40, 0)
    assert (photos.min_face, photos.detector.edge_margin) == (20, 32)
    assert frames.model is photos.model and frames.embedder is photos.embedder
    assert frames.expression_model is photos.expression_model
    assert frame_analyzer(photos, 640, 360).min_face == 20
    fake = object()
    assert frame_analyzer(fake, 1920, 1080) is fake
