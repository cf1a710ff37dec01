"""Notebook stage with a real sandboxed kernel.

Kernel starts cost seconds, so each notebook packs several scenarios and runs once per module
(``scope="module"``); the tests then read different parts of the same outcome.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import types
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import PROJECT_ROOT
from autograder.notebook import run_notebook
from autograder.rubric import load_rubric

C, M = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell
REFERENCE_ROOT = PROJECT_ROOT / "reference"
REFERENCE_NNDL = REFERENCE_ROOT / "nndl"
FAST_ITERATIONS = 5

pytestmark = pytest.mark.skipif(not (REFERENCE_NNDL / "fc_net.py").is_file(),
                                reason="needs reference/nndl as the fixture submission's code")


def rubric(cell_timeout=3.0):
    r = load_rubric()
    return dataclasses.replace(r, notebook=dataclasses.replace(
        r.notebook, cell_timeout=cell_timeout, budget=120.0, fast_iterations=FAST_ITERATIONS))


def write_data(folder: Path) -> Path:
    """Six small .npy splits in the format get_CIFAR10_data reads from NNDL_GRADER_DATA."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for part, n in (("train", 120), ("val", 40), ("test", 40)):
        np.save(folder / f"X_{part}.npy", rng.standard_normal((n, 3, 8, 8)).astype(np.float32))
        np.save(folder / f"y_{part}.npy", rng.integers(0, 10, n))
    return folder


