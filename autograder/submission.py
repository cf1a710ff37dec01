"""Find submissions and stage a safe private copy of each one.

A submissions folder holds one folder or one ``.zip`` per student. Staging copies the files as
bytes into a fresh folder the sandbox may write to, refusing what could escape it: zip entries
with absolute paths or ``..``, links (in zips) or links pointing out of the submission, special
files, and archives whose size, file count or compression ratio look like a zip bomb. It then
finds the ``nndl`` package wherever the student nested it (a flat layout is remapped into
``nndl/``) and the notebook, and hashes the staged tree for caching.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

IGNORED_DIRS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git", ".hg", ".svn",
                "cifar-10-batches-py", "node_modules", ".venv", "venv"}
NNDL_MODULES = ("layers.py", "layer_utils.py", "fc_net.py", "optim.py", "layer_tests.py", "__init__.py")
DEFAULT_NOTEBOOK_PATTERNS = ("Dropout.ipynb", "*Dropout*.ipynb", "*dropout*.ipynb")


class StagingError(Exception):
    """The submission cannot be staged at all (it is graded zero with this message)."""


@dataclass(frozen=True)
class StagingLimits:
    """Caps on what one submission may unpack to (zip bombs, dataset dumps)."""

    max_total_bytes: int = 300 << 20
    max_files: int = 5000
    max_file_bytes: int = 256 << 20
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 1 << 20  # entries smaller than this may compress arbitrarily well

    @classmethod
    def from_limits(cls, limits) -> "StagingLimits":
        if isinstance(limits, StagingLimits):
            return limits
        if limits is None:
            return cls()
        file_mb = int(getattr(limits, "file_size_mb", 256))
        return cls(max_file_bytes=file_mb << 20, max_total_bytes=max(300, file_mb) << 20)


@dataclass(frozen=True)
class SubmissionSource:
    id: str
    path: Path
    kind: str  # "dir" | "zip"


@dataclass
class StagedSubmission:
    id: str
    root: Path
    nndl_dir: Path | None
    notebook: Path | None
    notebooks: list[Path] = field(default_factory=list)
    content_hash: str = ""
    warnings: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    #: The whole staged copy (``root`` is the folder inside it that holds ``nndl/``).
    tree: Path | None = None
    #: Source files that were not UTF-8 and were re-encoded: relative path -> original encoding.
    encodings: dict[str, str] = field(default_factory=dict)


# ---- discovery ------------------------------------------------------------------------------

def sanitize_id(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:100]
    return cleaned or "submission"


def looks_like_submission(folder: Path) -> bool:
    """A student's own repo given directly: ``nndl/`` (or the flat modules) right inside it."""
    return (folder / "nndl").is_dir() or ((folder / "layers.py").is_file() and (folder / "fc_net.py").is_file())


def discover(folder) -> list[SubmissionSource]:
    """One source per sub-folder or ``.zip`` of ``folder``; ``folder`` itself if it is one."""
    folder = Path(folder)
    if folder.is_file() and folder.suffix.lower() == ".zip":
        return [SubmissionSource(sanitize_id(folder.stem), folder, "zip")]
    if not folder.is_dir():
        return []
    if looks_like_submission(folder):
        return [SubmissionSource(sanitize_id(folder.resolve().name), folder, "dir")]
    sources: list[SubmissionSource] = []
    seen: set[str] = set()
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name in IGNORED_DIRS or entry.is_symlink():
            continue
        if entry.is_dir():
            kind, stem = "dir", entry.name
        elif entry.is_file() and entry.suffix.lower() == ".zip":
            kind, stem = "zip", entry.stem
        else:
            continue
        sid = base = sanitize_id(stem)
        n = 2
        while sid in seen:
            sid, n = f"{base}-{n}", n + 1
        seen.add(sid)
        sources.append(SubmissionSource(sid, entry, kind))
    return sources


# ---- staging --------------------------------------------------------------------------------

class _Budget:
    def __init__(self, limits: StagingLimits):
        self.limits = limits
        self.bytes = 0
        self.files = 0

    def add_file(self, size: int, name: str) -> None:
        self.files += 1
        self.bytes += size
        if self.files > self.limits.max_files:
            raise StagingError(f"more than {self.limits.max_files} files")
        if size > self.limits.max_file_bytes:
            raise StagingError(f"{name} is larger than {_human(self.limits.max_file_bytes)}")
        if self.bytes > self.limits.max_total_bytes:
            raise StagingError(f"unpacks to more than {_human(self.limits.max_total_bytes)}")


