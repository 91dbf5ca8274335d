"""`make bench QUICK=1` runs and writes a well-formed report (issue 7).

Runs ``python -m bench --quick`` into a temporary folder (it trains a tiny model of
its own, starts both servers on free loopback ports and sends a few requests), then
checks the report's sections, tables and plots. No timing assertions: the numbers of a
quick run mean nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ["## Targets", "## Accuracy", "## Side by side", "## Speed", "## Tuning", "## Method"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tables(markdown: str) -> list[list[list[str]]]:
    """Every Markdown table as rows of cells (header first, separator row dropped)."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            assert line.endswith("|"), line
            current.append([cell.strip() for cell in line.strip("|").split("|")])
        elif current:
            found.append(current)
            current = []
    for table in found:
        assert len(table) >= 2, table
        assert all(re.fullmatch(r"-{3,}", cell) for cell in table[1]), table[1]
        widths = {len(row) for row in table}
        assert widths == {len(table[0])}, table
        del table[1]
    return found


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench-report")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    return out


def test_report_has_every_section(quick_report: Path) -> None:
    text = (quick_report / "latest.md").read_text(encoding="utf-8")
    assert text.startswith("# LWOO-assistent benchmark")
    assert "QUICK mode" in text
    positions = [text.index(heading) for heading in SECTIONS]
    assert positions == sorted(positions)
    for part in ("### Test set", "### Cross-validation", "### Per label"):
        assert part in text


def test_tables_are_well_formed(quick_report: Path) -> None:
    text = (quick_report / "latest.md").read_text(encoding="utf-8")
    found = tables(text)
    headers = [t[0] for t in found]
    targets = found[headers.index(["target", "goal", "measured", "result"])]
    assert len(targets) == 1 + 19  # 16, and the other languages' three gates (issue 16)
    assert {row[3] for row in targets[1:]} <= {"**met**", "**NOT met**", "not measured"}
    systems = [t for t in found if t[0][:3] == ["system", "n", "intent acc."]]
    assert len(systems) == 2  # test set and cross-validation
    for table in systems:
        assert [row[0] for row in table[1:]] == [
            "our pipeline (config.yml)", "rasa init default", "TF-IDF + logistic regression"]
        for row in table[1:]:
            assert re.fullmatch(r"\d+(\.\d)? %( ± \d+\.\d)?", row[2]), row
    speed = found[headers.index(["scenario", "concurrent", "turns", "errors", "p50", "p95",
                                 "p99", "msg/s"])]
    scenarios = {(row[0], row[1]) for row in speed[1:]}
    assert {("faq", "1"), ("status", "1"), ("code_check", "1")} <= scenarios
    assert all(int(row[2]) > 0 for row in speed[1:] if row[0] == "faq")


def test_plots_exist_and_are_pngs(quick_report: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image

    text = (quick_report / "latest.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert {"confusion_matrix.png", "accuracy.png", "latency.png"} <= set(images)
    for name in images:
        path = quick_report / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE, name
        pixels = matplotlib.image.imread(str(path))
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100, name


def test_results_json_parses(quick_report: Path) -> None:
    results = json.loads((quick_report / "results.json").read_text(encoding="utf-8"))
    assert results["meta"]["quick"] is True
    assert set(results["systems"]) == {"ours", "default", "tfidf"}
    assert len(results["targets"]) == 19
    assert results["training"]["full_train_s"] > 0


def test_report_shows_accuracy_per_language(quick_report: Path) -> None:
    """Issue 16: the held-out results of every language side by side with Dutch."""
    text = (quick_report / "latest.md").read_text(encoding="utf-8")
    assert "### Per language" in text
    section = text[text.index("### Per language"):]
    [first, *_] = [t for t in tables(section) if t[0][0] == "language"]
    assert [row[0] for row in first[1:]] == ["nl", "ar", "en", "pl", "tr", "uk"]
