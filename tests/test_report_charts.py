"""Hand-written SVG charts: axis ticks, bins, escaping, and degenerate data."""

import xml.etree.ElementTree as ET

import pytest

from autograder.report.charts import Series, histogram, histogram_counts, line_chart, nice_ticks, percent

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("lo, hi, expected", [
    (0, 1, [0, 0.25, 0.5, 0.75, 1]), (0.31, 0.62, [0.3, 0.4, 0.5, 0.6, 0.7]), (1, 20, [0, 5, 10, 15, 20]),
    (3, 3, [3, 4, 5, 6]),
])
def test_nice_ticks(lo, hi, expected):
    assert nice_ticks(lo, hi) == pytest.approx(expected)


def test_histogram_counts_put_edges_in_the_right_bins():
    assert histogram_counts([0, 9.99, 10, 100, 100, -5, float("nan"), "x"], 0, 100, 10) == [3, 1, 0, 0, 0, 0, 0, 0, 0, 2]


def test_line_chart_is_valid_svg_with_one_polyline_per_series():
    svg = line_chart([Series("val <acc>", [1, 2, 3], [0.3, 0.4, 0.5]), Series("train", [1, 2, 3], [0.35, 0.5, None])],
                     title="Accuracy & loss", y_format=percent, hlines=[(0.6, "full credit 60%")])
    root = ET.fromstring(svg)
    polylines = root.findall(f"{SVG}polyline")
    assert [p.get("data-label") for p in polylines] == ["val <acc>", "train"]
    assert len(polylines[1].get("points").split()) == 2  # the None point is skipped
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Accuracy & loss" in texts and "full credit 60%" in texts and "60%" in texts
    assert "<?xml" not in svg


def test_line_chart_without_data_is_empty():
    assert line_chart([Series("x", [], [])], title="t") == ""
    assert line_chart([Series("x", [1], [float("nan")])], title="t") == ""


def test_histogram_bars_match_counts():
    root = ET.fromstring(histogram([1, 2, 2, 9], lo=0, hi=10, bins=5, title="scores"))
    bars = [int(r.get("data-count")) for r in root.iter(f"{SVG}rect")]
    assert bars == [1, 2, 0, 0, 1]
