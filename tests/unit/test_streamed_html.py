"""report.html is written in pieces (auditor.report.html.iter_html): the same bytes as rendering
the template whole and collapsing its whitespace in one go, wherever the pieces are cut."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from auditor.evaluate.engine import evaluate
from auditor.models import RunResult
from auditor.policy.loader import load_policies
from auditor.report import Format, write_reports
from auditor.report import html as html_report
from auditor.report.html import collapse_whitespace, collapsed_pieces
from tests import factories as f

# Everything the collapse treats specially: whitespace runs with and without a newline between
# tags, <pre> and <script> blocks (kept verbatim, one holding a `<script` of its own), and tags
# that only start like one (`<prefix>`, `<scripts>`).
PARTS = ["<div>", "\n  ", "</div>", " \n\t<span>", "x", ">\n<", "<pre class=\"json\">a\n  <b>\n</pre>",
         "<script>if (a < b) {\n  x();\n}</script>", "<prefix>\n  <p>", "<scripts>\n<i>", "<pre>\n<script>\n</pre>",
         "  \n  ", "<", ">", "é\n<", "text"]


def _whole_form(result: RunResult) -> bytes:
    """How report.html was made before it was streamed: the template rendered to one string."""
    template = html_report.build_environment().get_template(html_report.TEMPLATE_NAME)
    return collapse_whitespace(template.render(**html_report.html_context(result))).encode("utf-8")


@pytest.mark.parametrize("seed", range(40))
def test_collapsing_in_pieces_equals_collapsing_the_whole(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    rng = random.Random(seed)
    text = "".join(rng.choice(PARTS) for _ in range(rng.randint(0, 300)))
    monkeypatch.setattr(html_report, "_CHUNK", rng.choice([1, 5, 17, 64]))  # cut often
    cuts = sorted(rng.sample(range(len(text) + 1), min(len(text) + 1, rng.randint(0, 80))))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert "".join(collapsed_pieces(pieces)) == collapse_whitespace(text)


def test_an_unclosed_block_is_held_to_the_end_and_kept_as_the_whole_collapse_keeps_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html_report, "_CHUNK", 4)
    text = "<p>\n <pre>\n <b>\n  <i>\n" * 3
    assert "".join(collapsed_pieces(list(text))) == collapse_whitespace(text)


def test_the_streamed_report_is_the_whole_rendered_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snap = f.snapshot()
    resources = f.compliant_resources()
    resources["cognito.identity_provider"]["AttributeMapping"] = {"email": "name"}  # a FAIL, with its diff
    feds = tuple(dataclasses.replace(snap.federations[0], name=f"fed-{i}", resources=resources if i % 2 else
                                     snap.federations[0].resources) for i in range(6))
    snap = dataclasses.replace(snap, federations=feds)
    result = RunResult(run_id="r1", started_at="2026-11-28T00:00:00+00:00", finished_at="2026-11-28T00:01:00+00:00",
                       tool_version="t", federations=tuple(x.name for x in feds),
                       findings=tuple(evaluate(snap, load_policies())), collection_errors={"fed-1": [
                           {"source": "okta.app", "message": "a <b>\n  message"}]}, evidence={})
    whole = _whole_form(result)
    monkeypatch.setattr(html_report, "_CHUNK", 512)  # many pieces, cut in many places
    path = write_reports(result, tmp_path, [Format.HTML])["html"]
    assert path.read_bytes() == whole
    assert html_report.render_html(result) == whole


def test_finding_views_are_made_per_section_and_only_the_last_kept() -> None:
    snap = f.snapshot()
    resources = f.compliant_resources()
    resources["cognito.identity_provider"]["AttributeMapping"] = {"email": "name"}
    feds = (snap.federations[0], dataclasses.replace(snap.federations[0], name="staging", resources=resources))
    findings = tuple(evaluate(dataclasses.replace(snap, federations=feds), load_policies()))
    result = RunResult(run_id="r1", started_at="2026-11-28T00:00:00+00:00", finished_at="2026-11-28T00:01:00+00:00",
                       tool_version="t", federations=("prod", "staging"), findings=findings, collection_errors={},
                       evidence={})
    prod, staging = html_report.federation_views(result)
    assert prod.total + staging.total == len(findings)
    for view in (prod, staging):
        shown = [v.finding for v in (*view.attention, *view.passing)]
        assert view.in_display_order() == shown  # what the chain diagram is drawn from
        assert view.attention is view.attention  # made once for the section
        assert all(v.finding.status.value != "PASS" for v in view.attention)
    assert not prod.attention and staging.attention
    assert prod._slot is staging._slot and prod._slot.owner is staging  # prod's views were dropped
