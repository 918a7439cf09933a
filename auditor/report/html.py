"""The HTML report: one self-contained, offline HTML5 file rendered from a `RunResult`.

Everything shown comes from live APIs and may be hostile (an Okta app label such as
`<script>alert(1)</script>`), so the Jinja2 environment autoescapes every expression and the
template never marks data as safe. The only markup that bypasses escaping is the static filter
script below, which is a constant of this module, and its hash is what the page's
Content-Security-Policy allows to run; no other script can execute, and nothing is fetched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from auditor.diff import FieldChange, Segment, diff_segments
from auditor.models import EXIT_MEANINGS, RUN_MODES, Finding, RunResult, Severity, Status
from auditor.report.visuals import chain_css, chain_view, trend_view

if TYPE_CHECKING:  # only read here; importing auditor.remediate would load the remediation stack
    from auditor.remediate.model import RemediationResult

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAME = "report.html.j2"


# FAIL and ERROR are what a reader must act on, so they come first (ordered among themselves by
# severity); the rest follow in decreasing order of interest.
_STATUS_GROUP: dict[Status, int] = {
    Status.FAIL: 0,
    Status.ERROR: 0,
    Status.WAIVED: 1,
    Status.SKIPPED: 2,
    Status.PASS: 3,
}

# Progressive enhancement only: the page is complete without it. It reads nothing but data-*
# attributes and writes only classes, `hidden` and textContent (never HTML).
FILTER_SCRIPT = """
(function () {
  "use strict";
  var root = document.documentElement;
  root.setAttribute("data-js", "on");
  var bar = document.getElementById("filters");
  if (!bar) { return; }
  bar.hidden = false;
  var findings = Array.prototype.slice.call(document.querySelectorAll("tbody.finding"));
  var groups = Array.prototype.slice.call(document.querySelectorAll("[data-finding-group]"));
  var sections = Array.prototype.slice.call(document.querySelectorAll("section[data-federation]"));
  // Each row learns its federation from its section (not repeated in every row's markup).
  sections.forEach(function (sec) {
    sec.querySelectorAll("tbody.finding").forEach(function (tb) {
      tb.setAttribute("data-fed", sec.getAttribute("data-federation"));
    });
  });
  var boxes = Array.prototype.slice.call(bar.querySelectorAll("input[type=checkbox]"));
  var query = document.getElementById("filter-q");
  var fedSelect = document.getElementById("filter-fed");
  var ctlSelect = document.getElementById("filter-ctl");
  var shownOut = document.getElementById("filter-shown");
  var reset = document.getElementById("filter-reset");

  // Built from the row's own text on first use rather than shipped as an attribute: on a large
  // run that attribute alone would add megabytes.
  function searchText(tb) {
    if (tb.auditorText === undefined) {
      var parts = [".cid", ".title", ".message"].map(function (sel) {
        var el = tb.querySelector(sel);
        return el ? el.textContent : "";
      });
      tb.auditorText = parts.join(" ").toLowerCase();
    }
    return tb.auditorText;
  }

  function selected(name) {
    var out = {};
    boxes.forEach(function (box) {
      if (box.name === name && box.checked) { out[box.value] = true; }
    });
    return out;
  }

  function apply() {
    var statuses = selected("status");
    var severities = selected("severity");
    var q = query.value.trim().toLowerCase();
    var fed = fedSelect ? fedSelect.value : "";
    var ctl = ctlSelect ? ctlSelect.value : "";
    var shown = 0;
    findings.forEach(function (tb) {
      var ok = statuses[tb.getAttribute("data-status")] === true &&
        severities[tb.getAttribute("data-severity")] === true &&
        (fed === "" || tb.getAttribute("data-fed") === fed) &&
        (ctl === "" || tb.getAttribute("data-control") === ctl) &&
        (q === "" || searchText(tb).indexOf(q) !== -1);
      tb.classList.toggle("is-filtered", !ok);
      if (ok) { shown += 1; }
    });
    groups.forEach(function (group) {
      var total = group.querySelectorAll("tbody.finding").length;
      var visible = group.querySelectorAll("tbody.finding:not(.is-filtered)").length;
      var table = group.querySelector("table");
      var none = group.querySelector(".no-match");
      if (table) { table.classList.toggle("is-filtered", visible === 0); }
      if (none) { none.hidden = visible !== 0; }
      var count = group.querySelector("[data-visible-count]");
      if (count) {
        count.textContent = visible === total ? String(total) : visible + " of " + total;
      }
      if (group.tagName === "DETAILS" && (q !== "" || ctl !== "") && visible > 0) { group.open = true; }
    });
    // A federation section with nothing left to show is hidden as a whole.
    sections.forEach(function (sec) {
      sec.classList.toggle("is-filtered", fed !== "" && sec.getAttribute("data-federation") !== fed);
    });
    shownOut.textContent = shown + " of " + findings.length + " findings shown";
  }

  boxes.forEach(function (box) { box.addEventListener("change", apply); });
  query.addEventListener("input", apply);
  [fedSelect, ctlSelect].forEach(function (sel) { if (sel) { sel.addEventListener("change", apply); } });
  reset.addEventListener("click", function () {
    boxes.forEach(function (box) { box.checked = true; });
    query.value = "";
    if (fedSelect) { fedSelect.value = ""; }
    if (ctlSelect) { ctlSelect.value = ""; }
    apply();
  });

  // Print everything, expanded, whatever the screen filters are.
  var reopen = [];
  window.addEventListener("beforeprint", function () {
    reopen = [];
    document.querySelectorAll("details:not([open])").forEach(function (d) {
      reopen.push(d);
      d.open = true;
    });
  });
  window.addEventListener("afterprint", function () {
    reopen.forEach(function (d) { d.open = false; });
    reopen = [];
  });
  apply();
})();
"""


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(script: str = FILTER_SCRIPT) -> str:
    """The page's CSP: nothing may be fetched, and only the report's own script may run."""
    return (
        "default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src {_csp_hash(script)}; img-src data:; base-uri 'none'; form-action 'none'"
    )


@dataclass(frozen=True)
class JsonLine:
    """One line of a pretty-printed JSON value; `differs` marks a top-level key whose value
    is not the same on the other side, and `segments` (when set) the same text split so that the
    characters differing from the other side's value can be marked."""

    text: str
    differs: bool = False
    segments: tuple[Segment, ...] = ()


