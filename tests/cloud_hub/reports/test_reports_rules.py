"""rules/hub/reports.yaml: validated with errors naming file and field, re-read when it changes, a bad edit refused
while the previous mapping stays in force. The project's own file validates."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cloud_hub.reports.rules import ReportRulesFile, ReportRulesUnavailable

REPO = Path(__file__).resolve().parents[3]


def _write(path: Path, text: str, bump: int) -> None:
    path.write_text(text, encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))  # a visibly newer file


def test_the_projects_file_validates() -> None:
    rules = ReportRulesFile(REPO / "rules" / "hub" / "reports.yaml").current()
    assert rules.categories["kitchen_rodent"].kind == "kitchen_violation"
    assert rules.categories["kitchen_rodent"].subtype == "rodent"
    assert rules.categories["waterlogging"].severity == "orange"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("categories:\n  a: {kind: Illegal-Parking}\n", "categories.a.kind"),
        ("categories:\n  a: {kind: camera_fault}\n", "device-maintenance kind"),
        ("categories:\n  a: {kind: waterlogging, colour: red}\n", "categories.a.colour"),
        ("categories:\n  a: {kind: waterlogging, severity: purple}\n", "categories.a.severity"),
        ("categories: [a, b]\n", "categories"),
        ("- just a list\n", "top level must be a mapping"),
    ],
)
def test_a_bad_file_names_file_and_field(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "reports.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ReportRulesUnavailable) as refused:
        ReportRulesFile(path).current()
    assert str(path) in str(refused.value) and words in str(refused.value)


def test_an_edit_is_followed_and_a_bad_edit_keeps_the_rules_in_force(tmp_path: Path) -> None:
    path = tmp_path / "reports.yaml"
    rules = ReportRulesFile(path)
    assert rules.current().categories == {}  # missing file: no category accepted
    _write(path, "categories:\n  noise: {kind: noise_nuisance}\n", 1)
    assert list(rules.current().categories) == ["noise"]
    _write(path, "categories:\n  noise: {kind: NOISE}\n", 2)
    assert list(rules.current().categories) == ["noise"] and "categories.noise.kind" in (rules.error or "")
    _write(path, "categories:\n  noise: {kind: noise_nuisance}\n  litter: {kind: litter}\n", 3)
    assert sorted(rules.current().categories) == ["litter", "noise"] and rules.error is None
