"""Start-up of the notebook kernel inside the sandbox (trusted code, runs in the child).

Run as ``python -m grader_inside.kernel_startup -f CONNECTION_FILE``. Before handing over to
ipykernel it:

- makes the trusted helpers the only ``cs231n`` / ``utils`` (the student's copies are shadowed),
- puts the ``google.colab`` stub on the path, so Colab residue imports and ``drive.mount`` no-ops,
- wraps the student's ``FullyConnectedNet`` / ``TwoLayerNet`` constructors when ``nndl.fc_net``
  is imported, to learn the arguments every model was built with,
- patches the trusted ``Solver`` so each one is recorded (model config, solver kwargs, cell) and,
  in fast mode, trains only a capped number of iterations,
- after the shell exists: ``!cmd``, ``%cd`` to missing folders, ``%pip`` and shell cell magics
  print a note instead of running or failing.

Records go to the JSON file named by ``NNDL_GRADER_CAPTURE``. Student code can overwrite it, so
the parent treats it as untrusted data. This module imports nothing from ``autograder``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import weakref
from pathlib import Path

HELPERS_ENV = "NNDL_GRADER_HELPERS"      # folder holding the trusted ``cs231n`` package
CAPTURE_ENV = "NNDL_GRADER_CAPTURE"      # file the captured configs are written to
FAST_ENV = "NNDL_GRADER_FAST_ITERATIONS"  # cap on Solver iterations; 0 or unset: no cap
HELPER_NAMES = ("cs231n", "utils")
MODEL_CLASSES = ("FullyConnectedNet", "TwoLayerNet")
MAX_RECORDS = 200
NOTE = "[grader]"

_state = {"cell": None, "replay": False, "records": [], "fast": 0, "notes": []}
_models: dict[int, tuple] = {}  # id(model) -> (weakref or None, info dict)


# ---- cell bookkeeping (the parent calls set_cell before every cell) ---------------------------

def set_cell(index: int, replay: bool = False) -> None:
    """Remember which notebook cell runs next, so records can name it. ``replay``: the cell ran
    before in a kernel that died and only rebuilds state now; its Solvers were recorded then and
    are not recorded again."""
    _state["cell"] = int(index)
    _state["replay"] = bool(replay)


# ---- JSON encoding of constructor / solver arguments --------------------------------------------

def encode(value, depth: int = 0):
    """A JSON-able form of an argument; dtypes as ``{"__dtype__": name}``, the rest marked."""
    if depth > 8:
        return {"__unencodable__": "too deep"}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else {"__unencodable__": repr(value)}
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.generic) and not isinstance(value, np.dtype):
            if isinstance(value, np.bool_):
                return bool(value)
            if isinstance(value, np.integer):
                return int(value)
            if isinstance(value, np.floating):
                return encode(float(value), depth + 1)
        try:
            if value in (float, int, bool, complex) or (isinstance(value, type) and issubclass(value, np.generic)):
                return {"__dtype__": np.dtype(value).name}
            if isinstance(value, np.dtype):
                return {"__dtype__": value.name}
        except TypeError:
            pass
    if isinstance(value, (list, tuple)):
        return [encode(v, depth + 1) for v in value[:1000]]
    if isinstance(value, dict):
        return {str(k): encode(v, depth + 1) for k, v in list(value.items())[:200]}
    if callable(value):
        module = getattr(value, "__module__", "") or ""
        name = getattr(value, "__name__", "") or ""
        if module.endswith("optim") and name:
            return name  # an update rule passed as a function: the Solver accepts its name too
        return {"__unencodable__": f"callable {module}.{name}"}
    return {"__unencodable__": type(value).__name__}


def _flush() -> None:
    path = os.environ.get(CAPTURE_ENV)
    if not path:
        return
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"records": _state["records"], "notes": _state["notes"]}, fh)
        os.replace(tmp, path)
    except OSError:
        pass


# ---- model constructor capture ----------------------------------------------------------------

def _wrap_model_class(cls) -> None:
    original = cls.__dict__.get("__init__")
    if original is None or getattr(original, "_grader_wrapped", False):
        return

    def __init__(self, *args, **kwargs):
        if id(self) not in _models:
            info = {"model_module": getattr(cls, "__module__", "?"), "model_class": cls.__name__,
                    "model_args": encode(list(args)), "model_kwargs": encode(dict(kwargs)),
                    "cell_index": _state["cell"]}
            try:
                ref = weakref.ref(self)
            except TypeError:
                ref = None
            _models[id(self)] = (ref, info)
        return original(self, *args, **kwargs)

    __init__._grader_wrapped = True
    __init__.__wrapped__ = original
    __init__.__doc__ = original.__doc__
    cls.__init__ = __init__


def _wrap_models_in(module) -> None:
    for name in MODEL_CLASSES:
        cls = getattr(module, name, None)
        if isinstance(cls, type) and getattr(cls, "__module__", None) == module.__name__:
            _wrap_model_class(cls)


def model_info(model) -> dict | None:
    entry = _models.get(id(model))
    if entry is None:
        return None
    ref, info = entry
    if ref is not None and ref() is not model:
        return None
    return info


class _FcNetLoader(importlib.abc.Loader):
    """Delegates to the real loader, then wraps the model classes of the fresh module."""

    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
        _wrap_models_in(module)


class _FcNetFinder(importlib.abc.MetaPathFinder):
    """Intercepts imports of ``nndl.fc_net`` (and a flat ``fc_net``)."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in ("nndl.fc_net", "fc_net"):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _FcNetLoader(spec.loader)
                return spec
        return None