@dataclass(frozen=True)
class FindingView:
    """A finding with everything the template needs precomputed."""

    finding: Finding
    expected: tuple[JsonLine, ...]
    actual: tuple[JsonLine, ...]
    differing_keys: tuple[str, ...]
    # False when both sides are null (typically SKIPPED): the page says so instead of two nulls.
    has_values: bool


class _ViewSlot:
    """The finding views of the one federation whose section is being rendered (see FederationView)."""

    owner: FederationView | None = None
    views: tuple[tuple[FindingView, ...], tuple[FindingView, ...]] = ((), ())


@dataclass(frozen=True)
class FederationView:
    """One federation's section: tally, collection errors and its findings split for display.

    The finding views (`attention`, `passing`) are made when asked for, and only the last
    federation's are kept (a slot the report's federations share): the template renders one
    section after the other, and 1,000 federations' views held at once cost ~100 MB.
    """

    name: str
    anchor: str
    counts: dict[str, int]
    errors: tuple[dict[str, str], ...]
    findings: tuple[Finding, ...]  # sorted for display (sort_key)
    _slot: _ViewSlot = field(default_factory=_ViewSlot, repr=False, compare=False)

    @property
    def attention(self) -> tuple[FindingView, ...]:
        """The findings that are not passing, for display."""
        return self._views()[0]

    @property
    def passing(self) -> tuple[FindingView, ...]:
        """The passing findings, for display."""
        return self._views()[1]

    @property
    def total(self) -> int:
        """Number of findings in the federation."""
        return len(self.findings)

    def in_display_order(self) -> list[Finding]:
        """The findings as the section lists them: those needing attention, then the passing."""
        return ([f for f in self.findings if f.status is not Status.PASS]
                + [f for f in self.findings if f.status is Status.PASS])

    def _views(self) -> tuple[tuple[FindingView, ...], tuple[FindingView, ...]]:
        slot = self._slot
        if slot.owner is not self:
            slot.owner, slot.views = self, (
                tuple(_finding_view(f) for f in self.findings if f.status is not Status.PASS),
                tuple(_finding_view(f) for f in self.findings if f.status is Status.PASS))
        return slot.views


