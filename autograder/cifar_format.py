"""The CIFAR-10 python-version file format, and the one safe way to read its pickles.

A leaf module: `data` (finding, validating and splitting the dataset) and `synthetic` (writing a
stand-in in the same format) both build on it, so neither imports the other to learn the format.

Dataset files are pickles. They come from a checksummed tarball or a folder the instructor chose,
but they are still read with an unpickler that can only rebuild dicts, lists, bytes, numbers and
numpy arrays, so a doctored file cannot run code in the grader.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

FOLDER_NAME = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"
REQUIRED_FILES = TRAIN_BATCHES + (TEST_BATCH, META_FILE)
IMAGE_SIZE = 3 * 32 * 32
NUM_CLASSES = 10
ENV_VAR = "NNDL_CIFAR10"

_HINT = f"pass --data DIR or set {ENV_VAR} to a folder holding the {FOLDER_NAME} files"


class DataError(RuntimeError):
    """The dataset is missing, damaged or cannot be fetched; the message says what to do.

    Always one line: it is printed as is by the CLI and in CI logs.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


# ---------------------------------------------------------------- safe loading of dataset pickles


def _numpy_rebuilders() -> dict[tuple[str, str], Any]:
    """The few callables numpy array pickles name, under every module path numpy has used."""
    reconstruct = np.zeros(1).__reduce__()[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return allowed


class _DatasetUnpickler(pickle.Unpickler):
    """Rebuilds plain containers and numpy arrays; refuses every other global."""

    _allowed = _numpy_rebuilders()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise _Refused(f"refusing to load {module}.{name}") from None


class _Refused(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list."""


def load_pickle(path: Path) -> Any:
    """Load one CIFAR-10 pickle (Python 2 or 3 format) with the restricted unpickler."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return _DatasetUnpickler(fh, encoding="bytes").load()
    except FileNotFoundError:
        raise DataError(f"CIFAR-10 file missing: {path}; {_HINT}") from None
    except _Refused as exc:
        raise DataError(f"CIFAR-10 file {path} is not plain data ({exc}); "
                        f"replace it with the official file, or {_HINT}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, OSError) as exc:
        raise DataError(
            f"CIFAR-10 file {path} is unreadable ({type(exc).__name__}: {exc}); "
            f"it is probably truncated or corrupt: re-download it, or {_HINT}"
        ) from None


def is_synthetic_folder(folder: Path | str) -> bool:
    """Whether ``batches.meta`` carries the synthetic marker (see ``autograder.synthetic``)."""
    try:
        meta = load_pickle(Path(folder) / META_FILE)
    except DataError:
        return False
    return isinstance(meta, dict) and meta.get(b"synthetic") is True
