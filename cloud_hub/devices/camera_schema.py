"""Validation of a desired configuration's cameras against the shared camera-rules JSON Schema.

The schema is generated from the edge agent's models (`python -m edge_agent.remote.schema --write`) into
`rules/schema/camera-rules.schema.json`; the hub reads that file and never imports the edge agent. It checks the
structure (fields, types, ranges, every analytic type); what a schema cannot say (zone references, polygon shapes,
the loaded model's class names) the device checks and reports as `config_error` in its health.

Each problem names its place as a JSON path (`$.cameras[0].zones[1].polygon[2][0]`) and as a `loc` list like
FastAPI's own 422 answers (`["body", "cameras", 0, "zones", 1, "polygon", 2, 0]`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

import cloud_hub

SCHEMA_FILE = Path("schema") / "camera-rules.schema.json"
_BRANCHING = ("oneOf", "anyOf")


class SchemaMissing(RuntimeError):
    """The schema file is not where the settings say; the message names the places looked at."""


def schema_path(rules_dir: Path) -> Path:
    """`<rules_dir>/schema/camera-rules.schema.json`; a relative rules_dir is looked up in the working directory
    first, then in the checkout the hub runs from (as the hub rules are)."""
    candidates = [rules_dir / SCHEMA_FILE]
    if not rules_dir.is_absolute():
        candidates.append(Path(cloud_hub.__file__).resolve().parents[1] / rules_dir / SCHEMA_FILE)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SchemaMissing(
        f"camera rules schema not found (looked in {', '.join(str(c) for c in candidates)}); "
        "set CITYOPS_RULES_DIR to the folder that holds schema/camera-rules.schema.json"
    )


@functools.cache
def _load(path: Path, mtime_ns: int) -> tuple[dict[str, Any], Draft202012Validator]:
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return schema, Draft202012Validator(schema)


def load_camera_schema(rules_dir: Path) -> tuple[dict[str, Any], Draft202012Validator]:
    """The schema and its validator (cached; a changed file is read again)."""
    path = schema_path(rules_dir)
    return _load(path, path.stat().st_mtime_ns)


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    loc: tuple[str | int, ...]  # from the request body: ("cameras", 0, "zones", ...)
    msg: str
    keyword: str  # the JSON Schema keyword that failed: required, type, minimum, additionalProperties, ...

    @property
    def path(self) -> str:
        text = "$"
        for part in self.loc:
            text += f"[{part}]" if isinstance(part, int) else f".{part}"
        return text

    def as_error(self) -> dict[str, Any]:
        """The item of a 422 answer's list: loc, msg and type as FastAPI has them, plus the JSON path."""
        return {"loc": ["body", *self.loc], "msg": self.msg, "type": f"schema.{self.keyword}", "path": self.path}


def _leaves(error: ValidationError) -> Iterable[ValidationError]:
    """The errors worth showing: inside a oneOf/anyOf, those of the one branch the value was meant for (the analytic
    its `type` names, the object rather than null), else the branching error itself."""
    if error.validator not in _BRANCHING or not error.context:
        yield error
        return
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    # A branch is "another shape" when the value fails its type, or its `type` discriminator.
    meant = [
        errors
        for errors in branches.values()
        if not any(
            (e.validator == "type" and not e.relative_path)
            or (list(e.relative_path) == ["type"] and e.validator == "const")
            for e in errors
        )
    ]
    if len(meant) != 1:
        yield error
        return
    for sub in meant[0]:
        yield from _leaves(sub)


def _message(error: ValidationError) -> str:
    discriminator = error.schema.get("discriminator") if isinstance(error.schema, dict) else None
    if error.validator == "oneOf" and isinstance(discriminator, dict) and discriminator.get("mapping"):
        field = discriminator.get("propertyName", "type")
        return f"`{field}` must be one of {', '.join(sorted(discriminator['mapping']))}"
    return error.message


def validate_cameras(validator: Draft202012Validator, cameras: Sequence[Any]) -> list[SchemaProblem]:
    """Every schema problem of every camera, in document order; empty when all are valid."""
    problems = []
    for n, camera in enumerate(cameras):
        for error in validator.iter_errors(camera):
            for leaf in _leaves(error):
                loc = ("cameras", n, *leaf.absolute_path)
                if leaf.validator == "required":
                    missing = [
                        p for p in leaf.validator_value if isinstance(leaf.instance, dict) and p not in leaf.instance
                    ]
                    loc += tuple(p for p in missing if repr(p) in leaf.message)[:1]
                problems.append(SchemaProblem(loc, _message(leaf), str(leaf.validator)))
    return sorted(problems, key=lambda p: [str(x).zfill(8) if isinstance(x, int) else x for x in p.loc])
