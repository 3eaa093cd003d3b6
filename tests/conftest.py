"""Shared fixtures: tiny non-square matrices, a tiny MovieLens-format dataset, a loopback server."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import os
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from reccompress import data

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def real_data_home() -> Path | None:
    """Where the real MovieLens copies are: $RECCOMPRESS_DATA, else ../shared/data."""
    home = os.environ.get(data.ENV_VAR)
    if home:
        return Path(home)
    return SHARED_DATA if SHARED_DATA.exists() else None


@pytest.fixture(scope="session")
def movielens_home() -> Path:
    home = real_data_home()
    if home is None or not (home / "ml-100k" / "u.data").exists():
        pytest.fail(f"the real MovieLens files are needed: set {data.ENV_VAR} to a folder holding ml-100k/ and ml-latest-small/")
    return home


@pytest.fixture(scope="session")
def ml100k(movielens_home):
    return data.load_movielens("ml-100k", movielens_home)


@pytest.fixture
def user_items() -> sp.csr_array:
    """7 users x 5 items, implicit; user 6 has a single interaction, item 4 is popular."""
    dense = np.array(
        [
            [1, 0, 1, 0, 1],
            [0, 1, 0, 0, 1],
            [1, 1, 0, 1, 1],
            [0, 0, 1, 1, 0],
            [1, 0, 0, 0, 1],
            [0, 1, 1, 0, 1],
            [0, 0, 0, 0, 1],
        ],
        dtype=np.float32,
    )
    return sp.csr_array(dense)


# ---------------------------------------------------------------- a tiny ml-100k-format dataset
TINY_ROWS = [(10, 100, 5, 1000), (10, 200, 3, 1001), (20, 100, 4, 1002), (20, 300, 1, 1003), (30, 200, 2, 1004), (30, 300, 4, 1004)]
TINY_ITEMS = "100|Alpha (1990)|x\n200|Beta (1991)|x\n300|Gamma (1992)|x\n"


def tiny_ratings_text(rows=TINY_ROWS) -> str:
    return "".join("\t".join(str(v) for v in row) + "\n" for row in rows)


def sha(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


def tiny_archive_bytes(name: str = "tiny") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr(f"{name}/u.data", tiny_ratings_text())
        bundle.writestr(f"{name}/u.item", TINY_ITEMS)
    return buffer.getvalue()


@pytest.fixture
def tiny_spec(monkeypatch):
    """Register a 6-rating dataset 'tiny' in the ml-100k format; returns a function to
    re-register it with changed fields (URL, hashes, counts)."""

    base = data.DatasetSpec(
        name="tiny",
        url="http://127.0.0.1:9/tiny.zip",
        archive_sha256=sha(tiny_archive_bytes()),
        ratings_file="u.data",
        items_file="u.item",
        file_sha256={"u.data": sha(tiny_ratings_text().encode()), "u.item": sha(TINY_ITEMS.encode())},
        n_ratings=6,
        n_users=3,
        n_items=3,
        rating_values=(1.0, 2.0, 3.0, 4.0, 5.0),
        read_ratings=data.DATASETS["ml-100k"].read_ratings,
        read_titles=data.DATASETS["ml-100k"].read_titles,
    )

    def register(**changes):
        spec = dataclasses.replace(base, **changes)
        monkeypatch.setitem(data.DATASETS, "tiny", spec)
        return spec

    register()
    return register


def write_tiny_folder(home: Path, ratings: str | None = None, items: str = TINY_ITEMS) -> Path:
    folder = home / "tiny"
    folder.mkdir(parents=True)
    (folder / "u.data").write_text(tiny_ratings_text() if ratings is None else ratings)
    (folder / "u.item").write_text(items)
    return folder


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.hits += 1
        body = self.server.payload
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def archive_server():
    """A loopback HTTP server returning ``server.payload`` for any path; ``server.hits`` counts GETs."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    server.payload = tiny_archive_bytes()
    server.hits = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/tiny.zip"
    yield server
    server.shutdown()
    server.server_close()


def pytest_configure(config):
    """Markers of this suite (pyproject.toml's pytest section holds the run options)."""
    config.addinivalue_line(
        "markers", "slow: builds a fresh virtual environment (about a minute); deselect with -m 'not slow'"
    )
