"""A generated corpus of bad (and valid-but-unusual) image and video files.

``write_corpus(folder)`` writes every file and returns one :class:`CorpusFile` per
file, saying what each reader must do with it: ``image_ok`` (decoded as an image)
and ``video_ok`` (read as a video). Everything is built here from numpy, Pillow and
OpenCV, in milliseconds; nothing is downloaded or read from ../shared.

    python tests/bad_inputs.py OUT_DIR     # write the corpus somewhere to look at it
"""

from __future__ import annotations

import functools
import io
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

BOMB_SIDE = 30_000  # the decompression bomb's claimed width and height


@dataclass(frozen=True)
class CorpusFile:
    """One corpus file and what reading it must give."""

    path: Path
    what: str  # one line: what the file is
    image_ok: bool = False  # an image reader must decode it
    video_ok: bool = False  # a video reader must read it

    @property
    def name(self) -> str:
        return self.path.name


def picture_bgr(width: int = 160, height: int = 120, seed: int = 0) -> np.ndarray:
    """A colourful synthetic picture (gradients and a disc), BGR uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    bgr = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1)
    bgr = bgr.astype(np.uint8)
    centre = (int(rng.integers(width // 4, 3 * width // 4)), height // 2)
    cv2.circle(bgr, centre, min(width, height) // 4, (40, 180, 230), -1)
    return bgr


def jpeg_bytes(bgr: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def png_bytes(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk with its length and a valid CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int = BOMB_SIDE) -> bytes:
    """A tiny PNG whose header (valid CRC) announces ``side`` x ``side`` RGB pixels;
    its data holds only a few rows of zeros, so decoding it would be the bomb."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)  # 8-bit RGB
    rows = zlib.compress(b"\x00" * (1 + 3 * side) * 4, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )


def jpeg_bomb(side: int = 65_000) -> bytes:
    """A small JPEG whose frame header is patched to claim ``side`` x ``side`` pixels."""
    data = bytearray(jpeg_bytes(picture_bgr(64, 48)))
    i = 2
    while i < len(data) - 9:  # walk the segments to the start-of-frame marker
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[i + 5 : i + 9] = struct.pack(">HH", side, side)
            return bytes(data)
        i += 2 + length
    raise AssertionError("no start-of-frame marker in the encoded JPEG")


def cmyk_jpeg() -> bytes:
    rgb = Image.fromarray(picture_bgr()[:, :, ::-1])
    out = io.BytesIO()
    rgb.convert("CMYK").save(out, "JPEG", quality=90)
    return out.getvalue()