def pretty_json(value: Any) -> str:
    """Indented JSON for display; anything JSON cannot encode is shown via `str()`."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _canonical(value: Any) -> str:
    # Compare as JSON, so that 1 and True (equal in Python) count as different values.
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def differing_keys(expected: Any, actual: Any) -> tuple[str, ...]:
    """Top-level keys whose values differ (or that one side lacks), when both sides are dicts."""
    if not isinstance(expected, dict) or not isinstance(actual, dict):
        return ()
    keys = list(expected) + [k for k in actual if k not in expected]
    return tuple(
        str(k)
        for k in keys
        if k not in expected or k not in actual or _canonical(expected[k]) != _canonical(actual[k])
    )


def json_lines(value: Any, highlight: Iterable[str] = (), other: Any = None) -> tuple[JsonLine, ...]:
    """Pretty JSON split into lines; for a dict, the entries of the `highlight` keys are marked,
    and where such an entry is one line on both sides (`other`: the value on the other side), the
    characters that differ from the other side's entry too."""
    marked = set(highlight)
    if not isinstance(value, dict) or not value or not marked:
        return tuple(JsonLine(line) for line in pretty_json(value).split("\n"))
    lines: list[JsonLine] = [JsonLine("{")]
    items = list(value.items())
    others = other if isinstance(other, dict) else {}
    for index, (key, item) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        body = pretty_json(item).replace("\n", "\n  ")
        label = f"  {json.dumps(str(key), ensure_ascii=False)}: "
        segments: tuple[Segment, ...] = ()
        if str(key) in marked and key in others and "\n" not in body:
            there = pretty_json(others[key])
            if "\n" not in there:
                mine, _ = diff_segments(body, there, limit=1 << 30)  # the panes show values whole
                segments = (Segment(label), *mine, Segment(comma))
        lines.append(JsonLine(f"{label}{body}{comma}", differs=str(key) in marked, segments=segments))
    lines.append(JsonLine("}"))
    return tuple(lines)


def expected_shown(expected: Any) -> Any:
    """A finding's `expected` as a reader takes it in: per path the value for `equals`, the
    operator's own statement when it has one (`detail`), else {operator: value} ({"contains": "Okta"})."""
    if not isinstance(expected, dict):
        return expected
    shown = {}
    for path, entry in expected.items():
        if not (isinstance(entry, dict) and "operator" in entry):
            shown[path] = entry
        elif "detail" in entry:
            shown[path] = entry["detail"]
        elif entry["operator"] == "equals":
            shown[path] = entry.get("value")
        else:
            shown[path] = {entry["operator"]: entry.get("value")}
    return shown


def shown_value(value: Any) -> str:
    """A changed field's value as one line of text: a string as it is, anything else as compact
    JSON, a value a diff carries only as its digest (auditor.diff.capped) by its length, digest and
    excerpt; "(absent)" for None."""
    if value is None:
        return "(absent)"
    if isinstance(value, dict) and set(value) == {"$omitted"} and isinstance(value["$omitted"], dict):
        o = value["$omitted"]
        return (f"({o.get('length')} characters, SHA-256 {str(o.get('sha256'))[:16]}…; from character "
                f"{o.get('excerpt_offset')}:) {o.get('excerpt')}…")
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


_URL = re.compile(r"https://[^\s<>\"']+[^\s<>\"'.,;:)]")


def reference_parts(reference: str) -> list[dict[str, str | None]]:
    """A control's reference split into text and https links ({"text", "url"}), so that a reference
    naming its source's address is a link on screen and shows the address on paper. Only https:
    the report must never link to anything else a policy file might hold."""
    parts: list[dict[str, str | None]] = []
    pos = 0
    for m in _URL.finditer(reference):
        if m.start() > pos:
            parts.append({"text": reference[pos:m.start()], "url": None})
        parts.append({"text": m.group(), "url": m.group()})
        pos = m.end()
    if pos < len(reference):
        parts.append({"text": reference[pos:], "url": None})
    return parts


