"""Discovery and safe staging of submissions (folders and zips, hostile ones included)."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from autograder.submission import (StagingError, StagingLimits, content_hash, discover, stage)

LAYERS = b"import numpy as np\n\ndef double(x):\n    return 2 * x\n"


def write(path: Path, data: bytes = LAYERS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_zip(path: Path, entries: dict) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_discover_one_per_folder_or_zip(tmp_path):
    subs = tmp_path / "subs"
    write(subs / "alice" / "nndl" / "layers.py")
    make_zip(subs / "Bob Jones (late)!.zip", {"nndl/layers.py": LAYERS})
    write(subs / "notes.txt", b"not a submission")
    write(subs / ".DS_Store", b"")
    (subs / "__MACOSX").mkdir()
    found = discover(subs)
    assert [(s.id, s.kind) for s in found] == [("Bob_Jones_late", "zip"), ("alice", "dir")]


def test_a_repo_with_nndl_is_one_submission(tmp_path):
    repo = tmp_path / "my-hw4"
    write(repo / "nndl" / "layers.py")
    write(repo / "cs231n" / "solver.py")
    assert [(s.id, s.path, s.kind) for s in discover(repo)] == [("my-hw4", repo, "dir")]


def test_nested_zip_layout_is_found_and_junk_ignored(tmp_path):
    archive = make_zip(tmp_path / "carol.zip", {
        "hw4/HW4-code/nndl/layers.py": LAYERS,
        "hw4/HW4-code/nndl/fc_net.py": b"from .layers import *\n",
        "hw4/HW4-code/HW4_Dropout.ipynb": b"{}",
        "hw4/HW4-code/Dropout_Colab.ipynb": b"{}",
        "hw4/HW4-code/.ipynb_checkpoints/Dropout-checkpoint.ipynb": b"{}",
        "__MACOSX/hw4/HW4-code/nndl/._layers.py": b"\x00\x05",
        "hw4/HW4-code/nndl/__pycache__/layers.cpython-37.pyc": b"\x00",
    })
    staged = stage(discover(archive)[0], tmp_path / "out")
    assert staged.root == staged.tree / "hw4" / "HW4-code"
    assert staged.nndl_dir == staged.root / "nndl"
    assert staged.notebook.name == "HW4_Dropout.ipynb"
    assert {p.name for p in staged.notebooks} == {"HW4_Dropout.ipynb", "Dropout_Colab.ipynb"}
    files = {p.relative_to(staged.tree).as_posix() for p in staged.tree.rglob("*") if p.is_file()}
    assert not any("__MACOSX" in f or "checkpoint" in f or "__pycache__" in f for f in files)


def test_flat_layout_is_remapped_into_nndl(tmp_path):
    src = tmp_path / "dave"
    write(src / "layers.py")
    write(src / "fc_net.py", b"from layers import *\n")
    write(src / "Dropout.ipynb", b"{}")
    staged = stage(discover(tmp_path)[0], tmp_path / "out")
    assert staged.nndl_dir == staged.root / "nndl"
    assert (staged.nndl_dir / "layers.py").read_bytes() == LAYERS
    assert (staged.root / "layers.py").exists()  # originals stay for `from layers import *`
    assert any("flat layout" in w for w in staged.warnings)


def test_zip_slip_entries_are_refused(tmp_path):
    archive = make_zip(tmp_path / "evil.zip", {
        "nndl/layers.py": LAYERS,
        "../slip_one.py": b"x",
        "/tmp/slip_abs.py": b"x",
        "nndl/../../slip_two.py": b"x",
        "C:\\windows\\slip_win.py": b"x",
    })
    staged = stage(discover(archive)[0], tmp_path / "out" / "deep")
    assert len(staged.refused) == 4
    assert not list(tmp_path.rglob("slip_*")) and not Path("/tmp/slip_abs.py").exists()
    assert (staged.nndl_dir / "layers.py").read_bytes() == LAYERS


def test_zip_bomb_is_refused(tmp_path):
    bomb = make_zip(tmp_path / "bomb.zip", {"nndl/layers.py": LAYERS, "nndl/zeros.bin": b"\0" * (20 << 20)})
    with pytest.raises(StagingError, match="zip bomb"):
        stage(discover(bomb)[0], tmp_path / "out")
    assert not (tmp_path / "out" / "bomb").exists()
    many = make_zip(tmp_path / "many.zip", {f"nndl/f{i}.py": os.urandom(2000) for i in range(30)})
    with pytest.raises(StagingError, match="more than 20 files"):
        stage(discover(many)[0], tmp_path / "out", StagingLimits(max_files=20))
    with pytest.raises(StagingError, match="more than 30000 bytes"):
        stage(discover(many)[0], tmp_path / "out", StagingLimits(max_total_bytes=30_000))


def test_zip_whose_header_lies_about_sizes(tmp_path):
    archive = make_zip(tmp_path / "liar.zip", {"nndl/layers.py": LAYERS * 100})
    data = bytearray(archive.read_bytes())
    # shrink the declared uncompressed size in the central directory (offset 24 of the record)
    central = data.rfind(b"PK\x01\x02")
    data[central + 24:central + 28] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    with pytest.raises(StagingError):
        stage(discover(archive)[0], tmp_path / "out")


def test_symlinks_out_of_the_submission_are_refused(tmp_path):
    src = tmp_path / "subs" / "erin"
    write(src / "nndl" / "layers.py")
    os.symlink("/etc/passwd", src / "nndl" / "passwd.py")
    os.symlink("/etc", src / "etc_dir")
    os.symlink("layers.py", src / "nndl" / "alias.py")  # inside: copied as a file
    staged = stage(discover(tmp_path / "subs")[0], tmp_path / "out")
    assert not (staged.nndl_dir / "passwd.py").exists() and not (staged.tree / "etc_dir").exists()
    assert (staged.nndl_dir / "alias.py").read_bytes() == LAYERS and not (staged.nndl_dir / "alias.py").is_symlink()
    assert len(staged.refused) == 2

    link_zip = tmp_path / "link.zip"
    with zipfile.ZipFile(link_zip, "w") as zf:
        zf.writestr("nndl/layers.py", LAYERS)
        info = zipfile.ZipInfo("nndl/shadow.py")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/shadow")
    staged = stage(discover(link_zip)[0], tmp_path / "out")
    assert not (staged.nndl_dir / "shadow.py").exists() and staged.refused == ["nndl/shadow.py (symbolic link)"]


def test_non_utf8_source_is_reported_and_reencoded(tmp_path):
    write(tmp_path / "subs" / "fay" / "nndl" / "layers.py", "# résumé\n".encode("cp1252") + LAYERS)
    staged = stage(discover(tmp_path / "subs")[0], tmp_path / "out")
    assert (staged.nndl_dir / "layers.py").read_text(encoding="utf-8").startswith("# résumé")
    assert staged.encodings == {"nndl/layers.py": "cp1252"}
    assert any("not UTF-8" in w for w in staged.warnings)
    from autograder.sandbox import Sandbox
    with Sandbox(staged.root, level="auto") as sb:  # not fatal: the module imports
        assert sb.call("nndl.layers:double", 4) == 8


def test_missing_and_broken_submissions(tmp_path):
    write(tmp_path / "subs" / "gus" / "README.md", b"I forgot the code")
    staged = stage(discover(tmp_path / "subs")[0], tmp_path / "out")
    assert staged.nndl_dir is None and staged.notebook is None
    assert any("no nndl/" in w for w in staged.warnings)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "hal").mkdir()
    with pytest.raises(StagingError, match="empty"):
        stage(discover(tmp_path / "empty")[0], tmp_path / "out")
    write(tmp_path / "bad" / "ivy.zip", b"PK\x03\x04 this is not a zip")
    with pytest.raises(StagingError, match="cannot read"):
        stage(discover(tmp_path / "bad")[0], tmp_path / "out")


def test_content_hash_follows_content_only(tmp_path):
    write(tmp_path / "a" / "s" / "nndl" / "layers.py")
    write(tmp_path / "b" / "s" / "nndl" / "layers.py")
    one = stage(discover(tmp_path / "a")[0], tmp_path / "out1")
    two = stage(discover(tmp_path / "b")[0], tmp_path / "out2")
    assert one.content_hash == two.content_hash == content_hash(one.tree)
    write(tmp_path / "b" / "s" / "nndl" / "layers.py", LAYERS + b"#")
    three = stage(discover(tmp_path / "b")[0], tmp_path / "out3")
    assert three.content_hash != one.content_hash