def png16_gray() -> bytes:
    gray = cv2.cvtColor(picture_bgr(), cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    return png_bytes(gray)


def png16_color() -> bytes:
    return png_bytes(picture_bgr().astype(np.uint16) * 257)


def animated_gif() -> bytes:
    frames = [Image.fromarray(picture_bgr(seed=i)[:, :, ::-1]) for i in range(4)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" '
    b'height="100"><circle cx="50" cy="50" r="40" fill="orange"/></svg>\n'
)


def mp4_bytes(frames: int = 10, size: tuple[int, int] = (64, 48)) -> bytes:
    """An MPEG-4 Part 2 .mp4 (OpenCV's encoder) with ``frames`` frames (0: none)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "v.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, size)
        if not writer.isOpened():
            raise RuntimeError("OpenCV cannot encode mp4v here")
        for i in range(frames):
            writer.write(picture_bgr(*size, seed=i))
        writer.release()
        return path.read_bytes()


def _atoms(data: bytes, start: int = 0, end: int | None = None):
    """(type, start, size) of the MP4 boxes in data[start:end] (32-bit sizes only)."""
    end = len(data) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start : start + 8])
        if size < 8:
            raise ValueError("unexpected MP4 box size")
        yield kind, start, size
        start += size


def mp4_moov_first(data: bytes) -> bytes:
    """The MP4 rewritten with its index (moov) before the media data, as a streaming
    ("faststart") file is: cut short, it still opens and fails only part-way through."""
    top = {kind: (start, size) for kind, start, size in _atoms(data)}
    (moov_at, moov_size), (mdat_at, mdat_size) = top[b"moov"], top[b"mdat"]
    ftyp = data[: top[b"ftyp"][1]]  # the first box
    moov = bytearray(data[moov_at : moov_at + moov_size])
    shift = len(ftyp) + moov_size - mdat_at  # how far the media data moves
    _shift_chunk_offsets(moov, 8, len(moov), shift)
    return ftyp + bytes(moov) + data[mdat_at : mdat_at + mdat_size]


def _shift_chunk_offsets(moov: bytearray, start: int, end: int, shift: int) -> None:
    for kind, at, size in list(_atoms(bytes(moov), start, end)):
        if kind in (b"trak", b"mdia", b"minf", b"stbl"):
            _shift_chunk_offsets(moov, at + 8, at + size, shift)
        elif kind == b"stco":
            count = struct.unpack(">I", moov[at + 12 : at + 16])[0]
            for i in range(count):
                pos = at + 16 + 4 * i
                offset = struct.unpack(">I", moov[pos : pos + 4])[0]
                moov[pos : pos + 4] = struct.pack(">I", offset + shift)


def cut_with_end_marker(data: bytes) -> bytes:
    """A JPEG cut in half with the end-of-image marker (FF D9) appended: decoders fill
    the missing half with grey unless they check."""
    return data[: len(data) // 2] + b"\xff\xd9"


def bad_exif_jpeg() -> bytes:
    """A valid JPEG whose EXIF description claims 5000 bytes: Pillow warns about it,
    naming its own source file."""
    exif = Image.Exif()
    exif[0x010E] = "a description"  # ImageDescription (ASCII)
    out = io.BytesIO()
    Image.fromarray(picture_bgr()[:, :, ::-1]).save(out, "JPEG", exif=exif.tobytes())
    data = bytearray(out.getvalue())
    for order in "<>":  # the entry: tag, type 2 (ASCII), count
        at = data.find(struct.pack(order + "HHI", 0x010E, 2, len("a description") + 1))
        if at >= 0:
            data[at + 4 : at + 8] = struct.pack(order + "I", 5000)
            return bytes(data)
    raise AssertionError("no ImageDescription entry in the EXIF block")


def grey_jpeg(width: int, height: int) -> bytes:
    """A valid baseline grayscale JPEG of mid-grey pixels at any size, built in
    microseconds: every 8x8 block is "DC difference 0, end of block" (6 bits), so
    8000x8000 pixels take 750 kB (decoding them takes 190 MB)."""
    small = cv2.imencode(".jpg", np.full((16, 32), 128, np.uint8))[1].tobytes()
    scan = small.index(b"\xff\xda")
    head = small[: scan + 2 + struct.unpack(">H", small[scan + 2 : scan + 4])[0]]
    sof = head.index(b"\xff\xc0")
    head = head[: sof + 5] + struct.pack(">HH", height, width) + head[sof + 9 :]
    blocks = -(-width // 8) * -(-height // 8)
    bits = "001010" * (blocks % 4)
    bits += "1" * (-len(bits) % 8)
    tail = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
    return head + b"\x28\xa2\x8a" * (blocks // 4) + tail + b"\xff\xd9"


def _riff_chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + b"\0" * (len(data) % 2)


def _riff_list(kind: bytes, body: bytes) -> bytes:
    return b"LIST" + struct.pack("<I", len(body) + 4) + kind + body


def mjpeg_avi(frames: list[bytes], width: int, height: int, fps: int = 25) -> bytes:
    """A Motion-JPEG AVI of ``frames`` (JPEG bytes each) whose headers claim
    ``width`` x ``height`` at ``fps``, whatever the frames hold."""
    biggest = max(map(len, frames))
    avih = struct.pack(
        "<14I", 1_000_000 // fps, 0, 0, 0x10, len(frames), 0, 1, biggest, width, height, 0, 0, 0, 0
    )
    strh = b"vidsMJPG" + struct.pack(
        "<IHHIIIIIIIIhhhh", 0, 0, 0, 0, 1, fps, 0, len(frames), biggest, 0xFFFFFFFF, 0,
        0, 0, width, height,
    )  # fmt: skip
    strf = struct.pack(
        "<IiiHH4sIiiII", 40, width, height, 1, 24, b"MJPG", width * height * 3, 0, 0, 0, 0
    )
    stream = _riff_chunk(b"strh", strh) + _riff_chunk(b"strf", strf)
    hdrl = _riff_list(b"hdrl", _riff_chunk(b"avih", avih) + _riff_list(b"strl", stream))
    movi, index, offset = [], [], 4
    for frame in frames:
        chunk = _riff_chunk(b"00dc", frame)
        index.append(b"00dc" + struct.pack("<III", 0x10, offset, len(frame)))
        movi.append(chunk)
        offset += len(chunk)
    body = b"AVI " + hdrl + _riff_list(b"movi", b"".join(movi))
    body += _riff_chunk(b"idx1", b"".join(index))
    return b"RIFF" + struct.pack("<I", len(body)) + body


def big_frame_avi(side: int = 8000) -> bytes:
    """A 750 kB MJPEG AVI whose one frame is ``side`` x ``side`` (its headers claim 64x48):
    over the video readers' default pixel limit."""
    return mjpeg_avi([grey_jpeg(side, side)], 64, 48)


def many_frames_avi(frames: int, fps: int = 1000) -> bytes:
    """An MJPEG AVI of ``frames`` small frames claiming ``fps``: short by its stated
    duration, long by its content."""
    jpeg = jpeg_bytes(picture_bgr(64, 48))
    return mjpeg_avi([jpeg] * frames, 64, 48, fps)


@functools.cache
def _jpeg() -> bytes:
    return jpeg_bytes(picture_bgr())


@functools.cache
def _png() -> bytes:
    return png_bytes(picture_bgr())


@functools.cache
def _mp4() -> bytes:
    return mp4_bytes()


def _cut_stream() -> bytes:
    whole = mp4_moov_first(mp4_bytes(40))
    return whole[: len(whole) * 6 // 10]


def _random(size: int) -> Callable[[], bytes]:
    return lambda: np.random.default_rng(size).bytes(size)


# (file name, what it is, image_ok, video_ok, builder of its bytes)
SPECS: tuple[tuple[str, str, bool, bool, Callable[[], bytes]], ...] = (
    ("control.jpg", "a valid JPEG (control)", True, False, _jpeg),
    ("control.mp4", "a valid 10-frame MP4 (control)", False, True, _mp4),
    ("empty.jpg", "a zero-byte file", False, False, lambda: b""),
    ("empty.mp4", "a zero-byte file named .mp4", False, False, lambda: b""),
    ("random.jpg", "4 KiB of random bytes", False, False, _random(4096)),
    ("random.mp4", "4 KiB of random bytes named .mp4", False, False, _random(4096)),
    ("text.jpg", "a text file named .jpg", False, False, lambda: b"not an image\n" * 20),
    ("truncated.jpg", "a JPEG cut in half", False, False, lambda: _jpeg()[: len(_jpeg()) // 2]),
    ("truncated.png", "a PNG cut in half", False, False, lambda: _png()[: len(_png()) // 2]),
    (
        "cut_end_marker.jpg",
        "a JPEG cut in half, FF D9 appended",
        False,
        False,
        lambda: cut_with_end_marker(_jpeg()),
    ),
    (
        "cut_end_marker_gray.jpg",
        "a grayscale JPEG cut in half, FF D9 appended",
        False,
        False,
        lambda: cut_with_end_marker(jpeg_bytes(cv2.cvtColor(picture_bgr(), cv2.COLOR_BGR2GRAY))),
    ),
    ("bomb.png", f"a PNG header claiming {BOMB_SIDE}x{BOMB_SIDE}", False, False, png_bomb),
    ("bomb.jpg", "a JPEG header claiming 65000x65000", False, False, jpeg_bomb),
    ("animated.gif", "an animated GIF (4 frames)", False, True, animated_gif),
    ("cmyk.jpg", "a CMYK JPEG", True, False, cmyk_jpeg),
    (
        "bad_exif.jpg",
        "a JPEG whose EXIF data claims more bytes than it has",
        True,
        False,
        bad_exif_jpeg,
    ),
    ("gray16.png", "a 16-bit grayscale PNG", True, False, png16_gray),
    ("color16.png", "a 16-bit per channel colour PNG", True, False, png16_color),
    ("drawing.svg", "an SVG drawing", False, False, lambda: SVG),
    ("drawing_svg.jpg", "an SVG drawing named .jpg", False, False, lambda: SVG),
    ("noframes.mp4", "an MP4 with no frames", False, False, lambda: mp4_bytes(0)),
    ("truncated.mp4", "an MP4 cut in half", False, False, lambda: _mp4()[: len(_mp4()) // 2]),
    ("cut_stream.mp4", "a streaming MP4 (index first) cut at 60%", False, False, _cut_stream),
    ("png_named.mp4", "a PNG named .mp4", True, False, _png),
    ("jpeg_named.mp4", "a JPEG named .mp4", True, False, _jpeg),
    ("mp4_named.jpg", "an MP4 named .jpg", False, True, _mp4),
    ("png_named.jpg", "a PNG named .jpg", True, False, _png),
    (
        "big_frame.avi",
        "an MJPEG AVI of one 8000x8000 frame, headers claiming 64x48",
        False,
        False,
        big_frame_avi,
    ),
)
NAMES = tuple(spec[0] for spec in SPECS)


def write_corpus(folder: Path) -> list[CorpusFile]:
    """Write every corpus file into ``folder`` (created); returns them in a fixed order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    corpus = []
    for name, what, image_ok, video_ok, build in SPECS:
        path = folder / name
        path.write_bytes(build())
        corpus.append(CorpusFile(path, what, image_ok, video_ok))
    return corpus


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bad-inputs")
    for item in write_corpus(out):
        flags = ("image" if item.image_ok else "") + (" video" if item.video_ok else "")
        print(f"{item.path}  {item.path.stat().st_size:>8} B  {item.what}  ok: {flags or '-'}")