def change_segments(change: FieldChange | Mapping[str, Any], limit: int = 300) -> dict[str, tuple[Segment, ...]]:
    """Before and after of a changed field as text runs, the characters that differ marked and long
    shared stretches elided around them ({"before": ..., "after": ...})."""
    before = change.before if isinstance(change, FieldChange) else change.get("before")
    after = change.after if isinstance(change, FieldChange) else change.get("after")
    if before is None or after is None:  # "(absent)" is no text to compare with: nothing to mark
        return {"before": diff_segments(shown_value(before), shown_value(before), limit=limit)[0],
                "after": diff_segments(shown_value(after), shown_value(after), limit=limit)[0]}
    old, new = diff_segments(shown_value(before), shown_value(after), limit=limit)
    return {"before": old, "after": new}


def sort_key(finding: Finding) -> tuple[int, int, str, str, str]:
    """FAIL/ERROR first, then by severity (critical first), then control id."""
    return (
        _STATUS_GROUP.get(finding.status, len(_STATUS_GROUP)),
        finding.severity.rank,
        finding.control_id,
        finding.status.value,
        finding.resource,
    )


def _finding_view(finding: Finding) -> FindingView:
    expected = expected_shown(finding.expected)
    # Only a failing (or waived) finding has a difference to mark: a passing `contains` is not one.
    keys = differing_keys(expected, finding.actual) if finding.status in (Status.FAIL, Status.WAIVED) else ()
    # Characters are marked only where the expected value is the value itself (`equals`): a date
    # next to "valid for at least 30 days" has no characters in common worth marking.
    equals = ({k: v for k, v in expected.items() if _is_equals(finding.expected, k)}
              if isinstance(expected, dict) else None)
    return FindingView(
        finding=finding,
        expected=json_lines(expected, keys, equals and finding.actual),
        actual=json_lines(finding.actual, keys, equals),
        differing_keys=keys,
        has_values=finding.expected is not None or finding.actual is not None,
    )


def _is_equals(expected: Any, key: Any) -> bool:
    entry = expected.get(key) if isinstance(expected, dict) else None
    return isinstance(entry, dict) and entry.get("operator") == "equals" and "detail" not in entry


def _status_counts(findings: Iterable[Finding]) -> dict[str, int]:
    out = {s.value: 0 for s in Status}
    for f in findings:
        out[f.status.value] += 1
    return out


def _federation_names(result: RunResult) -> list[str]:
    # Configured federations first, in config order; anything else that carries data (a finding
    # or a collection error for an unlisted name) still gets a section rather than vanishing.
    names = list(dict.fromkeys(result.federations))
    for extra in [f.federation for f in result.findings] + list(result.collection_errors):
        if extra not in names:
            names.append(extra)
    return names


def federation_views(result: RunResult) -> list[FederationView]:
    """One view per federation, findings sorted for display."""
    views: list[FederationView] = []
    slot = _ViewSlot()
    by_federation: dict[str, list[Finding]] = {}
    for finding in result.findings:
        by_federation.setdefault(finding.federation, []).append(finding)
    for index, name in enumerate(_federation_names(result), start=1):
        findings = sorted(by_federation.get(name, ()), key=sort_key)
        errors = tuple(
            {"source": str(e.get("source", "")), "message": str(e.get("message", ""))}
            for e in result.collection_errors.get(name, [])
        )
        views.append(
            FederationView(
                name=name,
                anchor=f"federation-{index}",
                counts=_status_counts(findings),
                errors=errors,
                findings=tuple(findings),
                _slot=slot,
            )
        )
    return views


def fix_summary(result: RunResult) -> str | None:
    """What a run's remediation did, in the header's words (None: the run planned nothing)."""
    fix = result.remediation
    if fix is None:
        return None
    n = len(fix.plan.changes)
    planned = f"{n} change{'s' if n != 1 else ''} planned"
    if fix.declined:
        return f"{planned}; declined at the prompt: nothing was changed in Okta or AWS"
    if not fix.applied:
        return f"{planned}; nothing was changed in Okta or AWS (plan.json in the run folder)"
    applied = sum(1 for o in fix.outcomes if o.state.applied)
    verified = sum(1 for o in fix.outcomes if o.state.value == "applied and verified")
    text = f"{planned}, {applied} applied, {verified} verified"
    if fix.interrupted:
        text += f"; interrupted ({fix.interrupted})"
    return text + (f"; undo with: auditor rollback {result.run_id}" if applied else "")


