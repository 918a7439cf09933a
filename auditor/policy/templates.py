"""Jinja2 templates in policy values, rendered in a sandbox with StrictUndefined.

A value that is one `{{ expression }}` renders to the expression's native value (a list stays a
list, an int an int); anything else renders to a string. Unlike Jinja's NativeEnvironment we
never `literal_eval` the output, so an account id "012345678901" stays a string.

A value that cannot be computed always raises, and says why: `UndefinedValue` when the template
reads something that has no value (`of_none`: it read a field of null, i.e. of an object that
does not exist; otherwise a name or field that is not there), `TemplateFailure` when the
expression itself fails (`None + 1`). A native single expression would otherwise hand back the
Undefined object itself, which raised only later, wherever the value was first compared.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any, cast

from jinja2 import StrictUndefined, TemplateError, Undefined, UndefinedError, nodes
from jinja2.nativetypes import NativeCodeGenerator, NativeTemplate
from jinja2.runtime import missing
from jinja2.sandbox import ImmutableSandboxedEnvironment

# The names a template may use. Resource roots come from the snapshot; the rest from the config.
RESOURCE_ROOTS = ("okta", "cognito", "organizations", "iam", "connect", "coverage")
CONTEXT_ROOTS = ("config", "aws", "settings", "federation")
ALLOWED_ROOTS = RESOURCE_ROOTS + CONTEXT_ROOTS


class UndefinedValue(UndefinedError):
    """A template read a name or field that has no value.

    `name` is what was read (an attribute name or an index); `of_none` is True when it was read
    from null, i.e. from an object that does not exist; `template` is the template's source
    (set by `render`).
    """

    def __init__(self, message: str | None = None, *, name: Any = None, of_none: bool = False) -> None:
        super().__init__(message)
        self.name = name
        self.of_none = of_none
        self.template: str | None = None


class TemplateFailure(TemplateError):
    """A template's expression raised (a type error, a bad index...): `template` is its source."""

    def __init__(self, template: str, error: Exception) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.template = template


class PolicyUndefined(StrictUndefined):
    """StrictUndefined whose error says what was read and whether it was read from null."""

    __slots__ = ()

    def __init__(self, hint: str | None = None, obj: Any = missing, name: str | None = None,
                 exc: type[UndefinedError] = UndefinedError) -> None:
        # Jinja raises `exc(message)`; the partial adds what the engine needs to judge the cause.
        raising = functools.partial(UndefinedValue, name=name, of_none=obj is None)
        super().__init__(hint, obj, name, cast("type[UndefinedError]", raising))


# What a template expression itself may raise on live data (`None + 1`, `"a".split()[3]`).
_EXPRESSION_ERRORS = (TypeError, ValueError, ArithmeticError, LookupError, AttributeError)


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
        super().__init__(undefined=PolicyUndefined, autoescape=False, keep_trailing_newline=False)


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


def holds(expression: str, context: dict[str, Any]) -> bool:
    """A control's `when` expression, as a truth value; raises UndefinedValue or
    TemplateFailure (with `template` set) when it cannot be computed."""
    try:
        return bool(compiled_expression(expression)(**context))
    except UndefinedValue as exc:
        exc.template = exc.template or expression
        raise
    except _EXPRESSION_ERRORS as exc:
        raise TemplateFailure(expression, exc) from exc


def render(value: Any, context: dict[str, Any]) -> Any:
    """Render every template string inside `value` (recursively through lists and dicts).

    Raises UndefinedValue or TemplateFailure, with `template` set to the failing string; never
    returns a value holding an Undefined.
    """
    if isinstance(value, str):
        if not is_template(value):
            return value
        try:
            out = _compiled(value).render(context)
            _fail_if_undefined(out)
        except UndefinedValue as exc:
            exc.template = exc.template or value
            raise
        except _EXPRESSION_ERRORS as exc:
            raise TemplateFailure(value, exc) from exc
        return out
    if isinstance(value, list):
        return [render(v, context) for v in value]
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    return value


def _fail_if_undefined(value: Any, depth: int = 0) -> None:
    """Raise the error of an Undefined inside a native result (`{{ okta.metadata.entity_id }}`
    with no metadata is the Undefined itself; `{{ [a.b] }}` a list holding one)."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if depth < 32 and isinstance(value, list | tuple):
        for item in value:
            _fail_if_undefined(item, depth + 1)
    elif depth < 32 and isinstance(value, dict):
        for item in value.values():
            _fail_if_undefined(item, depth + 1)


def reads(source: str) -> Iterator[tuple[str, tuple[str | int, ...]]]:
    """Every `root.field[0].field` chain a template reads, as (root name, fields): attribute
    reads and constant subscripts down from a name; a method call's own name is left out
    (`okta.metadata.url.split('/')` reads okta.metadata.url)."""
    tree = environment().parse(source)
    callees = {id(call.node) for call in tree.find_all(nodes.Call)}
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if id(node) in callees:
            continue
        chain = _chain(node)
        if chain is not None:
            yield chain


def _chain(node: nodes.Node) -> tuple[str, tuple[str | int, ...]] | None:
    fields: list[str | int] = []
    while True:
        if isinstance(node, nodes.Getattr):
            fields.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) \
                and isinstance(node.arg.value, str | int) and not isinstance(node.arg.value, bool):
            fields.append(node.arg.value)
            node = node.node
        elif isinstance(node, nodes.Name):
            return node.name, tuple(reversed(fields))
        else:
            return None


def dotted(root: str, fields: Iterable[str | int]) -> str:
    """`okta.assignments.users[0].login` for ("okta", ("assignments", "users", 0, "login"))."""
    text = root
    for f in fields:
        text += f"[{f}]" if isinstance(f, int) else f".{f}"
    return text


def undefined_reads(source: str, name: Any) -> list[tuple[str, str]]:
    """The reads of `source` whose last field is `name` (what an UndefinedValue read), each as
    (the read, the object it was read from), dotted: ("okta.metadata.entity_id", "okta.metadata")."""
    return sorted({(dotted(root, fields), dotted(root, fields[:-1]))
                   for root, fields in reads(source) if fields and fields[-1] == name})
