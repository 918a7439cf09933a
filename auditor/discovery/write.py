"""`auditor discover --write FILE`: add the unaudited federations to a config without touching
what is there (comments, order, quoting, `${ENV}` references), or write a new config.

The new blocks are inserted as text after the last item of the `federations:` block list, with
its indentation. The result must load to exactly the old document plus the new items, and must
validate as a config; otherwise nothing is written and the reason says what to change. A new
file takes its `okta`, `aws`, `organizations` and `discovery` settings from the config the
discovery ran with, read as written (so `${ENV}` references stay references, never values).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from auditor.discovery.match import unique_name

_KEEP = ("version", "okta", "aws", "organizations", "discovery")


class WriteRefused(Exception):
    """The config cannot be edited safely; the message says why and what to do."""


def new_blocks(federations: Sequence[dict[str, Any]], existing: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The config blocks of `federations` (coverage items) that `existing` (a config's federation
    entries) does not already name (same pool and the same Okta app by id or label), with names
    made unique against it."""
    taken = {str(e.get("name")) for e in existing if isinstance(e, dict)}
    out = []
    for fed in federations:
        block = fed.get("config")
        if block is None:
            continue
        app = fed.get("okta_app") or {}
        known = any(isinstance(e, dict) and e.get("user_pool_id") == block["user_pool_id"]
                    and ((e.get("okta_app") or {}).get("id") == app.get("id")
                         or (e.get("okta_app") or {}).get("label") == app.get("label"))
                    for e in existing)
        if known:
            continue
        name = unique_name(str(block["name"]), taken)
        taken.add(name)
        out.append({**block, "name": name})
    return out


def write_blocks(target: Path, federations: Sequence[dict[str, Any]], *, source_config: Path,
                 comment: str | None = None) -> list[dict[str, Any]]:
    """Add the blocks of `federations` not yet in `target` (or write `target` new); returns the
    blocks written. Raises WriteRefused, leaving `target` untouched."""
    stamp = comment or f"added by `auditor discover` on {datetime.now(UTC):%Y-%m-%d}"
    if not target.exists():
        return _write_new(target, federations, source_config, stamp)
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WriteRefused(f"cannot read {target}: {exc}") from exc
    try:
        docs = list(yaml.compose_all(text))
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WriteRefused(f"{target} is not valid YAML ({exc}); fix it first, or --write a new file") from exc
    if len(docs) != 1 or not isinstance(data, dict):
        raise WriteRefused(f"{target} is not one YAML mapping: write to a new file instead")
    root = docs[0]
    assert isinstance(root, yaml.MappingNode)
    seq = next((v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "federations"), None)
    if seq is None or not isinstance(data.get("federations"), list):
        raise WriteRefused(f"{target} has no `federations:` list to add to: write to a new file instead")
    blocks = new_blocks(federations, data["federations"])
    if not blocks:
        return []
    if isinstance(seq, yaml.SequenceNode) and seq.flow_style and not seq.value:
        # `federations: []`, as a new config has it before its first discovery: the empty list
        # becomes a block list, indented two under the key.
        key = next(k for k, v in root.value if v is seq)
        dash_col = key.start_mark.column + 2
        rest = text[seq.end_mark.index:]
        new_text = (text[:seq.start_mark.index].rstrip(" ") + "\n" + _render(blocks, dash_col, dash_col + 2, stamp)
                    + (rest[1:] if rest.startswith("\n") else rest))
    elif not isinstance(seq, yaml.SequenceNode) or seq.flow_style or not seq.value:
        raise WriteRefused(f"{target}: `federations:` is written in flow style ([...]); the new blocks "
                           "can only be added to a block list (one `- name: ...` item per federation): rewrite "
                           "it as one, or --write a new file")
    else:
        new_text = _append_items(target, text, seq, blocks, stamp)
    try:
        reloaded = yaml.safe_load(new_text)
    except yaml.YAMLError as exc:
        raise WriteRefused(f"{target}: the edited file would not parse ({exc}); nothing was written") from exc
    expected = {**data, "federations": [*data["federations"], *blocks]}
    if reloaded != expected:
        raise WriteRefused(f"{target}: adding the blocks as text would change more than the federations list "
                           "(unusual YAML layout around it); nothing was written: --write a new file and copy "
                           "the blocks over")
    _validated_replace(target, new_text)
    return blocks