# ---- trusted helpers and the Solver ---------------------------------------------------------------

def _load_helpers() -> None:
    """Import the trusted helper package under both names before the student can import theirs."""
    folder = os.environ.get(HELPERS_ENV)
    if not folder:
        return
    pkg = Path(folder) / "cs231n"
    if not pkg.is_dir():
        return
    for name in HELPER_NAMES:
        init = pkg / "__init__.py"
        if init.is_file():
            spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(pkg)])
        else:
            spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
            spec.submodule_search_locations = [str(pkg)]
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        if spec.loader is not None:
            spec.loader.exec_module(module)


def _patch_solver_module(module) -> None:
    solver_cls = getattr(module, "Solver", None)
    if not isinstance(solver_cls, type) or getattr(solver_cls, "_grader_patched", False):
        return
    original_init = solver_cls.__init__
    original_train = solver_cls.train
    original_iterations = getattr(solver_cls, "_num_iterations", None)

    def __init__(self, model, data, **kwargs):
        original_init(self, model, data, **kwargs)
        if _state["replay"]:
            return
        info = model_info(model)
        record = {
            "model_module": info["model_module"] if info else getattr(type(model), "__module__", "?"),
            "model_class": info["model_class"] if info else type(model).__name__,
            "model_args": info["model_args"] if info else [],
            "model_kwargs": info["model_kwargs"] if info else {},
            "constructor_captured": info is not None,
            "model_cell_index": info["cell_index"] if info else None,
            "solver_kwargs": encode(dict(kwargs)),
            "cell_index": _state["cell"],
            "trained": False,
            "iterations": 0,
        }
        if len(_state["records"]) < MAX_RECORDS:
            _state["records"].append(record)
            self._grader_record = len(_state["records"]) - 1
        _flush()

    def train(self):
        index = getattr(self, "_grader_record", None)
        if index is not None and index < len(_state["records"]):
            _state["records"][index].update(trained=True, cell_index=_state["cell"])
            _flush()
        return original_train(self)

    def _num_iterations(self, iterations_per_epoch):
        total = original_iterations(self, iterations_per_epoch)
        cap = _state["fast"]
        index = getattr(self, "_grader_record", None)
        if cap and total > cap:
            print(f"{NOTE} fast mode: this Solver trains {cap} of its {total} iterations "
                  "(the grader retrains the chosen model in full later)", flush=True)
            total = cap
        if index is not None and index < len(_state["records"]):
            _state["records"][index]["iterations"] = int(total)
            _flush()
        return total

    solver_cls.__init__ = __init__
    solver_cls.train = train
    if original_iterations is not None:
        solver_cls._num_iterations = _num_iterations
    solver_cls._grader_patched = True


