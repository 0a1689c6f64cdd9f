"""Hub rule files: shipped files load; a bad file is refused naming file and field; running rules stay."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud_hub.rules.loader import RulesError, RulesStore, hub_rules_dir, load_hub_rules

SHIPPED_DIR = Path(__file__).resolve().parents[3] / "rules" / "hub"


def test_shipped_rules_load() -> None:
    rules = load_hub_rules(SHIPPED_DIR)
    assert rules.sla.minutes("illegal_parking", "red") == 15
    assert rules.sla.calendar("red").always
    assert rules.severity.rules


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "text", "field", "message"),
    [
        ("severity.yaml", "rules:\n  - kind: x\n    severty: red\n", "rules.0.severty", "Extra inputs"),
        ("severity.yaml", "rules:\n  - kind: x\n    severity: purple\n", "rules.0.severity", "red"),
        ("severity.yaml", "rules:\n  - gte: 3\n    severity: red\n", "rules.0", "set `measurement`"),
        ("sla.yaml", "default: {red: 0, orange: 1, yellow: 1, blue: 1}\n", "default.red", "greater than 0"),
        ("sla.yaml", "calendars:\n  office: {timezone: Mars/Olympus}\n", "calendars.office.timezone", "unknown time"),
        ("sla.yaml", "calendars:\n  office: {hours: ['18:00', '08:00']}\n", "calendars.office.hours", "start before"),
        ("sla.yaml", "calendars:\n  office: {weekdays: [mon, funday]}\n", "calendars.office.weekdays", ""),
        (
            "sla.yaml",
            "severity_calendar: {red: nope, orange: office, yellow: office, blue: office}\n",
            "",
            "calendar 'nope'",
        ),
        ("sla.yaml", "- just\n- a list\n", "", "top level must be a mapping"),
        ("sla.yaml", "default: {red: [\n", "", "not valid YAML"),
    ],
)
def test_errors_name_file_and_field(tmp_path: Path, name: str, text: str, field: str, message: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(RulesError) as caught:
        load_hub_rules(tmp_path)
    assert str(caught.value).startswith(f"{path}: ")
    assert field in str(caught.value)
    assert message in str(caught.value)


def test_missing_files_mean_defaults(tmp_path: Path) -> None:
    rules = load_hub_rules(tmp_path)
    assert rules.severity.default == "yellow"
    assert rules.sla.minutes("anything", "blue") == 480


def test_bad_reload_keeps_the_running_rules(tmp_path: Path) -> None:
    write(tmp_path, "sla.yaml", "default: {red: 5, orange: 10, yellow: 20, blue: 40}\n")
    store = RulesStore(tmp_path)
    assert store.current.sla.minutes("x", "red") == 5
    write(tmp_path, "sla.yaml", "default: {red: -1, orange: 10, yellow: 20, blue: 40}\n")
    with pytest.raises(RulesError, match=r"default\.red"):
        store.reload()
    assert store.current.sla.minutes("x", "red") == 5
    write(tmp_path, "sla.yaml", "default: {red: 7, orange: 10, yellow: 20, blue: 40}\n")
    assert store.reload().sla.minutes("x", "red") == 7
    assert store.current.sla.minutes("x", "red") == 7


def test_rules_dir_resolution(tmp_path: Path) -> None:
    assert hub_rules_dir(Path("rules")).resolve() in {SHIPPED_DIR, (Path.cwd() / "rules" / "hub").resolve()}
    with pytest.raises(RulesError, match="CITYOPS_RULES_DIR"):
        hub_rules_dir(tmp_path / "nowhere")
