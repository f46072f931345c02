"""FairFace folders: parse the label CSV, audit every row and file, split, load.

Layout (Kärkkäinen and Joo, WACV 2021; CC BY 4.0): ``DIR/fairface_label_train.csv`` with
columns ``file,age,gender,race,service_test`` and the images it names (``train/1.jpg``, ...,
160x160). Age is one of 9 bins; a spreadsheet turned two of them into dates (``03-Sep`` is
3-9, ``Oct-19`` is 10-19). Every CSV row and every image file under DIR ends up in exactly
one place: kept (and later in one split), rejected (with a reason), or excluded as a
duplicate (a repeated row or an extra byte-identical image, or copies whose labels disagree).
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from faceattrs.data.utkface import (
    CONFLICT,
    DUPLICATE,
    KEPT,
    REJECTED,
    SEED,
    SPLIT_FRACTIONS,
    SPLIT_NAMES,
    Audit,
    DuplicateGroup,
    check_fractions,
    check_image,
    read_names,
    stratified_split,
)
from faceattrs.spec import RACES

IMAGE_SIZE = (160, 160)
LABEL_GLOB = "fairface_label_*.csv"
COLUMNS = ("file", "age", "gender", "race")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MAX_AGE = 100  # upper end of the open "more than 70" bin (= spec.max_age)

# (bin name, low, high): ages are intervals, both ends included.
AGE_BINS = (
    ("0-2", 0, 2),
    ("3-9", 3, 9),
    ("10-19", 10, 19),
    ("20-29", 20, 29),
    ("30-39", 30, 39),
    ("40-49", 40, 49),
    ("50-59", 50, 59),
    ("60-69", 60, 69),
    ("70+", 70, MAX_AGE),
)
AGE_ALIASES = {"03-Sep": "3-9", "Oct-19": "10-19", "more than 70": "70+"}
GENDERS = ("Male", "Female")  # index = spec.GENDERS index (0 male, 1 female)
RACE7 = (
    "White",
    "Black",
    "Latino_Hispanic",
    "East Asian",
    "Southeast Asian",
    "Indian",
    "Middle Eastern",
)
RACE7_TO_5 = {
    "White": "white",
    "Black": "black",
    "East Asian": "asian",
    "Southeast Asian": "asian",
    "Indian": "indian",
    "Latino_Hispanic": "other",
    "Middle Eastern": "other",
}
RACE5_OF_RACE7 = tuple(RACES.index(RACE7_TO_5[r]) for r in RACE7)
_AGE_INDEX = {name: i for i, (name, _, _) in enumerate(AGE_BINS)}
_NUMBER = re.compile(r"(\d+)")


@dataclass(frozen=True)
class FairSample:
    """One labelled FairFace image; age is the interval [age_low, age_high]."""

    path: Path
    age_low: int
    age_high: int
    gender: int  # 0 male, 1 female
    race5: int  # index into spec.RACES
    race7: int  # index into RACE7


@dataclass(frozen=True)
class RowRecord:
    """Where one CSV row (or one image file no row names) went and why.

    ``name`` is the image path relative to the folder (``train/1.jpg``); ``source`` is
    ``csv-file:line`` for rows, ``unlisted`` for image files no row names.
    """

    name: str
    source: str
    status: str  # kept | rejected | duplicate | conflict
    reason: str = ""
    age_bin: int | None = None  # index into AGE_BINS
    gender: int | None = None
    race7: int | None = None
    sha256: str | None = None
    warning: str = ""
    raw_age: str = ""  # the CSV's age text (e.g. the spreadsheet-mangled "03-Sep")

    @property
    def labels(self) -> tuple[int, int, int] | None:
        if self.age_bin is None or self.gender is None or self.race7 is None:
            return None
        return (self.age_bin, self.gender, self.race7)


@dataclass(frozen=True)
class FairAudit(Audit):
    """The UTKFace audit result with one :class:`RowRecord` per CSV row or unlisted file."""

    def samples(self) -> list[FairSample]:
        return [sample_of(self.directory, r.name, r.labels) for r in self.kept]


def natural_key(name: str) -> tuple:
    """Sort key that puts ``train/2.jpg`` before ``train/10.jpg``."""
    return tuple(int(p) if p.isdigit() else p for p in _NUMBER.split(name))


def parse_labels(age: str, gender: str, race: str) -> tuple[tuple[int, int, int], str]:
    """``((age_bin, gender, race7), warning)`` from CSV values, or raise ValueError.

    The age bins mangled into dates (``03-Sep``, ``Oct-19``) and FairFace's own
    ``more than 70`` are read through ``AGE_ALIASES`` silently (the audit counts them).
    """
    age_s, gender_s, race_s = age.strip(), gender.strip(), race.strip()
    warning = ""
    if age_s != age or gender_s != gender or race_s != race:
        warning = "spaces around a label"
    age_s = AGE_ALIASES.get(age_s, age_s)
    if age_s not in _AGE_INDEX:
        raise ValueError(f"unknown label: age {age!r}")
    if gender_s not in GENDERS:
        raise ValueError(f"unknown label: gender {gender!r}")
    if race_s not in RACE7:
        raise ValueError(f"unknown label: race {race!r}")
    return (_AGE_INDEX[age_s], GENDERS.index(gender_s), RACE7.index(race_s)), warning


def sample_of(directory: Path, name: str, labels: tuple[int, int, int]) -> FairSample:
    age_bin, gender, race7 = labels
    _, low, high = AGE_BINS[age_bin]
    return FairSample(directory / name, low, high, gender, RACE5_OF_RACE7[race7], race7)


def label_files(directory: Path) -> list[Path]:
    files = sorted(directory.glob(LABEL_GLOB))
    if not files:
        raise FileNotFoundError(f"no {LABEL_GLOB} in {directory}")
    return files


def read_rows(csv_path: Path) -> list[tuple[int, dict[str, str] | None, str]]:
    """``(line, row or None, error)`` for every data row of a label CSV."""
    with csv_path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{csv_path.name}: missing column(s) {', '.join(missing)}")
        out = []
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                out.append(
                    (line, None, f"malformed row: {len(values)} fields, expected {len(header)}")
                )
                continue
            out.append((line, dict(zip(header, values, strict=True)), ""))
    return out


def _safe_name(name: str) -> str:
    """The path as given, or raise ValueError when it would leave the folder."""
    path = PurePosixPath(name.strip().replace("\\", "/"))
    if not name.strip() or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"bad file path {name!r}")
    return str(path)


def _check_row(
    directory: Path, line: str, row: dict[str, str], size: tuple[int, int] | None, hashes: dict
) -> RowRecord:
    try:
        name = _safe_name(row["file"])
    except ValueError as exc:
        return RowRecord(row["file"], line, REJECTED, str(exc))
    try:
        labels, warning = parse_labels(row["age"], row["gender"], row["race"])
    except ValueError as exc:
        return RowRecord(name, line, REJECTED, str(exc))
    service = row.get("service_test")
    if service is not None and service.strip().upper() not in ("TRUE", "FALSE"):
        warning = "; ".join(filter(None, [warning, f"odd service_test {service!r}"]))
    record = RowRecord(name, line, KEPT, "", *labels, warning=warning, raw_age=row["age"])
    path = directory / name
    if not path.is_file():
        return replace(record, status=REJECTED, reason="missing file")
    if name not in hashes:
        data = path.read_bytes()
        try:
            check_image(data, size)
        except ValueError as exc:
            hashes[name] = (hashlib.sha256(data).hexdigest(), str(exc))
        else:
            hashes[name] = (hashlib.sha256(data).hexdigest(), "")
    sha, error = hashes[name]
    record = replace(record, sha256=sha)
    return replace(record, status=REJECTED, reason=error) if error else record


def audit(
    directory: str | Path, size: tuple[int, int] | None = IMAGE_SIZE, progress: bool = False
) -> FairAudit:
    """Check every row of every ``fairface_label_*.csv`` in ``directory`` and every image.

    Rows naming the same file: identical labels keep the first row (the others become
    ``duplicate``), different labels make every row ``conflict``. Byte-identical images
    named by different rows are resolved the same way. Image files that no row names are
    rejected as ``unlisted``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise NotADirectoryError(f"not a directory: {directory}")
    rows = [
        (f"{csv_path.name}:{line}", row, error)
        for csv_path in label_files(directory)
        for line, row, error in read_rows(csv_path)
    ]
    if progress:
        from tqdm import tqdm

        rows = tqdm(rows, desc="audit", unit="row")
    hashes: dict[str, tuple[str, str]] = {}
    records = [
        RowRecord("", line, REJECTED, error)
        if row is None
        else _check_row(directory, line, row, size, hashes)
        for line, row, error in rows
    ]
    records = _resolve_repeated_rows(records)
    records, groups = _resolve_identical_images(records)
    listed = {r.name for r in records}
    for path in sorted(directory.rglob("*"), key=lambda p: natural_key(str(p))):
        name = path.relative_to(directory).as_posix()
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and name not in listed:
            reason = "image file not named by any CSV row"
            records.append(RowRecord(name, "unlisted", REJECTED, reason))
    records.sort(key=lambda r: (natural_key(r.name), r.source))
    return FairAudit(directory, tuple(records), tuple(groups))


