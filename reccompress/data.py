"""MovieLens, loaded safely: find or download, verify, parse, and index.

``load_movielens(name)`` returns an :class:`Interactions`: one row per rating, with users and
items renumbered to contiguous 0-based indices. Where the files come from:

1. ``data_home`` resolves as the argument, else the ``RECCOMPRESS_DATA`` environment variable,
   else a per-user cache directory (``pooch.os_cache("reccompress")``).
2. A folder ``<data_home>/<name>/`` holding the extracted files is used as is, after checking
   it (checksums of the files where copies are byte-identical, and the known content counts).
3. Otherwise the official GroupLens archive is downloaded into ``data_home``, its SHA-256
   verified, and extracted atomically; later calls reuse the extracted folder.

The data is never shipped with this project: the MovieLens-100K licence forbids
redistribution, so every reader downloads it from GroupLens.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

__all__ = [
    "DATASETS",
    "ChecksumError",
    "DataError",
    "DataNotFoundError",
    "DatasetSpec",
    "Interactions",
    "MalformedFileError",
    "default_data_home",
    "load_movielens",
    "load_ml100k_split_files",
    "resolve_data_home",
]

ENV_VAR = "RECCOMPRESS_DATA"


# --------------------------------------------------------------------------------------------
# Errors: one class per way loading can fail, each with a message that names the fix.
# --------------------------------------------------------------------------------------------
class DataError(Exception):
    """Base class of every data-loading error."""


class DataNotFoundError(DataError, FileNotFoundError):
    """The dataset is neither on disk nor downloadable (e.g. no network)."""


class ChecksumError(DataError, ValueError):
    """A file's SHA-256 differs from the official one."""


class MalformedFileError(DataError, ValueError):
    """A file is truncated, has a bad line, or does not hold the expected content."""


# --------------------------------------------------------------------------------------------
# The data: plain nouns.
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Interactions:
    """A log of ratings with users and items renumbered to contiguous 0-based indices.

    Attributes:
        users: (n,) int32, user index of each rating, in [0, n_users).
        items: (n,) int32, item index of each rating, in [0, n_items).
        ratings: (n,) float32, the rating given (1..5, or half stars for ml-latest-small).
        timestamps: (n,) int64, seconds since the Unix epoch.
        n_users: number of distinct users.
        n_items: number of distinct items with at least one rating.
        raw_user_ids: (n_users,) int64, the MovieLens id of each user index.
        raw_item_ids: (n_items,) int64, the MovieLens id of each item index.
        item_titles: (n_items,) object array of str, the title of each item index.
        name: the dataset's name.
    """

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    n_users: int
    n_items: int
    raw_user_ids: np.ndarray
    raw_item_ids: np.ndarray
    item_titles: np.ndarray
    name: str = "interactions"

    def __post_init__(self):
        n = len(self.users)
        for label in ("items", "ratings", "timestamps"):
            if len(getattr(self, label)) != n:
                raise ValueError(f"Interactions.{label} has {len(getattr(self, label))} entries; users has {n}")
        if len(self.raw_user_ids) != self.n_users or len(self.raw_item_ids) != self.n_items:
            raise ValueError("raw_user_ids / raw_item_ids must have one entry per user / item index")
        if n and (self.users.min() < 0 or self.users.max() >= self.n_users):
            raise ValueError(f"user indices must lie in [0, {self.n_users})")
        if n and (self.items.min() < 0 or self.items.max() >= self.n_items):
            raise ValueError(f"item indices must lie in [0, {self.n_items})")

    def __len__(self) -> int:
        return len(self.users)

    def __repr__(self) -> str:
        return (
            f"Interactions({self.name}: {len(self):,} ratings, {self.n_users:,} users x {self.n_items:,} items, "
            f"{self.density:.2%} dense)"
        )

    @property
    def density(self) -> float:
        """Share of the user x item cells that hold an interaction."""
        return len(self) / (self.n_users * self.n_items)

    def matrix(self, feedback: str = "implicit") -> sp.csr_array:
        """The (n_users, n_items) float32 CSR matrix of this log.

        Args:
            feedback: ``"implicit"``: every rating counts as one interaction (value 1.0), as a
                purchase or a click would; ``"ratings"``: the rating itself.

        Repeated (user, item) pairs are summed; MovieLens has none.
        """
        if feedback == "implicit":
            values = np.ones(len(self), dtype=np.float32)
        elif feedback == "ratings":
            values = self.ratings.astype(np.float32, copy=False)
        else:
            raise ValueError(f"feedback must be 'implicit' or 'ratings'; got {feedback!r}")
        coo = sp.coo_array((values, (self.users, self.items)), shape=(self.n_users, self.n_items))
        matrix = coo.tocsr()
        matrix.sort_indices()
        return matrix

    def subset(self, mask: np.ndarray) -> "Interactions":
        """The ratings selected by a boolean mask, in the same user and item index space."""
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (len(self),):
            raise ValueError(f"mask must be a boolean array of shape ({len(self)},); got {mask.dtype} {mask.shape}")
        return Interactions(
            self.users[mask],
            self.items[mask],
            self.ratings[mask],
            self.timestamps[mask],
            self.n_users,
            self.n_items,
            self.raw_user_ids,
            self.raw_item_ids,
            self.item_titles,
            self.name,
        )


