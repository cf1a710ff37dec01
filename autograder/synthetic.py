"""A synthetic stand-in for CIFAR-10, in the exact on-disk format of the python version.

The quick start, the test suite and CI have no real CIFAR-10, yet every stage (notebook,
training, accuracy score) must run end to end. These files are pickled in the real files' own
dialect (the course's ``load_CIFAR_batch`` also assumes 10000 images a batch: pass
``n_per_batch=10000`` for it) and carry learnable but imperfect class structure: each class is a smooth
colour pattern, and every image mixes its class pattern, at a random strength, with smooth
class-free clutter, a brightness shift, pixel noise and a few mislabelled images, so a small
fully-connected net lands well above chance but below 100%.
``batches.meta`` says the data is synthetic, so reports can never pass it off as CIFAR-10.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import replacing
from .cifar_format import (IMAGE_SIZE, META_FILE, NUM_CLASSES, TEST_BATCH, TRAIN_BATCHES,
                   is_synthetic_folder)

GENERATOR = "nndl-autograder synthetic CIFAR-10 v1"
LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

#: Difficulty knobs, tuned on the default data and a 4000/1000 split: a ridge fit on raw pixels
#: reaches ~80% and a 200-unit dropout MLP (adam, 15 epochs) 75-80% of the validation split.
#: Class and clutter live in the same smooth subspace, so no linear projection can remove the
#: clutter without losing the class signal.
CLASS_SEPARATION = 0.38       # std of a class prototype's coefficients / std of clutter's
CLUTTER_PIXEL_STD = 30.0      # smooth, class-free variation, in 0..255 pixel units
PIXEL_NOISE = 25.0            # white noise per pixel
BRIGHTNESS_SPREAD = 15.0      # per-image global shift
FLIP_PROBABILITY = 0.5        # mirrored images make each class two templates (not quite linear)
LABEL_NOISE = 0.03            # recorded labels drawn at random: nothing reaches 100%
_MAX_FREQUENCY = 4


def _low_frequency_basis() -> np.ndarray:
    """Unit-RMS smooth colour patterns (K, 32, 32, 3): cos/sin waves of low frequency per channel."""
    grid = np.arange(32) / 32.0
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    out = []
    for fy in range(_MAX_FREQUENCY):
        for fx in range(_MAX_FREQUENCY):
            angle = 2 * np.pi * (fy * yy + fx * xx)
            waves = [np.cos(angle)] + ([np.sin(angle)] if fy or fx else [])
            for wave in waves:
                for channel in range(3):
                    img = np.zeros((32, 32, 3))
                    img[:, :, channel] = wave
                    out.append(img / np.sqrt(np.mean(img ** 2)))
    return np.stack(out)


def _images(rng: np.random.Generator, labels: np.ndarray, prototypes: np.ndarray,
            basis: np.ndarray) -> np.ndarray:
    """(N, 3072) uint8 rows in CIFAR order (all red, then green, then blue)."""
    n, k = len(labels), len(basis)
    clutter_std = CLUTTER_PIXEL_STD / np.sqrt(k)
    strength = rng.uniform(0.5, 1.5, size=(n, 1))
    coefs = clutter_std * (CLASS_SEPARATION * strength * prototypes[labels] + rng.normal(size=(n, k)))
    x = 128.0 + np.tensordot(coefs, basis, axes=1)
    flip = rng.random(n) < FLIP_PROBABILITY
    x[flip] = x[flip, :, ::-1]
    x += BRIGHTNESS_SPREAD * rng.normal(size=(n, 1, 1, 1))
    x += PIXEL_NOISE * rng.standard_normal(size=x.shape, dtype=np.float32)
    pixels = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(pixels.transpose(0, 3, 1, 2).reshape(n, IMAGE_SIZE))


def _labels(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(true classes, recorded labels): balanced classes, a few recorded labels flipped."""
    true = rng.permutation(np.arange(n) % NUM_CLASSES)
    recorded = true.copy()
    flip = rng.random(n) < LABEL_NOISE
    recorded[flip] = rng.integers(0, NUM_CLASSES, size=int(flip.sum()))
    return true, recorded


def _py2_pickle(obj: Any) -> bytes:
    """Serialise like the real files: a protocol-2 pickle written by Python 2.

    Strings are py2 ``str`` opcodes, so ``pickle.load(f, encoding='latin1')`` (the course's
    loader) gives ``str`` keys and ``encoding='bytes'`` gives ``bytes`` keys, as with the real
    data; Python 3's own pickler cannot write those opcodes. Arrays are rebuilt through
    ``numpy.core.multiarray._reconstruct``, the name in the real files.
    """
    out = [pickle.PROTO + b"\x02"]
    _emit(obj, out.append)
    out.append(pickle.STOP)
    return b"".join(out)


