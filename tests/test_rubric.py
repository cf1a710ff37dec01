"""The rubric loader accepts the shipped rubric and reports every mistake in a broken one."""

import tomllib

import pytest

from autograder.rubric import DEFAULT_RUBRIC, KNOWN_CHECK_IDS, RubricError, load_rubric, parse_rubric


def _raw():
    return tomllib.loads(DEFAULT_RUBRIC.read_text())


def test_shipped_rubric_covers_every_check_and_totals_100():
    rubric = load_rubric()
    assert set(rubric.checks) == set(KNOWN_CHECK_IDS)
    assert rubric.total_points == pytest.approx(100)
    assert rubric.conventions.dropout_p == "keep"
    assert rubric.training.floor_percent == 32 and rubric.training.full_percent == 60
    assert rubric.check("training.accuracy").part == "training"


def test_unknown_check_and_negative_points_are_reported_together():
    raw = _raw()
    raw["checks"]["dropout.forwrd_train"] = {"points": 1}
    raw["checks"]["layers.relu"]["points"] = -2
    with pytest.raises(RubricError) as info:
        parse_rubric(raw)
    msg = str(info.value)
    assert "2 problem(s)" in msg
    assert "unknown check id 'dropout.forwrd_train'" in msg and "did you mean 'dropout.forward_train'" in msg
    assert "negative points" in msg


@pytest.mark.parametrize("table,key,value,needle", [
    ("conventions", "dropout_p", "sometimes", "dropout_p"),
    ("limits", "memory_mb", -5, "memory_mb must be positive"),
    ("limits", "bogus", 1, "unknown key 'bogus'"),
    ("training", "engine", "gpu", "training.engine"),
    ("training", "full_percent", 20, "floor_percent < full_percent"),
    ("notebook", "cell_timeout", "slow", "wrong type"),
])
def test_bad_settings_are_rejected_with_a_clear_message(table, key, value, needle):
    raw = _raw()
    raw[table][key] = value
    with pytest.raises(RubricError, match=needle):
        parse_rubric(raw)


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(RubricError, match="not found"):
        load_rubric(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[checks\n")
    with pytest.raises(RubricError, match="not valid TOML"):
        load_rubric(bad)


def test_fingerprint_changes_with_meaning_and_seeds_are_stable():
    a = parse_rubric(_raw())
    raw = _raw()
    raw["checks"]["layers.relu"]["points"] = 3
    b = parse_rubric(raw)
    assert a.fingerprint() != b.fingerprint()
    assert a.fingerprint() == parse_rubric(_raw()).fingerprint()
    assert a.seed_for("dropout.backward") == a.seed_for("dropout.backward")
    assert a.seed_for("dropout.backward") != a.seed_for("dropout.forward_train")


def test_every_stage_reports_non_public_checks_the_same_way():
    rubric = load_rubric()
    assert rubric.check("layers.affine").visibility == "visible"
    assert rubric.check("training.accuracy").visibility == "after_published"


def test_catalogue_and_rubric_agree():
    from autograder.catalogue import CATALOGUE, STAGES
    from autograder.checks import CHECKS

    rubric = load_rubric()
    assert set(CATALOGUE) == set(rubric.checks)
    for cid, entry in CATALOGUE.items():
        assert entry.stage in STAGES and set(entry.depends) <= set(CATALOGUE)
        assert rubric.check(cid).part == entry.part
    checks_stage = {cid for cid, e in CATALOGUE.items() if e.stage == "checks"}
    assert set(CHECKS) == checks_stage


@pytest.mark.parametrize("cid,key,value,needle", [
    ("dropout.forward_train", "pss", [0.5], "unknown key 'pss'"),
    ("fc_net.regularization", "reg", "lots", "reg must be like 0.7"),
    ("dropout.backward", "ps", [], "ps must be like"),
    ("layers.relu", "rtol", 1e-6, "unknown key 'rtol'"),
])
def test_per_check_keys_are_validated_against_the_catalogue(cid, key, value, needle):
    raw = _raw()
    raw["checks"][cid][key] = value
    with pytest.raises(RubricError, match=needle):
        parse_rubric(raw)


def test_a_check_reads_the_rubric_value_else_the_catalogue_default():
    raw = _raw()
    raw["checks"]["fc_net.regularization"]["reg"] = 0.25
    raw["checks"]["fc_net.regularization"].pop("rtol", None)
    rubric = parse_rubric(raw)
    spec = rubric.check("fc_net.regularization")
    assert spec.get("reg") == 0.25 and spec.get("rtol") == 1e-6
    result = spec.result("passed", spec.points)
    assert result.name == "FullyConnectedNet L2 regularization" and result.max_score == spec.points


def test_registering_a_check_the_catalogue_does_not_know_fails_loudly():
    from autograder.checks.base import check

    with pytest.raises(ValueError, match="catalogue"):
        check("layers.softmax")(lambda ctx, spec: None)
