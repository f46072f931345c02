"""Build a synthetic UTKFace-style folder with every defect the audit must find."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from faceattrs.data.utkface import Sample


def jpeg_bytes(seed: int, size: tuple[int, int] = (200, 200)) -> bytes:
    """A distinct small JPEG (random blocks upscaled), deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize(size, Image.NEAREST)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def name(age: int, gender: int, race: int, i: int) -> str:
    return f"{age}_{gender}_{race}_20170101{i:09d}.jpg.chip.jpg"


@dataclass
class SynthFolder:
    """The folder and what the audit must say about each special file."""

    path: Path
    valid: list[str] = field(default_factory=list)  # plain good files (kept)
    rejected: dict[str, str] = field(default_factory=dict)  # name -> expected reason prefix
    warned: list[str] = field(default_factory=list)  # kept with an odd-date warning
    duplicates: dict[str, str] = field(default_factory=dict)  # extra copy -> kept copy
    conflicts: set[str] = field(default_factory=set)
    cells: dict[str, list[str]] = field(default_factory=dict)  # big cells: cell -> names


def build_folder(root: Path) -> SynthFolder:
    root.mkdir(parents=True, exist_ok=True)
    synth = SynthFolder(root)
    counter = iter(range(10_000))

    def add(file_name: str, data: bytes) -> str:
        (root / file_name).write_bytes(data)
        return file_name

    def add_image(age: int, gender: int, race: int) -> str:
        i = next(counter)
        return add(name(age, gender, race, i), jpeg_bytes(i))

    # Big cells (stratification is visible): 30, 20 and 10 files; small cells: 1..4 files.
    for (age, gender, race), n in {(25, 0, 0): 30, (35, 1, 1): 20, (5, 0, 2): 10}.items():
        synth.cells[f"{age}/{gender}/{race}"] = [add_image(age, gender, race) for _ in range(n)]
        synth.valid += synth.cells[f"{age}/{gender}/{race}"]
    for k, (age, gender, race) in enumerate([(45, 1, 3), (65, 0, 4), (85, 1, 0), (15, 0, 1)]):
        synth.valid += [add_image(age, gender, race) for _ in range(k + 1)]

    good = jpeg_bytes(9_000)
    synth.rejected.update(
        {
            add("25_1_20170116.jpg.chip.jpg", good): "malformed name",  # race field missing
            add("x_1_0_20170116000000001.jpg.chip.jpg", jpeg_bytes(9_001)): "malformed name",
            add("25_1_0_20170116000000002.png", jpeg_bytes(9_002)): "malformed name",
            add("notes.txt", b"not a face\n"): "malformed name",
            add("130_0_0_20170116000000003.jpg.chip.jpg", jpeg_bytes(9_003)): "label out of range",
            add("25_2_0_20170116000000004.jpg.chip.jpg", jpeg_bytes(9_004)): "label out of range",
            add("25_0_5_20170116000000005.jpg.chip.jpg", jpeg_bytes(9_005)): "label out of range",
            add(
                "30_0_0_20170116000000006.jpg.chip.jpg", jpeg_bytes(9_006)[:600]
            ): "unreadable image",
            add(
                "31_0_0_20170116000000007.jpg.chip.jpg", b"hello, I am text\n" * 20
            ): "not an image",
            add(
                "32_0_0_20170116000000008.jpg.chip.jpg", jpeg_bytes(9_008, (120, 100))
            ): "unexpected size",
        }
    )
    (root / "subdir").mkdir()
    synth.rejected["subdir"] = "not a regular file"

    # Odd date parts: labels are unambiguous, kept with a warning.
    synth.warned += [
        add("26_0_1_2017011622022465 .jpg.chip.jpg", jpeg_bytes(9_100)),
        add("27_1_2_20170116232725357jpg.chip.jpg", jpeg_bytes(9_101)),
        add("28_1_2_201701161846515488.jpg.chip.jpg", jpeg_bytes(9_102)),
    ]

    # Byte-identical copies: agreeing labels (pair and triple), conflicting labels (pair, triple).
    pair = jpeg_bytes(9_200)
    kept = add(name(40, 0, 0, 9_200), pair)
    synth.duplicates[add(name(40, 0, 0, 9_201), pair)] = kept
    triple = jpeg_bytes(9_210)
    kept3 = add(name(50, 1, 1, 9_210), triple)
    for i in (9_211, 9_212):
        synth.duplicates[add(name(50, 1, 1, i), triple)] = kept3
    clash = jpeg_bytes(9_220)
    synth.conflicts |= {add(name(60, 0, 0, 9_220), clash), add(name(62, 0, 0, 9_221), clash)}
    clash3 = jpeg_bytes(9_230)
    synth.conflicts |= {
        add(name(20, 1, 4, 9_230), clash3),
        add(name(20, 1, 4, 9_231), clash3),
        add(name(20, 0, 4, 9_232), clash3),  # gender differs
    }
    # A copy of a rejected (malformed) file keeps its own valid labels.
    synth.valid.append(add(name(25, 1, 3, 9_240), good))
    return synth


def make_samples(seed: int = 0, n: int = 600) -> list[Sample]:
    """Skewed labels: many 20-29 year olds and many White faces, a few over 80."""
    rng = np.random.default_rng(seed)
    ages = np.concatenate([rng.integers(22, 26, n // 2), rng.integers(1, 100, n - n // 2)])
    races = np.where(rng.random(n) < 0.6, 0, rng.integers(1, 5, n))
    genders = rng.integers(0, 2, n)
    return [
        Sample(Path(f"{a}_{g}_{r}_{i:017d}.jpg.chip.jpg"), int(a), int(g), int(r))
        for i, (a, g, r) in enumerate(zip(ages, genders, races, strict=True))
    ]