def _duration(started: str, finished: str) -> str | None:
    try:
        seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    except (TypeError, ValueError):
        return None
    if seconds < 0:
        return None
    # The run's timestamps have one-second resolution: "0.0 s" for a run inside one second
    # claimed a precision they do not have.
    if seconds < 1:
        return "under 1 s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def _evidence_rows(evidence: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Evidence entries other than `policy_files`, each as a scalar text or pretty JSON."""
    rows: list[dict[str, Any]] = []
    for key, value in evidence.items():
        if key == "policy_files" and isinstance(value, dict):
            continue
        is_scalar = value is None or isinstance(value, str | int | float | bool)
        rows.append(
            {
                "key": str(key),
                "text": ("" if value is None else str(value)) if is_scalar else None,
                "json": None if is_scalar else pretty_json(value),
            }
        )
    return rows


def _change_totals(result: RunResult) -> dict[str, int] | None:
    if result.changes is None:
        return None
    feds = result.changes.federations
    return {
        "new": sum(len(f.new_failures) for f in feds),
        "resolved": sum(len(f.resolved_failures) for f in feds),
        "still": sum(len(f.still_failing) for f in feds),
        "fields": sum(len(f.state) + f.state_truncated for f in feds),
        "federations_changed": sum(1 for f in feds if f.has_changes),
    }


