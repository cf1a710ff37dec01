"""Fixtures shared by the suite: the shipped rubric and small datasets in the real CIFAR-10 format.

Datasets are made once per session and per size (a few hundred images take ~0.1 s, but many test
modules want one); tests that damage a dataset copy it first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from autograder.cifar_format import FOLDER_NAME
from autograder.data import Splits, prepare_splits
from autograder.rubric import Rubric, load_rubric
from autograder.synthetic import write_synthetic_cifar10


@pytest.fixture(scope="session")
def shipped_rubric() -> Rubric:
    """`rubrics/dropout.toml` as the grader loads it (Rubric is frozen: safe to share)."""
    return load_rubric()


@pytest.fixture(scope="session")
def make_cifar(tmp_path_factory) -> Callable[..., Path]:
    """`make_cifar(n_per_batch=40, n_test=30, seed=3, n_train=None)` -> a cached synthetic
    `cifar-10-batches-py` folder of that size (read-only by convention)."""
    made: dict[tuple, Path] = {}

    def make(n_per_batch: int = 40, n_test: int = 30, seed: int = 3, n_train: int | None = None) -> Path:
        key = (n_per_batch, n_test, seed, n_train)
        if key not in made:
            folder = tmp_path_factory.mktemp("cifar") / FOLDER_NAME
            made[key] = Path(write_synthetic_cifar10(folder, n_per_batch=n_per_batch, n_test=n_test,
                                                     seed=seed, n_train=n_train))
        return made[key]

    return make


@pytest.fixture(scope="session")
def make_splits(make_cifar, tmp_path_factory) -> Callable[..., Splits]:
    """`make_splits(num_training, num_validation, num_test, **cifar)` -> prepared course splits of a
    cached dataset (`cifar`: `make_cifar`'s arguments)."""

    def make(num_training: int, num_validation: int, num_test: int, **cifar) -> Splits:
        return prepare_splits(make_cifar(**cifar), tmp_path_factory.mktemp("cache"),
                              num_training, num_validation, num_test)

    return make
