"""Jinja2 templates in policy values, rendered in a sandbox with StrictUndefined.

A value that is one `{{ expression }}` renders to the expression's native value (a list stays a
list, an int an int); anything else renders to a string. Unlike Jinja's NativeEnvironment we
never `literal_eval` the output, so an account id "012345678901" stays a string.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Undefined, nodes
from jinja2.nativetypes import NativeCodeGenerator, NativeTemplate
from jinja2.sandbox import ImmutableSandboxedEnvironment

# The names a template may use. Resource roots come from the snapshot; the rest from the config.
RESOURCE_ROOTS = ("okta", "cognito", "organizations", "iam", "connect")
CONTEXT_ROOTS = ("config", "aws", "settings", "federation")
ALLOWED_ROOTS = RESOURCE_ROOTS + CONTEXT_ROOTS


def _concat(values: Iterable[Any]) -> Any:
    items = list(values)
    if len(items) == 1:
        return items[0]
    return "".join(str(v) for v in items)


class PolicyCodeGenerator(NativeCodeGenerator):
    """Keeps a constant single expression native (`{{ 30 }}` is 30), which NativeEnvironment
    only got back by `literal_eval`ing the folded text."""

    def _output_const_repr(self, group: Iterable[Any]) -> str:
        items = list(group)
        if len(items) == 1 and not isinstance(items[0], str):
            return repr(items[0])
        return repr("".join(str(v) for v in items))


class PolicyTemplate(NativeTemplate):
    """A native template that joins its output with `PolicyEnvironment.concat`.

    NativeTemplate.render calls `environment_class.concat`, and its environment_class is
    NativeEnvironment, whose concat `literal_eval`s the output: without this class a live value
    "123456789012" (an account id) came back as an int and "[1, 2]" as a list.
    """


class PolicyEnvironment(ImmutableSandboxedEnvironment):
    """Sandboxed, StrictUndefined, native-single-expression Jinja environment."""

    code_generator_class = PolicyCodeGenerator
    concat = staticmethod(_concat)
    template_class = PolicyTemplate

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


PolicyTemplate.environment_class = PolicyEnvironment  # type: ignore[assignment]


@lru_cache(maxsize=1)
def environment() -> PolicyEnvironment:
    """The one policy environment (stateless, so sharing it is safe)."""
    return PolicyEnvironment()


def is_template(value: Any) -> bool:
    """True when a string holds Jinja syntax."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def referenced_names(source: str) -> set[str]:
    """Top-level names a template uses (raises jinja2.TemplateSyntaxError on bad syntax)."""
    from jinja2 import meta

    return set(meta.find_undeclared_variables(environment().parse(source)))


def referenced_resources(source: str) -> set[str]:
    """Resource keys (`cognito.domain`) a template reads, from `root.attr` chains in its AST."""
    tree = environment().parse(source)
    keys: set[str] = set()
    for node in tree.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name in RESOURCE_ROOTS:
            keys.add(f"{node.node.name}.{node.attr}")
    for name in tree.find_all(nodes.Name):
        if name.name == "organizations":
            keys.add("organizations")
    return keys


@lru_cache(maxsize=4096)
def _compiled(source: str) -> Any:
    return environment().from_string(source)


@lru_cache(maxsize=1024)
def compiled_expression(source: str) -> Any:
    """A control's `when` expression, compiled once per process: compiling it again for every
    federation was half of the evaluation's CPU (1.9 of 3.4 s for 200 federations, profiled)."""
    return environment().compile_expression(source, undefined_to_none=False)


def render(value: Any, context: dict[str, Any]) -> Any:
    """Render every template string inside `value` (recursively through lists and dicts)."""
    if isinstance(value, str):
        if not is_template(value):
            return value
        out = _compiled(value).render(context)
        if isinstance(out, Undefined):
            # A lone `{{ x.missing }}` renders natively to the Undefined object itself, which
            # StrictUndefined only objects to when it is *used* (compared, iterated): inside an
            # operator, outside the engine's UndefinedError handling. Fail here, as text does.
            out._fail_with_undefined_error()
        return out
    if isinstance(value, list):
        return [render(v, context) for v in value]
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    return value
