"""The JSON Schema of policy files, generated from the operator and action registries."""

from __future__ import annotations

from typing import Any

from auditor.evaluate.operators import OPERATORS
from auditor.evaluate.paths import PATH_PATTERN
from auditor.models import Severity
from auditor.policy.remediations import REMEDIATIONS
from auditor.resources import resource_keys

COMPOSITES = ("all", "any")
ASSERTION_KEYS = ("path", "resource", "when", "message")
TEMPLATE_STRING: dict[str, Any] = {"type": "string", "pattern": "^\\s*\\{\\{.*\\}\\}\\s*$"}


def assertion_schema() -> dict[str, Any]:
    """Schema of one assertion: common keys plus exactly one operator or composite."""
    props: dict[str, Any] = {
        "path": {"type": "string", "pattern": PATH_PATTERN},
        "resource": {"enum": list(resource_keys())},
        "when": {"$ref": "#/$defs/assertion"},
        "message": {"type": "string"},
    }
    for name, op in sorted(OPERATORS.items()):
        arg: dict[str, Any] = dict(op.arg_schema)
        if arg and arg.get("type") != "string":
            # Any argument may be one template that renders to the right type at evaluation.
            arg = {"anyOf": [arg, TEMPLATE_STRING]}
        props[name] = {**arg, "description": op.doc}
    for name in COMPOSITES:
        props[name] = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/assertion"},
                       "description": f"{name} items of the list at `path` satisfy the nested assertions"}
    return {"type": "object", "additionalProperties": False, "properties": props}


def action_ids() -> list[str]:
    """The remediation actions a control may name (auditor/policy/remediations.py), sorted."""
    return sorted(REMEDIATIONS)


def policy_schema() -> dict[str, Any]:
    """Schema of a whole policy file (from the registries as they are now)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "auditor policy file",
        "type": "object",
        "additionalProperties": False,
        "required": ["controls"],
        "properties": {
            "version": {"const": 1},
            "controls": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/control"}},
        },
        "$defs": {
            "assertion": assertion_schema(),
            "control": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "title", "severity", "resource", "assert"],
                "properties": {
                    "id": {"type": "string", "pattern": "^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$"},
                    "title": {"type": "string", "minLength": 1},
                    "description": {"type": "string"},
                    "severity": {"enum": [s.value for s in Severity]},
                    "resource": {"enum": list(resource_keys())},
                    "when": {"type": "string", "minLength": 1},
                    "skip_reason": {"type": "string"},
                    "assert": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/assertion"}},
                    "remediation": {"enum": [*action_ids(), None],
                                    "description": "the action that fixes a FAIL (null: fixed by hand)"},
                    "references": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    }