def _append_items(target: Path, text: str, seq: yaml.SequenceNode, blocks: list[dict[str, Any]], stamp: str) -> str:
    """`text` with `blocks` rendered after the last item of the block list `seq`, at its indentation."""
    lines = text.splitlines(keepends=True)
    first = seq.value[0]
    key_col = first.start_mark.column
    dash_line = lines[first.start_mark.line]
    dash_col = dash_line.rfind("-", 0, key_col)
    if dash_col < 0 or dash_line[dash_col + 1:key_col].strip() or "\t" in dash_line[:key_col]:
        raise WriteRefused(f"{target}: cannot tell the indentation of the `federations:` items (line "
                           f"{first.start_mark.line + 1}); write each item as `- name: ...` on its own line")
    insert_at = _after_last_item(lines, seq.value[-1].start_mark.line, seq.end_mark.line, dash_col)
    addition = _render(blocks, dash_col, key_col, stamp)
    if insert_at > 0 and not lines[insert_at - 1].endswith("\n"):
        lines[insert_at - 1] += "\n"
    return "".join(lines[:insert_at]) + addition + "".join(lines[insert_at:])


def _after_last_item(lines: list[str], last_start: int, seq_end: int, dash_col: int) -> int:
    """The line index after the last item's content: trailing blank lines and comments at or left
    of the dash column (they introduce what follows) stay after the new blocks."""
    end = min(seq_end, len(lines))
    i = end
    while i > last_start + 1:
        line = lines[i - 1]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if stripped and not (stripped.startswith("#") and indent <= dash_col):
            break
        i -= 1
    return i


def _render(blocks: list[dict[str, Any]], dash_col: int, key_col: int, stamp: str) -> str:
    out = []
    for block in blocks:
        dumped = yaml.safe_dump([block], sort_keys=False, default_flow_style=None, width=110)
        out.append(" " * dash_col + f"# {stamp}\n")
        for line in dumped.splitlines():
            if line.startswith("- "):
                out.append(" " * dash_col + "-" + " " * (key_col - dash_col - 1) + line[2:] + "\n")
            else:  # continuation lines: safe_dump indents them by 2 under the dash
                out.append(" " * key_col + line[2:] + "\n")
    return "".join(out)


def _write_new(target: Path, federations: Sequence[dict[str, Any]], source_config: Path,
               stamp: str) -> list[dict[str, Any]]:
    blocks = new_blocks(federations, [])
    if not blocks:
        raise WriteRefused("no federation found that could be a config block: nothing to write")
    try:
        source = yaml.safe_load(source_config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise WriteRefused(f"cannot read the settings of {source_config}: {exc}") from exc
    doc = {k: source[k] for k in _KEEP if k in source}
    doc["version"] = 1
    doc["federations"] = blocks
    head = (f"# {stamp}, with the okta/aws settings of {source_config.name}.\n"
            "# Check each block (the evidence is in `auditor discover`'s output), then: auditor validate\n")
    _validated_replace(target, head + yaml.safe_dump({k: doc[k] for k in ("version", *_KEEP[1:], "federations")
                                                      if k in doc}, sort_keys=False, default_flow_style=None,
                                                     width=110))
    return blocks


def _validated_replace(target: Path, text: str) -> None:
    """Write `text` to `target` only if it loads as a valid config (atomically, keeping the mode)."""
    from auditor.config import load_config
    from auditor.errors import ConfigError

    folder = target.resolve().parent
    if not folder.is_dir():
        raise WriteRefused(f"{folder} does not exist: create it or --write elsewhere")
    fd, tmp = tempfile.mkstemp(prefix=".auditor-discover-", suffix=".yaml", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        try:
            load_config(Path(tmp))
        except ConfigError as exc:
            problems = "; ".join(str(p) for p in exc.problems)
            raise WriteRefused(f"the config with the new blocks would not validate ({problems}); nothing was "
                               f"written to {target}") from exc
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

