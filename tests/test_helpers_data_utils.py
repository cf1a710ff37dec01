"""The given data helpers (reference/cs231n/data_utils.py) on a small generated CIFAR-10-format
folder, and the grader's NNDL_GRADER_DATA override."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

from autograder.refimpl import helpers, helpers_dir

data_utils = helpers.data_utils

PER_BATCH, N_TEST = 12, 10


def write_batch(path, images, labels, bytes_keys=True):
    """A CIFAR-10 python batch: uint8 rows of 3072 values (R plane, G plane, B plane)."""
    key = (lambda k: k.encode()) if bytes_keys else (lambda k: k)
    with open(path, "wb") as f:
        pickle.dump({key("data"): images, key("labels"): list(labels), key("batch_label"): "gen"}, f)


@pytest.fixture
def cifar_dir(tmp_path):
    """tmp/cs231n/datasets/cifar-10-batches-py with 5 x 12 training and 10 test images; returns
    (tmp, planes (N, 3, 32, 32) of all training images, training labels, test planes, test labels)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "cs231n" / "datasets" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train = rng.integers(0, 256, size=(5 * PER_BATCH, 3072), dtype=np.uint8)
    train_y = rng.integers(0, 10, size=5 * PER_BATCH)
    for b in range(5):
        rows = slice(b * PER_BATCH, (b + 1) * PER_BATCH)
        write_batch(folder / f"data_batch_{b + 1}", train[rows], train_y[rows], bytes_keys=b % 2 == 0)
    test = rng.integers(0, 256, size=(N_TEST, 3072), dtype=np.uint8)
    test_y = rng.integers(0, 10, size=N_TEST)
    write_batch(folder / "test_batch", test, test_y)
    return tmp_path, train.reshape(-1, 3, 32, 32), train_y, test.reshape(-1, 3, 32, 32), test_y


def test_load_cifar_batch_is_nhwc_float(cifar_dir):
    root, planes, labels, _, _ = cifar_dir
    X, Y = data_utils.load_CIFAR_batch(str(root / "cs231n/datasets/cifar-10-batches-py/data_batch_2"))
    assert X.shape == (PER_BATCH, 32, 32, 3) and X.dtype == np.float64
    np.testing.assert_array_equal(X, planes[PER_BATCH:2 * PER_BATCH].transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(Y, labels[PER_BATCH:2 * PER_BATCH])


def test_load_cifar10_concatenates_batches(cifar_dir):
    root, planes, labels, test_planes, test_labels = cifar_dir
    Xtr, Ytr, Xte, Yte = data_utils.load_CIFAR10(str(root / "cs231n/datasets/cifar-10-batches-py"))
    assert Xtr.shape == (5 * PER_BATCH, 32, 32, 3) and Xte.shape == (N_TEST, 32, 32, 3)
    np.testing.assert_array_equal(Xtr, planes.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(Ytr, labels)
    np.testing.assert_array_equal(Yte, test_labels)


def test_get_cifar10_data_splits_and_mean_subtraction(cifar_dir, monkeypatch):
    root, planes, labels, test_planes, test_labels = cifar_dir
    monkeypatch.chdir(root)
    monkeypatch.delenv("NNDL_GRADER_DATA", raising=False)
    data = data_utils.get_CIFAR10_data(num_training=40, num_validation=15, num_test=6)
    assert {k: v.shape for k, v in data.items()} == {
        "X_train": (40, 3, 32, 32), "y_train": (40,), "X_val": (15, 3, 32, 32), "y_val": (15,),
        "X_test": (6, 3, 32, 32), "y_test": (6,)}
    assert data["X_train"].dtype == np.float64
    mean = planes[:40].astype(float).mean(axis=0)
    np.testing.assert_allclose(data["X_train"], planes[:40] - mean)
    np.testing.assert_allclose(data["X_val"], planes[40:55] - mean)
    np.testing.assert_allclose(data["X_test"], test_planes[:6] - mean)
    np.testing.assert_array_equal(data["y_val"], labels[40:55])
    np.testing.assert_array_equal(data["y_test"], test_labels[:6])
    assert data["X_train"].flags["C_CONTIGUOUS"]

    raw = data_utils.get_CIFAR10_data(num_training=40, num_validation=15, num_test=6, subtract_mean=False)
    np.testing.assert_array_equal(raw["X_train"], planes[:40])  # not scaled to [0, 1]


def test_grader_data_override(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    arrays = {"X_train": rng.standard_normal((30, 3, 32, 32)).astype(np.float32),
              "y_train": rng.integers(0, 10, 30), "X_val": rng.standard_normal((8, 3, 32, 32)),
              "y_val": rng.integers(0, 10, 8)}  # no test split: those keys are absent
    for name, value in arrays.items():
        np.save(tmp_path / f"{name}.npy", value)
    monkeypatch.setenv("NNDL_GRADER_DATA", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no CIFAR folder here: the override must not look for one

    data = data_utils.get_CIFAR10_data(num_training=20, num_validation=1000)
    assert sorted(data) == ["X_train", "X_val", "y_train", "y_val"]
    np.testing.assert_array_equal(data["X_train"], arrays["X_train"][:20])
    np.testing.assert_array_equal(data["y_train"], arrays["y_train"][:20])
    np.testing.assert_array_equal(data["X_val"], arrays["X_val"])  # fewer than asked: all of them
    assert isinstance(data["X_train"], np.memmap)

    # In-place edits by a notebook stay private: the files are unchanged.
    data["X_train"] -= 1
    np.testing.assert_array_equal(np.load(tmp_path / "X_train.npy"), arrays["X_train"])


def test_grader_data_refuses_pickled_arrays(tmp_path, monkeypatch):
    np.save(tmp_path / "y_train.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    monkeypatch.setenv("NNDL_GRADER_DATA", str(tmp_path))
    with pytest.raises(ValueError):
        data_utils.get_CIFAR10_data()


def test_helpers_import_light():
    """Importing the helpers must not pull in matplotlib or six (sandboxed kernels may lack them)."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]);"
            "import cs231n.data_utils, cs231n.gradient_check, cs231n.solver;"
            "bad = [m for m in ('matplotlib', 'six', 'scipy') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code, str(helpers_dir().parent)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