@dataclass(frozen=True)
class RatingsTable:
    """Raw columns of a ratings file, before renumbering (internal)."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to fetch, verify and parse one MovieLens release.

    Attributes:
        name: folder and archive name, e.g. ``"ml-100k"``.
        url: the official archive.
        archive_sha256: SHA-256 of the archive.
        ratings_file, items_file: file names inside the folder.
        file_sha256: SHA-256 of files whose copies are byte-identical to the archive's;
            files not listed are checked by content only.
        n_ratings, n_users, n_items: the official counts (``n_items`` counts rated items).
        rating_values: every allowed rating.
        read_ratings: parses the ratings file into a :class:`RatingsTable`.
        read_titles: parses the items file into ``{raw item id: title}``.
    """

    name: str
    url: str
    archive_sha256: str
    ratings_file: str
    items_file: str
    file_sha256: Mapping[str, str]
    n_ratings: int
    n_users: int
    n_items: int
    rating_values: tuple[float, ...]
    read_ratings: Callable[[Path], RatingsTable] = field(repr=False)
    read_titles: Callable[[Path], dict[int, str]] = field(repr=False)


# --------------------------------------------------------------------------------------------
# Parsing, with errors that name the file and the line.
# --------------------------------------------------------------------------------------------
def _read_lines(path: Path, encoding: str) -> list[str]:
    raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise MalformedFileError(f"{path}: line {line} is not valid {encoding} text; the file is corrupted") from exc
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _split_fields(path: Path, lines: list[str], sep: str, n_fields: int, first_line: int) -> list[list[str]]:
    rows = [line.split(sep) for line in lines]
    for offset, row in enumerate(rows):
        if len(row) != n_fields:
            line = lines[offset]
            raise MalformedFileError(
                f"{path}: line {first_line + offset} has {len(row)} field(s), expected {n_fields} separated by "
                f"{sep!r}: {line[:80]!r}; the file looks truncated or corrupted, delete its folder to download it again"
            )
    return rows


def _column(path: Path, rows: list[list[str]], index: int, dtype, label: str, first_line: int) -> np.ndarray:
    values = [row[index] for row in rows]
    try:
        return np.array(values, dtype=np.str_).astype(dtype)
    except ValueError:
        convert = int if np.issubdtype(dtype, np.integer) else float
        for offset, value in enumerate(values):
            try:
                convert(value)
            except ValueError:
                raise MalformedFileError(
                    f"{path}: line {first_line + offset}: {label} {value!r} is not a valid "
                    f"{convert.__name__}; the file looks corrupted, delete its folder to download it again"
                ) from None
        raise


def _read_table(path: Path, sep: str, *, header: str | None) -> RatingsTable:
    lines = _read_lines(path, "utf-8")
    first_line = 1
    if header is not None:
        if not lines or lines[0].strip() != header:
            got = lines[0][:80] if lines else "an empty file"
            raise MalformedFileError(f"{path}: line 1 must be the header {header!r}; got {got!r}")
        lines = lines[1:]
        first_line = 2
    if not lines:
        raise MalformedFileError(f"{path}: holds no ratings; the file is empty or truncated")
    rows = _split_fields(path, lines, sep, 4, first_line)
    return RatingsTable(
        users=_column(path, rows, 0, np.int64, "user id", first_line),
        items=_column(path, rows, 1, np.int64, "item id", first_line),
        ratings=_column(path, rows, 2, np.float64, "rating", first_line),
        timestamps=_column(path, rows, 3, np.int64, "timestamp", first_line),
    )