def _emit(obj: Any, write) -> None:
    if obj is None:
        write(pickle.NONE)
    elif isinstance(obj, bool):
        write(pickle.NEWTRUE if obj else pickle.NEWFALSE)
    elif isinstance(obj, int):
        if 0 <= obj < 256:
            write(pickle.BININT1 + struct.pack("<B", obj))
        elif 0 <= obj < 65536:
            write(pickle.BININT2 + struct.pack("<H", obj))
        else:
            write(pickle.BININT + struct.pack("<i", obj))
    elif isinstance(obj, bytes):
        if len(obj) < 256:
            write(pickle.SHORT_BINSTRING + struct.pack("<B", len(obj)) + obj)
        else:
            write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
    elif isinstance(obj, (list, dict)):
        write(pickle.EMPTY_LIST if isinstance(obj, list) else pickle.EMPTY_DICT)
        if obj:
            write(pickle.MARK)
            for item in (obj if isinstance(obj, list) else (x for kv in obj.items() for x in kv)):
                _emit(item, write)
            write(pickle.APPENDS if isinstance(obj, list) else pickle.SETITEMS)
    elif isinstance(obj, np.ndarray) and obj.dtype == np.uint8 and obj.ndim == 2:
        write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
        write(pickle.GLOBAL + b"numpy\nndarray\n")
        _emit(0, write)
        write(pickle.TUPLE1)
        _emit(b"b", write)
        write(pickle.TUPLE3 + pickle.REDUCE + pickle.MARK)
        _emit(1, write)
        _emit(obj.shape[0], write)
        _emit(obj.shape[1], write)
        write(pickle.TUPLE2 + pickle.GLOBAL + b"numpy\ndtype\n")
        for v in (b"u1", 0, 1):
            _emit(v, write)
        write(pickle.TUPLE3 + pickle.REDUCE + pickle.MARK)
        for v in (3, b"|", None, None, None, -1, -1, 0):
            _emit(v, write)
        write(pickle.TUPLE + pickle.BUILD)
        _emit(False, write)
        _emit(np.ascontiguousarray(obj).tobytes(), write)
        write(pickle.TUPLE + pickle.BUILD)
    else:
        raise TypeError(f"cannot write {type(obj).__name__} in a CIFAR-10 file")


def _dump(path: Path, obj: dict) -> None:
    """Write one dataset file atomically, in the real files' pickle dialect."""
    with replacing(path, durable=False) as tmp:
        tmp.write_bytes(_py2_pickle(obj))


def write_synthetic_cifar10(folder: Path | str, n_per_batch: int = 1000, n_test: int = 1000,
                            seed: int = 0, *, n_train: int | None = None) -> Path:
    """Write ``data_batch_1..5``, ``test_batch`` and ``batches.meta`` into ``folder``.

    ``n_train`` (total over the five batches) overrides ``n_per_batch``. Same seed, same bytes.
    """
    if n_train is not None:
        n_per_batch = -(-int(n_train) // len(TRAIN_BATCHES))
    if n_per_batch < 1 or n_test < 1:
        raise ValueError("n_per_batch and n_test must be positive")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    basis = _low_frequency_basis()
    prototypes = rng.normal(size=(NUM_CLASSES, len(basis)))
    batches = [(name, f"training batch {i} of {len(TRAIN_BATCHES)} (synthetic)", n_per_batch)
               for i, name in enumerate(TRAIN_BATCHES, start=1)]
    batches.append((TEST_BATCH, "testing batch 1 of 1 (synthetic)", n_test))
    serial = 0
    for name, batch_label, n in batches:
        true, recorded = _labels(rng, n)
        _dump(folder / name, {
            b"batch_label": batch_label.encode(),
            b"labels": [int(v) for v in recorded],
            b"data": _images(rng, true, prototypes, basis),
            b"filenames": [f"synthetic_{serial + i:06d}.png".encode() for i in range(n)],
        })
        serial += n
    _dump(folder / META_FILE, {
        b"num_cases_per_batch": n_per_batch,
        b"label_names": [n.encode() for n in LABEL_NAMES],
        b"num_vis": IMAGE_SIZE,
        b"synthetic": True,
        b"generator": f"{GENERATOR}, seed={seed}".encode(),
    })
    return folder


def is_synthetic(folder: Path | str) -> bool:
    """True when ``folder``'s ``batches.meta`` carries the synthetic marker."""
    return is_synthetic_folder(folder)