def submission(tmp: Path, cells) -> types.SimpleNamespace:
    root = tmp / "sub"
    shutil.copytree(REFERENCE_NNDL, root / "nndl")
    (root / "cs231n").mkdir()
    # A student's own copy of the helpers must be shadowed by the trusted ones.
    (root / "cs231n" / "solver.py").write_text("raise ImportError('student copy imported')\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nbformat.write(nb, str(root / "Dropout.ipynb"))
    return types.SimpleNamespace(root=root, notebooks=[])


def saved(cell, text):
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    return cell


def log(vals):
    n = len(vals) - 1
    return f"(Iteration 1 / {n * 49})\n" + "".join(
        f"(Epoch {e} / {n}) train acc: 0.600000; val_acc: {v:.6f}\n" for e, v in enumerate(vals))


SOLVER = ("model = FullyConnectedNet([20, 20], input_dim=3*8*8, dropout={d}, use_batchnorm=True)\n"
          "solver = Solver(model, data, num_epochs=10, batch_size=10, update_rule='adam',\n"
          "                optim_config={{'learning_rate': 1e-3}}, lr_decay=0.95, print_every=1)\n"
          "solver.train()")
IMPORTS = ("import numpy as np\nfrom nndl.fc_net import *\nfrom cs231n.data_utils import get_CIFAR10_data\n"
           "from cs231n.solver import Solver\n")


#: Cells that succeed when first run and fail when replayed (stand for cells that are not deterministic).
_IF_REPLAY = "if __import__('grader_inside.kernel_startup').kernel_startup._state['replay']:\n    "
REPLAY_RAISES = _IF_REPLAY + "raise RuntimeError('different the second time')"
REPLAY_DIES = _IF_REPLAY + "import os; os._exit(3)"


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """Colab residue, an exception, two claimed Solver runs, an infinite loop, a cell that kills
    the kernel when replayed, a kernel death, a loop that swallows the interrupt, a flood of output. Cells
    after each restart use state (imports, data, model, ``x``) from cells that ran before it."""
    tmp = tmp_path_factory.mktemp("messy")
    cells = [
        M("# Dropout"),
        C(IMPORTS + "%matplotlib inline\n%load_ext autoreload\n%autoreload 2\n"
          "from google.colab import drive\ndrive.mount('/content/drive')\n!pwd\nfiles = !ls\n"
          "%cd /content/drive/MyDrive/hw4\nimport sys; sys.path.append('/content/drive/MyDrive/hw4')\n"
          "import os; os.chdir('/content/drive/MyDrive/hw4')"),
        C("%%time\ndata = get_CIFAR10_data()\nprint({k: v.shape for k, v in data.items()})"),
        C("raise ValueError('student bug')"),
        M("## Question\nIs dropout performing regularization?"),
        M("## Answer:\nYes, the train/val gap is smaller with dropout."),
        M("## Final part of the assignment"),
        saved(C(SOLVER.format(d=0.5)), log([0.1, 0.4, 0.55])),
        saved(C(SOLVER.format(d=0.8)), log([0.1, 0.58, 0.5])),
        C("while True:\n    pass"),
        C("x = 41\nprint('after the timeout', model.params['W1'].shape)"),
        C(REPLAY_DIES),
        C("import os\nos._exit(1)"),
        C("print('after the restart', x, model.params['W1'].shape, data['X_train'].shape,\n"
          "      len(solver.val_acc_history))"),
        C("import time\nwhile True:\n    try:\n        time.sleep(10)\n    except KeyboardInterrupt:\n        pass"),
        C("print('after the stubborn loop', x + 1)"),
        C("print('x' * 3_000_000)"),
    ]
    staged = submission(tmp, cells)
    out = run_notebook(staged, rubric(), write_data(tmp / "data"), level="auto", work_dir=tmp / "work")
    executed = nbformat.read(str(tmp / "work" / "executed.ipynb"), as_version=4)
    return types.SimpleNamespace(out=out, executed=executed, work=tmp / "work")


def text_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


def test_cells_are_recorded_with_their_fate(messy):
    status = {c["index"]: c["status"] for c in messy.out.extra["cells"]}
    assert status == {1: "ok", 2: "ok", 3: "error", 7: "ok", 8: "ok", 9: "timeout", 10: "ok", 11: "ok",
                      12: "died", 13: "ok", 14: "timeout", 15: "ok", 16: "ok"}
    err = next(c for c in messy.out.extra["cells"] if c["index"] == 3)
    assert err["error"] == "ValueError: student bug" and "student bug" in err["traceback"]
    assert err["first_line"] == "raise ValueError('student bug')"
    # one start; after the death, a restart and another when cell 11's replay killed the kernel;
    # one after the loop that ignored the interrupt
    assert messy.out.extra["kernel_starts"] == 4
    flood = text_of(messy.executed.cells[16])
    assert "output truncated" in flood and len(flood) < 100_000
    assert "(20, 20)" not in text_of(messy.executed.cells[10])  # W1 is (192, 20)
    assert "(192, 20)" in text_of(messy.executed.cells[10])


def test_state_is_replayed_after_each_restart(messy):
    """After the death (cell 12) and the unkillable loop (cell 14), a fresh kernel replays the cells
    that had succeeded, so later cells find x, the model, the data and the solver."""
    after_restart = text_of(messy.executed.cells[13])
    assert "after the restart 41 (192, 20) (120, 3, 8, 8)" in after_restart
    assert "after the stubborn loop 42" in text_of(messy.executed.cells[15])
    replays = messy.out.extra["replays"]
    assert [r["after_cell"] for r in replays] == [12, 14]
    assert replays[0]["replayed"] == [1, 2, 7, 8, 10] and replays[0]["failed"] == [11]
    # the cell that failed its replay is not tried again; the cell after the death now is
    assert replays[1]["replayed"] == [1, 2, 7, 8, 10, 13] and replays[1]["failed"] == []
    assert all(r["complete"] for r in replays)
    cells = {c["index"]: c for c in messy.out.extra["cells"]}
    assert {i for i, c in cells.items() if c["replayed"]} == {1, 2, 7, 8, 10, 11, 13}
    assert cells[11]["status"] == "ok" and cells[11]["replay_error"].startswith("died")
    assert cells[12]["error"].startswith("the kernel died") and not cells[12]["replayed"]
    # replayed outputs do not replace what the cells printed when they first ran
    assert "after the timeout" in text_of(messy.executed.cells[10])


def test_partial_score_is_fraction_of_cells_ok(messy):
    check = {c.check_id: c for c in messy.out.checks}["notebook.executes"]
    assert check.status == "failed"
    assert check.score == pytest.approx(5 * 9 / 13)
    assert "9 of 13" in check.message and "student bug" in check.message


def test_colab_residue_is_neutralised(messy):
    out = text_of(messy.executed.cells[1])
    for what in ("drive.mount", "!pwd", "!ls", "%cd /content/drive", "os.chdir"):
        assert what in out
    assert "X_train" in text_of(messy.executed.cells[2])  # the grader's data, via get_CIFAR10_data


def test_fast_mode_caps_training_and_captures_configs(messy):
    assert f"(Iteration 1 / {FAST_ITERATIONS})" in text_of(messy.executed.cells[7])
    assert "fast mode" in text_of(messy.executed.cells[7])
    configs = messy.out.extra["configs"]
    assert [c["cell_index"] for c in configs] == [7, 8]
    first = configs[0]
    assert first["model_class"] == "FullyConnectedNet" and first["model_module"] == "nndl.fc_net"
    assert first["model_args"] == [[20, 20]]
    assert first["model_kwargs"] == {"input_dim": 192, "dropout": 0.5, "use_batchnorm": True}
    assert first["solver_kwargs"]["update_rule"] == "adam" and first["solver_kwargs"]["lr_decay"] == 0.95
    assert [c["claimed_val_acc"] for c in configs] == [0.55, 0.58]
    assert all(c["in_final_part"] and c["trained"] for c in configs)


def test_best_config_is_highest_claim_in_final_part(messy):
    assert messy.out.extra["best_rule"] == "final_part_highest_claim"
    assert messy.out.extra["best_config"]["model_kwargs"]["dropout"] == 0.8


def test_answer_and_free_response(messy):
    assert messy.out.extra["answer"]["present"]
    assert "gap is smaller" in messy.out.extra["answer"]["text"]
    check = {c.check_id: c for c in messy.out.checks}["notebook.free_response"]
    assert check.status == "passed" and "gap is smaller" in check.message


def test_no_kernel_left_behind(messy):
    marker = str(messy.work).encode()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            assert marker not in cmdline, f"process {pid} still runs: {cmdline[:200]!r}"


def test_clean_notebook_without_solver_gets_full_points(tmp_path):
    cells = [M("# Dropout"), C(IMPORTS + "x = np.ones(3)"), C("print(x.sum())"),
             M("## Question\nIs dropout a regularizer?"), M("Yes, it narrows the generalization gap.")]
    out = run_notebook(submission(tmp_path, cells), rubric(), None, level="auto", work_dir=tmp_path / "work")
    check = {c.check_id: c for c in out.checks}["notebook.executes"]
    assert check.status == "passed" and check.score == check.max_score == 5
    assert out.extra["executed"] and [c["status"] for c in out.extra["cells"]] == ["ok", "ok"]
    assert out.extra["configs"] == [] and out.extra["best_config"] is None and out.extra["best_rule"] == "none"


def test_death_replays_earlier_cells_then_continues(tmp_path):
    cells = [C("import numpy as np\nx = np.arange(4)"), C(REPLAY_RAISES), C("import os\nos._exit(1)"),
             C("print('sum', x.sum())")]
    out = run_notebook(submission(tmp_path, cells), rubric(), None, level="auto", work_dir=tmp_path / "work")
    assert [(c["index"], c["status"], c["replayed"]) for c in out.extra["cells"]] == [
        (0, "ok", True), (1, "ok", True), (2, "died", False), (3, "ok", False)]
    assert "different the second time" in out.extra["cells"][1]["replay_error"]
    executed = nbformat.read(str(tmp_path / "work" / "executed.ipynb"), as_version=4)
    assert "sum 6" in text_of(executed.cells[3])
    assert out.extra["kernel_starts"] == 2
    assert out.extra["replays"][0]["replayed"] == [0] and out.extra["replays"][0]["failed"] == [1]
    check = {c.check_id: c for c in out.checks}["notebook.executes"]
    assert check.score == pytest.approx(5 * 3 / 4) and "died" in check.message


def test_tagged_cell_overrides_higher_claim(tmp_path):
    tagged = saved(C(SOLVER.format(d=0.3)), log([0.1, 0.5]))
    tagged.metadata["tags"] = ["best-config"]
    cells = [C(IMPORTS + "data = get_CIFAR10_data()"), M("## Final part of the assignment"),
             tagged, saved(C(SOLVER.format(d=0.9)), log([0.1, 0.6]))]
    out = run_notebook(submission(tmp_path, cells), rubric(), write_data(tmp_path / "data"), level="auto",
                       work_dir=tmp_path / "work")
    assert [c["status"] for c in out.extra["cells"]] == ["ok", "ok", "ok"]
    assert out.extra["best_rule"] == "tagged"
    assert out.extra["best_config"]["model_kwargs"]["dropout"] == 0.3
    assert out.extra["best_config"]["claimed_val_acc"] == 0.5


REFERENCE_NOTEBOOK = PROJECT_ROOT / "reference" / "Dropout.ipynb"


@pytest.mark.slow
@pytest.mark.skipif(not REFERENCE_NOTEBOOK.is_file(), reason="reference/Dropout.ipynb not present")
def test_reference_notebook_runs_cleanly_in_fast_mode(tmp_path):
    from autograder.data import notebook_splits, prepare_splits
    from autograder.synthetic import write_synthetic_cifar10

    raw = write_synthetic_cifar10(tmp_path / "cifar", n_train=1000, n_test=200)
    splits = prepare_splits(raw, tmp_path / "cache", num_training=900, num_validation=100, num_test=100)
    data_dir = notebook_splits(splits, tmp_path / "cache", n_train=500, n_val=100, n_test=100)
    root = tmp_path / "sub"
    shutil.copytree(REFERENCE_ROOT / "nndl", root / "nndl")
    shutil.copy(REFERENCE_NOTEBOOK, root / "Dropout.ipynb")
    r = rubric(cell_timeout=60.0)
    out = run_notebook(types.SimpleNamespace(root=root, notebooks=[]), r, data_dir, level="auto",
                       work_dir=tmp_path / "work")
    bad = [c for c in out.extra["cells"] if c["status"] != "ok"]
    assert not bad, bad
    check = {c.check_id: c for c in out.checks}["notebook.executes"]
    assert check.status == "passed" and check.score == check.max_score
    # two regularizer runs and the final model, each trained for only the fast-mode cap
    assert len(out.extra["configs"]) == 3 and all(c["trained"] for c in out.extra["configs"])
    assert out.extra["best_rule"] == "tagged" and out.extra["best_config"]["in_final_part"]
    assert out.extra["answer"]["present"]

