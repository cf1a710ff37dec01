"""Finding, validating, downloading and splitting CIFAR-10, on small generated datasets only."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import pickle
import shutil
import socket
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from autograder import data as D

N_PER_BATCH = 40
N_TEST = 30


@pytest.fixture(scope="module")
def small_cifar(make_cifar) -> Path:
    """A tiny dataset in the real file format: 5 x 40 training images, 30 test images."""
    return make_cifar(n_per_batch=N_PER_BATCH, n_test=N_TEST, seed=3)


@pytest.fixture
def cifar_copy(small_cifar, tmp_path) -> Path:
    """A private, writable copy for tests that damage files."""
    return Path(shutil.copytree(small_cifar, tmp_path / D.FOLDER_NAME))


@pytest.fixture
def clean_env(monkeypatch, tmp_path) -> Path:
    """No NNDL_CIFAR10 and an empty user cache, so only what a test sets up can be found."""
    monkeypatch.delenv(D.ENV_VAR, raising=False)
    cache_home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    return cache_home


def _dump_batch(path: Path, data, labels) -> None:
    with open(path, "wb") as fh:
        pickle.dump({b"data": data, b"labels": labels, b"batch_label": b"x", b"filenames": []}, fh, protocol=3)


# ---------------------------------------------------------------- find_cifar10 order


def test_find_prefers_explicit_path_then_env_then_cache(small_cifar, tmp_path, clean_env, monkeypatch):
    other = Path(shutil.copytree(small_cifar, tmp_path / "other" / D.FOLDER_NAME))
    cached = Path(shutil.copytree(small_cifar, clean_env / "nndl-autograder" / D.FOLDER_NAME))
    assert D.find_cifar10() == cached.resolve()
    monkeypatch.setenv(D.ENV_VAR, str(other))
    assert D.find_cifar10() == other.resolve()
    assert D.find_cifar10(small_cifar) == small_cifar.resolve()


def test_find_accepts_the_folder_that_contains_the_dataset(small_cifar, clean_env):
    assert D.find_cifar10(small_cifar.parent) == small_cifar.resolve()


def test_find_with_nothing_anywhere_says_what_to_do(clean_env):
    with pytest.raises(D.DataError) as err:
        D.find_cifar10()
    msg = str(err.value)
    assert "--data" in msg and D.ENV_VAR in msg and "\n" not in msg


def test_invalid_explicit_path_does_not_fall_back(small_cifar, tmp_path, clean_env, monkeypatch):
    monkeypatch.setenv(D.ENV_VAR, str(small_cifar))
    with pytest.raises(D.DataError, match="not found"):
        D.find_cifar10(tmp_path / "typo")


def test_invalid_env_is_named_in_the_error(tmp_path, clean_env, monkeypatch):
    monkeypatch.setenv(D.ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(D.DataError, match=D.ENV_VAR):
        D.find_cifar10()


# ---------------------------------------------------------------- validate_cifar10


def test_validate_accepts_a_good_folder(small_cifar):
    assert D.validate_cifar10(small_cifar) == small_cifar.resolve()


def test_validate_names_missing_files(cifar_copy):
    (cifar_copy / "data_batch_3").unlink()
    (cifar_copy / "batches.meta").unlink()
    with pytest.raises(D.DataError) as err:
        D.validate_cifar10(cifar_copy, deep=False)
    assert "data_batch_3" in str(err.value) and "batches.meta" in str(err.value)


def test_validate_spots_a_truncated_batch_without_loading(cifar_copy):
    path = cifar_copy / "data_batch_2"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(D.DataError, match="data_batch_2.*truncated"):
        D.validate_cifar10(cifar_copy, deep=False)


def test_deep_validation_spots_a_truncated_test_batch(cifar_copy):
    path = cifar_copy / "test_batch"
    path.write_bytes(path.read_bytes()[:-100])
    D.validate_cifar10(cifar_copy, deep=False)  # sizes alone cannot tell
    with pytest.raises(D.DataError, match="test_batch.*unreadable.*truncated"):
        D.validate_cifar10(cifar_copy)


def test_deep_validation_rejects_wrong_image_shape(cifar_copy):
    _dump_batch(cifar_copy / "test_batch", np.zeros((N_TEST, 1000), np.uint8), [0] * N_TEST)
    with pytest.raises(D.DataError, match=r"uint8 \(N, 3072\).*\(30, 1000\)"):
        D.validate_cifar10(cifar_copy)


@pytest.mark.parametrize("labels, pattern", [([0] * 5, "5 labels for 30 images"), ([12] * N_TEST, "outside")])
def test_deep_validation_rejects_bad_labels(cifar_copy, labels, pattern):
    _dump_batch(cifar_copy / "test_batch", np.zeros((N_TEST, 3072), np.uint8), labels)
    with pytest.raises(D.DataError, match=pattern):
        D.validate_cifar10(cifar_copy)


class _Payload:
    """Unpickling this would create a folder: proof that code ran."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_dataset_pickles_cannot_run_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "test_batch"
    with open(path, "wb") as fh:
        pickle.dump({b"data": _Payload(str(marker))}, fh, protocol=3)
    with pytest.raises(D.DataError, match="refusing to load posix.mkdir"):
        D.load_pickle(path)
    assert not marker.exists()


