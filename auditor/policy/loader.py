"""Loading policy files: YAML with line numbers, schema validation, template checks.

Everything is checked before the first API call; every error names the file, line and the
valid choices.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import importlib.resources
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from auditor.errors import InputProblem, PolicyError
from auditor.evaluate.operators import OPERATORS
from auditor.models import Severity
from auditor.policy.frameworks import FrameworkSet, load_frameworks
from auditor.policy.model import Assertion, Control
from auditor.policy.remediations import REMEDIATIONS
from auditor.policy.schema import ASSERTION_KEYS, COMPOSITES, policy_schema
from auditor.policy.templates import (
    ALLOWED_ROOTS,
    RESOURCE_ROOTS,
    dotted,
    environment,
    is_template,
    reads,
    referenced_names,
    referenced_resources,
)
from auditor.resources import read_problem
from auditor.validation import schema_problems
from auditor.yamlio import Located, format_path, load_yaml_files, yaml_files


def _builtin_policy_dir() -> Path:
    """The built-in policy pack: the package `auditor.policies` (pyproject.toml maps the checkout's
    top-level policies/ folder to it), read through importlib.resources.

    Run from a source checkout (an editable install, or the checkout on PYTHONPATH, where
    `auditor.policies` is not importable or an editable install's mapping names another tree), the
    checkout's own policies/ folder is the pack.
    """
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "policies").is_dir():
        return checkout / "policies"
    pack = importlib.resources.files("auditor.policies")
    if not isinstance(pack, Path):  # e.g. imported from a zip: the YAML files have no path to name
        raise RuntimeError(f"auditor must be installed unpacked; the built-in policies are at {pack}")
    return pack


BUILTIN_POLICY_DIR = _builtin_policy_dir()
# The shipped framework mappings (PCI DSS, SOC 2, ISO/IEC 27001, NIST SP 800-53): a sub-folder of
# the pack, so that a config listing policies/ does not read them as policy files.
BUILTIN_FRAMEWORK_DIR = BUILTIN_POLICY_DIR / "frameworks"


@dataclass(frozen=True)
class PolicySet:
    """The controls of every loaded policy file, and each file's SHA-256 (for the evidence);
    `frameworks` are the compliance mappings the controls' requirements come from."""

    controls: tuple[Control, ...]
    files: dict[str, str]
    frameworks: FrameworkSet = dataclasses.field(default_factory=FrameworkSet)

    def control(self, control_id: str) -> Control:
        """The control with that id; KeyError if none."""
        for c in self.controls:
            if c.id == control_id:
                return c
        raise KeyError(control_id)


def load_policies(extra: list[Path] | tuple[Path, ...] = (), *, include_builtin: bool = True,
                  frameworks: list[Path] | tuple[Path, ...] = (), check_builtin: bool = False) -> PolicySet:
    """Load the built-in pack plus `extra` files/directories, then the framework mappings (the
    shipped ones with the built-in pack, plus `frameworks`), and give each control the
    requirements that name it. Raise PolicyError listing every problem.

    Only input from outside is checked (schema, templates, regexes, remediation actions): the
    built-in pack and frameworks ship with the code and are checked by the test-suite, with
    `check_builtin=True` (checking them on every run was half of `auditor validate`'s CPU).
    """
    builtin_dir = BUILTIN_POLICY_DIR.resolve()
    paths = ([BUILTIN_POLICY_DIR] if include_builtin else []) + list(extra)
    problems: list[InputProblem] = []
    controls: list[Control] = []
    digests: dict[str, str] = {}
    seen: dict[str, str] = {}
    for path, doc in load_yaml_files(yaml_files(paths), "policies", problems):
        digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        trusted = include_builtin and not check_builtin and path.resolve().parent == builtin_dir
        file_controls, file_problems = _load_doc(doc, checked=not trusted)
        problems += file_problems
        for c in file_controls:
            if c.id in seen:
                problems.append(InputProblem(doc.file, _line(c.source), None,
                                             f"control id {c.id} is already defined at {seen[c.id]}",
                                             "control ids identify findings across runs: pick a new id"))
                continue
            seen[c.id] = c.source
            controls.append(c)
    if problems:
        raise PolicyError(problems)
    mapped, problems = load_frameworks(list(frameworks), {c.id for c in controls},
                                       builtin_dir=BUILTIN_FRAMEWORK_DIR if include_builtin else None,
                                       check_builtin=check_builtin)
    if problems:
        raise PolicyError(problems)
    controls = [dataclasses.replace(c, requirements=mapped.requirements_for(c.id)) for c in controls]
    return PolicySet(tuple(controls), digests, mapped)


def _line(source: str) -> int | None:
    tail = source.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _load_doc(doc: Located, *, checked: bool = True) -> tuple[list[Control], list[InputProblem]]:
    """The file's controls and its problems; `checked=False` (a shipped file) builds the controls
    without the checks, which the test-suite runs on it instead."""
    if not isinstance(doc.data, dict):
        return [], [InputProblem(doc.file, 1, 1, "a policy file must be a mapping with a `controls:` list",
                                 "see policies/okta.yaml for the shape")]
    problems = schema_problems(doc, policy_schema()) if checked else []
    if problems:
        return [], problems
    controls = []
    for i, raw in enumerate(doc.data["controls"]):
        path = ("controls", i)
        control_problems: list[InputProblem] = []
        assertions = tuple(_assertion(doc, a, (*path, "assert", j), control_problems, checked=checked)
                           for j, a in enumerate(raw["assert"]))
        needs = {raw["resource"]}
        for a in assertions:
            needs |= _assertion_needs(a)
        when = raw.get("when")
        if when is not None:
            if checked:
                _check_template(doc, "{{ " + when + " }}", (*path, "when"), control_problems)
            if not control_problems:
                needs |= referenced_resources("{{ " + when + " }}")
        line, _ = doc.line_of(path)
        control = Control(
            id=raw["id"], title=raw["title"], severity=Severity(raw["severity"]), resource=raw["resource"],
            assertions=assertions, description=raw.get("description", ""), when=when,
            skip_reason=raw.get("skip_reason", "not applicable"), remediation=raw.get("remediation"),
            references=tuple(raw.get("references", [])), needs=frozenset(needs),
            source=f"{doc.file}:{line}",
        )
        # Unchecked (a shipped pack, checked by the test-suite): the flag the action needs, no problems kept.
        control = _check_remediation(doc, control, (*path, "remediation"), control_problems if checked else [])
        problems += control_problems
        controls.append(control)
    return controls, problems


def _check_remediation(doc: Located, control: Control, path: tuple[str | int, ...],
                       problems: list[InputProblem]) -> Control:
    """The control's `remediation:` action can serve it (the schema already checked the id); the
    control, with the flag the action needs."""
    action = REMEDIATIONS.get(control.remediation) if control.remediation else None
    if action is None:
        return control
    control = dataclasses.replace(control, remediation_opt_in=action.opt_in)
    why = action.serves.problem(control)
    if why is not None:
        line, col = doc.line_of(path)
        serving = sorted(a.name for a in REMEDIATIONS.values() if a.serves.problem(control) is None)
        hint = ("actions that can serve it: " + ", ".join(serving)) if serving else "remove it (fix by hand)"
        problems.append(InputProblem(doc.file, line, col, f"{format_path(path)}: {control.remediation} cannot "
                                     f"fix control {control.id}: {why}", hint))
    return control


def _assertion(doc: Located, raw: dict[str, Any], path: tuple[str | int, ...],
               problems: list[InputProblem], *, checked: bool = True) -> Assertion:
    ops = [k for k in raw if k not in ASSERTION_KEYS]
    line, col = doc.line_of(path)
    if len(ops) != 1:
        valid = ", ".join(sorted([*OPERATORS, *COMPOSITES]))
        what = "no operator" if not ops else f"several operators ({', '.join(ops)})"
        problems.append(InputProblem(doc.file, line, col, f"{format_path(path)}: {what}",
                                     f"an assertion has exactly one of: {valid}"))
        return Assertion(op="exists", arg=True, line=line)
    op = ops[0]
    arg = raw[op]
    children: tuple[Assertion, ...] = ()
    if op in COMPOSITES:
        children = tuple(_assertion(doc, c, (*path, op, k), problems, checked=checked) for k, c in enumerate(arg))
        arg = None
    elif checked:
        for sub_path, text in _strings(arg, (*path, op)):
            if is_template(text):
                _check_template(doc, text, sub_path, problems)
        if op in ("matches", "not_matches") and not is_template(arg):
            try:
                re.compile(arg)
            except re.error as exc:
                l2, c2 = doc.line_of((*path, op))
                problems.append(InputProblem(doc.file, l2, c2, f"{format_path((*path, op))}: bad regex: {exc}"))
    if checked and is_template(raw.get("message")):
        _check_template(doc, raw["message"], (*path, "message"), problems)
    when = _assertion(doc, raw["when"], (*path, "when"), problems, checked=checked) if "when" in raw else None
    return Assertion(op=op, arg=arg, path=raw.get("path", ""), resource=raw.get("resource"), when=when,
                     message=raw.get("message"), children=children, line=line)


def _strings(value: Any, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, list):
        return [s for i, v in enumerate(value) for s in _strings(v, (*path, i))]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, (*path, k))]
    return []