def _read_ml100k_ratings(path: Path) -> RatingsTable:
    """``u.data`` and the ``u1..u5``/``ua``/``ub`` split files: user, item, rating, time, tab-separated."""
    return _read_table(path, "\t", header=None)


def _read_ml_latest_ratings(path: Path) -> RatingsTable:
    """``ratings.csv``: a header line, then userId,movieId,rating,timestamp."""
    return _read_table(path, ",", header="userId,movieId,rating,timestamp")


def _read_ml100k_titles(path: Path) -> dict[int, str]:
    """``u.item``: pipe-separated, Latin-1; the first two fields are the id and the title."""
    titles = {}
    for number, line in enumerate(_read_lines(path, "latin-1"), start=1):
        fields = line.split("|")
        if len(fields) < 2 or not fields[0].isdigit():
            raise MalformedFileError(f"{path}: line {number} is not 'id|title|...': {line[:80]!r}")
        titles[int(fields[0])] = fields[1]
    return titles


def _read_ml_latest_titles(path: Path) -> dict[int, str]:
    """``movies.csv``: movieId,title,genres with quoted titles that may contain commas."""
    import csv

    titles = {}
    lines = _read_lines(path, "utf-8")
    for number, row in enumerate(csv.reader(lines[1:]), start=2):
        if len(row) != 3 or not row[0].isdigit():
            raise MalformedFileError(f"{path}: line {number} is not 'movieId,title,genres': {row!r}"[:200])
        titles[int(row[0])] = row[1]
    return titles


DATASETS: dict[str, DatasetSpec] = {
    "ml-100k": DatasetSpec(
        name="ml-100k",
        url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        archive_sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        ratings_file="u.data",
        items_file="u.item",
        file_sha256={
            "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
            "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
        },
        n_ratings=100_000,
        n_users=943,
        n_items=1_682,
        rating_values=(1.0, 2.0, 3.0, 4.0, 5.0),
        read_ratings=_read_ml100k_ratings,
        read_titles=_read_ml100k_titles,
    ),
    "ml-latest-small": DatasetSpec(
        name="ml-latest-small",
        url="https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
        archive_sha256="696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        ratings_file="ratings.csv",
        items_file="movies.csv",
        # Extracted copies differ in line endings, so the files are checked by content only.
        file_sha256={},
        n_ratings=100_836,
        n_users=610,
        n_items=9_724,
        rating_values=tuple(np.arange(1, 11) / 2),
        read_ratings=_read_ml_latest_ratings,
        read_titles=_read_ml_latest_titles,
    ),
}


# --------------------------------------------------------------------------------------------
# Where the files live, and how they get there.
# --------------------------------------------------------------------------------------------
def default_data_home() -> Path:
    """The per-user cache directory used when neither argument nor environment names one."""
    import pooch

    return Path(pooch.os_cache("reccompress"))


def resolve_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """``data_home`` if given, else ``$RECCOMPRESS_DATA`` if set, else :func:`default_data_home`."""
    if data_home is not None:
        return Path(data_home).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return default_data_home()


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        valid = ", ".join(repr(key) for key in DATASETS)
        raise ValueError(f"unknown dataset {name!r}; valid names are {valid}")
    return DATASETS[name]