def _patch_solvers() -> None:
    for name in HELPER_NAMES:
        if name in sys.modules:
            try:
                _patch_solver_module(importlib.import_module(f"{name}.solver"))
            except Exception as exc:  # noqa: BLE001 - a broken helper must not stop the kernel
                print(f"{NOTE} could not prepare {name}.solver: {exc}", file=sys.stderr)


# ---- Colab / laptop residue in the IPython shell ------------------------------------------------

def _skip(what: str) -> None:
    print(f"{NOTE} skipped while grading: {what}", flush=True)


def _install_shell_hooks(shell) -> None:
    from IPython.utils.text import SList

    shell.system = lambda cmd, *a, **k: _skip(f"!{cmd}")
    shell.getoutput = lambda cmd, *a, **k: (_skip(f"!{cmd}"), SList())[1]
    original_cd = shell.find_line_magic("cd")

    def cd(line=""):
        target = os.path.expanduser(line.strip().strip("'\"")) if line.strip() else ""
        if target and not target.startswith("-") and os.path.isdir(target) and original_cd:
            return original_cd(line)
        _skip(f"%cd {line}")

    shell.register_magic_function(cd, "line", "cd")
    for name in ("pip", "conda", "mamba", "tensorflow_version", "sx", "system"):
        shell.register_magic_function(lambda line="", _n=name: _skip(f"%{_n} {line}"), "line", name)
    for name in ("bash", "sh", "script", "shell", "system", "perl", "ruby", "writefile"):
        shell.register_magic_function(lambda line="", cell="", _n=name: _skip(f"%%{_n} {line}"), "cell", name)


def _guard_chdir() -> None:
    """``os.chdir('/content/drive/...')`` on a laptop/Colab path: note it instead of failing."""
    original = os.chdir

    def chdir(path):
        try:
            return original(path)
        except FileNotFoundError:
            _skip(f"os.chdir({path!r}) (no such folder here)")

    os.chdir = chdir


def _resume_records() -> None:
    """After a kernel restart, keep the records the previous kernel of this notebook wrote."""
    path = os.environ.get(CAPTURE_ENV)
    try:
        with open(path, encoding="utf-8") as fh:
            old = json.load(fh).get("records")
    except (OSError, ValueError, TypeError, AttributeError):
        return
    if isinstance(old, list):
        _state["records"] = old[:MAX_RECORDS]


def _stub_path() -> str:
    return str(Path(__file__).resolve().parent / "stubs")


def _compat(notes: list[str]) -> None:
    """The same environment fixes the checks' worker gets (numpy-1 aliases, broken nndl/__init__)."""
    try:
        from grader_inside import compat
    except ImportError:
        return
    compat.force_agg()
    notes.extend(compat.install_numpy_aliases())
    root = os.getcwd()
    if os.path.isfile(os.path.join(root, "nndl", "__init__.py")):
        try:
            compat.import_student_module("nndl", root, notes)
        except Exception:  # noqa: BLE001 - the notebook's own import will show the error
            pass


def prepare() -> None:
    """Everything that must happen before the kernel runs any student code."""
    try:
        _state["fast"] = max(0, int(os.environ.get(FAST_ENV, "0") or 0))
    except ValueError:
        _state["fast"] = 0
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.append(_stub_path())
    sys.meta_path.insert(0, _FcNetFinder())
    _resume_records()
    _load_helpers()
    _patch_solvers()
    _compat(_state["notes"])
    _guard_chdir()
    _flush()


def _drop_foreign_parent_pid() -> None:
    """In a PID namespace the grader's pid (JPY_PARENT_PID) names no process here, and
    ipykernel would think its parent died and exit; the sandbox kills us with the parent."""
    pid = os.environ.get("JPY_PARENT_PID", "")
    if pid.isdigit() and int(pid) != os.getppid():
        del os.environ["JPY_PARENT_PID"]


def main(argv: list[str] | None = None) -> None:
    _drop_foreign_parent_pid()
    prepare()
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(argv if argv is not None else sys.argv[1:])
    if app.shell is not None:
        _install_shell_hooks(app.shell)
    app.start()


if __name__ == "__main__":
    # One module object whether started with -m or imported: set_cell must reach this _state.
    sys.modules.setdefault("grader_inside.kernel_startup", sys.modules[__name__])
    main()