def _check_template(doc: Located, source: str, path: tuple[str | int, ...],
                    problems: list[InputProblem]) -> None:
    line, col = doc.line_of(path)
    try:
        names = referenced_names(source)
        environment().from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        problems.append(InputProblem(doc.file, line, col, f"{format_path(path)}: template syntax error: {exc.message}"))
        return
    for name in sorted(names - set(ALLOWED_ROOTS)):
        close = difflib.get_close_matches(name, ALLOWED_ROOTS, n=1)
        hint = (f"did you mean {close[0]!r}? " if close else "") + "names available: " + ", ".join(ALLOWED_ROOTS)
        problems.append(InputProblem(doc.file, line, col, f"{format_path(path)}: unknown template name {name!r}", hint))
    # A read the resource's shape rules out can never have a value (auditor/resources.py); one
    # problem per cause, named by the longest read that has it.
    seen: set[str] = set()
    for root, fields in reads(source):
        found = read_problem(root, fields) if root in RESOURCE_ROOTS else None
        if found is not None and found[0] not in seen:
            seen.add(found[0])
            problems.append(InputProblem(doc.file, line, col, f"{format_path(path)}: {dotted(root, fields)} can "
                                         f"never have a value: {found[0]}", found[1]))


def _assertion_needs(a: Assertion) -> set[str]:
    needs: set[str] = set()
    if a.resource:
        needs.add(a.resource)
    for _, text in _strings(a.arg, ()):
        if is_template(text):
            needs |= referenced_resources(text)
    for child in (*a.children, *([a.when] if a.when else [])):
        needs |= _assertion_needs(child)
    return needs
