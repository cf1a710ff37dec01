"""CIFAR-10: find it, check it, download it, and cut it into the course's splits.

The grader hands data to sandboxed children only as plain ``.npy`` files they can memory-map
read-only, so everything here ends in files on disk: ``prepare_splits`` writes the course's
train / val / test split once per dataset identity, ``notebook_splits`` carves a small,
label-safe set for notebook kernels out of the training split, and ``training_inputs`` names
the only files a training child may see (never the validation labels).

The file format and the restricted unpickler live in the leaf module ``cifar_format``, which
``synthetic`` shares.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import READ_ONLY_MODE, replacing
from .cifar_format import (  # noqa: F401  (re-exported: the format is part of this module's API)
    _HINT, ENV_VAR, FOLDER_NAME, IMAGE_SIZE, META_FILE, NUM_CLASSES, REQUIRED_FILES, TEST_BATCH,
    TRAIN_BATCHES, DataError, is_synthetic_folder, load_pickle)
from .results import write_json_atomic
from .synthetic import is_synthetic, write_synthetic_cifar10

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
SPLIT_NAMES = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")
#: Bump when the split files' content changes for the same source (invalidates old caches).
SPLITS_FORMAT = 1



def _load_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(data (N, 3072) uint8, labels (N,) int64) of one batch file, structure checked."""
    d = load_pickle(path)
    if not isinstance(d, dict):
        raise DataError(f"CIFAR-10 file {path} is not a batch (a {type(d).__name__}, not a dict); {_HINT}")
    data, labels = d.get(b"data"), d.get(b"labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != IMAGE_SIZE:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"CIFAR-10 file {path}: b'data' must be uint8 (N, {IMAGE_SIZE}), got {got}; {_HINT}")
    if not isinstance(labels, (list, np.ndarray)) or len(labels) != data.shape[0]:
        n = len(labels) if isinstance(labels, (list, np.ndarray)) else type(labels).__name__
        raise DataError(f"CIFAR-10 file {path}: {n} labels for {data.shape[0]} images; {_HINT}")
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"CIFAR-10 file {path}: labels are not integers; {_HINT}") from None
    if y.size and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise DataError(f"CIFAR-10 file {path}: labels outside 0..{NUM_CLASSES - 1}; {_HINT}")
    return data, y


def _load_meta(folder: Path) -> dict:
    meta = load_pickle(Path(folder) / META_FILE)
    if not isinstance(meta, dict) or not isinstance(meta.get(b"label_names"), list):
        raise DataError(f"CIFAR-10 file {Path(folder) / META_FILE} has no label_names list; {_HINT}")
    return meta


# ---------------------------------------------------------------- finding and validating


def default_cache_root() -> Path:
    """``$XDG_CACHE_HOME/nndl-autograder``, else ``~/.cache/nndl-autograder``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nndl-autograder"


def validate_cifar10(folder: Path | str, *, deep: bool = True) -> Path:
    """Check that ``folder`` holds a usable CIFAR-10 python dataset; return it resolved.

    The shallow part (files present, non-trivial sizes, the five training batches about the same
    size) is instant; ``deep`` also loads every batch and checks shapes, dtypes and labels.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"CIFAR-10 folder not found: {folder}; {_HINT}")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise DataError(f"CIFAR-10 folder {folder} lacks {', '.join(missing)}; {_HINT}")
    sizes = {name: (folder / name).stat().st_size for name in REQUIRED_FILES}
    tiny = [name for name in TRAIN_BATCHES + (TEST_BATCH,) if sizes[name] < IMAGE_SIZE]
    if tiny or sizes[META_FILE] == 0:
        raise DataError(f"CIFAR-10 folder {folder}: {', '.join(tiny) or META_FILE} too small to hold images; {_HINT}")
    train_sizes = [sizes[name] for name in TRAIN_BATCHES]
    if min(train_sizes) < 0.9 * max(train_sizes):
        short = min(TRAIN_BATCHES, key=sizes.__getitem__)
        raise DataError(f"CIFAR-10 folder {folder}: {short} is much smaller than the other batches "
                        f"(truncated?); {_HINT}")
    if deep:
        _load_meta(folder)
        for name in TRAIN_BATCHES + (TEST_BATCH,):
            _load_batch(folder / name)
    return folder.resolve()