def _resolve_repeated_rows(records: list[RowRecord]) -> list[RowRecord]:
    by_name: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        if r.status == KEPT:
            by_name[r.name].append(i)
    for idx in by_name.values():
        if len(idx) < 2:
            continue
        lines = ", ".join(records[i].source for i in idx)
        if len({records[i].labels for i in idx}) > 1:
            for i in idx:
                records[i] = replace(
                    records[i], status=CONFLICT, reason=f"rows disagree on labels: {lines}"
                )
        else:
            for i in idx[1:]:
                records[i] = replace(
                    records[i], status=DUPLICATE, reason=f"repeated row of {records[idx[0]].source}"
                )
    return records


def _resolve_identical_images(
    records: list[RowRecord],
) -> tuple[list[RowRecord], list[DuplicateGroup]]:
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        if r.status == KEPT:
            by_hash[r.sha256].append(i)
    groups = []
    for sha, idx in by_hash.items():
        if len(idx) < 2:
            continue
        idx = sorted(idx, key=lambda i: natural_key(records[i].name))
        names = tuple(records[i].name for i in idx)
        conflicting = len({records[i].labels for i in idx}) > 1
        if conflicting:
            for i in idx:
                others = ", ".join(
                    f"{records[j].name} {label_text(records[j].labels)}" for j in idx if j != i
                )
                records[i] = replace(
                    records[i],
                    status=CONFLICT,
                    reason="byte-identical images disagree: "
                    f"{label_text(records[i].labels)} vs {others}",
                )
        else:
            for i in idx[1:]:
                records[i] = replace(
                    records[i], status=DUPLICATE, reason=f"duplicate of {names[0]}"
                )
        groups.append(DuplicateGroup(sha, names, conflicting, None if conflicting else names[0]))
    groups.sort(key=lambda g: natural_key(g.names[0]))
    return records, groups


