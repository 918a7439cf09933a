"""pyproject.toml declares what the code imports, where it imports it, and nothing it does not;
constraints.txt pins every declared dependency within its bounds.

Unit tests: they read the sources with `ast` and the installed distributions' metadata.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

from tests.paths import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# Imported directly but pinned by the declared package that ships it in lock-step (every boto3
# release requires one botocore minor version): declaring it too would only add a second bound.
PROVIDED_BY = {"botocore": "boto3"}


def _name(requirement: str) -> str:
    """A requirement's distribution name, normalised (PEP 503): `moto[server]>=5` -> `moto`."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _declared(*extras: str) -> set[str]:
    names = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    for extra in extras:
        names |= {_name(r) for r in PYPROJECT["project"]["optional-dependencies"][extra]}
    return names


def _imported(files: list[Path]) -> set[str]:
    """Third-party distributions the files import (lazily inside functions too)."""
    dists = packages_distributions()
    found: set[str] = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top == "auditor" or top in sys.stdlib_module_names or top == "__future__":
                    continue
                assert top in dists, f"{file.relative_to(ROOT)} imports {top}, which no installed distribution provides"
                found |= {_name(d) for d in dists[top]}
    return found


def _sources(sandbox: bool) -> list[Path]:
    files = sorted((ROOT / "auditor").rglob("*.py"))
    return [f for f in files if ((ROOT / "auditor" / "sandbox") in f.parents) == sandbox]


def test_product_code_imports_only_core_dependencies() -> None:
    # Bug: the Okta collector imports aiohttp, which was declared only in the `sandbox` extra.
    imported = _imported(_sources(sandbox=False))
    missing = {d for d in imported - _declared() if PROVIDED_BY.get(d) not in _declared()}
    assert not missing, f"imported by auditor/ but not in [project] dependencies: {sorted(missing)}"


def test_sandbox_imports_are_declared_in_the_sandbox_extra() -> None:
    imported = _imported(_sources(sandbox=True))
    missing = {d for d in imported - _declared("sandbox") if PROVIDED_BY.get(d) not in _declared()}
    assert not missing, f"imported by auditor/sandbox/ but not declared: {sorted(missing)}"


def test_constraints_pin_every_declared_dependency_within_its_bounds() -> None:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, pinned = line.partition("==")
            pins[_name(name)] = pinned
    texts = list(PYPROJECT["project"]["dependencies"])
    for extra in ("sandbox", "dev"):
        texts += PYPROJECT["project"]["optional-dependencies"][extra]
    for text in texts:
        req = Requirement(text)
        assert _name(req.name) in pins, f"{req.name} is not in constraints.txt: run `make constraints`"
        assert req.specifier.contains(pins[_name(req.name)]), \
            f"constraints.txt pins {req.name}=={pins[_name(req.name)]}, outside {text}: run `make constraints`"


def test_every_declared_dependency_is_imported() -> None:
    # A dependency declared but imported nowhere is dead weight in every install.
    imported = _imported(_sources(sandbox=False)) | _imported(_sources(sandbox=True))
    unused = _declared("sandbox") - imported
    assert not unused, f"declared but imported nowhere in auditor/: {sorted(unused)}"


def test_the_okta_collector_imports_the_sdk_without_its_models_and_the_package_still_works() -> None:
    """The collector skips the okta SDK's package __init__ (its pydantic models); `import okta`
    afterwards still gives the whole package."""
    code = (
        "import sys\n"
        "from auditor.collectors.okta import _okta_package_without_models\n"
        "with _okta_package_without_models():\n"
        "    from okta.request_executor import RequestExecutor\n"
        "    from okta.config.config_validator import ConfigValidator\n"
        "assert 'okta.models' not in sys.modules and 'pydantic' not in sys.modules, 'models imported'\n"
        "import importlib.metadata, okta\n"
        "assert okta.__version__ == importlib.metadata.version('okta'), okta.__version__\n"
        "from okta.client import Client\n"
        "from okta import ApiClient, UserApi\n"
        "assert 'okta.models' in sys.modules\n"
        "from okta.request_executor import RequestExecutor as Again\n"
        "assert Again is RequestExecutor\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
