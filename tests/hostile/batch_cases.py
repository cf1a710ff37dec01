"""A submissions folder where every hostile case is one student's whole ``nndl/`` package.

Each hostile student is the correct solution (``reference/nndl`` without its solution markers)
with ONE function replaced by misbehaving code, mostly the corpus code of ``tests/hostile/<case>``
copied in as ``nndl/hostile_<case>.py``; cases made of bytes or archives (syntax error, non-UTF-8,
zip slip, zip bomb, links) are built here. Each case says which checks it must cost and the
words their message must hold, so a test can grade the folder with the real pipeline and read
the verdict back from ``results.json`` alone.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder.refimpl import reference_dir

HOSTILE = Path(__file__).resolve().parent
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### STUB:")


@dataclass
class Case:
    """One student of the batch and what its results.json must show."""

    name: str
    #: check id -> (allowed statuses, words every such check's message must contain, any case)
    expect: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    #: words the result's warnings must contain (staging and sandbox notes)
    warnings: tuple[str, ...] = ()
    #: the implementation part must still get full marks (the attack changed nothing graded)
    full_marks: bool = False
    #: checks that must still pass: the hostile function cost only the checks that use it
    still_pass: tuple[str, ...] = ()
    #: isolation guarantee the case needs to be harmless (left out at levels without it)
    needs: str | None = None


def correct_nndl(dest: Path) -> Path:
    """The reference package with its solution marker lines removed: a correct submission."""
    dest.mkdir(parents=True, exist_ok=True)
    for src in sorted((reference_dir() / "nndl").glob("*.py")):
        lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [ln for ln in lines if not ln.strip().startswith(MARKERS)]
        (dest / src.name).write_text("".join(kept), encoding="utf-8")
    return dest


def _student(subs: Path, name: str) -> Path:
    nndl = correct_nndl(subs / name / "nndl")
    return nndl


def _with_corpus(subs: Path, name: str, corpus: str, module: str, override: str) -> Path:
    """Correct package + the corpus module of ``corpus`` + ``override`` appended to ``module``."""
    nndl = _student(subs, name)
    shutil.copyfile(HOSTILE / corpus / "nndl" / "layers.py", nndl / f"hostile_{corpus}.py")
    with open(nndl / module, "a", encoding="utf-8") as fh:
        fh.write("\n\n# ---- hostile part ----\n" + override.strip() + "\n")
    return nndl


TIMEOUT = (("timeout",), ("time limit",))
CRASH = (("error",), ("crashed",))


def build_batch(subs: Path, *, token: str, port: int, canary: Path, escape_targets: list[str],
                snoop_targets: list[str], missing: list[str]) -> list[Case]:
    """Write every case under ``subs``; return the expectations of those that were written.

    ``missing``: guarantees the sandbox level in use lacks; a case needing one is left out.
    """
    subs.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def add(case: Case, make) -> None:
        if case.needs and case.needs in missing:
            return
        make()
        cases.append(case)

    add(Case("correct", full_marks=True), lambda: _student(subs, "correct"))

    add(Case("import_hang", expect={"layers.affine": TIMEOUT, "batchnorm.forward_train": TIMEOUT,
                                    "fc_net.init": TIMEOUT},
             warnings=("nndl/layers.py could not be imported",), still_pass=("optim.adam",)),
        lambda: _with_corpus(subs, "import_hang", "import_hang", "layers.py",
                             "from . import hostile_import_hang"))

    add(Case("busy_loop", expect={"dropout.backward": TIMEOUT}, still_pass=("dropout.forward_train", "layers.affine")),
        lambda: _with_corpus(subs, "busy_loop", "busy_loop", "layers.py", """
from .hostile_busy_loop import spin as _spin

def dropout_backward(dout, cache):
    return _spin()
"""))

    add(Case("big_alloc", expect={"batchnorm.backward": (("failed", "error"), ("MemoryError", "MB"))},
             still_pass=("batchnorm.forward_train",)),
        lambda: _with_corpus(subs, "big_alloc", "big_alloc", "layers.py", """
from .hostile_big_alloc import grab as _grab

def batchnorm_backward(dout, cache):
    _grab()
"""))

    add(Case("fork_storm", expect={"optim.sgd_nesterov_momentum": TIMEOUT}, still_pass=("optim.adam",),
             needs="process isolation"),
        lambda: _with_corpus(subs, "fork_storm", "fork_storm", "optim.py", f"""
from .hostile_fork_storm import storm as _storm

def sgd_nesterov_momentum(w, dw, config=None):
    _storm({token!r}, 8)
"""))

    add(Case("network", expect={"optim.sgd_momentum": (("failed", "error"), ("network: failed",))},
             still_pass=("optim.adam",), needs="network isolation"),
        lambda: _with_corpus(subs, "network", "network", "optim.py", f"""
from .hostile_network import connect as _connect

def sgd_momentum(w, dw, config=None):
    raise RuntimeError("network: " + _connect({port}))
"""))

    def make_snoop() -> None:
        nndl = _student(subs, "snoop")
        with open(nndl / "optim.py", "a", encoding="utf-8") as fh:
            fh.write(f"""

# ---- hostile part: look for the reference, other students, the output and a secret ----
import os as _os

def rmsprop(w, dw, config=None):
    here = _os.path.realpath(_os.getcwd())
    seen = [p for p in {snoop_targets!r} if _os.path.exists(p)]
    up = _os.path.dirname(here)
    seen += [_os.path.join(up, n) for n in _os.listdir(up) if _os.path.join(up, n) != here]
    raise RuntimeError("visible: " + repr(seen))