def label_text(labels: tuple[int, int, int] | None) -> str:
    if labels is None:
        return "(no labels)"
    age_bin, gender, race7 = labels
    return f"age={AGE_BINS[age_bin][0]} gender={GENDERS[gender]} race={RACE7[race7]}"


def cell_of(labels: tuple[int, int, int]) -> str:
    """The stratification cell: age bin x gender x race (7 classes)."""
    age_bin, gender, race7 = labels
    return f"{AGE_BINS[age_bin][0]}/{GENDERS[gender]}/{RACE7[race7]}"


def split(
    records: Iterable[RowRecord], seed: int = SEED, fractions: Sequence[float] = SPLIT_FRACTIONS
) -> dict[str, list[str]]:
    """Deterministic stratified split of kept rows into train/val/test name lists.

    The UTKFace rule (:func:`faceattrs.data.utkface.stratified_split`) on FairFace cells
    (age bin x gender x race, 7 classes), names in natural order (``train/2.jpg`` before
    ``train/10.jpg``).
    """
    check_fractions(fractions)
    cells: dict[str, list[str]] = defaultdict(list)
    for r in records:
        if r.status == KEPT:
            cells[cell_of(r.labels)].append(r.name)
    return stratified_split(cells, seed, fractions, key=natural_key)


def excluded_lines(result: FairAudit, splits: dict[str, list[str]] | None = None) -> list[str]:
    """``name<TAB>source<TAB>reason`` for every row or file not kept."""
    where = {n: s for s, names in (splits or {}).items() for n in names}
    lines = []
    for r in result.records:
        if r.status == KEPT:
            continue
        reason = r.reason if r.status == DUPLICATE else f"{r.status}: {r.reason}"
        if r.status == DUPLICATE:
            # an extra image names its kept copy; a repeated row's kept row has the same name
            kept = r.reason.removeprefix("duplicate of ") if r.reason.startswith("dup") else r.name
            if kept in where:
                reason += f" (in {where[kept]})"
        lines.append(f"{r.name}\t{r.source}\t{reason}")
    return lines


def read_labels(data_dir: str | Path) -> dict[str, tuple[int, int, int]]:
    """Labels of every valid CSV row, by file name (no image checks; for loading splits)."""
    data_dir = Path(data_dir)
    labels: dict[str, tuple[int, int, int]] = {}
    for csv_path in label_files(data_dir):
        for _, row, _ in read_rows(csv_path):
            if row is None:
                continue
            try:
                name = _safe_name(row["file"])
                labels.setdefault(name, parse_labels(row["age"], row["gender"], row["race"])[0])
            except ValueError:
                continue
    return labels


def load_fairface_split(
    split_dir: str | Path, name: str, data_dir: str | Path, check_exists: bool = True
) -> list[FairSample]:
    """The samples of split ``name`` (train/val/test), labels from the CSV in ``data_dir``."""
    if name not in SPLIT_NAMES:
        raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLIT_NAMES)}")
    list_path = Path(split_dir) / f"{name}.txt"
    if not list_path.is_file():
        raise FileNotFoundError(f"split list not found: {list_path}")
    data_dir = Path(data_dir)
    labels = read_labels(data_dir)
    samples = []
    for file_name in read_names(list_path):
        if file_name not in labels:
            raise ValueError(f"{list_path} lists {file_name!r}, which no valid CSV row labels")
        sample = sample_of(data_dir, file_name, labels[file_name])
        if check_exists and not sample.path.is_file():
            raise FileNotFoundError(f"{list_path} lists {file_name!r}, missing in {data_dir}")
        samples.append(sample)
    return samples
