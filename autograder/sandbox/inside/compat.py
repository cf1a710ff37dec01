"""Make old submissions importable in the child: numpy-1 aliases, a broken ``nndl/__init__``.

Used by the worker and by the notebook kernel's start-up, so both see the same environment.
Each helper reports what it did through ``notes`` (a list of one-line strings) instead of
printing, because the child's stdout belongs to the student.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
import types

#: Names NumPy 2 removed, and what they meant in NumPy 1 (attribute of numpy or a builtin).
NUMPY_ALIASES = {
    "float": "builtins.float", "int": "builtins.int", "bool": "builtins.bool",
    "object": "builtins.object", "str": "builtins.str", "long": "builtins.int",
    "unicode": "builtins.str", "complex": "builtins.complex",
    "product": "prod", "cumproduct": "cumprod", "alltrue": "all", "sometrue": "any",
    "round_": "round", "float_": "float64", "complex_": "complex128", "string_": "bytes_",
    "unicode_": "str_", "int0": "intp", "uint0": "uintp", "bool8": "bool_", "object0": "object_",
    "str0": "str_", "bytes0": "bytes_", "void0": "void", "longfloat": "longdouble",
    "singlecomplex": "complex64", "cfloat": "complex128", "longcomplex": "clongdouble",
    "clongfloat": "clongdouble", "in1d": "isin", "trapz": "trapezoid", "row_stack": "vstack",
    "mat": "asmatrix", "Inf": "=inf", "Infinity": "=inf", "infty": "=inf", "PINF": "=inf",
    "NINF": "=-inf", "NaN": "=nan", "PZERO": "=0.0", "NZERO": "=-0.0",
    "asfarray": "*asfarray", "msort": "*msort",
}

_used: list[str] = []


def _resolve(np, name: str, target: str):
    import builtins

    if target.startswith("builtins."):
        return getattr(builtins, target.split(".", 1)[1])
    if target.startswith("="):
        return float(target[1:])
    if target == "*asfarray":
        return lambda a, dtype=np.float64: np.asarray(a, dtype=dtype if np.dtype(dtype).kind in "fc" else np.float64)
    if target == "*msort":
        return lambda a: np.sort(a, axis=0)
    return getattr(np, target)


def install_numpy_aliases() -> list[str]:
    """Serve NumPy-1 names NumPy 2 removed, remembering which ones the student touches.

    NumPy's module-level ``__getattr__`` runs only for missing names; wrapping it means present
    names are untouched and every use of a removed alias is recorded (see ``aliases_used``).
    """
    import numpy as np

    missing = {n: t for n, t in NUMPY_ALIASES.items() if n not in np.__dict__}
    if not missing or getattr(np, "_grader_aliases_installed", False):
        return []
    original = np.__dict__.get("__getattr__")

    def __getattr__(attr):  # noqa: N807 (module hook name)
        if attr in missing:
            if attr not in _used:
                _used.append(attr)
            return _resolve(np, attr, missing[attr])
        if original is not None:
            return original(attr)
        raise AttributeError(f"module 'numpy' has no attribute {attr!r}")

    np.__getattr__ = __getattr__
    np._grader_aliases_installed = True
    return [f"NumPy-1 aliases removed in NumPy {np.__version__.split('.')[0]} are provided ({len(missing)} names)"]


def aliases_used() -> list[str]:
    """The removed NumPy aliases the student's code used so far (first use order)."""
    return list(_used)


def force_agg() -> None:
    """Plots must never need a display: the Agg backend, chosen before any student import."""
    os.environ["MPLBACKEND"] = "Agg"


def import_student_module(name: str, root: str, notes: list[str]):
    """Import ``name`` (e.g. ``nndl.layers``); a broken ``nndl/__init__.py`` is bypassed.

    Old templates' ``__init__`` star-imports modules of later assignments, so importing the
    package fails although ``nndl.layers`` itself is fine. When importing the bare package
    raises, it is replaced by a namespace-like package over the same folder and reported.
    """
    top = name.split(".", 1)[0]
    if top == "nndl" and top not in sys.modules:
        try:
            importlib.import_module(top)
        except BaseException as exc:  # noqa: BLE001 - SystemExit in an __init__ counts too
            if isinstance(exc, KeyboardInterrupt):
                raise
            for mod in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
                del sys.modules[mod]
            folder = os.path.join(root, top)
            spec = importlib.machinery.ModuleSpec(top, None, is_package=True)
            spec.submodule_search_locations = [folder]
            package = types.ModuleType(top)
            package.__spec__ = spec
            package.__path__ = [folder]
            package.__package__ = top
            sys.modules[top] = package
            notes.append(
                f"nndl/__init__.py failed to import ({type(exc).__name__}: {str(exc)[:200]}); "
                "it was bypassed so nndl.layers etc. import on their own"
            )
    return importlib.import_module(name)
