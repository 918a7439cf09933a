"""Safe YAML loading that remembers where every value came from.

Config and policy errors must name the file and line, so loading returns, beside the data, a
map from each value's path (a tuple of keys and indexes) to its 1-based line and column.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from auditor.errors import InputProblem

# A real config or policy file is a few kilobytes; these bounds stop hostile input (a huge
# file, an alias "billion laughs" bomb) before it costs memory or time.
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64  # a real file nests a dozen levels; a recursive alias (`&a [*a]`) nests forever

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Located:
    """A loaded YAML document and the source position of each of its values."""

    file: str
    data: Any
    positions: dict[Path_, tuple[int, int]]

    def line_of(self, path: Path_) -> tuple[int | None, int | None]:
        """Line and column of the value at `path`, or of its nearest located ancestor."""
        p = tuple(path)
        while p:
            if p in self.positions:
                return self.positions[p]
            p = p[:-1]
        return self.positions.get((), (None, None))


class _NoDuplicatesLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (YAML silently keeps the last one)."""


# libyaml's parser, when PyYAML was built with it: ~10x less CPU for the policies, frameworks and
# config every command reads. Only for documents it reads without complaint; anything it rejects
# is parsed again by the pure-Python loader, whose messages (and limits) are the ones users see.
_FastLoader: type | None = getattr(yaml, "CSafeLoader", None)


class YamlLoadError(Exception):
    """A YAML file could not be read; carries an InputProblem."""

    def __init__(self, problem: InputProblem) -> None:
        self.problem = problem
        super().__init__(str(problem))


def load_yaml_file(path: Path) -> Located:
    """Read and parse one YAML file; raise YamlLoadError with file:line:column on any problem."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise YamlLoadError(InputProblem(name, None, None, f"cannot read file: {exc.strerror}")) from exc
    return load_yaml_bytes(raw, name)


def load_yaml_bytes(raw: bytes, name: str) -> Located:
    """Parse YAML from bytes; see load_yaml_file."""
    if len(raw) > MAX_FILE_BYTES:
        raise YamlLoadError(InputProblem(
            name, None, None, f"file is {len(raw):,} bytes; the limit is {MAX_FILE_BYTES:,}",
            "split the file, or check that this is the file you meant"))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlLoadError(InputProblem(
            name, line, None, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            "save the file as UTF-8")) from exc
    if not text.strip():
        raise YamlLoadError(InputProblem(name, None, None, "file is empty"))
    if _FastLoader is not None:
        located = _load_fast(_FastLoader, text, name)
        if located is not None:
            return located
    try:
        # The reader checks the characters as it is constructed: a control character is an error here.
        loader = _NoDuplicatesLoader(text)
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise YamlLoadError(InputProblem(
            name, line, None, f"YAML cannot hold the character {exc.character!r} (position {exc.position})",
            "remove control characters from the file")) from exc
    try:
        node = loader.get_single_node()
        if node is None:
            raise YamlLoadError(InputProblem(name, None, None, "file holds no YAML document"))
        positions: dict[Path_, tuple[int, int]] = {}
        _walk(node, (), positions, name, [0])
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        err_line: int | None = mark.line + 1 if mark else None
        err_col: int | None = mark.column + 1 if mark else None
        msg = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise YamlLoadError(InputProblem(name, err_line, err_col, f"YAML syntax error: {msg}")) from exc
    except yaml.YAMLError as exc:
        raise YamlLoadError(InputProblem(name, None, None, f"YAML error: {exc}")) from exc
    except RecursionError as exc:  # PyYAML's composer recurses once per nesting level
        raise YamlLoadError(InputProblem(name, None, None, "values nested too deeply to read",
                                         "flatten the document")) from exc
    finally:
        loader.dispose()
    return Located(name, data, positions)


def _load_fast(loader_class: type, text: str, name: str) -> Located | None:
    """The document as libyaml reads it (the same nodes, marks and values as the pure-Python
    loader's for a document both accept); None when libyaml has any complaint, or the document
    breaks a limit (the caller then parses it again to say why, as it always has)."""
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        positions: dict[Path_, tuple[int, int]] = {}
        _walk(node, (), positions, name, [0])
        return Located(name, loader.construct_document(node), positions)
    except (yaml.YAMLError, YamlLoadError, RecursionError):
        return None
    finally:
        loader.dispose()


def _walk(node: yaml.Node, path: Path_, out: dict[Path_, tuple[int, int]], name: str,
          count: list[int]) -> None:
    count[0] += 1
    if len(path) > MAX_DEPTH:
        raise YamlLoadError(InputProblem(
            name, node.start_mark.line + 1, node.start_mark.column + 1,
            f"values nested more than {MAX_DEPTH} levels deep (a recursive alias?)",
            "flatten the document; an alias must not refer to a node that contains it"))
    if count[0] > MAX_NODES:
        raise YamlLoadError(InputProblem(
            name, node.start_mark.line + 1, None,
            f"document expands to more than {MAX_NODES:,} values (an alias bomb?)",
            "remove the repeated anchors/aliases"))
    out.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            if key in seen:
                raise YamlLoadError(InputProblem(
                    name, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                    f"duplicate key {key!r} (first at line {seen[key]})",
                    "YAML would silently keep only the last one; remove one of them"))
            seen[key] = key_node.start_mark.line + 1
            out[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _walk(value_node, (*path, key), out, name, count)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), out, name, count)


def format_path(path: Path_) -> str:
    """`federations[0].okta_app.id` style rendering of a value path."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def load_yaml_files(paths: Iterable[Path], key: str, problems: list[InputProblem]) -> Iterator[tuple[Path, Located]]:
    """Each distinct file of `paths` (as the config's `key:` lists them) with its document, in order.

    A file named twice (a config that lists a built-in folder) is read once; one that does not
    exist or is not YAML becomes a problem in `problems` naming it, and the others are still read.
    """
    loaded: set[Path] = set()
    for path in paths:
        if path.resolve() in loaded:
            continue
        loaded.add(path.resolve())
        if not path.exists():
            what = "policy" if key == "policies" else key.rstrip("s")
            problems.append(InputProblem(str(path), None, None, f"{what} file or directory does not exist",
                                         f"fix the path under `{key}:` in the config"))
            continue
        try:
            yield path, load_yaml_file(path)
        except YamlLoadError as exc:
            problems.append(exc.problem)


def yaml_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories into their *.yaml / *.yml files, sorted; keep files as given (policies
    and framework mappings are listed the same way in the config)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted([*p.glob("*.yaml"), *p.glob("*.yml")]))
        else:
            out.append(p)
    return out