def _download_archive(spec: DatasetSpec, home: Path, progress: bool) -> Path:
    """Download the archive to ``home``, verify it, and only then give it its final name."""
    import pooch

    archive = home / f"{spec.name}.zip"
    if archive.exists() and sha256_of(archive) == spec.archive_sha256:
        return archive
    home.mkdir(parents=True, exist_ok=True)
    partial = home / f".{spec.name}.zip.part"
    try:
        pooch.HTTPDownloader(progressbar=progress, timeout=60)(spec.url, str(partial), None)
    except Exception as exc:  # requests' errors are OSErrors; any failure means "not available"
        partial.unlink(missing_ok=True)
        raise DataNotFoundError(
            f"{spec.name} is not in {home} (looked for the folder {home / spec.name}) and downloading "
            f"{spec.url} failed ({type(exc).__name__}: {exc}). On a machine without internet access, "
            f"download the archive elsewhere, extract it so that {home / spec.name / spec.ratings_file} exists, "
            f"or set the {ENV_VAR} environment variable (or pass data_home=) to a folder that holds {spec.name}/."
        ) from exc
    actual = sha256_of(partial)
    if actual != spec.archive_sha256:
        partial.unlink(missing_ok=True)
        raise ChecksumError(
            f"{spec.name}.zip downloaded from {spec.url} has SHA-256 {actual}, expected {spec.archive_sha256}; "
            "the download was deleted. Try again; if it persists, the server's copy changed: report it."
        )
    os.replace(partial, archive)
    return archive