def _candidate(path: Path) -> Path:
    """Accept the data folder itself or a folder that contains ``cifar-10-batches-py``."""
    inner = path / FOLDER_NAME
    return inner if not (path / META_FILE).exists() and inner.is_dir() else path


def find_cifar10(path: Path | str | None = None, *, download: bool = False) -> Path:
    """Locate CIFAR-10: explicit ``path``, then env ``NNDL_CIFAR10``, then the user cache.

    An explicit path or the environment variable must be valid (no silent fallback: a typo
    should not grade against other data). With ``download`` the cache is filled from the
    official tarball when nothing is found.
    """
    if path is not None and str(path) != "":
        return validate_cifar10(_candidate(Path(path).expanduser()), deep=False)
    env = os.environ.get(ENV_VAR)
    if env:
        try:
            return validate_cifar10(_candidate(Path(env).expanduser()), deep=False)
        except DataError as exc:
            raise DataError(f"{ENV_VAR}={env}: {exc}") from None
    cached = default_cache_root() / FOLDER_NAME
    try:
        return validate_cifar10(cached, deep=False)
    except DataError:
        if not download:
            raise DataError(f"CIFAR-10 not found (looked in {cached}); {_HINT}, or allow the download") from None
    return download_cifar10(default_cache_root(), url=CIFAR10_URL, md5=CIFAR10_MD5)


# ---------------------------------------------------------------- downloading


def download_cifar10(dest: Path | str, url: str = CIFAR10_URL, md5: str = CIFAR10_MD5, *,
                     timeout: float = 60.0, progress: bool | None = None) -> Path:
    """Fetch the official tarball into ``dest``, verify its MD5, extract it safely.

    Returns ``dest/cifar-10-batches-py``. The tarball is streamed to a temporary file (with a
    tqdm progress bar on a terminal), only the seven expected regular files are extracted, and
    the folder appears under its final name only once complete and valid.
    """
    dest = Path(dest).expanduser()
    try:
        return _download_into(dest, url, md5, timeout, progress)
    except OSError as exc:  # disk full, read-only cache, permissions
        raise DataError(f"cannot store CIFAR-10 in {dest} ({exc}); {_HINT}") from None


def _download_into(dest: Path, url: str, md5: str, timeout: float, progress: bool | None) -> Path:
    from tqdm import tqdm

    dest.mkdir(parents=True, exist_ok=True)
    final = dest / FOLDER_NAME
    with tempfile.TemporaryDirectory(prefix=".cifar10-", dir=dest) as tmp:
        tarball = Path(tmp) / "cifar-10-python.tar.gz"
        digest = hashlib.md5()
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tarball, "wb") as out:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc="CIFAR-10",
                          disable=(not progress) if progress is not None else None) as bar:
                    while chunk := resp.read(1 << 20):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DataError(f"could not download CIFAR-10 from {url} ({reason}); "
                            f"download {os.path.basename(url) or 'it'} yourself and {_HINT}") from None
        if digest.hexdigest() != md5.lower():
            raise DataError(f"CIFAR-10 download from {url} failed its checksum (md5 {digest.hexdigest()}, "
                            f"expected {md5}); retry, or {_HINT}")
        staged = Path(tmp) / "extracted"
        _extract_dataset(tarball, staged)
        validate_cifar10(staged / FOLDER_NAME)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staged / FOLDER_NAME, final)
    return final


def _extract_dataset(tarball: Path, dest: Path) -> None:
    """Extract only ``cifar-10-batches-py/<required file>`` regular members (no links, no paths)."""
    wanted = {f"{FOLDER_NAME}/{name}" for name in REQUIRED_FILES}
    try:
        with tarfile.open(tarball, "r:*") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and _member_name(m) in wanted]
            found = {_member_name(m) for m in members}
            if found != wanted:
                raise DataError(f"the CIFAR-10 archive lacks {', '.join(sorted(wanted - found))}; {_HINT}")
            dest.mkdir(parents=True, exist_ok=True)
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"the CIFAR-10 archive is damaged ({exc}); retry, or {_HINT}") from None


def _member_name(member: tarfile.TarInfo) -> str:
    return member.name[2:] if member.name.startswith("./") else member.name


# ---------------------------------------------------------------- loading and splitting


