"""The synthetic CIFAR-10 stand-in: real file format, deterministic, learnable but not trivial."""

from __future__ import annotations

import pickle
import pickletools
from pathlib import Path

import numpy as np
import pytest

from autograder import data as D
from autograder.synthetic import is_synthetic, write_synthetic_cifar10


@pytest.fixture(scope="module")
def default_synthetic(tmp_path_factory) -> Path:
    """The quick start's default: 5 x 1000 training and 1000 test images."""
    return write_synthetic_cifar10(tmp_path_factory.mktemp("syn") / "cifar")


def _plain_load(path: Path, encoding: str = "bytes"):
    """The way course code reads a batch: an ordinary pickle.load."""
    with open(path, "rb") as fh:
        return pickle.load(fh, encoding=encoding)


def test_batches_have_the_real_file_format(default_synthetic):
    for name, n in [(b, 1000) for b in D.TRAIN_BATCHES] + [(D.TEST_BATCH, 1000)]:
        batch = _plain_load(default_synthetic / name)
        assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}
        assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape == (n, 3072)
        assert isinstance(batch[b"labels"], list) and len(batch[b"labels"]) == n
        assert all(type(v) is int and 0 <= v < 10 for v in batch[b"labels"])
        assert isinstance(batch[b"batch_label"], bytes)
        assert len(batch[b"filenames"]) == n and all(isinstance(f, bytes) for f in batch[b"filenames"])
    meta = _plain_load(default_synthetic / D.META_FILE)
    assert len(meta[b"label_names"]) == 10 and all(isinstance(n, bytes) for n in meta[b"label_names"])
    assert meta[b"num_vis"] == 3072 and meta[b"synthetic"] is True


def test_course_style_latin1_loading_works(default_synthetic):
    """cs231n's load_CIFAR_batch reads with encoding='latin1' and str keys, like the py2 originals."""
    batch = _plain_load(default_synthetic / "data_batch_1", encoding="latin1")
    images = batch["data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    assert images.shape == (1000, 32, 32, 3) and len(batch["labels"]) == 1000
    assert _plain_load(default_synthetic / D.META_FILE, encoding="latin1")["label_names"][0] == "airplane"


def test_pickle_dialect_matches_the_real_files(default_synthetic):
    """Python-2 string opcodes and the numpy-1 global names, nothing else."""
    ops = {op.name: arg for op, arg, _ in pickletools.genops((default_synthetic / "test_batch").read_bytes())
           if op.name in ("PROTO", "BINBYTES", "SHORT_BINBYTES", "BINUNICODE", "SHORT_BINUNICODE")}
    assert ops == {"PROTO": 2}
    globals_ = {arg for op, arg, _ in pickletools.genops((default_synthetic / "test_batch").read_bytes())
                if op.name in ("GLOBAL", "STACK_GLOBAL")}
    assert globals_ == {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}


def test_passes_the_graders_own_validation(default_synthetic):
    assert D.validate_cifar10(default_synthetic) == default_synthetic.resolve()


def test_classes_are_balanced_and_images_vary(default_synthetic):
    d = D.load_cifar10(default_synthetic)
    counts = np.bincount(d["y_train"], minlength=10)
    assert counts.min() > 400 and counts.max() < 600
    x = d["X_train"].astype(np.float64)
    assert 20 < x.std() < 80  # not flat
    assert np.mean((x == 0) | (x == 255)) < 0.01  # hardly any clipped pixels


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    a = write_synthetic_cifar10(tmp_path / "a", n_per_batch=30, n_test=20, seed=7)
    b = write_synthetic_cifar10(tmp_path / "b", n_per_batch=30, n_test=20, seed=7)
    c = write_synthetic_cifar10(tmp_path / "c", n_per_batch=30, n_test=20, seed=8)
    for name in D.REQUIRED_FILES[:-1]:
        assert (a / name).read_bytes() == (b / name).read_bytes()
        assert (a / name).read_bytes() != (c / name).read_bytes()


def test_n_train_sets_the_total_over_five_batches(tmp_path):
    folder = write_synthetic_cifar10(tmp_path / "s", n_train=250, n_test=10)
    assert len(D.load_cifar10(folder)["y_train"]) == 250


def test_is_synthetic_reads_the_marker(default_synthetic, tmp_path):
    assert is_synthetic(default_synthetic)
    assert not is_synthetic(tmp_path / "missing")
    plain = tmp_path / "plain"
    plain.mkdir()
    with open(plain / D.META_FILE, "wb") as fh:
        pickle.dump({b"label_names": [b"x"] * 10, b"num_vis": 3072}, fh, protocol=2)
    assert not is_synthetic(plain)


def _pooled(x: np.ndarray) -> np.ndarray:
    """4x4 average pooling: the smooth class patterns survive, pixel noise mostly does not."""
    n = x.shape[0]
    return np.asarray(x, np.float64).reshape(n, 3, 8, 4, 8, 4).mean(axis=(3, 5)).reshape(n, -1)


def test_a_linear_fit_learns_it_well_but_not_perfectly(default_synthetic, tmp_path):
    splits = D.prepare_splits(default_synthetic, tmp_path, 4000, 1000, 1000)
    x, y = _pooled(splits.load("X_train")), np.asarray(splits.load("y_train"))
    xv, yv = _pooled(splits.load("X_val")), np.asarray(splits.load("y_val"))
    x1, xv1 = np.c_[x, np.ones(len(x))], np.c_[xv, np.ones(len(xv))]
    w = np.linalg.solve(x1.T @ x1 + 1e3 * np.eye(x1.shape[1]), x1.T @ np.eye(10)[y])
    val_acc = float((np.argmax(xv1 @ w, axis=1) == yv).mean())
    train_acc = float((np.argmax(x1 @ w, axis=1) == y).mean())
    assert 0.5 < val_acc < 0.97, val_acc  # chance is 0.10
    assert train_acc < 0.99
