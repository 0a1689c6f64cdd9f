"""Property tests of the YAML parsers: the edge agent's config (edge_agent.config.load_config/parse_config) and
camera rules (edge_agent.rules.load_rules), and the hub's rule files as the loader (cloud_hub.rules.loader) and the
admin rules API (cloud_hub.admin.rules.validate_rule_text) read them. Arbitrary YAML text, arbitrary JSON-like
documents and shipped files with one value replaced or one key dropped are parsed or refused with the documented
error (ConfigError, RulesError, AdminError 422) carrying a message; nothing else is ever raised."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_hub.admin.errors import AdminError
from cloud_hub.admin.rules import rule_schemas, validate_rule_text
from cloud_hub.rules.loader import RULE_FILES, RulesError, load_rule_file
from edge_agent.config import ConfigError, load_config, parse_config
from edge_agent.rules import load_rules
from tests.fuzz.strategies import json_values, mutations

ROOT = Path(__file__).resolve().parents[2]
EDGE_RULES = sorted((ROOT / "rules" / "edge").glob("*.yaml"))
HUB_RULES = sorted(rule_schemas())
EXAMPLE_CONFIG = ROOT / "edge_agent" / "examples" / "edge.example.yaml"
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# YAML-ish text: the characters that make YAML's structure, so the parser gets past its first line often.
yaml_text = st.one_of(
    st.text(max_size=300),
    st.lists(
        st.sampled_from(["a:", " b:", "- ", "&x ", "*x", "!!str ", "{", "}", "[", "]", ",", "\n", "  ", "'", '"', "1"]),
        max_size=40,
    ).map("".join),
)


def _message(exc: Exception) -> None:
    assert str(exc).strip(), f"{type(exc).__name__} without a message"


def _shipped(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _load_edge_rules(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_rules(path)
        except ConfigError as exc:
            _message(exc)


def _load_hub_file(name: str, text: str) -> None:
    """The loader and the admin API must agree: both accept, or both refuse with a message."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(text, encoding="utf-8")
        loader_ok = api_ok = True
        if name in RULE_FILES:
            try:
                load_rule_file(path, RULE_FILES[name][1])
            except RulesError as exc:
                _message(exc)
                loader_ok = False
        try:
            validate_rule_text(name, text)
        except AdminError as exc:
            assert exc.status == 422
            _message(exc)
            api_ok = False
        if name in RULE_FILES:
            assert loader_ok == api_ok, f"{name}: loader accepts={loader_ok}, admin API accepts={api_ok}"


def _dump(document: Any) -> str:
    return yaml.safe_dump(document, allow_unicode=True)


# -- edge config -------------------------------------------------------------------------------------------------------


@FUZZ
@given(text=yaml_text)
def test_edge_config_arbitrary_text_is_refused_with_a_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "edge.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_config(path)
        except ConfigError as exc:
            _message(exc)


@FUZZ
@given(document=st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_edge_config_arbitrary_mapping_is_refused_with_a_config_error(document: dict[str, Any]) -> None:
    try:
        parse_config(document)
    except ConfigError as exc:
        _message(exc)


@FUZZ
@given(document=mutations(_shipped(EXAMPLE_CONFIG)))
def test_edge_config_example_mutated_is_parsed_or_refused_with_a_config_error(document: dict[str, Any]) -> None:
    try:
        parse_config(document, source=str(EXAMPLE_CONFIG), base_dir=EXAMPLE_CONFIG.parent)
    except ConfigError as exc:
        _message(exc)


def test_edge_config_example_parses() -> None:
    assert load_config(EXAMPLE_CONFIG).cameras


# -- edge camera rules ------------------------------------------------------------------------------------------------


@FUZZ
@given(text=yaml_text)
def test_edge_rules_arbitrary_text_is_refused_with_a_config_error(text: str) -> None:
    _load_edge_rules(text)


@FUZZ
@given(document=json_values)
def test_edge_rules_arbitrary_document_is_refused_with_a_config_error(document: Any) -> None:
    _load_edge_rules(_dump(document))


@FUZZ
@given(data=st.data(), path=st.sampled_from(EDGE_RULES))
def test_edge_rules_shipped_mutated_are_parsed_or_refused(data: st.DataObject, path: Path) -> None:
    _load_edge_rules(_dump(data.draw(mutations(_shipped(path)))))


@pytest.mark.parametrize("path", EDGE_RULES, ids=lambda p: p.name)
def test_edge_rules_shipped_parse(path: Path) -> None:
    assert load_rules(path).analytics


# -- hub rule files ----------------------------------------------------------------------------------------------------


@FUZZ
@given(name=st.sampled_from(HUB_RULES), text=yaml_text)
def test_hub_rules_arbitrary_text_is_refused_with_a_rules_error(name: str, text: str) -> None:
    _load_hub_file(name, text)


@FUZZ
@given(name=st.sampled_from(HUB_RULES), document=json_values)
def test_hub_rules_arbitrary_document_is_refused_with_a_rules_error(name: str, document: Any) -> None:
    _load_hub_file(name, _dump(document))


@FUZZ
@given(data=st.data(), name=st.sampled_from(HUB_RULES))
def test_hub_rules_shipped_mutated_are_parsed_or_refused(data: st.DataObject, name: str) -> None:
    _load_hub_file(name, _dump(data.draw(mutations(_shipped(ROOT / "rules" / "hub" / name)))))


def test_hub_rules_yaml_alias_bomb_is_refused_with_a_message() -> None:
    # PyYAML shares aliased nodes, so this is 10**7 leaves only if something walks it as a tree.
    text = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(6)
    )
    for name in HUB_RULES:
        with pytest.raises(AdminError):
            validate_rule_text(name, text)


@pytest.mark.parametrize("name", HUB_RULES)
def test_hub_rules_shipped_parse(name: str) -> None:
    validate_rule_text(name, (ROOT / "rules" / "hub" / name).read_text(encoding="utf-8"))
