"""Reading still images into BGR uint8 arrays, and finding image files in folders.

Handles EXIF orientation, grayscale, palette, RGBA (composited on white), 16-bit,
CMYK; JPEG, PNG, WebP, BMP, TIFF and AVIF (where Pillow has its AVIF plugin, as its
wheels since 11.3 do; HEIC is named in the error). Everything that goes wrong becomes a
:class:`MediaError` with a one-line message.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# 100 megapixels: above any phone camera, far below a decompression bomb.
DEFAULT_MAX_PIXELS = 100_000_000
# Bytes of one image file read at most (checked before reading, and the read is bounded).
DEFAULT_MAX_BYTES = 256 * 2**20
# Decoders we accept (PIL format names). MPO is how PIL names many phone JPEGs.
SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "DIB", "TIFF", "AVIF"})
SUPPORTED_NAMES = "JPEG, PNG, WebP, BMP, TIFF or AVIF"
# File name suffixes picked up when scanning folders: HEIC photos too, so that a folder of
# phone photos reports them as unreadable (one line each) instead of skipping them unseen.
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff", ".avif", ".heic", ".heif"}
)
# ISO base media file brands (the ``ftyp`` box) of AVIF and of HEIC/HEIF stills.
AVIF_BRANDS = frozenset({b"avif", b"avis"})
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})


class MediaError(ValueError):
    """An input that is not a readable image (missing, corrupt, unsupported, too large)."""


def sniff_image(head: bytes) -> str | None:
    """The still-image type from the first bytes (not the file name), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if _ftyp_brands(head) & AVIF_BRANDS:
        return "avif"
    return None


def _ftyp_brands(head: bytes) -> set[bytes]:
    """The major and compatible brands of an ISO base media file's ``ftyp`` box (AVIF,
    HEIC, MP4 ...) as far as ``head`` holds it; empty when it is not one."""
    if head[4:8] != b"ftyp" or len(head) < 12:
        return set()
    size = int.from_bytes(head[:4], "big")
    brands = {head[8:12]}
    brands.update(head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4))
    return brands