def _human(n: int) -> str:
    return f"{n / (1 << 20):.0f} MB" if n >= 1 << 20 else f"{n} bytes"


def _ignored(parts) -> bool:
    return any(p in IGNORED_DIRS for p in parts[:-1]) or (parts and parts[-1].startswith("._")) or \
        (parts and parts[-1] in IGNORED_DIRS)


def stage(source: SubmissionSource, dest_root, limits=None, *, notebook_patterns=None,
          exclude=()) -> StagedSubmission:
    """Copy ``source`` into ``dest_root/<id>`` safely; raises StagingError if that is impossible.

    ``exclude``: folders never copied (the grader's output and work folders, which live inside
    the submission when a student's CI grades its own repository in place).
    """
    caps = StagingLimits.from_limits(limits)
    tree = Path(dest_root) / source.id
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    refused: list[str] = []
    warnings: list[str] = []
    budget = _Budget(caps)
    try:
        if source.kind == "zip":
            _unzip(Path(source.path), tree, budget, refused)
        else:
            _copy_tree(Path(source.path), tree, budget, refused,
                       skip={os.path.realpath(p) for p in (*exclude, dest_root)})
    except StagingError:
        shutil.rmtree(tree, ignore_errors=True)
        raise
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        shutil.rmtree(tree, ignore_errors=True)
        raise StagingError(f"cannot read {Path(source.path).name}: {exc}") from None
    if budget.files == 0:
        raise StagingError("the submission is empty")

    nndl_dir, note = _find_nndl(tree)
    if note:
        warnings.append(note)
    if nndl_dir is None:
        warnings.append("no nndl/ package (layers.py, fc_net.py ...) was found")
    root = nndl_dir.parent if nndl_dir is not None else tree
    encodings = _fix_encodings(nndl_dir, root, warnings) if nndl_dir is not None else {}
    notebooks = sorted((p for p in tree.rglob("*.ipynb") if not _ignored(p.relative_to(tree).parts)),
                       key=lambda p: (len(p.relative_to(tree).parts), str(p)))
    notebook = _pick_notebook(notebooks, root, notebook_patterns or DEFAULT_NOTEBOOK_PATTERNS)
    if refused:
        warnings.append(f"{len(refused)} file(s) were refused while staging: " + ", ".join(refused[:5]))
    return StagedSubmission(
        id=source.id, root=root, nndl_dir=nndl_dir, notebook=notebook, notebooks=notebooks,
        content_hash=content_hash(tree), warnings=warnings, refused=refused, tree=tree,
        encodings=encodings)