""")

    add(Case("snoop", expect={"optim.rmsprop": (("failed", "error"), ("visible: []",))},
             still_pass=("optim.adam",), needs="filesystem isolation"), make_snoop)

    add(Case("escape_writes", expect={"optim.adam": (("failed", "error"), ("wrote:",))},
             still_pass=("optim.rmsprop",), needs="filesystem isolation"),
        lambda: _with_corpus(subs, "escape_writes", "escape_writes", "optim.py", f"""
from .hostile_escape_writes import scribble as _scribble

def adam(w, dw, config=None):
    raise RuntimeError("wrote: " + repr(_scribble({escape_targets!r})))
"""))

    add(Case("os_exit", expect={"dropout.forward_train": CRASH}, still_pass=("layers.affine",)),
        lambda: _with_corpus(subs, "os_exit", "crashes", "layers.py", """
from .hostile_crashes import quit_now as _quit_now

def dropout_forward(x, dropout_param):
    _quit_now()
"""))

    add(Case("segfault", expect={"layers.affine": CRASH}, still_pass=("layers.relu",)),
        lambda: _with_corpus(subs, "segfault", "crashes", "layers.py", """
from .hostile_crashes import segfault as _segfault

def affine_backward(dout, cache):
    _segfault()
"""))

    add(Case("print_flood", full_marks=True, warnings=("Output truncated", "on stdout")),
        lambda: _with_corpus(subs, "print_flood", "loud_import", "layers.py",
                             "from . import hostile_loud_import"))

    add(Case("sigterm", expect={"layers.relu": TIMEOUT}, still_pass=("layers.affine",)),
        lambda: _with_corpus(subs, "sigterm", "sigterm", "layers.py", """
from .hostile_sigterm import hang as _hang

def relu_backward(dout, cache):
    return _hang()
"""))

    add(Case("forge", expect={"optim.rmsprop": (("error",), ("cannot read",))}, still_pass=("optim.adam",)),
        lambda: _with_corpus(subs, "forge", "forge", "optim.py", """
from .hostile_forge import forge as _forge

def rmsprop(w, dw, config=None):
    return _forge()
"""))

    add(Case("monkeypatch_numpy", expect={"layers.affine": (("failed",), ("differs",))}, still_pass=("layers.relu",)),
        lambda: _with_corpus(subs, "monkeypatch_numpy", "monkeypatch_numpy", "layers.py", """
from . import hostile_monkeypatch_numpy  # every comparison says "equal" in the child
_affine_forward_right = affine_forward

def affine_forward(x, w, b):
    out, cache = _affine_forward_right(x, w, b)
    return out + 1, cache
"""))

    def make_zip_slip() -> None:
        nndl = correct_nndl(subs / ".build" / "zip_slip" / "nndl")
        with zipfile.ZipFile(subs / "zip_slip.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(nndl.glob("*.py")):
                zf.write(f, f"hw4/nndl/{f.name}")
            zf.writestr(f"../slip_{token}.py", "x")
            zf.writestr(f"/tmp/slip_{token}.py", "x")
            zf.writestr(f"hw4/nndl/../../../slip2_{token}.py", "x")

    add(Case("zip_slip", full_marks=True, warnings=("refused", "path outside the submission")), make_zip_slip)

    def make_zip_bomb() -> None:
        nndl = correct_nndl(subs / ".build" / "zip_bomb" / "nndl")
        with zipfile.ZipFile(subs / "zip_bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(nndl.glob("*.py")):
                zf.write(f, f"nndl/{f.name}")
            zf.writestr("nndl/weights.bin", b"\0" * (16 << 20))

    add(Case("zip_bomb", expect={"layers.affine": (("error",), ("zip bomb",)),
                                 "fc_net.dropout": (("error",), ("zip bomb",))}), make_zip_bomb)

    def make_links() -> None:
        nndl = _student(subs, "symlink_etc")
        os.symlink("/etc", subs / "symlink_etc" / "etc")
        os.symlink("/etc/passwd", nndl / "passwd.py")

    add(Case("symlink_etc", full_marks=True, warnings=("refused", "link")), make_links)

    def make_syntax_error() -> None:
        nndl = _student(subs, "syntax_error")
        with open(nndl / "layers.py", "a", encoding="utf-8") as fh:
            fh.write("\ndef broken(:\n    return 1\n")

    add(Case("syntax_error", expect={"layers.affine": (("failed", "error"), ("SyntaxError",))},
             warnings=("nndl/layers.py could not be imported",), still_pass=("optim.adam",)), make_syntax_error)

    def make_non_utf8() -> None:
        nndl = _student(subs, "non_utf8")
        text = (nndl / "layers.py").read_bytes()
        (nndl / "layers.py").write_bytes("# Übung: résumé ½\n".encode("cp1252") + text)

    add(Case("non_utf8", full_marks=True, warnings=("not UTF-8",)), make_non_utf8)

    def make_no_code() -> None:
        (subs / "missing_nndl").mkdir()
        (subs / "missing_nndl" / "README.md").write_text("I forgot to upload my code.\n")

    add(Case("missing_nndl", expect={"layers.affine": (("failed",), ("No nndl/ package",)),
                                     "optim.adam": (("failed",), ("No nndl/ package",))}), make_no_code)

    def make_missing_module() -> None:
        nndl = _student(subs, "missing_module")
        (nndl / "fc_net.py").unlink()

    add(Case("missing_module", expect={"fc_net.init": (("failed", "error"), ("ModuleNotFoundError",))},
             warnings=("nndl/fc_net.py could not be imported",), still_pass=("layers.affine",)), make_missing_module)

    shutil.rmtree(subs / ".build", ignore_errors=True)
    return cases