def load_cifar10(folder: Path | str) -> dict[str, Any]:
    """The whole dataset in memory: uint8 NHWC images, int64 labels, and the label names."""
    folder = Path(folder)
    validate_cifar10(folder, deep=False)
    parts = [_load_batch(folder / name) for name in TRAIN_BATCHES]
    x_test, y_test = _load_batch(folder / TEST_BATCH)
    meta = _load_meta(folder)

    def nhwc(flat: np.ndarray) -> np.ndarray:
        return flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)

    return {
        "X_train": nhwc(np.concatenate([p[0] for p in parts])),
        "y_train": np.concatenate([p[1] for p in parts]),
        "X_test": nhwc(x_test),
        "y_test": y_test,
        "label_names": [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n)
                        for n in meta[b"label_names"]],
    }




@dataclass(frozen=True)
class Splits:
    """The course's split on disk: six ``.npy`` files in ``dir``, named as in ``SPLIT_NAMES``."""

    dir: Path
    identity: str
    synthetic: bool
    files: dict[str, Path]
    counts: dict[str, int] = field(default_factory=dict)

    def load(self, name: str) -> np.ndarray:
        """A read-only memory map of one split file."""
        return open_npy(self.files[name])


def open_npy(path: Path | str) -> np.ndarray:
    """A read-only memory map of an ``.npy`` file (never a pickle): shared page cache, no copy."""
    return np.load(path, mmap_mode="r", allow_pickle=False)


def dataset_identity(folder: Path | str, *sizes: int) -> str:
    """Content hash of the seven source files plus the split sizes (the cache key)."""
    h = hashlib.sha256(f"splits-v{SPLITS_FORMAT}:{sizes}".encode())
    for name in REQUIRED_FILES:
        with open(Path(folder) / name, "rb") as fh:
            h.update(name.encode() + b"\0" + hashlib.file_digest(fh, "sha256").digest())
    return h.hexdigest()[:20]


def _save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """Write an ``.npy`` so a concurrent reader sees the whole file or none of it."""
    with replacing(path, mode=READ_ONLY_MODE) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array), allow_pickle=False)


def _write_centered_atomic(path: Path, images: np.ndarray, mean_image: np.ndarray,
                           chunk: int = 4096) -> None:
    """Write ``images - mean`` as float32 NCHW ``.npy``, a chunk at a time (no full float64 copy)."""
    n = images.shape[0]
    with replacing(path, mode=READ_ONLY_MODE, durable=False) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, 3, 32, 32))
        for lo in range(0, n, chunk):
            block = images[lo:lo + chunk].astype(np.float64) - mean_image
            out[lo:lo + chunk] = block.astype(np.float32).transpose(0, 3, 1, 2)
        out.flush()
        del out