def build_environment() -> jinja2.Environment:
    """The Jinja2 environment: autoescaping always on, unknown names are errors."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        # A plain True, not select_autoescape(): escaping must not depend on the file extension.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["change_segments"] = change_segments
    env.globals["reference_parts"] = reference_parts
    return env


def render_html(result: RunResult) -> bytes:
    """Render `result` as one self-contained HTML5 document (UTF-8); see `iter_html`, which
    `write_reports` streams to the file."""
    return b"".join(iter_html(result))


def iter_html(result: RunResult, schema_checked: Sequence[bool] | None = None) -> Iterator[bytes]:
    """report.html in chunks: the template rendered piece by piece (jinja's `generate`) and its
    whitespace collapsed as it goes. Rendering it whole joined every piece the template wrote
    (~230 MB at peak for 1,000 federations) and copied the text twice more. The same bytes as
    `collapse_whitespace(template.render(**html_context(result))).encode()`. `schema_checked` is
    the streamed writers' interface (auditor.report.write_reports); HTML has no schema."""
    template = build_environment().get_template(TEMPLATE_NAME)
    for text in collapsed_pieces(template.generate(**html_context(result))):
        yield text.encode("utf-8")


def html_context(result: RunResult) -> dict[str, Any]:
    """What the report template is rendered with."""
    counts = result.counts()
    failures_by_severity = {s.value: 0 for s in Severity}
    for f in result.findings:
        if f.status is Status.FAIL:
            failures_by_severity[f.severity.value] += 1
    total = len(result.findings)
    feds = federation_views(result)
    policy_files = result.evidence.get("policy_files")
    chains = {}
    for fed in feds:
        chains[fed.name] = chain_view(fed.in_display_order())
    context: dict[str, Any] = {
        "result": result,
        "exit_code": result.exit_code,
        "exit_meaning": EXIT_MEANINGS.get(result.exit_code, f"exit code {result.exit_code}"),
        "mode_meaning": RUN_MODES.get(result.mode, result.mode),
        "fix_summary": fix_summary(result),
        "duration": _duration(result.started_at, result.finished_at),
        "statuses": [s.value for s in Status],
        "severities": [s.value for s in Severity],
        "counts": counts,
        "total": total,
        "failures_by_severity": failures_by_severity,
        "failures_total": counts[Status.FAIL.value],
        "federations": feds,
        "collection_error_total": sum(len(f.errors) for f in feds),
        "policy_files": sorted(policy_files.items()) if isinstance(policy_files, dict) else [],
        "evidence_rows": _evidence_rows(result.evidence),
        "csp": content_security_policy(),
        "changes": result.changes,
        "change_totals": _change_totals(result),
        "trend": trend_view(result.trend, result.run_id) if len(result.trend) >= 2 else None,
        "trend_points": result.trend,
        "chains": chains,
        # Computed from module constants only (positions of the chain links), never from data.
        "chain_css": Markup(chain_css()),
        "notices": result.notices,
        "remediation": _remediation_view(result.remediation),
        "control_ids": sorted({f.control_id for f in result.findings}),
        # The frameworks asked for (--framework), each requirement judged per federation.
        "frameworks": result.frameworks,
        "framework_federations": _federation_names(result),
        # A constant of this module, never data: the only thing allowed to bypass escaping.
        "filter_script": Markup(FILTER_SCRIPT),
        "report_data": {
            "run_id": result.run_id,
            "exit_code": result.exit_code,
            "counts": counts,
            "failures_by_severity": failures_by_severity,
            "federations": {f.name: f.counts for f in feds},
        },
    }
    return context


_PRE = re.compile(r"(<pre\b.*?</pre>|<script\b.*?</script>)", re.S)
_BETWEEN_TAGS = re.compile(r">\s*\n\s*<")
_OPENS_VERBATIM = re.compile(r"<(?:pre|script)\b")  # where a _PRE block would begin
_CHUNK = 1 << 16  # characters gathered before collapsing a piece of the document


def collapsed_pieces(pieces: Iterable[str]) -> Iterator[str]:
    """`collapse_whitespace("".join(pieces))`, piece by piece: the text is cut only where the
    whole-document collapse treats each side on its own, so the pieces join to the same text."""
    held: list[str] = []
    size = 0
    for piece in pieces:
        held.append(piece)
        size += len(piece)
        if size < _CHUNK:
            continue
        text = "".join(held)
        cut = _safe_cut(text)
        if cut:
            yield collapse_whitespace(text[:cut])
        held, size = [text[cut:]], len(text) - cut
    yield collapse_whitespace("".join(held))


def _safe_cut(text: str) -> int:
    """The last position of `text` (a document's remaining text, from a place outside any <pre>
    or <script> block) where `collapse_whitespace` may cut it: after the last `<` that opens no
    block and lies after every complete block, and before any block still open (whose end, were
    it never to come, would make it no block at all); whitespace collapsed between two tags ends
    at the second tag's `<`, so none spans such a cut. Else after the last complete block (0:
    nowhere yet)."""
    pos = 0
    limit = max(0, len(text) - 8)  # room after the `<` for a block opening still in the making
    while (opening := _OPENS_VERBATIM.search(text, pos)) is not None:
        block = _PRE.match(text, opening.start())
        if block is None:  # its end is still to come
            limit = opening.start()
            break
        pos = block.end()
    i = text.rfind("<", pos, max(pos, limit))
    while i != -1 and _OPENS_VERBATIM.match(text, i):
        i = text.rfind("<", pos, i)
    return i + 1 if i != -1 else pos


def collapse_whitespace(html: str) -> str:
    """Drop the template's indentation between tags (a large run's report is megabytes of it),
    leaving <pre> and <script> blocks byte for byte: their whitespace is content, and the script
    must match its CSP hash."""
    parts = _PRE.split(html)
    return "".join(part if i % 2 else _BETWEEN_TAGS.sub("><", part) for i, part in enumerate(parts))


def _remediation_view(result: RemediationResult | None) -> dict[str, Any] | None:
    """The run's plan and outcomes, shaped for the template (all values escaped there)."""
    if result is None:
        return None
    changes = []
    for change in result.plan.changes:
        outcome = result.outcome_of(change.id)
        state = outcome.state.value if outcome else ("declined" if result.declined else "planned")
        changes.append({
            "id": change.id, "federation": change.federation, "kind": change.kind,
            "state_class": ("ok" if outcome is not None and outcome.state.value in ("applied and verified", "restored")
                            else "bad" if outcome is not None and outcome.state.value in ("failed", "unknown")
                            else "other"),
            "target": " ".join(f"{k}={v}" for k, v in change.target.items()),
            "api_call": change.api_call, "reasons": change.reasons,
            "fields": [{"path": f.path, **change_segments(f)} for f in change.fields],
            "state": state,
            "detail": outcome.detail if outcome else "",
        })
    return {"applied": result.applied, "declined": result.declined, "changes": changes,
            "unfixable": result.plan.unfixable, "interrupted": result.interrupted}
