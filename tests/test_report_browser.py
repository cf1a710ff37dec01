"""The reports opened in a real headless browser: no console errors, no network, charts drawn,
numbers equal to results.json, a sortable and filterable student table. Screenshots of every page
are kept under tests/artifacts/ for a person to look at."""

import json
import shutil
from pathlib import Path

import pytest

from _report_samples import buggy, class_results, crashed, grader_failure, perfect
from autograder.report import write_reports
from autograder.rubric import load_rubric

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).parent / "artifacts" / "report"


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM} (CI installs it with apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    results = [perfect("alice"), buggy("bob"), crashed("carol"), grader_failure("dave"), *class_results(8, seed=3)]
    write_reports(out, results, rubric=load_rubric(), write_results=True)
    student = tmp_path_factory.mktemp("student")
    write_reports(student, [buggy("bob")], rubric=load_rubric(), profile="student", write_results=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return {"instructor": out, "student": student}


class Visit:
    """A page plus everything it logged or requested."""

    def __init__(self, browser, path: Path, shot: str):
        self.page = browser.new_page(viewport={"width": 1100, "height": 900})
        self.errors, self.requests = [], []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")
        self.page.screenshot(path=str(ARTIFACTS / shot), full_page=True)

    def assert_clean(self):
        assert self.errors == []
        outside = [u for u in self.requests if not u.startswith(("file:", "data:"))]
        assert outside == []

    def close(self):
        self.page.close()


def test_instructor_report(browser, out):
    folder = out["instructor"] / "bob"
    data = json.loads((folder / "results.json").read_text())
    v = Visit(browser, folder / "report.html", "bob_instructor.png")
    try:
        v.assert_clean()
        page = v.page
        assert page.locator("svg.chart").count() == 2
        assert page.locator("svg.chart polyline.series").count() == 3  # loss; train and val accuracy
        assert float(page.get_attribute("#total-score", "data-value")) == pytest.approx(data["score"], abs=1e-3)
        assert page.inner_text("#total-score") == f"{round(data['score'], 2):g}"
        shown = {el.get_attribute("data-check-id"): float(el.get_attribute("data-score"))
                 for el in page.locator("[data-check-id]").all()}
        assert shown == {t["extra_data"]["check_id"]: pytest.approx(t["score"], abs=1e-3) for t in data["tests"]}
        acc = data["extra_data"]["training"]["accuracy"]
        assert float(page.get_attribute("#measured-accuracy", "data-value")) == pytest.approx(acc)
        assert page.inner_text("#measured-accuracy") == f"{acc * 100:.1f}%"
        assert "KeyError" in page.inner_text("#check-fc_net\\.batchnorm")
        assert page.locator("#cells tr.fail-row").count() == 1
    finally:
        v.close()


def test_student_profile_report(browser, out):
    v = Visit(browser, out["student"] / "bob" / "report.html", "bob_student.png")
    try:
        v.assert_clean()
        hidden = v.page.locator('[data-status="hidden"]')
        assert hidden.count() == 3
        text = v.page.inner_text("body")
        assert "Dropout mask differs" not in text and "reference_loss" not in text
        assert "hidden until grades are published" in text
    finally:
        v.close()


def test_other_reports_render_cleanly(browser, out):
    for sid in ("alice", "carol", "dave"):
        v = Visit(browser, out["instructor"] / sid / "report.html", f"{sid}.png")
        try:
            v.assert_clean()
        finally:
            v.close()


def test_dashboard(browser, out):
    summary = json.loads((out["instructor"] / "summary.json").read_text())
    v = Visit(browser, out["instructor"] / "index.html", "dashboard.png")
    try:
        v.assert_clean()
        page = v.page
        assert page.locator("svg.chart").count() == 2
        bars = [int(b.get_attribute("data-count")) for b in page.locator("svg.chart").first.locator("rect").all()]
        assert bars == summary["histogram"]["counts"]
        assert page.inner_text("#student-count") == str(summary["count"])
        rows = page.locator("#student-table tbody tr")
        assert rows.count() == summary["count"]
        assert page.locator("#review tr[data-id]").count() == len(summary["review"])

        def totals():
            return [float(x) for x in page.eval_on_selector_all(
                "#student-table tbody tr", "rs => rs.map(r => r.cells[1].dataset.sort)")]

        header = page.locator("#student-table th", has_text="Total")
        header.click()
        assert totals() == sorted(s["total"] for s in summary["students"])
        assert header.get_attribute("aria-sort") == "ascending"
        header.click()
        assert totals() == sorted((s["total"] for s in summary["students"]), reverse=True)

        page.fill("#filter", "timeout")
        visible = page.eval_on_selector_all("#student-table tbody tr", "rs => rs.filter(r => r.style.display !== 'none').map(r => r.dataset.id)")
        assert visible and sorted(visible) == sorted(s["id"] for s in summary["students"] if "timeout" in s["flags"])
        page.fill("#filter", "")
        page.check("#review-only")
        assert page.inner_text("#shown-count") == f"{len(summary['review'])} shown"

        page.uncheck("#review-only")
        page.click("#student-table a >> nth=0")
        page.wait_for_load_state("load")
        assert page.url.endswith("/report.html") and page.locator("#total-score").count() == 1
        v.assert_clean()
    finally:
        v.close()
