"""Compliance framework mappings: which requirement of a standard each control gives evidence for.

A mapping is a YAML file (policies/frameworks/*.yaml ships PCI DSS v4.0, SOC 2, ISO/IEC 27001:2022
Annex A and NIST SP 800-53 Rev. 5; users add theirs under `frameworks:` in the config) validated
against auditor/schemas/framework.schema.json. Every control id it names must be a loaded control,
so a typo is a load error (file, line, the close match), not a requirement that silently never
passes. Requirements that list no control are kept: reports show them as "not assessed by this
tool", never as passing.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from auditor.errors import InputProblem
from auditor.models import RequirementRef
from auditor.validation import schema_problems
from auditor.yamlio import Located, load_yaml_files, yaml_files

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "framework.schema.json"


@lru_cache(maxsize=1)
def framework_schema() -> dict[str, Any]:
    """The shipped JSON Schema of a framework mapping file."""
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


@dataclass(frozen=True)
class MappedControl:
    """A control listed under a requirement, with why it gives evidence for it."""

    control_id: str
    rationale: str


@dataclass(frozen=True)
class Requirement:
    """One requirement of a framework, numbered as the standard numbers it."""

    id: str
    title: str | None  # None: the title could not be verified (the file says so)
    controls: tuple[MappedControl, ...]
    note: str = ""

    @property
    def assessed(self) -> bool:
        """True when at least one control of this tool gives evidence for it."""
        return bool(self.controls)


@dataclass(frozen=True)
class Framework:
    """One framework mapping file."""

    id: str
    name: str
    version: str
    requirements: tuple[Requirement, ...]
    source: str  # the file it was loaded from
    asff_prefix: str = ""
    builtin: bool = False

    @property
    def label(self) -> str:
        """How reports name it: name and version."""
        return f"{self.name} {self.version}"

    def related_requirement(self, requirement_id: str) -> str:
        """The requirement as a Security Hub `Compliance.RelatedRequirements` string."""
        return f"{self.asff_prefix or self.label} {requirement_id}"

    def coverage(self) -> tuple[int, int]:
        """(requirements some control covers, all requirements of the mapping)."""
        return sum(1 for r in self.requirements if r.assessed), len(self.requirements)


@dataclass(frozen=True)
class FrameworkSet:
    """Every loaded framework, and each file's SHA-256 (for the evidence)."""

    frameworks: tuple[Framework, ...] = ()
    files: dict[str, str] | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        """The framework ids, in load order."""
        return tuple(f.id for f in self.frameworks)

    def get(self, framework_id: str) -> Framework:
        """The framework with that id; KeyError if none."""
        for f in self.frameworks:
            if f.id == framework_id:
                return f
        raise KeyError(framework_id)

    def requirements_for(self, control_id: str) -> tuple[RequirementRef, ...]:
        """Every requirement that names the control, in framework and file order."""
        return tuple(RequirementRef(f.id, r.id) for f in self.frameworks for r in f.requirements
                     if any(c.control_id == control_id for c in r.controls))

    def unknown(self, names: list[str] | tuple[str, ...]) -> list[str]:
        """The names that are not a loaded framework id."""
        return [n for n in names if n not in self.ids]


def load_frameworks(paths: list[Path], control_ids: set[str] | frozenset[str], *,
                    builtin_dir: Path | None = None,
                    check_builtin: bool = False) -> tuple[FrameworkSet, list[InputProblem]]:
    """Load `builtin_dir`'s mappings (when given) and then `paths` (files or directories).
    The shipped mappings are checked against the schema by the test-suite (`check_builtin`), not
    on every run.

    Returns the set and every problem found (the caller raises): a file that breaks the schema,
    a control id that is not loaded, a framework id defined twice, a requirement listed twice.
    """
    problems: list[InputProblem] = []
    frameworks: list[Framework] = []
    digests: dict[str, str] = {}
    seen: dict[str, str] = {}
    shipped = yaml_files([builtin_dir]) if builtin_dir is not None else []
    for path, doc in load_yaml_files([*shipped, *yaml_files(paths)], "frameworks", problems):
        framework, file_problems = _load_doc(doc, control_ids, builtin=path in shipped,
                                             checked=check_builtin or path not in shipped)
        problems += file_problems
        if framework is None:
            continue
        digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        if framework.id in seen:
            line, col = doc.line_of(("framework", "id"))
            problems.append(InputProblem(doc.file, line, col,
                                         f"framework id {framework.id} is already defined in {seen[framework.id]}",
                                         "framework ids name the framework in reports and on the command line: "
                                         "pick a new id"))
            continue
        seen[framework.id] = doc.file
        frameworks.append(framework)
    return FrameworkSet(tuple(frameworks), digests), problems


def _load_doc(doc: Located, control_ids: set[str] | frozenset[str], *,
              builtin: bool, checked: bool = True) -> tuple[Framework | None, list[InputProblem]]:
    if not isinstance(doc.data, dict):
        return None, [InputProblem(doc.file, 1, 1, "a framework file must be a mapping with `framework:` and "
                                   "`requirements:`", "see policies/frameworks/pci-dss-4.0.yaml for the shape")]
    problems = schema_problems(doc, framework_schema()) if checked else []
    if problems:
        return None, problems
    head = doc.data["framework"]
    requirements: list[Requirement] = []
    ids: dict[str, int] = {}
    for i, raw in enumerate(doc.data["requirements"]):
        if raw["id"] in ids:
            line, col = doc.line_of(("requirements", i, "id"))
            problems.append(InputProblem(doc.file, line, col, f"requirement {raw['id']} is listed twice",
                                         "list each requirement once, with all its controls"))
            continue
        ids[raw["id"]] = i
        controls: list[MappedControl] = []
        for j, ctl in enumerate(raw["controls"]):
            cid = ctl["id"]
            line, col = doc.line_of(("requirements", i, "controls", j, "id"))
            if cid not in control_ids:
                close = difflib.get_close_matches(cid, sorted(control_ids), n=1)
                problems.append(InputProblem(
                    doc.file, line, col, f"requirement {raw['id']}: unknown control id {cid}",
                    (f"did you mean {close[0]}? " if close else "") + "control ids come from the loaded policies "
                    "(`auditor validate` lists them)"))
                continue
            if any(c.control_id == cid for c in controls):
                problems.append(InputProblem(doc.file, line, col,
                                             f"requirement {raw['id']}: control {cid} is listed twice"))
                continue
            controls.append(MappedControl(cid, " ".join(ctl["rationale"].split())))
        requirements.append(Requirement(id=raw["id"], title=raw.get("title"), controls=tuple(controls),
                                        note=raw.get("note", "")))
    framework = Framework(id=head["id"], name=head["name"], version=str(head["version"]),
                          requirements=tuple(requirements), source=doc.file,
                          asff_prefix=head.get("asff_prefix", ""), builtin=builtin)
    return framework, problems


def check_selection(frameworks: FrameworkSet, names: list[str] | tuple[str, ...], *, where: str) -> None:
    """Raise UnusableInputError (exit 3) naming each unknown framework id and the known ones."""
    from auditor.errors import UnusableInputError

    unknown = frameworks.unknown(names)
    if unknown:
        known = ", ".join(frameworks.ids) or "(none)"
        raise UnusableInputError([
            InputProblem(where, None, None, f"unknown framework {name!r}",
                         f"known frameworks: {known} (`auditor frameworks` lists them; add your own under "
                         "`frameworks:` in the config)") for name in unknown])