def _write_split_dir(dest: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        _save_npy_atomic(dest / f"{name}.npy", array)
    # meta.json last: its presence marks the folder complete.
    write_json_atomic(dest / "meta.json", meta)


def _read_complete(dest: Path, names: tuple[str, ...]) -> dict[str, Any] | None:
    """The folder's meta.json when every listed ``.npy`` is there too, else None."""
    try:
        meta = json.loads((dest / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not all((dest / f"{n}.npy").is_file() for n in names):
        return None
    return meta


def _splits_from(dest: Path, meta: dict[str, Any]) -> Splits:
    return Splits(
        dir=dest,
        identity=str(meta["identity"]),
        synthetic=bool(meta.get("synthetic")),
        files={n: dest / f"{n}.npy" for n in SPLIT_NAMES if (dest / f"{n}.npy").is_file()},
        counts={k: int(v) for k, v in (meta.get("counts") or {}).items()},
    )


def prepare_splits(folder: Path | str, cache_dir: Path | str, num_training: int = 49000,
                   num_validation: int = 1000, num_test: int = 1000) -> Splits:
    """The course's split (get_CIFAR10_data), written once as float32 channels-first ``.npy``.

    train = the first ``num_training`` training images, val = the next ``num_validation``,
    test = the first ``num_test`` test images; all three have the training mean image subtracted.
    Files live in ``cache_dir/<identity>/`` and are reused while the source and sizes are unchanged.
    """
    folder = validate_cifar10(folder, deep=False)
    for label, n in (("num_training", num_training), ("num_validation", num_validation), ("num_test", num_test)):
        if not isinstance(n, int) or n < 1:
            raise DataError(f"{label} must be a positive integer, got {n!r}")
    identity = dataset_identity(folder, num_training, num_validation, num_test)
    dest = Path(cache_dir) / identity
    meta = _read_complete(dest, SPLIT_NAMES)
    if meta is not None:
        return _splits_from(dest, meta)

    data = load_cifar10(folder)
    n_train_all, n_test_all = len(data["y_train"]), len(data["y_test"])
    if num_training + num_validation > n_train_all or num_test > n_test_all:
        raise DataError(f"the dataset in {folder} has {n_train_all} training and {n_test_all} test images, "
                        f"too few for {num_training}+{num_validation} train+val and {num_test} test")
    x_all, y_all = data["X_train"], data["y_train"]
    # Mean in float64 without a float64 copy of the images (the course subtracts a float64 mean).
    mean_image = x_all[:num_training].mean(axis=0, dtype=np.float64)
    dest.mkdir(parents=True, exist_ok=True)
    for name, images in (("X_train", x_all[:num_training]),
                         ("X_val", x_all[num_training:num_training + num_validation]),
                         ("X_test", data["X_test"][:num_test])):
        _write_centered_atomic(dest / f"{name}.npy", images, mean_image)
    arrays = {
        "y_train": y_all[:num_training],
        "y_val": y_all[num_training:num_training + num_validation],
        "y_test": data["y_test"][:num_test],
    }
    meta = {
        "identity": identity,
        "source": str(folder),
        "synthetic": is_synthetic_folder(folder),
        "counts": {"train": num_training, "val": num_validation, "test": num_test},
        "format": SPLITS_FORMAT,
    }
    _write_split_dir(dest, arrays, meta)
    return _splits_from(dest, meta)


def notebook_splits(splits: Splits, cache_dir: Path | str, n_train: int, n_val: int = 500,
                    n_test: int = 500) -> Path:
    """A small six-file data folder for notebook kernels, carved from the TRAINING split only.

    Its "validation" and "test" rows are training rows disjoint from its training rows, so the
    real validation set (whose accuracy is the grade) never reaches student code. Sizes shrink
    to fit a small training split.
    """
    total = splits.counts.get("train") or len(splits.load("y_train"))
    n_val = max(1, min(n_val, total // 5))
    n_test = max(1, min(n_test, total // 5))
    n_train = max(1, min(int(n_train), total - n_val - n_test))
    dest = Path(cache_dir) / f"notebook-{splits.identity}-{n_train}-{n_val}-{n_test}"
    if _read_complete(dest, SPLIT_NAMES) is not None:
        return dest
    x, y = splits.load("X_train"), splits.load("y_train")
    cuts = {"train": (0, n_train), "val": (n_train, n_train + n_val),
            "test": (n_train + n_val, n_train + n_val + n_test)}
    arrays: dict[str, np.ndarray] = {}
    for part, (lo, hi) in cuts.items():
        arrays[f"X_{part}"] = x[lo:hi]
        arrays[f"y_{part}"] = y[lo:hi]
    meta = {"identity": splits.identity, "synthetic": splits.synthetic, "carved_from": "train",
            "counts": {"train": n_train, "val": n_val, "test": n_test}, "format": SPLITS_FORMAT}
    _write_split_dir(dest, arrays, meta)
    return dest


def training_inputs(splits: Splits) -> dict[str, Path]:
    """The files a training child may read: the training split and unlabeled validation images."""
    return {name: splits.files[name] for name in ("X_train", "y_train", "X_val")}


def default_dataset(cache_dir: Path | str, data: Path | str | None = None) -> tuple[Path, bool]:
    """(folder, synthetic): CIFAR-10 when it can be found, else a synthetic stand-in made once.

    An explicit ``data`` folder must be valid (an error, not a silent switch to synthetic data);
    ``synthetic`` is read from the folder's marker, whichever way it was found.
    """
    if data is not None and str(data) != "":
        found = find_cifar10(data)
        return found, is_synthetic_folder(found)
    try:
        found = find_cifar10()
        return found, is_synthetic_folder(found)
    except DataError:
        pass
    folder = Path(cache_dir) / "synthetic-cifar-10"
    try:
        validate_cifar10(folder, deep=False)
        if is_synthetic(folder):
            return folder.resolve(), True
    except DataError:
        pass
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".synthetic-", dir=folder.parent) as tmp:
        staged = Path(tmp) / "data"
        write_synthetic_cifar10(staged)
        if folder.exists():
            shutil.rmtree(folder)
        try:
            os.replace(staged, folder)
        except OSError:  # another process won the race: use its folder
            if not is_synthetic(folder):
                raise
    return folder.resolve(), True
