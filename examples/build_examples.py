#!/usr/bin/env python3
"""Regenerate examples/submissions/ from reference/: three students, three typical situations.

- ada: a complete, correct submission laid out flat, the final cell tagged `best-config`.
- ben: a W2021 submission nested as hw4/HW4-code/, written on Colab, with three real bug classes
  (p used as the drop probability, running averages without momentum, the template's
  `bn_param[mode] = mode` line) and a notebook whose saved output claims 56% validation accuracy.
- cy.zip: a zip with macOS residue whose fc_net.py does not even parse and whose notebook is missing.

Each edit is asserted to apply, so a change in reference/ cannot silently turn a bug into a fix.
Run: python examples/build_examples.py
"""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference"
OUT = ROOT / "examples" / "submissions"


def student_source(text: str) -> str:
    """Reference code as a student would hand it in: the solution kept, the markers gone."""
    keep = [l for l in text.splitlines(keepends=True)
            if l.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION") and not l.strip().startswith("### STUB:")]
    return "".join(keep)


def edit(text: str, old: str, new: str, where: str) -> str:
    if old not in text:
        raise SystemExit(f"build_examples: edit for {where} no longer applies: {old!r}")
    return text.replace(old, new, 1)


def copy_package(dest: Path, edits: dict[str, list[tuple[str, str]]] | None = None) -> None:
    (dest / "nndl").mkdir(parents=True, exist_ok=True)
    for src in sorted((REFERENCE / "nndl").glob("*.py")):
        text = student_source(src.read_text())
        for old, new in (edits or {}).get(src.name, []):
            text = edit(text, old, new, src.name)
        (dest / "nndl" / src.name).write_text(text)
    shutil.copytree(REFERENCE / "cs231n", dest / "cs231n", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))


def notebook(extra_cells_before_final=(), final_outputs=None, tag=True, colab=False) -> dict:
    nb = json.loads((REFERENCE / "Dropout.ipynb").read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["source"] = student_source("".join(cell["source"])).splitlines(keepends=True)
        tags = cell.get("metadata", {}).get("tags", [])
        if "best-config" in tags:
            if not tag:
                tags.remove("best-config")
            if final_outputs:
                cell["outputs"] = [{"name": "stdout", "output_type": "stream", "text": final_outputs}]
                cell["execution_count"] = 18
        if "solution" in tags:
            tags.remove("solution")
    if colab:
        colab_cell = {"cell_type": "code", "execution_count": 1, "id": "colab-mount", "metadata": {},
                      "outputs": [{"name": "stdout", "output_type": "stream", "text": "Mounted at /content/drive\n"}],
                      "source": ["from google.colab import drive\n", "drive.mount('/content/drive')\n",
                                 "%cd /content/drive/MyDrive/ECE247/hw4/HW4-code\n", "!pwd\n",
                                 "import sys\n", "sys.path.append('/content/drive/MyDrive/ECE247/hw4/HW4-code')\n"]}
        nb["cells"].insert(1, colab_cell)
        nb["metadata"]["colab"] = {"name": "Dropout_Colab.ipynb", "provenance": []}
    return nb


def build_ada(dest: Path) -> None:
    copy_package(dest)
    (dest / "Dropout.ipynb").write_text(json.dumps(notebook(), indent=1) + "\n")


BEN_EDITS = {
    "layers.py": [
        # p read as the probability of DROPPING a unit (the 2018/2022 convention)
        ("mask = (np.random.rand(*x.shape) < p).astype(x.dtype)", "mask = (np.random.rand(*x.shape) >= p).astype(x.dtype)"),
        # running averages overwritten by the batch statistics, no momentum
        ("running_mean = momentum * running_mean + (1 - momentum) * batch_mean", "running_mean = batch_mean"),
        ("running_var = momentum * running_var + (1 - momentum) * batch_var", "running_var = batch_var"),
    ],
    "fc_net.py": [
        # the line the W2021 template shipped with
        ("bn_param['mode'] = mode", "bn_param[mode] = mode"),
    ],
}

BEN_CLAIM = "".join(
    f"(Epoch {e} / 10) train acc: {0.40 + 0.03 * e:.6f}; val_acc: {0.45 + 0.011 * e:.6f}\n" for e in range(11)
)


def build_ben(dest: Path) -> None:
    code = dest / "hw4" / "HW4-code"
    copy_package(code, BEN_EDITS)
    nb = notebook(final_outputs=BEN_CLAIM, tag=False, colab=True)
    (code / "Dropout_Colab.ipynb").write_text(json.dumps(nb, indent=1) + "\n")


def build_cy(zip_path: Path, tmp: Path) -> None:
    src = tmp / "cy"
    copy_package(src / "HW4", {"fc_net.py": [("def loss(self, X, y=None):", "def loss(self, X, y=None)")]})
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(src))
        zf.writestr("__MACOSX/HW4/nndl/._layers.py", b"\x00\x05\x16\x07junk")
        zf.writestr("HW4/.DS_Store", b"\x00\x00\x00\x01Bud1")


def main() -> int:
    if not (REFERENCE / "nndl").is_dir():
        print("reference/nndl is missing", file=sys.stderr)
        return 1
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    build_ada(OUT / "ada")
    build_ben(OUT / "ben")
    tmp = OUT / ".tmp"
    build_cy(OUT / "cy.zip", tmp)
    shutil.rmtree(tmp)
    print(f"wrote {', '.join(sorted(p.name for p in OUT.iterdir()))} into {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