def _extract_archive(spec: DatasetSpec, archive: Path, home: Path) -> Path:
    """Extract ``<name>/`` from the archive into ``home`` atomically (all or nothing)."""
    target = home / spec.name
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}-extract-", dir=home))
    try:
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.namelist():
                parts = Path(member).parts
                if Path(member).is_absolute() or ".." in parts or not parts or parts[0] != spec.name:
                    raise MalformedFileError(f"{archive}: unexpected member {member!r}; expected files under {spec.name}/")
            bundle.extractall(staging)
        os.replace(staging / spec.name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _locate(spec: DatasetSpec, data_home, progress: bool) -> Path:
    home = resolve_data_home(data_home)
    folder = home / spec.name
    if (folder / spec.ratings_file).exists():
        return folder
    if folder.exists():
        raise DataNotFoundError(
            f"{folder} exists but holds no {spec.ratings_file}; it is incomplete. Delete the folder to "
            f"download {spec.name} again, or point {ENV_VAR} at a folder holding a complete copy."
        )
    archive = _download_archive(spec, home, progress)
    return _extract_archive(spec, archive, home)


# --------------------------------------------------------------------------------------------
# Verification and indexing.
# --------------------------------------------------------------------------------------------
def _verify_files(spec: DatasetSpec, folder: Path) -> None:
    for file_name, expected in spec.file_sha256.items():
        path = folder / file_name
        if not path.exists():
            raise DataNotFoundError(f"{path} is missing; delete {folder} to download {spec.name} again")
        actual = sha256_of(path)
        if actual != expected:
            raise ChecksumError(
                f"{path} has SHA-256 {actual}, expected {expected} (the official {spec.name} file); "
                f"it was modified or comes from another release. Delete {folder} to download it again."
            )


def _verify_content(spec: DatasetSpec, path: Path, table: RatingsTable) -> None:
    found = {
        "ratings": len(table.users),
        "users": len(np.unique(table.users)),
        "items": len(np.unique(table.items)),
    }
    expected = {"ratings": spec.n_ratings, "users": spec.n_users, "items": spec.n_items}
    bad_values = ~np.isin(table.ratings, spec.rating_values)
    if found != expected or bad_values.any():
        details = ", ".join(f"{found[key]:,} {key} (expected {expected[key]:,})" for key in expected)
        if bad_values.any():
            first = int(np.flatnonzero(bad_values)[0])
            details += f"; rating {table.ratings[first]} on data row {first + 1} is not one of {spec.rating_values}"
        raise MalformedFileError(
            f"{path} does not hold the official {spec.name} content: {details}. The file is truncated "
            f"or from another release; delete {path.parent} to download it again."
        )


def _renumber(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map raw ids to contiguous 0-based indices in increasing raw-id order."""
    raw_ids, index = np.unique(raw, return_inverse=True)
    return raw_ids, index.astype(np.int32)


def load_movielens(name: str = "ml-100k", data_home: str | os.PathLike | None = None, *, progress: bool = False) -> Interactions:
    """Load a MovieLens release as an :class:`Interactions` log.

    Args:
        name: ``"ml-100k"`` (100,000 ratings, 943 users, 1,682 items) or ``"ml-latest-small"``
            (100,836 ratings, 610 users, 9,724 rated movies).
        data_home: folder holding ``<name>/``, or receiving the download. Defaults to
            ``$RECCOMPRESS_DATA``, else a per-user cache directory.
        progress: show a progress bar while downloading.

    Returns:
        The ratings with users and items renumbered to 0-based indices (sorted by raw id).

    Raises:
        ValueError: unknown ``name``.
        DataNotFoundError: not on disk and the download failed (e.g. no network).
        ChecksumError: a file or the archive differs from the official one.
        MalformedFileError: a truncated file, a bad line, or unexpected counts.
    """
    spec = _spec(name)
    folder = _locate(spec, data_home, progress)
    ratings_path = folder / spec.ratings_file
    table = spec.read_ratings(ratings_path)
    _verify_content(spec, ratings_path, table)
    _verify_files(spec, folder)
    raw_user_ids, users = _renumber(table.users)
    raw_item_ids, items = _renumber(table.items)
    titles = spec.read_titles(folder / spec.items_file)
    missing = [int(raw) for raw in raw_item_ids if raw not in titles]
    if missing:
        raise MalformedFileError(f"{folder / spec.items_file}: no title for item id(s) {missing[:5]}; the file is incomplete")
    return Interactions(
        users=users,
        items=items,
        ratings=table.ratings.astype(np.float32),
        timestamps=table.timestamps,
        n_users=len(raw_user_ids),
        n_items=len(raw_item_ids),
        raw_user_ids=raw_user_ids,
        raw_item_ids=raw_item_ids,
        item_titles=np.array([titles[raw] for raw in raw_item_ids], dtype=object),
        name=name,
    )


ML100K_SPLITS = ("ua", "ub", "u1", "u2", "u3", "u4", "u5")


def load_ml100k_split_files(which: str = "ua", data_home: str | os.PathLike | None = None) -> tuple[Interactions, Interactions]:
    """The official ML-100K ``<which>.base`` / ``<which>.test`` files, in the index space of u.data.

    ``ua``/``ub`` hold out exactly 10 ratings per user; ``u1``..``u5`` are the five folds of a
    cross-validation. The two files together must be exactly the ratings of ``u.data``.

    Returns:
        ``(train, test)`` :class:`Interactions` sharing the user and item indices of
        ``load_movielens("ml-100k")``.
    """
    if which not in ML100K_SPLITS:
        raise ValueError(f"unknown ML-100K split {which!r}; valid names are {', '.join(ML100K_SPLITS)}")
    full = load_movielens("ml-100k", data_home)
    folder = resolve_data_home(data_home) / "ml-100k"
    parts = []
    for suffix in ("base", "test"):
        path = folder / f"{which}.{suffix}"
        if not path.exists():
            raise DataNotFoundError(f"{path} is missing; delete {folder} to download ML-100K again")
        table = _read_ml100k_ratings(path)
        users = np.searchsorted(full.raw_user_ids, table.users)
        items = np.searchsorted(full.raw_item_ids, table.items)
        parts.append((path, table, users.astype(np.int32), items.astype(np.int32)))

    def keys(users, items, ratings, timestamps):
        return np.sort(((users.astype(np.int64) * full.n_items + items) * 10 + ratings.astype(np.int64)) * 2**31 + timestamps)

    combined = keys(
        np.concatenate([p[2] for p in parts]),
        np.concatenate([p[3] for p in parts]),
        np.concatenate([p[1].ratings for p in parts]),
        np.concatenate([p[1].timestamps for p in parts]),
    )
    if not np.array_equal(combined, keys(full.users, full.items, full.ratings, full.timestamps)):
        raise MalformedFileError(
            f"{parts[0][0].name} and {parts[1][0].name} together do not hold exactly the ratings of u.data; "
            f"the files are corrupted or from another release. Delete {folder} to download ML-100K again."
        )
    result = []
    for path, table, users, items in parts:
        result.append(
            Interactions(
                users=users,
                items=items,
                ratings=table.ratings.astype(np.float32),
                timestamps=table.timestamps,
                n_users=full.n_users,
                n_items=full.n_items,
                raw_user_ids=full.raw_user_ids,
                raw_item_ids=full.raw_item_ids,
                item_titles=full.item_titles,
                name=f"ml-100k/{path.name}",
            )
        )
    return result[0], result[1]