def test_loads_arrays_pickled_by_numpy_1(tmp_path):
    """The real files name numpy.core.multiarray._reconstruct, which numpy 2 renamed."""
    blob = pickle.dumps({b"data": np.arange(6, dtype=np.uint8).reshape(2, 3)}, protocol=3)
    assert b"numpy._core.multiarray" in blob
    path = tmp_path / "old"
    path.write_bytes(blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    got = D.load_pickle(path)[b"data"]
    assert got.dtype == np.uint8 and got.tolist() == [[0, 1, 2], [3, 4, 5]]


# ---------------------------------------------------------------- load_cifar10


def test_load_gives_nhwc_uint8_images_matching_the_flat_rows(small_cifar):
    d = D.load_cifar10(small_cifar)
    assert d["X_train"].shape == (5 * N_PER_BATCH, 32, 32, 3) and d["X_train"].dtype == np.uint8
    assert d["X_test"].shape == (N_TEST, 32, 32, 3) and d["y_test"].shape == (N_TEST,)
    with open(small_cifar / "data_batch_1", "rb") as fh:
        flat = pickle.load(fh, encoding="bytes")[b"data"]
    # row 0, pixel (row 2, col 5): red at 2*32+5, green 1024 later, blue 2048 later
    assert d["X_train"][0, 2, 5].tolist() == [flat[0, 69], flat[0, 1024 + 69], flat[0, 2048 + 69]]
    assert d["label_names"][0] == "airplane" and len(d["label_names"]) == 10


# ---------------------------------------------------------------- download_cifar10


def _tarball(src: Path, dest: Path, *, extra: bool = False, drop: str | None = None) -> tuple[Path, str]:
    """A gzip tarball laid out like the official one; optionally with hostile extra members."""
    path = dest / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name in D.REQUIRED_FILES:
            if name != drop:
                tar.add(src / name, arcname=f"{D.FOLDER_NAME}/{name}")
        if extra:
            evil = tarfile.TarInfo("../escaped.txt")
            evil.size = 4
            tar.addfile(evil, io.BytesIO(b"evil"))
            link = tarfile.TarInfo(f"{D.FOLDER_NAME}/readme.html")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(link)
    return path, hashlib.md5(path.read_bytes()).hexdigest()


def test_download_from_file_url_checks_and_extracts_only_dataset_files(small_cifar, tmp_path):
    tarball, md5 = _tarball(small_cifar, tmp_path, extra=True)
    dest = tmp_path / "cache"
    got = D.download_cifar10(dest, url=tarball.as_uri(), md5=md5, progress=False)
    assert got == dest / D.FOLDER_NAME
    assert sorted(p.name for p in got.iterdir()) == sorted(D.REQUIRED_FILES)
    assert (got / "test_batch").read_bytes() == (small_cifar / "test_batch").read_bytes()
    assert not (tmp_path / "escaped.txt").exists() and not (dest / "escaped.txt").exists()
    assert [p.name for p in dest.iterdir()] == [D.FOLDER_NAME]  # no temporary leftovers


def test_download_checksum_mismatch_leaves_nothing(small_cifar, tmp_path):
    tarball, _ = _tarball(small_cifar, tmp_path)
    dest = tmp_path / "cache"
    with pytest.raises(D.DataError, match="checksum.*--data"):
        D.download_cifar10(dest, url=tarball.as_uri(), md5="0" * 32, progress=False)
    assert list(dest.iterdir()) == []


def test_download_of_an_incomplete_archive_fails(small_cifar, tmp_path):
    tarball, md5 = _tarball(small_cifar, tmp_path, drop="data_batch_4")
    with pytest.raises(D.DataError, match="lacks.*data_batch_4"):
        D.download_cifar10(tmp_path / "cache", url=tarball.as_uri(), md5=md5, progress=False)


def test_download_offline_is_a_one_line_data_error(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(D.DataError) as err:
        D.download_cifar10(tmp_path, url=f"http://127.0.0.1:{port}/c.tar.gz", timeout=5, progress=False)
    assert "could not download" in str(err.value) and D.ENV_VAR in str(err.value)
    assert "\n" not in str(err.value)


def test_download_over_http_and_find_uses_the_cache(small_cifar, tmp_path, clean_env, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    tarball, md5 = _tarball(small_cifar, served)
    handler = functools.partial(_QuietHandler, directory=str(served))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/{tarball.name}"
        monkeypatch.setattr(D, "CIFAR10_URL", url)
        monkeypatch.setattr(D, "CIFAR10_MD5", md5)
        got = D.find_cifar10(download=True)
        server.shutdown()
    assert got == clean_env / "nndl-autograder" / D.FOLDER_NAME
    assert D.find_cifar10() == got.resolve()  # found in the cache, no second download


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# ---------------------------------------------------------------- prepare_splits


@pytest.fixture(scope="module")
def splits(small_cifar, tmp_path_factory) -> D.Splits:
    return D.prepare_splits(small_cifar, tmp_path_factory.mktemp("cache"), 150, 50, 20)


def test_splits_have_the_course_shapes_and_dtypes(splits):
    shapes = {n: (splits.load(n).shape, splits.load(n).dtype) for n in D.SPLIT_NAMES}
    assert shapes == {
        "X_train": ((150, 3, 32, 32), np.float32), "y_train": ((150,), np.int64),
        "X_val": ((50, 3, 32, 32), np.float32), "y_val": ((50,), np.int64),
        "X_test": ((20, 3, 32, 32), np.float32), "y_test": ((20,), np.int64),
    }
    assert splits.counts == {"train": 150, "val": 50, "test": 20}
    assert splits.synthetic is True


def test_splits_are_the_course_split_with_the_training_mean_subtracted(splits, small_cifar):
    raw = D.load_cifar10(small_cifar)
    x_tr = raw["X_train"][:150].astype(np.float64)
    mean = x_tr.mean(axis=0)

    def course(x):
        return (x.astype(np.float64) - mean).transpose(0, 3, 1, 2)

    np.testing.assert_allclose(splits.load("X_train"), course(x_tr), atol=1e-4)
    np.testing.assert_allclose(splits.load("X_val"), course(raw["X_train"][150:200]), atol=1e-4)
    np.testing.assert_allclose(splits.load("X_test"), course(raw["X_test"][:20]), atol=1e-4)
    np.testing.assert_array_equal(splits.load("y_val"), raw["y_train"][150:200])
    assert np.abs(np.asarray(splits.load("X_train")).mean(axis=0)).max() < 1e-3


def test_second_prepare_reuses_the_files(splits, small_cifar):
    before = {n: p.stat().st_mtime_ns for n, p in splits.files.items()}
    again = D.prepare_splits(small_cifar, splits.dir.parent, 150, 50, 20)
    assert again.dir == splits.dir and again.identity == splits.identity
    assert {n: p.stat().st_mtime_ns for n, p in again.files.items()} == before


def test_identity_follows_sizes_and_file_content(small_cifar, cifar_copy, splits):
    assert D.dataset_identity(small_cifar, 150, 50, 20) == splits.identity
    assert D.dataset_identity(small_cifar, 150, 40, 20) != splits.identity
    with open(cifar_copy / "batches.meta", "ab") as fh:
        fh.write(b"\0")
    assert D.dataset_identity(cifar_copy, 150, 50, 20) != splits.identity


def test_prepare_refuses_splits_larger_than_the_data(small_cifar, tmp_path):
    with pytest.raises(D.DataError, match="too few"):
        D.prepare_splits(small_cifar, tmp_path, 190, 50, 20)


def test_split_files_are_plain_npy_and_read_only(splits):
    for path in splits.files.values():
        assert path.suffix == ".npy" and path.stat().st_mode & 0o222 == 0
        np.load(path, allow_pickle=False)


# ---------------------------------------------------------------- what children may see


def test_notebook_splits_hold_no_real_validation_or_test_rows(splits, tmp_path):
    folder = D.notebook_splits(splits, tmp_path, n_train=100, n_val=25, n_test=20)
    train_rows = {r.tobytes() for r in np.asarray(splits.load("X_train"))}
    secret_rows = {r.tobytes() for n in ("X_val", "X_test") for r in np.asarray(splits.load(n))}
    seen = {}
    for name in D.SPLIT_NAMES:
        seen[name] = np.load(folder / f"{name}.npy", allow_pickle=False)
    for name in ("X_train", "X_val", "X_test"):
        rows = {r.tobytes() for r in seen[name]}
        assert rows <= train_rows and not rows & secret_rows, name
    assert not {r.tobytes() for r in seen["X_val"]} & {r.tobytes() for r in seen["X_train"]}
    assert [len(seen[n]) for n in D.SPLIT_NAMES] == [100, 100, 25, 25, 20, 20]
    np.testing.assert_array_equal(seen["y_val"], np.asarray(splits.load("y_train"))[100:125])


def test_notebook_splits_shrink_to_fit_a_small_training_split(splits, tmp_path):
    folder = D.notebook_splits(splits, tmp_path, n_train=2000)
    sizes = [len(np.load(folder / f"y_{p}.npy")) for p in ("train", "val", "test")]
    assert sizes == [90, 30, 30] and sum(sizes) <= 150


def test_training_inputs_never_include_validation_labels(splits):
    files = D.training_inputs(splits)
    assert set(files) == {"X_train", "y_train", "X_val"}
    assert all(p.is_file() for p in files.values())


# ---------------------------------------------------------------- default_dataset


def test_default_dataset_makes_synthetic_data_once(clean_env, tmp_path):
    folder, synthetic = D.default_dataset(tmp_path / "cache")
    assert synthetic is True and D.validate_cifar10(folder)
    stamp = (folder / "test_batch").stat().st_mtime_ns
    again, synthetic_again = D.default_dataset(tmp_path / "cache")
    assert (again, synthetic_again) == (folder, True)
    assert (folder / "test_batch").stat().st_mtime_ns == stamp


def test_default_dataset_prefers_found_data(small_cifar, clean_env, monkeypatch, tmp_path, cifar_copy):
    with open(cifar_copy / "batches.meta", "wb") as fh:  # same files, but not marked synthetic
        pickle.dump({b"label_names": [b"a"] * 10}, fh, protocol=2)
    monkeypatch.setenv(D.ENV_VAR, str(cifar_copy))
    assert D.default_dataset(tmp_path / "cache") == (cifar_copy.resolve(), False)
    assert not (tmp_path / "cache").exists()
    assert D.default_dataset(tmp_path / "cache", data=small_cifar) == (small_cifar.resolve(), True)


def test_default_dataset_with_a_bad_explicit_folder_is_an_error(clean_env, tmp_path):
    with pytest.raises(D.DataError):
        D.default_dataset(tmp_path / "cache", data=tmp_path / "missing")
