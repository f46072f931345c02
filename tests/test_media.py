import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, features

from faceattrs.media import MediaError, iter_image_paths, read_image

RED_RGB = (220, 30, 40)


def _solid(mode: str, colour, size=(32, 24)) -> Image.Image:
    return Image.new(mode, size, colour)


@pytest.mark.parametrize("fmt, suffix", [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp"),
                                         ("BMP", ".bmp"), ("TIFF", ".tif")])  # fmt: skip
def test_formats_decode_to_bgr(tmp_path, fmt, suffix):
    path = tmp_path / f"red{suffix}"
    _solid("RGB", RED_RGB).save(path, format=fmt)
    bgr = read_image(path)
    assert bgr.shape == (24, 32, 3) and bgr.dtype == np.uint8
    np.testing.assert_allclose(bgr.reshape(-1, 3).mean(0), RED_RGB[::-1], atol=4)


def test_bytes_and_path_give_the_same_pixels(tmp_path):
    path = tmp_path / "x.png"
    _solid("RGB", RED_RGB).save(path)
    np.testing.assert_array_equal(read_image(path.read_bytes()), read_image(str(path)))


def test_exif_orientation_is_applied(tmp_path):
    # Stored 40 wide x 20 high, left half red; orientation 6 = display rotated 90 deg clockwise,
    # so the stored left column becomes the top row.
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    bgr = read_image(path)
    assert bgr.shape[:2] == (40, 20)
    assert bgr[5, 10, 2] > 200 and bgr[5, 10, 0] < 60  # top: red
    assert bgr[35, 10, 0] > 200 and bgr[35, 10, 2] < 60  # bottom: blue


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_jpeg_fast_path_gives_pillows_pixels(tmp_path, orientation):
    """Colour JPEGs are decoded by OpenCV: the same pixels as Pillow's decode, rotated."""
    from PIL import ImageOps

    rng = np.random.default_rng(orientation)
    img = Image.fromarray(rng.integers(0, 256, (36, 52, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "noise.jpg"
    img.save(path, exif=exif, quality=90)
    with Image.open(path) as pil:
        expected = np.asarray(ImageOps.exif_transpose(pil).convert("RGB"))[..., ::-1]
    np.testing.assert_array_equal(read_image(path), expected)
    np.testing.assert_array_equal(read_image(path.read_bytes()), expected)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    path = tmp_path / "gray.png"
    _solid("L", 77).save(path)
    bgr = read_image(path)
    assert bgr.shape == (24, 32, 3)
    assert (bgr == 77).all()


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:, :5] = (*RED_RGB, 255)  # left opaque red, right fully transparent black
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    bgr = read_image(path)
    assert tuple(bgr[5, 2]) == RED_RGB[::-1]
    assert tuple(bgr[5, 8]) == (255, 255, 255)


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    img.paste(1, (0, 0, 4, 8))
    path = tmp_path / "palette.png"
    img.save(path, transparency=0)
    bgr = read_image(path)
    assert tuple(bgr[4, 1]) == (30, 200, 10)
    assert tuple(bgr[4, 6]) == (255, 255, 255)


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 128, 65535]], np.uint16).repeat(4, axis=0)
    path = tmp_path / "gray16.png"
    Image.fromarray(values).save(path)
    bgr = read_image(path)
    np.testing.assert_array_equal(bgr[0, :, 0], [0, 128, 255])


def test_16_bit_colour_png(tmp_path):
    bgr16 = np.zeros((4, 6, 3), np.uint16)
    bgr16[..., 0] = 65535  # blue full
    bgr16[..., 2] = 257 * 100  # red at 100 in 8-bit terms
    path = tmp_path / "colour16.png"
    assert cv2.imwrite(str(path), bgr16)
    bgr = read_image(path)
    assert bgr.dtype == np.uint8
    np.testing.assert_allclose(bgr[0, 0], (255, 0, 100), atol=1)


def test_cmyk_jpeg(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)  # pure red
    bgr = read_image(path)
    assert bgr.shape == (16, 16, 3)
    b, g, r = bgr.reshape(-1, 3).mean(0)
    assert r > 200 and g < 60 and b < 60


