import hashlib
import io
import zipfile

import numpy as np
import pytest

from conftest import TINY_ITEMS, tiny_ratings_text, write_tiny_folder
from reccompress import data


# ---------------------------------------------------------------- the real releases
def test_ml100k_has_official_counts_and_contiguous_indices(ml100k):
    assert (len(ml100k), ml100k.n_users, ml100k.n_items) == (100_000, 943, 1_682)
    assert ml100k.users.dtype == np.int32 and ml100k.items.dtype == np.int32
    assert np.array_equal(np.unique(ml100k.users), np.arange(943))
    assert np.array_equal(np.unique(ml100k.items), np.arange(1_682))
    assert set(np.unique(ml100k.ratings)) == {1, 2, 3, 4, 5}
    assert ml100k.raw_item_ids[0] == 1 and ml100k.item_titles[0] == "Toy Story (1995)"


def test_ml_latest_small_has_half_stars_and_only_rated_movies(movielens_home):
    log = data.load_movielens("ml-latest-small", movielens_home)
    assert (len(log), log.n_users, log.n_items) == (100_836, 610, 9_724)
    assert 0.5 in set(np.unique(log.ratings)) and log.ratings.max() == 5.0
    assert len(log.item_titles) == log.n_items


def test_matrix_views_implicit_and_ratings(ml100k):
    implicit, ratings = ml100k.matrix("implicit"), ml100k.matrix("ratings")
    assert implicit.shape == ratings.shape == (943, 1_682)
    assert implicit.nnz == ratings.nnz == 100_000
    assert set(np.unique(implicit.data)) == {1.0}
    assert ratings.sum() == pytest.approx(ml100k.ratings.sum())
    with pytest.raises(ValueError, match="'implicit' or 'ratings'; got 'binary'"):
        ml100k.matrix("binary")


def test_official_ua_split_holds_ten_ratings_per_user(movielens_home):
    train, test = data.load_ml100k_split_files("ua", movielens_home)
    assert (len(train), len(test)) == (90_570, 9_430)
    assert np.all(np.bincount(test.users, minlength=943) == 10)


def test_unknown_official_split_lists_valid_names():
    with pytest.raises(ValueError, match="valid names are ua, ub, u1"):
        data.load_ml100k_split_files("uc")


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="unknown dataset 'ml-1m'; valid names are 'ml-100k', 'ml-latest-small'"):
        data.load_movielens("ml-1m")


# ---------------------------------------------------------------- where the data is looked for
def test_data_home_argument_beats_environment_beats_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    assert data.resolve_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert data.resolve_data_home() == tmp_path / "env"
    monkeypatch.delenv(data.ENV_VAR)
    assert data.resolve_data_home() == data.default_data_home()


def test_extracted_folder_is_used_without_download(tiny_spec, tmp_path):
    write_tiny_folder(tmp_path)
    log = data.load_movielens("tiny", tmp_path)
    assert (len(log), log.n_users, log.n_items) == (6, 3, 3)
    assert list(log.raw_user_ids) == [10, 20, 30] and list(log.item_titles) == ["Alpha (1990)", "Beta (1991)", "Gamma (1992)"]
    assert list(log.users) == [0, 0, 1, 1, 2, 2] and list(log.items) == [0, 1, 0, 2, 1, 2]


# ---------------------------------------------------------------- bad cases, each with its message
def test_no_data_and_no_network_says_where_it_looked(tiny_spec, tmp_path):
    with pytest.raises(data.DataNotFoundError) as info:
        data.load_movielens("tiny", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "tiny") in message and data.ENV_VAR in message and "127.0.0.1:9" in message
    assert not any(tmp_path.iterdir()), "a failed download must leave nothing behind"


def test_modified_file_reports_file_and_both_hashes(tiny_spec, tmp_path):
    changed = tiny_ratings_text().replace("1000\n", "1009\n")  # same counts, different bytes
    folder = write_tiny_folder(tmp_path, ratings=changed)
    with pytest.raises(data.ChecksumError) as info:
        data.load_movielens("tiny", tmp_path)
    message = str(info.value)
    assert str(folder / "u.data") in message
    assert data.DATASETS["tiny"].file_sha256["u.data"] in message
    assert data.sha256_of(folder / "u.data") in message


