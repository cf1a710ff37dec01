"""Wrap a command in the best available isolation: bubblewrap, then ``unshare``, then none.

``build_command`` is the one place that knows what a sandboxed child may see. Under bubblewrap
the child gets a read-only system and Python, the trusted packages (``grader_inside`` and the
helpers as ``cs231n`` / ``utils``) under ``/grader/pkgs``, the dataset files it was handed under
``/grader/data``, a private scratch folder as ``/tmp`` and ``$HOME``, and its working folder (the
staged submission) as the only other writable place: no network, its own PID namespace, and it
dies with its parent. ``reference/nndl``, the project checkout, other submissions and the output
folder are never bound. ``unshare`` only removes the network and gives a PID namespace; level
``none`` is a plain subprocess. Every level gets the same rlimits and a scrubbed environment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..rubric import Limits
from . import limits as limits_mod

LEVELS = ("bwrap", "unshare", "none")
INSIDE_DIR = Path(__file__).resolve().parent / "inside"
PKGS_IN_BWRAP = "/grader/pkgs"
DATA_IN_BWRAP = "/grader/data"

#: What each isolation guarantee needs; a level missing one reports it (and tests skip it).
GUARANTEES = {
    "filesystem isolation": ("bwrap",),
    "read-only system": ("bwrap",),
    "network isolation": ("bwrap", "unshare"),
    "process isolation": ("bwrap", "unshare"),
}

_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "passwd", "group",
              "nsswitch.conf", "hosts", "mime.types", "alternatives")


class SandboxUnavailable(RuntimeError):
    """The requested isolation level cannot run on this machine."""


@dataclass
class Launch:
    """A ready-to-run sandboxed command: pass these to ``subprocess.Popen``.

    ``Popen(l.argv, env=l.env, cwd=l.cwd, preexec_fn=l.preexec_fn, ...)``; ``inside(path)`` says
    where a host path appears in the child; ``cleanup()`` removes the private scratch folder.
    """

    argv: list[str]
    env: dict[str, str]
    preexec_fn: object
    level: str
    missing_guarantees: list[str]
    cwd: str
    scratch: Path
    files: dict[str, str] = field(default_factory=dict)
    _map: dict[str, str] = field(default_factory=dict, repr=False)

    def inside(self, host_path) -> str:
        """The path under which the child sees ``host_path`` (a bound folder or file)."""
        path = os.path.abspath(host_path)
        for host, target in sorted(self._map.items(), key=lambda kv: -len(kv[0])):
            if path == host or path.startswith(host.rstrip("/") + "/"):
                return target + path[len(host):]
        return path

    def cleanup(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def missing_guarantees(level: str) -> list[str]:
    missing = [name for name, levels in GUARANTEES.items() if level not in levels]
    return missing + limits_mod.missing_for_root()


def helpers_dir() -> Path | None:
    """The trusted helper package (``reference/cs231n``), if this installation has it."""
    try:
        from ..refimpl import helpers_dir as ref_helpers
        folder = ref_helpers()
    except Exception:  # noqa: BLE001 - the student profile may ship without reference/
        return None
    return folder if (folder / "__init__.py").is_file() or folder.is_dir() else None


def _python_roots() -> list[str]:
    """Folders the interpreter and its site-packages live in (bound read-only)."""
    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    roots.add(os.path.realpath(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))))
    roots.add(os.path.abspath(sys.prefix))
    kept = []
    for root in sorted(roots, key=len):
        if root in ("/", "/usr") or any(root.startswith(k.rstrip("/") + "/") for k in kept + ["/usr"]):
            continue
        kept.append(root)
    return kept


def _normalise_binds(binds) -> dict[str, str]:
    if not binds:
        return {}
    if isinstance(binds, dict):
        return {os.path.abspath(h): str(s) for h, s in binds.items()}
    return {os.path.abspath(p): os.path.abspath(p) for p in binds}


def build_command(argv, *, level: str = "auto", workdir, limits: Limits | None = None,
                  ro_binds=None, rw_binds=None, env: dict | None = None,
                  data_files: dict | None = None, helpers: bool = True) -> Launch:
    """Wrap ``argv`` in sandbox ``level`` ("auto" = the best that works here).

    ``ro_binds`` / ``rw_binds``: ``{host_path: sandbox_path}`` (or a list, bound at the same
    path); under bubblewrap nothing else of the host is visible. ``workdir`` is bound read-write
    at its own path and is the child's cwd. ``data_files``: ``{name: host_path}``, bound
    read-only; the child finds them via ``grader_inside.data_path(name)``. ``env`` is added to
    the scrubbed base environment.
    """
    return _build(list(argv), resolve_level(level), workdir=workdir, limits=limits, ro_binds=ro_binds,
                  rw_binds=rw_binds, env=env, data_files=data_files, helpers=helpers)


def scratch_prefix(kind: str) -> str:
    """``nndl-<kind>-<pid>-``: the owner's pid in the name lets a later run remove the folder
    if its owner was killed (SIGKILL, the OOM killer) before it could clean up."""
    return f"nndl-{kind}-{os.getpid()}-"


_ORPHAN = re.compile(r"^nndl-(sandbox|probe|train)-(\d+)-")
_swept = False


def sweep_orphans(folder=None) -> list[str]:
    """Remove scratch folders (``scratch_prefix``) of this user whose owning process is gone."""
    folder = Path(folder or tempfile.gettempdir())
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _ORPHAN.match(entry.name)
        if not match or int(match.group(2)) == os.getpid():
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            os.kill(int(match.group(2)), 0)
        except ProcessLookupError:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
        except OSError:  # alive under another uid, or unreadable: not ours to touch
            continue
    return removed


def _sweep_once() -> None:
    global _swept
    if not _swept:
        _swept = True
        sweep_orphans()


def _build(argv, chosen: str, *, workdir, limits, ro_binds, rw_binds, env, data_files, helpers) -> Launch:
    limits = limits_mod.resolve(limits)
    workdir = os.path.abspath(workdir)
    _sweep_once()
    base = Path(tempfile.mkdtemp(prefix=scratch_prefix("sandbox")))
    scratch, pkgs = base / "tmp", base / "pkgs"
    scratch.mkdir()
    pkgs.mkdir()
    packages = {"grader_inside": str(INSIDE_DIR)}
    helper = helpers_dir() if helpers else None
    if helper is not None:
        packages["cs231n"] = packages["utils"] = str(helper)
    for name, target in packages.items():
        os.symlink(target, pkgs / name)

    ro = list(_normalise_binds(ro_binds).items())
    rw = list(_normalise_binds(rw_binds).items())
    files = {}
    mapping: dict[str, str] = {}
    if chosen == "bwrap":
        tmp_inside, pkgs_inside = "/tmp", PKGS_IN_BWRAP
        for name, host in (data_files or {}).items():
            host = os.path.abspath(host)
            files[name] = f"{DATA_IN_BWRAP}/{name}{''.join(Path(host).suffixes[-1:])}"
            ro.append((host, files[name]))
        ro += [(target, f"{pkgs_inside}/{name}") for name, target in packages.items()]
        mapping = {str(scratch): tmp_inside, **dict(ro), **dict(rw)}
    else:
        tmp_inside, pkgs_inside = str(scratch), str(pkgs)
        files = {name: os.path.abspath(p) for name, p in (data_files or {}).items()}

    child_env = dict(limits_mod.BASE_ENV)
    child_env.update({
        "HOME": tmp_inside, "TMPDIR": tmp_inside, "MPLCONFIGDIR": f"{tmp_inside}/.matplotlib",
        "PYTHONPATH": pkgs_inside, "NNDL_GRADER_PKGS": pkgs_inside, "NNDL_GRADER_HELPERS": pkgs_inside,
        "NNDL_GRADER_FILES": json.dumps(files), "NNDL_GRADER_ROOT": workdir,
    })
    child_env.update({k: str(v) for k, v in (env or {}).items()})

    if chosen == "bwrap":
        full = _bwrap_argv(argv, workdir, scratch, ro, rw)
    elif chosen == "unshare":
        full = _unshare_prefix() + ["--"] + list(argv)
    else:
        full = list(argv)
    return Launch(argv=full, env=child_env, preexec_fn=limits_mod.make_preexec(limits), level=chosen,
                    missing_guarantees=missing_guarantees(chosen), cwd=workdir, scratch=base, files=files,
                    _map=mapping)


def _bwrap_argv(argv, workdir: str, scratch: Path, ro: list, rw: list) -> list[str]:
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--hostname", "sandbox",
           "--cap-drop", "ALL", "--proc", "/proc", "--dev", "/dev"]
    for d in _SYSTEM_DIRS:
        cmd += ["--ro-bind-try", d, d]
    for f in _ETC_FILES:
        cmd += ["--ro-bind-try", f"/etc/{f}", f"/etc/{f}"]
    binds = [("--ro-bind", p, p) for p in _python_roots()]
    binds.append(("--bind", str(scratch), "/tmp"))
    binds += [("--ro-bind", h, s) for h, s in ro]
    binds += [("--bind", h, s) for h, s in rw]
    binds.append(("--bind", workdir, workdir))
    # parents before children, so a deeper bind is never hidden by a later shallower one
    for flag, host, target in sorted(binds, key=lambda b: b[2].rstrip("/").count("/")):
        cmd += [flag, host, target]
    cmd += ["--remount-ro", "/", "--chdir", workdir, "--"]
    return cmd + list(argv)


def _unshare_prefix() -> list[str]:
    cmd = ["unshare"]
    if os.getuid() != 0:
        cmd.append("--map-root-user")
    return cmd + ["--net", "--pid", "--fork", "--kill-child", "--mount-proc"]


# ---- level detection ----------------------------------------------------------------------------

_probe_lock = threading.Lock()
_probed: dict[str, str | None] = {}  # level -> None if it works, else why not


def probe(level: str) -> str | None:
    """None if ``level`` works here (tried once per process), else the reason it does not."""
    if level == "none":
        return None
    with _probe_lock:
        if level not in _probed:
            _probed[level] = _try(level)
        return _probed[level]


def _try(level: str) -> str | None:
    tool = "bwrap" if level == "bwrap" else "unshare"
    if shutil.which(tool) is None:
        return f"{tool} is not installed"
    workdir = tempfile.mkdtemp(prefix=scratch_prefix("probe"))
    launch = None
    try:
        launch = _build([sys.executable, "-I", "-c", "import socket; socket.socket()"], level,
                        workdir=workdir, limits=None, ro_binds=None, rw_binds=None, env=None,
                        data_files=None, helpers=False)
        proc = subprocess.run(launch.argv, env=launch.env, cwd=launch.cwd, preexec_fn=launch.preexec_fn,
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        if proc.returncode != 0:
            return f"{tool} failed here: {proc.stderr.decode(errors='replace').strip()[-300:]}"
        return None
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{tool} failed here: {exc}"
    finally:
        if launch is not None:
            launch.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


def resolve_level(level: str) -> str:
    """The concrete level for ``level``; "auto" picks the best one that works here."""
    if level == "auto":
        for candidate in LEVELS:
            if probe(candidate) is None:
                return candidate
        return "none"
    if level not in LEVELS:
        raise ValueError(f"unknown sandbox level {level!r} (choose auto, {', '.join(LEVELS)})")
    why = probe(level)
    if why is not None:
        raise SandboxUnavailable(f"sandbox level {level!r} is not available: {why}")
    return level


def available_levels() -> list[str]:
    return [lvl for lvl in LEVELS if probe(lvl) is None]
