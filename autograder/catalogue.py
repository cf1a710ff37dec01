"""The one catalogue of checks: every check's id, part, stage, title, dependencies and parameters.

A check is declared here once. The rubric loader validates each `[checks."id"]` table against
its entry (an unknown key is an error, a value of the wrong type too), the reports take titles
from here, the "probably caused by" links follow `depends`, and a check function reads its
parameters with `ctx.param(key)`: the rubric's value, else the default declared here.

Adding a check: its function (``@check("id")`` in ``autograder/checks/<topic>.py``), an entry
below, its rubric table with points, and fixtures (see ``docs/adding-a-check.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

#: Where a check's points count (report sections, CSV columns) and its human name.
PART_TITLES: Mapping[str, str] = MappingProxyType(
    {"implementation": "Implementation", "notebook": "Notebook", "training": "Training"})
#: The parts, in report order.
PARTS = tuple(PART_TITLES)
#: The stages that produce results, in the order the pipeline runs them, and the part each fills.
STAGES = ("checks", "notebook", "training")
STAGE_PART: Mapping[str, str] = MappingProxyType(
    {"checks": "implementation", "notebook": "notebook", "training": "training"})
STAGE_TITLES: Mapping[str, str] = MappingProxyType(
    {"checks": "implementation checks", "notebook": "notebook", "training": "re-training"})

#: Keys every check table may hold, whatever the check.
COMMON_KEYS = ("points", "public")


@dataclass(frozen=True)
class CheckInfo:
    check_id: str
    title: str
    part: str = "implementation"
    stage: str = "checks"
    #: Checks whose failure usually explains this one's ("probably caused by ...").
    depends: tuple[str, ...] = ()
    #: Rubric parameters this check reads, with their defaults (the rubric may override each).
    defaults: Mapping[str, Any] = field(default_factory=dict)
    #: Visible to students' CI unless the rubric says otherwise.
    public: bool = True

    def param_problem(self, key: str, value: Any) -> str | None:
        """Why `value` cannot be this check's `key`, or None when it can."""
        if key not in self.defaults:
            known = ", ".join(sorted((*COMMON_KEYS, *self.defaults)))
            return f"unknown key {key!r} (this check reads: {known})"
        default = self.defaults[key]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        elif isinstance(default, (list, tuple)):
            ok = isinstance(value, list) and bool(value) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        else:
            ok = isinstance(value, type(default))
        return None if ok else f"{key} must be like {default!r} (positive), got {value!r}"


_RTOL = {"rtol": 1e-6}
_PS = {"ps": [0.3, 0.6, 0.75]}

_ENTRIES = (
    CheckInfo("layers.affine", "Affine layer forward and backward", defaults=_RTOL),
    CheckInfo("layers.relu", "ReLU forward and backward"),
    CheckInfo("batchnorm.forward_train", "Batchnorm forward (training mode)", defaults=_RTOL),
    CheckInfo("batchnorm.running_stats", "Batchnorm running mean and variance",
              depends=("batchnorm.forward_train",)),
    CheckInfo("batchnorm.forward_test", "Batchnorm forward (test mode)",
              depends=("batchnorm.running_stats",)),
    CheckInfo("batchnorm.backward", "Batchnorm backward", depends=("batchnorm.forward_train",),
              defaults=_RTOL),
    CheckInfo("dropout.forward_train", "Dropout forward (training mode)", defaults=_PS),
    CheckInfo("dropout.forward_test", "Dropout forward (test mode)", defaults=_PS),
    CheckInfo("dropout.backward", "Dropout backward", depends=("dropout.forward_train",), defaults=_PS),
    CheckInfo("fc_net.init", "FullyConnectedNet parameters and their initialisation"),
    CheckInfo("fc_net.loss_grads", "FullyConnectedNet loss and gradients",
              depends=("layers.affine", "layers.relu"), defaults=_RTOL),
    CheckInfo("fc_net.regularization", "FullyConnectedNet L2 regularization",
              depends=("layers.affine", "layers.relu"), defaults={**_RTOL, "reg": 0.7}),
    CheckInfo("fc_net.batchnorm", "FullyConnectedNet with batchnorm",
              depends=("batchnorm.forward_train", "batchnorm.backward", "layers.affine", "layers.relu"),
              defaults=_RTOL),
    CheckInfo("fc_net.dropout", "FullyConnectedNet with dropout",
              depends=("dropout.forward_train", "dropout.backward", "batchnorm.forward_train",
                       "batchnorm.backward", "layers.affine", "layers.relu", "fc_net.loss_grads",
                       "fc_net.batchnorm"),
              defaults={**_RTOL, "keep": 0.6}, public=False),
    CheckInfo("fc_net.test_mode", "FullyConnectedNet in test mode",
              depends=("batchnorm.forward_test", "batchnorm.running_stats", "dropout.forward_test",
                       "layers.affine", "layers.relu", "fc_net.batchnorm"),
              defaults={"keep": 0.6}, public=False),
    CheckInfo("optim.sgd_momentum", "SGD with momentum update"),
    CheckInfo("optim.sgd_nesterov_momentum", "SGD with Nesterov momentum update"),
    CheckInfo("optim.rmsprop", "RMSProp update"),
    CheckInfo("optim.adam", "Adam update"),
    CheckInfo("notebook.executes", "The notebook runs from top to bottom", part="notebook", stage="notebook"),
    CheckInfo("notebook.free_response", "Free-response answer (graded by hand)", part="notebook",
              stage="notebook"),
    CheckInfo("training.accuracy", "Validation accuracy of the re-trained final model", part="training",
              stage="training"),
)

CATALOGUE: Mapping[str, CheckInfo] = MappingProxyType({e.check_id: e for e in _ENTRIES})


def info(check_id: str) -> CheckInfo:
    """The catalogue entry of a known check id (KeyError for an unknown one: a grader bug)."""
    return CATALOGUE[check_id]


def title(check_id: str) -> str:
    """The human title of a check; an id the catalogue does not know is shown as itself."""
    entry = CATALOGUE.get(check_id)
    return entry.title if entry else check_id


def stage_checks(stage: str) -> tuple[str, ...]:
    return tuple(cid for cid, e in CATALOGUE.items() if e.stage == stage)
