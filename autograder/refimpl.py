"""The trusted parent's access to the reference solution (``reference/nndl``) and helpers.

The reference is loaded under private package names (``_ref_nndl``, ``_ref_cs231n``) so it can
never collide with, or be mistaken for, a student's ``nndl`` / ``cs231n``; nothing is added to
``sys.path``. Loading is lazy: importing this module never fails, so the student profile, which
ships without ``reference/``, can import it; only touching the reference raises
``ReferenceUnavailable``.

    from autograder.refimpl import ref
    out, cache = ref.layers.dropout_forward(x, {"mode": "train", "p": 0.5})

    from autograder.refimpl import ref_layers, ref_fc_net   # the same modules, by name
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
from pathlib import Path
from types import ModuleType

from . import PROJECT_ROOT

#: Overrides the reference location (e.g. a staff checkout outside the installed package).
REFERENCE_ENV = "NNDL_REFERENCE_DIR"

NNDL_MODULES = ("layers", "layer_utils", "fc_net", "optim")
HELPER_MODULES = ("solver", "gradient_check", "data_utils")
_PRIVATE = {"nndl": "_ref_nndl", "cs231n": "_ref_cs231n"}
_LOCK = threading.Lock()


class ReferenceUnavailable(RuntimeError):
    """The reference solution is not installed here (e.g. the student profile)."""


def reference_dir() -> Path:
    """The folder holding ``nndl/`` and ``cs231n/`` of the reference."""
    return Path(os.environ.get(REFERENCE_ENV) or PROJECT_ROOT / "reference").resolve()


def helpers_dir() -> Path:
    """The given helpers (``reference/cs231n``), which the sandbox exposes as cs231n and utils."""
    return reference_dir() / "cs231n"


def available() -> bool:
    return (reference_dir() / "nndl" / "layers.py").is_file()


def _load_package(public: str) -> ModuleType:
    """Import ``reference/<public>`` as the private package ``_PRIVATE[public]`` (once)."""
    private = _PRIVATE[public]
    if private in sys.modules:
        return sys.modules[private]
    folder = reference_dir() / public
    init = folder / "__init__.py"
    if not init.is_file():
        raise ReferenceUnavailable(
            f"the reference solution is not available ({folder} is missing); "
            "this profile grades without it"
        )
    spec = importlib.util.spec_from_file_location(private, init, submodule_search_locations=[str(folder)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[private] = package
    try:
        spec.loader.exec_module(package)
    except BaseException:
        del sys.modules[private]
        raise
    return package


def _load_module(public: str, name: str) -> ModuleType:
    with _LOCK:
        _load_package(public)
        module_name = f"{_PRIVATE[public]}.{name}"
        try:
            return importlib.import_module(module_name)
        except FileNotFoundError as exc:
            raise ReferenceUnavailable(f"reference module {public}/{name}.py is missing") from exc


class _Namespace:
    """Attribute access loads the named module on first use."""

    def __init__(self, public: str, names: tuple[str, ...]):
        self._public = public
        self._names = names

    def __getattr__(self, name: str) -> ModuleType:
        if name.startswith("_") or name not in self._names:
            raise AttributeError(name)
        module = _load_module(self._public, name)
        setattr(self, name, module)
        return module

    def __dir__(self):
        return list(self._names)


#: ``ref.layers``, ``ref.layer_utils``, ``ref.fc_net``, ``ref.optim``: the reference ``nndl``.
ref = _Namespace("nndl", NNDL_MODULES)
#: ``helpers.solver``, ``helpers.gradient_check``, ``helpers.data_utils``: the given helpers.
helpers = _Namespace("cs231n", HELPER_MODULES)


def __getattr__(name: str) -> ModuleType:
    """``ref_layers``, ``ref_layer_utils``, ``ref_fc_net``, ``ref_optim`` (CONTRACTS.md names)."""
    if name.startswith("ref_") and name[4:] in NNDL_MODULES:
        return getattr(ref, name[4:])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