def read_image(
    source: str | os.PathLike | bytes | bytearray | memoryview,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> np.ndarray:
    """Decode an image file (path) or encoded bytes into a BGR uint8 (H, W, 3) array.

    The EXIF orientation is applied. ``max_pixels`` (None: no limit) refuses images
    whose header announces more pixels, before anything is decoded; a file of more
    than ``max_bytes`` is refused before it is read (and never read past that).
    Library warnings (Pillow's about damaged EXIF data, ...) are not shown.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        name = "<bytes>"
        if len(source) == 0:
            raise MediaError("empty input: not an image")
        data = bytes(source)
    else:
        name = str(source)
        data = read_file(source, max_bytes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's warnings name its own source files
            with Image.open(io.BytesIO(data)) as img:
                _check_header(img, name, max_pixels)
                orientation = _exif_orientation(img)
                if img.format in ("JPEG", "MPO") and img.mode in ("RGB", "L") and orientation:
                    bgr = _decode_jpeg(data, name, img.mode == "L", orientation)
                    if bgr is not None:
                        return bgr
                img.load()
                return _to_bgr(_orient(img))
    except MediaError:
        raise
    except Image.DecompressionBombError as exc:
        raise MediaError(f"{name}: image too large ({exc})") from None
    except UnidentifiedImageError:
        raise MediaError(f"{name}: {_unidentified(data[:64])}") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise MediaError(f"{name}: corrupt or truncated image ({reason})") from None


def read_file(source: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of an image file: a regular file (never a FIFO or device, which could
    block or never end) of at most ``max_bytes``, read no further than that."""
    path = Path(source)
    name = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise MediaError(f"{name}: broken symbolic link") from None
        raise MediaError(f"{name}: no such file") from None
    except OSError as exc:  # a symbolic link loop, a permission error on the way ...
        raise MediaError(f"{name}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if stat.S_ISDIR(info.st_mode):
        try:
            os.scandir(path).close()
        except OSError as exc:
            raise MediaError(f"{name}: cannot list this folder ({exc.strerror})") from None
        raise MediaError(f"{name}: a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise MediaError(f"{name}: not a file (a FIFO, socket or device)")
    if info.st_size == 0:
        raise MediaError(f"{name}: empty file, not an image")
    if info.st_size > max_bytes:
        raise MediaError(
            f"{name}: file too large ({info.st_size:,} bytes, limit {max_bytes:,}); "
            "refusing to read"
        )
    try:
        with open(path, "rb") as file:
            data = file.read(max_bytes + 1)
    except PermissionError:
        raise MediaError(f"{name}: permission denied") from None
    except OSError as exc:
        raise MediaError(f"{name}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if len(data) > max_bytes:  # it grew since stat
        raise MediaError(f"{name}: file too large (over {max_bytes:,} bytes); refusing to read")
    if not data:
        raise MediaError(f"{name}: empty file, not an image")
    return data


def _unidentified(head: bytes) -> str:
    """Why Pillow could not open a file: HEIC and AVIF named, else the general line."""
    brands = _ftyp_brands(head)
    if brands & AVIF_BRANDS:
        from PIL import features

        if features.check("avif"):
            return "corrupt or truncated AVIF image"
        return "AVIF image, but this Pillow cannot decode AVIF (pip install 'pillow>=11.3')"
    if brands & HEIF_BRANDS:
        return f"HEIC/HEIF image: not supported; convert it to JPEG (or use {SUPPORTED_NAMES})"
    return "not an image or an unsupported format"


def _check_header(img: Image.Image, name: str, max_pixels: int | None) -> None:
    if img.format not in SUPPORTED_FORMATS:
        raise MediaError(f"{name}: unsupported image format {img.format}; use {SUPPORTED_NAMES}")
    width, height = img.size
    if width <= 0 or height <= 0:
        raise MediaError(f"{name}: image has no pixels")
    if max_pixels is not None and width * height > max_pixels:
        raise MediaError(
            f"{name}: image too large ({width}x{height} = {width * height:,} pixels, "
            f"limit {max_pixels:,}); refusing to decode"
        )


def _decode_jpeg(data: bytes, name: str, gray: bool, orientation: int) -> np.ndarray | None:
    """A colour or grayscale JPEG straight to BGR with libjpeg-turbo (simplejpeg), EXIF
    orientation applied: as fast as OpenCV, with Pillow's pixels. Strict: a JPEG whose data
    ends early is refused even when an end-of-image marker was appended (libjpeg, OpenCV
    and Pillow would fill the missing part with grey); other warnings (extraneous bytes ...)
    give None and Pillow decodes it."""
    import simplejpeg

    try:
        pixels = simplejpeg.decode_jpeg(data, colorspace="GRAY" if gray else "BGR", strict=True)
    except ValueError as exc:
        reason = " ".join(str(exc).split())
        if "premature end" in reason.lower():
            raise MediaError(f"{name}: corrupt or truncated image ({reason})") from None
        return None
    if gray:
        pixels = cv2.cvtColor(pixels.reshape(pixels.shape[:2]), cv2.COLOR_GRAY2BGR)
    turn = _ORIENT.get(orientation)
    return pixels if turn is None else np.ascontiguousarray(turn(pixels))


# EXIF orientation -> the numpy view that displays the stored pixels upright.
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


def _exif_orientation(img: Image.Image) -> int | None:
    """The EXIF orientation (1: as stored), None when the EXIF block is broken."""
    try:
        return int(img.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block: Pillow's path handles it
        return None


def _orient(img: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img) or img
    except Exception:  # a broken EXIF block must not make a good image unreadable
        return img


def _to_bgr(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        gray = _high_depth_to_uint8(np.asarray(img), mode)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    if img.mode == "L":
        return cv2.cvtColor(np.asarray(img), cv2.COLOR_GRAY2BGR)
    if img.mode != "RGB":  # 1, CMYK, YCbCr, LAB, HSV, RGBX, RGBA ...
        img = img.convert("RGB")
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def _high_depth_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """Scale a 16-bit (or 32-bit int / float) grayscale image to uint8."""
    if mode == "F":
        peak = 1.0 if np.nanmax(values, initial=0.0) <= 1.0 else 255.0
        scaled = np.nan_to_num(values.astype(np.float32)) * (255.0 / peak)
    elif mode == "I" and values.max(initial=0) <= 255:
        scaled = values.astype(np.float32)
    else:  # 16-bit range
        scaled = values.astype(np.float32) / 257.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def iter_image_paths(
    paths: Iterable[str | os.PathLike],
    recursive: bool = True,
    exclude: Iterable[str | os.PathLike] = (),
) -> Iterator[Path]:
    """Yield image files: each file as given, each folder's images (by suffix) sorted.

    Files named explicitly are yielded whatever their suffix (reading them reports
    what is wrong); paths that do not exist are yielded too, so the caller reports
    them. Hidden files and folders, and folders under ``exclude``, are skipped.
    Symbolic links to folders are not followed. Entries that cannot be examined
    (symbolic link loops, FIFOs named like images, folders that cannot be listed) are
    yielded as well: reading them gives the error, and the walk goes on.
    """
    excluded = {Path(p).resolve() for p in exclude}
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            yield path
            continue
        yield from _scan_folder(path, recursive, excluded)


def _scan_folder(folder: Path, recursive: bool, excluded: set[Path]) -> Iterator[Path]:
    if folder.resolve() in excluded:
        return
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:  # reading the folder itself reports why (permission denied ...)
        yield folder
        return
    subfolders = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(Path(entry.path))
                continue
        except OSError:
            pass
        if Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
            yield Path(entry.path)  # a file, or something reading it reports
    if recursive:
        for sub in subfolders:
            yield from _scan_folder(sub, recursive, excluded)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Check an image array and bring it to BGR uint8 (H, W, 3): gray and BGRA accepted."""
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image array, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    raise ValueError(f"expected a BGR image of shape (H, W, 3), got {image.shape}")