def test_line_cut_in_the_middle_names_file_and_line(tiny_spec, tmp_path):
    text = tiny_ratings_text()
    write_tiny_folder(tmp_path, ratings=text[: text.rindex("\t")])  # last line loses its timestamp
    with pytest.raises(data.MalformedFileError, match=r"u\.data: line 6 has 3 field\(s\), expected 4"):
        data.load_movielens("tiny", tmp_path)


def test_file_cut_at_a_line_boundary_reports_counts(tiny_spec, tmp_path):
    lines = tiny_ratings_text().splitlines(keepends=True)
    write_tiny_folder(tmp_path, ratings="".join(lines[:4]))
    with pytest.raises(data.MalformedFileError, match=r"4 ratings \(expected 6\)"):
        data.load_movielens("tiny", tmp_path)


def test_non_numeric_field_names_line(tiny_spec, tmp_path):
    write_tiny_folder(tmp_path, ratings=tiny_ratings_text().replace("20\t300\t1", "20\t300\tone"))
    with pytest.raises(data.MalformedFileError, match=r"line 4: rating 'one' is not a valid float"):
        data.load_movielens("tiny", tmp_path)


def test_rating_outside_scale_is_reported(tiny_spec, tmp_path):
    write_tiny_folder(tmp_path, ratings=tiny_ratings_text().replace("20\t300\t1", "20\t300\t7"))
    with pytest.raises(data.MalformedFileError, match=r"rating 7.0 on data row 4 is not one of"):
        data.load_movielens("tiny", tmp_path)


def test_folder_without_ratings_file_is_incomplete(tiny_spec, tmp_path):
    (tmp_path / "tiny").mkdir()
    with pytest.raises(data.DataNotFoundError, match="holds no u.data; it is incomplete"):
        data.load_movielens("tiny", tmp_path)


def test_missing_title_is_reported(tiny_spec, tmp_path):
    write_tiny_folder(tmp_path, items=TINY_ITEMS.replace("300|Gamma (1992)|x\n", ""))
    tiny_spec(file_sha256={})
    with pytest.raises(data.MalformedFileError, match=r"no title for item id\(s\) \[300\]"):
        data.load_movielens("tiny", tmp_path)


# ---------------------------------------------------------------- downloading (loopback server)
def test_download_verifies_extracts_and_is_reused(tiny_spec, tmp_path, archive_server):
    tiny_spec(url=archive_server.url)
    first = data.load_movielens("tiny", tmp_path)
    second = data.load_movielens("tiny", tmp_path)
    assert archive_server.hits == 1, "the extracted folder must be reused"
    assert np.array_equal(first.users, second.users)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny", "tiny.zip"]


def test_download_with_wrong_checksum_leaves_nothing(tiny_spec, tmp_path, archive_server):
    spec = tiny_spec(url=archive_server.url, archive_sha256="0" * 64)
    with pytest.raises(data.ChecksumError) as info:
        data.load_movielens("tiny", tmp_path)
    message = str(info.value)
    assert "tiny.zip" in message and spec.archive_sha256 in message
    assert hashlib.sha256(archive_server.payload).hexdigest() in message
    assert list(tmp_path.iterdir()) == [], "no partial or unverified file may stay in the cache"


def test_archive_with_foreign_members_is_rejected(tiny_spec, tmp_path, archive_server):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("../evil.txt", "x")
    archive_server.payload = buffer.getvalue()
    tiny_spec(url=archive_server.url, archive_sha256=hashlib.sha256(archive_server.payload).hexdigest())
    with pytest.raises(data.MalformedFileError, match="unexpected member '../evil.txt'"):
        data.load_movielens("tiny", tmp_path)
    assert not (tmp_path / "tiny").exists() and not (tmp_path.parent / "evil.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.zip"], "no half-extracted folder may stay"


def test_interactions_subset_keeps_index_space(tiny_spec, tmp_path):
    write_tiny_folder(tmp_path)
    log = data.load_movielens("tiny", tmp_path)
    part = log.subset(log.ratings >= 4)
    assert len(part) == 3 and (part.n_users, part.n_items) == (3, 3)
    with pytest.raises(ValueError, match=r"boolean array of shape \(6,\)"):
        log.subset(np.array([0, 1]))
