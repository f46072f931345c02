"""Uploaded images: type-checked by content and size-checked before decoding."""

import io
import warnings

from faceattrs.media import SUPPORTED_NAMES, sniff_image
from faceattrs.server.errors import ApiError


def image_size(data: bytes, name: str, max_pixels: int) -> int:
    """The pixels an uploaded image will decode to, from its header alone (nothing is
    decoded); ApiError when it is empty, not a supported type, unreadable or too large."""
    from PIL import Image

    if not data:
        raise ApiError(400, "empty_file", f"{name}: empty file")
    if sniff_image(data[:64]) is None:
        raise ApiError(
            415,
            "unsupported_type",
            f"{name}: not a supported image ({SUPPORTED_NAMES} by content)",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore")  # Pillow's warnings name its source files
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
    except Image.DecompressionBombError:  # PIL's own limit, far above ours
        raise ApiError(
            413, "too_many_pixels", f"{name}: over the limit of {max_pixels:,} pixels"
        ) from None
    except Exception:
        raise ApiError(422, "unreadable_image", f"{name}: corrupt or unreadable image") from None
    if width * height > max_pixels:
        raise ApiError(
            413,
            "too_many_pixels",
            f"{name}: {width}x{height} pixels is over the limit of {max_pixels:,}",
        )
    return width * height


def decode_image(data: bytes, name: str, max_pixels: int):
    """Type-check (by content), size-check (header) and decode an uploaded image to BGR."""
    from faceattrs.media import MediaError, read_image

    image_size(data, name, max_pixels)
    try:
        return read_image(data, max_pixels=max_pixels)
    except MediaError as exc:
        raise ApiError(422, "unreadable_image", f"{name}: {str(exc).split(': ', 1)[-1]}") from None