def test_pixel_limit_refuses_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    _solid("RGB", RED_RGB, size=(100, 50)).save(path)
    with pytest.raises(MediaError, match="too large.*5,000 pixels"):
        read_image(path, max_pixels=4_999)
    assert read_image(path, max_pixels=5_000).shape == (50, 100, 3)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [11_000, 100_000])  # our limit; PIL's bomb limit
def test_decompression_bomb_is_refused(tmp_path, side):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(side, side))
    with pytest.raises(MediaError, match="too large"):
        read_image(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"hello, I am not an image\n", "not an image"),
        (b"", "empty"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "not an image|corrupt"),
    ],
)
def test_non_images_raise_one_line_media_error(tmp_path, content, message):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(MediaError, match=message) as info:
        read_image(path)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_jpeg(tmp_path):
    ok = tmp_path / "ok.jpg"
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(ok, quality=90)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(ok.read_bytes()[: ok.stat().st_size // 2])
    with pytest.raises(MediaError, match="corrupt or truncated") as info:
        read_image(cut)
    assert "\n" not in str(info.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        read_image(tmp_path / "nope.jpg")
    with pytest.raises(MediaError, match="not a file"):
        read_image(tmp_path)


def test_unsupported_format(tmp_path):
    path = tmp_path / "anim.gif"
    _solid("RGB", RED_RGB).save(path, format="GIF")
    with pytest.raises(MediaError, match="unsupported image format GIF"):
        read_image(path)


needs_avif = pytest.mark.skipif(
    not features.check("avif"),
    reason="this Pillow has no AVIF plugin (its wheels have one since 11.3)",
)


@needs_avif
def test_avif_decodes_to_bgr_and_is_sniffed(tmp_path):
    from faceattrs.media import sniff_image

    path = tmp_path / "red.avif"
    _solid("RGB", RED_RGB).save(path, format="AVIF", quality=90)
    bgr = read_image(path)
    assert bgr.shape == (24, 32, 3) and bgr.dtype == np.uint8
    np.testing.assert_allclose(bgr.reshape(-1, 3).mean(0), RED_RGB[::-1], atol=6)
    assert sniff_image(path.read_bytes()[:64]) == "avif"  # what the server's upload check reads
    with pytest.raises(MediaError, match="corrupt or truncated AVIF image"):
        read_image(path.read_bytes()[:60])


def test_heic_is_named_in_one_line(tmp_path):
    """A phone's HEIC photo (its ftyp box, then data Pillow cannot open) is named, with what
    to do; sniffing does not take it for a supported image."""
    from faceattrs.media import sniff_image

    head = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(head + bytes(range(256)) * 8)
    with pytest.raises(MediaError, match="HEIC/HEIF image: not supported; convert it to JPEG"):
        read_image(path)
    assert sniff_image(head) is None
    mp4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    assert sniff_image(mp4) is None  # videos are ISO base media files too


def test_empty_bytes():
    with pytest.raises(MediaError, match="empty"):
        read_image(b"")


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_iter_image_paths_walks_folders_sorted_and_recursively(tmp_path):
    root = tmp_path / "photos"
    b = _touch(root / "b.JPG")
    a = _touch(root / "a.png")
    nested = _touch(root / "sub" / "deep" / "c.webp")
    avif, heic = _touch(root / "sub" / "f.avif"), _touch(root / "sub" / "g.HEIC")
    _touch(root / "notes.txt")
    _touch(root / ".hidden.jpg")
    _touch(root / ".cache" / "d.jpg")
    skipped = _touch(root / "annotated" / "e.jpg")
    explicit = _touch(tmp_path / "single.dat")
    missing = tmp_path / "missing.jpg"

    found = list(iter_image_paths([root, explicit, missing], exclude=[root / "annotated"]))
    assert found == [a, b, avif, heic, nested, explicit, missing]  # HEIC: reported, not skipped
    shallow = list(iter_image_paths([root], recursive=False))
    assert shallow == [a, b]
    assert skipped in list(iter_image_paths([root]))