def _safe_parts(name: str) -> tuple[str, ...] | None:
    """The path parts of an archive member, or None if it is absolute or climbs out."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "\x00" in name:
        return None
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if any(p == ".." for p in parts):
        return None
    return parts


def _unzip(archive: Path, tree: Path, budget: _Budget, refused: list[str]) -> None:
    caps = budget.limits
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > caps.max_files * 2:
            raise StagingError(f"the archive lists {len(infos)} entries")
        for info in infos:
            parts = _safe_parts(info.filename)
            if parts is None:
                refused.append(f"{info.filename} (path outside the submission)")
                continue
            if not parts or _ignored(parts):
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                refused.append(f"{info.filename} (symbolic link)")
                continue
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                refused.append(f"{info.filename} (encrypted)")
                continue
            if info.file_size >= caps.ratio_floor_bytes and \
                    info.file_size > caps.max_ratio * max(info.compress_size, 1):
                raise StagingError(f"{info.filename} expands {info.file_size / max(info.compress_size, 1):.0f}x "
                                   "(looks like a zip bomb)")
            budget.add_file(info.file_size, info.filename)
            target = tree.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with zf.open(info) as src, open(target, "wb") as dst:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > info.file_size:  # the header lied about the size
                        raise StagingError(f"{info.filename} is larger than its archive header says")
                    dst.write(chunk)


def _copy_tree(src_root: Path, tree: Path, budget: _Budget, refused: list[str], skip=frozenset()) -> None:
    src_root = src_root.resolve()
    for dirpath, dirnames, filenames in os.walk(src_root, followlinks=False):
        rel_dir = Path(dirpath).relative_to(src_root)
        kept = []
        for d in sorted(dirnames):
            full = Path(dirpath) / d
            if d in IGNORED_DIRS or os.path.realpath(full) in skip:
                continue
            if full.is_symlink():
                refused.append(f"{(rel_dir / d).as_posix()} (link to a folder)")
                continue
            kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            rel = rel_dir / name
            if _ignored(rel.parts):
                continue
            full = Path(dirpath) / name
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                real = full.resolve()
                if not (str(real).startswith(str(src_root) + os.sep) and real.is_file()):
                    refused.append(f"{rel.as_posix()} (link pointing outside the submission)")
                    continue
                st = os.stat(real)
                full = real
            if not stat.S_ISREG(st.st_mode):
                refused.append(f"{rel.as_posix()} (not a regular file)")
                continue
            budget.add_file(st.st_size, rel.as_posix())
            target = tree / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(full, "rb") as fin, open(target, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)


def _find_nndl(tree: Path) -> tuple[Path | None, str | None]:
    """The shallowest ``nndl/`` holding Python modules; else a flat layout remapped into one."""
    candidates = []
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS)
        if Path(dirpath).name == "nndl" and any(f.endswith(".py") for f in filenames):
            score = sum(m in filenames for m in NNDL_MODULES)
            candidates.append((len(Path(dirpath).relative_to(tree).parts), -score, dirpath))
    if candidates:
        candidates.sort()
        chosen = Path(candidates[0][2])
        note = None
        if len(candidates) > 1:
            note = (f"{len(candidates)} nndl/ folders found; graded "
                    f"{chosen.relative_to(tree).as_posix()}")
        return chosen, note
    flats = []
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS)
        if "layers.py" in filenames and ("fc_net.py" in filenames or "layer_utils.py" in filenames):
            flats.append((len(Path(dirpath).relative_to(tree).parts), dirpath))
    if not flats:
        return None, None
    home = Path(sorted(flats)[0][1])
    nndl = home / "nndl"
    nndl.mkdir()
    moved = [m for m in NNDL_MODULES if (home / m).is_file() and m != "__init__.py"]
    for module in moved:
        shutil.copyfile(home / module, nndl / module)  # copies: top-level ``from layers import *`` still works
    return nndl, f"flat layout: {', '.join(moved)} remapped into nndl/"


def _fix_encodings(nndl_dir: Path, root: Path, warnings: list[str]) -> dict[str, str]:
    """Re-encode non-UTF-8 student modules (without a coding cookie) as UTF-8, and say so."""
    fixed = {}
    for path in sorted(nndl_dir.rglob("*.py")):
        data = path.read_bytes()
        try:
            data.decode("utf-8")
            continue
        except UnicodeDecodeError:
            pass
        head = data.split(b"\n", 2)[:2]
        if any(re.search(rb"coding[:=]\s*[-\w.]+", line) for line in head):
            continue
        try:
            text, enc = data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            text, enc = data.decode("latin-1"), "latin-1"
        path.write_bytes(text.encode("utf-8"))
        rel = path.relative_to(root).as_posix()
        fixed[rel] = enc
        warnings.append(f"{rel} is not UTF-8; read as {enc} and re-encoded")
    return fixed


def _pick_notebook(notebooks: list[Path], root: Path, patterns) -> Path | None:
    def distance(p: Path) -> int:
        try:
            return len(p.parent.relative_to(root).parts)
        except ValueError:
            return 100 + len(p.parts)

    for pattern in patterns:
        matches = [p for p in notebooks if fnmatch.fnmatchcase(p.name, pattern)]
        if matches:
            return min(matches, key=lambda p: (distance(p), len(p.name), str(p)))
    return None


def content_hash(tree: Path) -> str:
    """SHA-256 over the sorted relative paths and bytes of every staged file."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(tree).rglob("*") if p.is_file()):
        digest.update(path.relative_to(tree).as_posix().encode("utf-8", "surrogateescape") + b"\0")
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()
