"""UTKFace-style folders: parse labels from file names, audit every file, split, load.

File names look like ``AGE_GENDER_RACE_DATETIME.jpg.chip.jpg`` (gender 0 male, 1 female;
race 0 White, 1 Black, 2 Asian, 3 Indian, 4 Other). Every file in the folder ends up in
exactly one place: kept (and later in one split), rejected (with a reason), or excluded as
a duplicate (an extra byte-identical copy, or a copy whose labels disagree with another).
"""

from __future__ import annotations

import hashlib
import io
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

GENDER_NAMES = ("male", "female")
RACE_NAMES = ("white", "black", "asian", "indian", "other")
MAX_AGE = 120
IMAGE_SIZE = (200, 200)
AGE_BAND_WIDTH = 10
LAST_AGE_BAND = 80  # ages >= this share one band ("80+")
SPLIT_NAMES = ("train", "val", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
SEED = 0

KEPT, REJECTED, DUPLICATE, CONFLICT = "kept", "rejected", "duplicate", "conflict"
_NAME_SUFFIXES = (".jpg.chip.jpg", "jpg.chip.jpg", ".chip.jpg", ".jpg")
_DATE_RE = re.compile(r"\d{17}")


@dataclass(frozen=True)
class Sample:
    """One labelled face image."""

    path: Path
    age: int
    gender: int
    race: int


@dataclass(frozen=True)
class FileRecord:
    """Where one file of the folder went and why."""

    name: str
    status: str  # kept | rejected | duplicate | conflict
    reason: str = ""
    age: int | None = None
    gender: int | None = None
    race: int | None = None
    sha256: str | None = None
    warning: str = ""

    @property
    def labels(self) -> tuple[int, int, int] | None:
        if self.age is None or self.gender is None or self.race is None:
            return None
        return (self.age, self.gender, self.race)


@dataclass(frozen=True)
class DuplicateGroup:
    """Byte-identical files (same SHA-256)."""

    sha256: str
    names: tuple[str, ...]
    conflicting: bool
    kept: str | None  # the one copy kept when labels agree, else None


@dataclass(frozen=True)
class Audit:
    """The result of auditing a folder: one record per directory entry."""

    directory: Path
    records: tuple[FileRecord, ...]
    duplicate_groups: tuple[DuplicateGroup, ...]

    def with_status(self, *statuses: str) -> list[FileRecord]:
        return [r for r in self.records if r.status in statuses]

    @property
    def kept(self) -> list[FileRecord]:
        return self.with_status(KEPT)

    def samples(self) -> list[Sample]:
        """The kept files as samples (one per duplicate group)."""
        return [Sample(self.directory / r.name, r.age, r.gender, r.race) for r in self.kept]


def parse_name(name: str) -> tuple[tuple[int, int, int], str]:
    """Return ``((age, gender, race), warning)`` from a file name, or raise ValueError.

    The warning is non-empty when the date part is odd but the labels are unambiguous.
    """
    suffix = next((s for s in _NAME_SUFFIXES if name.endswith(s)), None)
    if suffix is None:
        raise ValueError("malformed name: does not end with .jpg")
    fields = name[: -len(suffix)].split("_")
    if len(fields) != 4:
        raise ValueError(
            f"malformed name: expected AGE_GENDER_RACE_DATETIME, got {len(fields)} fields"
        )
    age_s, gender_s, race_s, date = fields
    for label, text in (("age", age_s), ("gender", gender_s), ("race", race_s)):
        if not text.isascii() or not text.isdigit():
            raise ValueError(f"malformed name: {label} field {text!r} is not a number")
    age, gender, race = int(age_s), int(gender_s), int(race_s)
    if not 0 <= age <= MAX_AGE:
        raise ValueError(f"label out of range: age={age} (0..{MAX_AGE})")
    if gender not in (0, 1):
        raise ValueError(f"label out of range: gender={gender} (0..1)")
    if not 0 <= race < len(RACE_NAMES):
        raise ValueError(f"label out of range: race={race} (0..{len(RACE_NAMES) - 1})")
    odd = []
    if not _DATE_RE.fullmatch(date):
        odd.append(f"odd date part {date!r}")
    if suffix not in (".jpg.chip.jpg", ".jpg"):
        odd.append(f"odd ending {suffix!r}")
    return (age, gender, race), (f"{', '.join(odd)} (labels kept)" if odd else "")


def check_image(data: bytes, size: tuple[int, int] | None = IMAGE_SIZE) -> None:
    """Raise ValueError unless ``data`` decodes fully as an image of ``size`` (W, H)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            actual = image.size
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        SyntaxError,
        ValueError,
    ) as exc:
        kind = "not an image" if isinstance(exc, UnidentifiedImageError) else "unreadable image"
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{kind}: {detail}") from None
    if size is not None and tuple(actual) != tuple(size):
        raise ValueError(f"unexpected size: {actual[0]}x{actual[1]} (expected {size[0]}x{size[1]})")


def _check_entry(path: Path, size: tuple[int, int] | None) -> FileRecord:
    name = path.name
    if not path.is_file():
        return FileRecord(name, REJECTED, "not a regular file")
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    try:
        (age, gender, race), warning = parse_name(name)
    except ValueError as exc:
        return FileRecord(name, REJECTED, str(exc), sha256=sha)
    try:
        check_image(data, size)
    except ValueError as exc:
        return FileRecord(name, REJECTED, str(exc), age, gender, race, sha, warning)
    return FileRecord(name, KEPT, "", age, gender, race, sha, warning)


def audit(
    directory: str | Path,
    size: tuple[int, int] | None = IMAGE_SIZE,
    progress: bool = False,
) -> Audit:
    """Check every entry of ``directory`` (not recursive) and resolve duplicates.

    Byte-identical kept files form a duplicate group: when all their labels agree the
    first name (sorted) is kept and the others become ``duplicate``; when they disagree
    every copy becomes ``conflict``. Rejected files are never kept.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise NotADirectoryError(f"not a directory: {directory}")
    paths = sorted(directory.iterdir(), key=lambda p: p.name)
    if progress:
        from tqdm import tqdm

        paths = tqdm(paths, desc="audit", unit="file")
    records = {p.name: _check_entry(p, size) for p in paths}

    by_hash: dict[str, list[str]] = defaultdict(list)
    for record in records.values():
        if record.sha256 is not None:
            by_hash[record.sha256].append(record.name)
    groups = []
    for sha, names in sorted(by_hash.items(), key=lambda item: sorted(item[1])[0]):
        if len(names) < 2:
            continue
        names = sorted(names)
        candidates = [records[n] for n in names if records[n].status == KEPT]
        labels = {r.labels for r in candidates}
        conflicting = len(labels) > 1
        kept = None
        if conflicting:
            for r in candidates:
                others = "; ".join(
                    f"{o.name} {_label_text(o.labels)}" for o in candidates if o is not r
                )
                records[r.name] = _replace(
                    r,
                    CONFLICT,
                    f"byte-identical copies disagree: {_label_text(r.labels)} vs {others}",
                )
        elif candidates:
            kept = candidates[0].name
            for r in candidates[1:]:
                records[r.name] = _replace(r, DUPLICATE, f"duplicate of {kept}")
        groups.append(DuplicateGroup(sha, tuple(names), conflicting, kept))
    return Audit(directory, tuple(records[p] for p in sorted(records)), tuple(groups))


def _replace(record: FileRecord, status: str, reason: str) -> FileRecord:
    return FileRecord(
        record.name,
        status,
        reason,
        record.age,
        record.gender,
        record.race,
        record.sha256,
        record.warning,
    )


def _label_text(labels: tuple[int, int, int] | None) -> str:
    if labels is None:
        return "(no labels)"
    age, gender, race = labels
    return f"age={age} gender={GENDER_NAMES[gender]} race={RACE_NAMES[race]}"


def age_band(age: int) -> str:
    """The stratification band of an age: '0-9', '10-19', ..., '80+'."""
    if age >= LAST_AGE_BAND:
        return f"{LAST_AGE_BAND}+"
    low = age // AGE_BAND_WIDTH * AGE_BAND_WIDTH
    return f"{low}-{low + AGE_BAND_WIDTH - 1}"


def cell_of(age: int, gender: int, race: int) -> str:
    """The stratification cell: age band x gender x race, as a stable string."""
    return f"{age_band(age)}/{GENDER_NAMES[gender]}/{RACE_NAMES[race]}"


def split(
    records: Iterable[FileRecord],
    seed: int = SEED,
    fractions: Sequence[float] = SPLIT_FRACTIONS,
) -> dict[str, list[str]]:
    """Deterministic stratified split of kept records into train/val/test name lists.

    Cells are age band x gender x race; see :func:`stratified_split` for the rule.
    """
    check_fractions(fractions)
    cells: dict[str, list[str]] = defaultdict(list)
    for r in records:
        if r.status == KEPT:
            cells[cell_of(r.age, r.gender, r.race)].append(r.name)
    return stratified_split(cells, seed, fractions)


def check_fractions(fractions: Sequence[float]) -> None:
    """Raise ValueError unless ``fractions`` are three non-negative numbers summing to 1."""
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-9 or min(fractions) < 0:
        raise ValueError(
            f"split fractions must be three non-negative numbers summing to 1: {list(fractions)}"
        )


def stratified_split(
    cells: dict[str, list[str]],
    seed: int = SEED,
    fractions: Sequence[float] = SPLIT_FRACTIONS,
    key: Callable[[str], Any] | None = None,
) -> dict[str, list[str]]:
    """Train/val/test name lists from names grouped by stratification cell.

    Within each cell (cells in sorted order) names are sorted by ``key``, shuffled with
    ``random.Random(f"{seed}/{cell}")``, and cut: val and test get ``round(n * fraction)``
    each (half rounded up), train the rest, so cells with fewer than 5 names go to train.
    Each list comes back sorted by ``key``.
    """
    check_fractions(fractions)
    out: dict[str, list[str]] = {name: [] for name in SPLIT_NAMES}
    for cell in sorted(cells):
        names = sorted(cells[cell], key=key)
        random.Random(f"{seed}/{cell}").shuffle(names)
        n = len(names)
        n_val = int(n * fractions[1] + 0.5)
        n_test = int(n * fractions[2] + 0.5)
        out["val"] += names[:n_val]
        out["test"] += names[n_val : n_val + n_test]
        out["train"] += names[n_val + n_test :]
    return {name: sorted(names, key=key) for name, names in out.items()}


def excluded_lines(result: Audit, splits: dict[str, list[str]] | None = None) -> list[str]:
    """``name<TAB>reason`` for every file not kept, sorted by name.

    With ``splits``, an extra copy also names the split its kept copy went to.
    """
    where = {n: split_name for split_name, names in (splits or {}).items() for n in names}
    lines = []
    for r in result.records:
        if r.status == KEPT:
            continue
        if r.status == DUPLICATE:
            kept = r.reason.removeprefix("duplicate of ")
            lines.append(
                f"{r.name}\t{r.reason}" + (f" (in {where[kept]})" if kept in where else "")
            )
        else:
            lines.append(f"{r.name}\t{r.status}: {r.reason}")
    return lines


def write_split(
    out_dir: str | Path, result: Audit, splits: dict[str, list[str]], command: str = ""
) -> None:
    """Write train/val/test.txt, excluded.txt and README.md into ``out_dir``."""
    write_split_files(
        out_dir, splits, excluded_lines(result, splits), split_readme(result, splits, command)
    )


def write_split_files(
    out_dir: str | Path, splits: dict[str, list[str]], excluded: list[str], readme: str
) -> None:
    """The split folder layout shared by every dataset: one name per line, plus reasons."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in SPLIT_NAMES:
        (out_dir / f"{name}.txt").write_text("".join(f"{n}\n" for n in splits[name]))
    (out_dir / "excluded.txt").write_text("".join(f"{line}\n" for line in excluded))
    (out_dir / "README.md").write_text(readme)


def split_readme(result: Audit, splits: dict[str, list[str]], command: str = "") -> str:
    """A short Markdown description of a written split."""
    counts = {s: len(result.with_status(s)) for s in (KEPT, REJECTED, DUPLICATE, CONFLICT)}
    conflicting = sum(g.conflicting for g in result.duplicate_groups)
    lines = [
        f"# Split of `{result.directory.name}`",
        "",
        "File names only, one per line, sorted. Reproduce with:",
        "",
        "```",
        command or "faceattrs data split DIR --out OUT_DIR",
        "```",
        "",
        f"- files in folder: {len(result.records)}",
        f"- kept: {counts[KEPT]} (train {len(splits['train'])}, val {len(splits['val'])}, "
        f"test {len(splits['test'])})",
        f"- rejected: {counts[REJECTED]}",
        f"- duplicate groups: {len(result.duplicate_groups)} ({conflicting} with conflicting "
        f"labels); extra copies dropped: {counts[DUPLICATE]}; "
        f"conflicting copies excluded: {counts[CONFLICT]}",
        "",
        f"Stratified by age band ({AGE_BAND_WIDTH}-year bands, {LAST_AGE_BAND}+ last) x gender x "
        f"race; fractions {'/'.join(str(f) for f in SPLIT_FRACTIONS)}; seed {SEED}; cells with "
        "fewer than 5 files go to train.",
        "`excluded.txt` lists every file not in a split with the reason (rejected, "
        "`duplicate of X` = an extra byte-identical copy of X, which is in X's split, or "
        "`conflict` = byte-identical copies with different labels, all left out).",
        "",
    ]
    return "\n".join(lines)


def read_names(path: str | Path) -> list[str]:
    """File names listed one per line (blank lines ignored)."""
    return [line for line in Path(path).read_text().splitlines() if line.strip()]


def load_split(
    split_dir: str | Path, name: str, data_dir: str | Path, check_exists: bool = True
) -> list[Sample]:
    """The samples of split ``name`` (train/val/test) with labels parsed from the names."""
    if name not in SPLIT_NAMES:
        raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLIT_NAMES)}")
    list_path = Path(split_dir) / f"{name}.txt"
    if not list_path.is_file():
        raise FileNotFoundError(f"split list not found: {list_path}")
    data_dir = Path(data_dir)
    samples = []
    for file_name in read_names(list_path):
        (age, gender, race), _ = parse_name(file_name)
        path = data_dir / file_name
        if check_exists and not path.is_file():
            raise FileNotFoundError(f"{list_path} lists {file_name!r}, missing in {data_dir}")
        samples.append(Sample(path, age, gender, race))
    return samples
