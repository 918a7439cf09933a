"""Benchmark: render every report format for a run of 200 federations x every built-in control.

Prints the render time and size of each format (target for HTML: under 2 s and under 5 MB).
A benchmark prints figures; it is not a timed unit test.

    .venv/bin/python bench/report_render.py [--federations 200]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from auditor.models import (
    FederationChanges,
    Finding,
    RunChanges,
    RunResult,
    StateChange,
    Status,
    TrendPoint,
    finding_uid,
)
from auditor.policy.loader import load_policies
from auditor.report import Format, writer

# A realistic mix: mostly passing, some drift, a few unknowns, waivers and skips.
_CYCLE = [Status.PASS] * 12 + [Status.FAIL, Status.FAIL, Status.ERROR, Status.WAIVED, Status.SKIPPED]


def build(n: int) -> RunResult:
    """A RunResult of n federations, one finding per built-in control, with history attached."""
    controls = load_policies([]).controls
    findings = []
    feds = [f"contact-center-{i:03d}" for i in range(n)]
    k = 0
    for fed in feds:
        for c in controls:
            status = _CYCLE[k % len(_CYCLE)]
            k += 1
            bad = status in (Status.FAIL, Status.ERROR, Status.WAIVED)
            findings.append(Finding(
                uid=finding_uid(c.id, fed, c.resource), control_id=c.id, title=c.title, severity=c.severity,
                status=status, federation=fed, resource=f"{c.resource}:{fed}",
                expected={"settings.signOn.audience": f"urn:amazon:cognito:sp:us-east-1_{fed}"},
                actual={"settings.signOn.audience": f"urn:amazon:cognito:sp:us-east-1_{fed}" + ("x" if bad else "")},
                message="all assertions hold" if not bad else f"{c.id}: value differs from the live pool",
                references=c.references))
    start = datetime(2026, 11, 28, 8, tzinfo=UTC)
    trend = tuple(TrendPoint(f"run-{d}", (start - timedelta(days=30 - d)).isoformat(timespec="seconds"),
                             {s.value: sum(1 for f in findings if f.status is s) for s in Status})
                  for d in range(30))
    changes = RunChanges("run-28", trend[-2].started_at, tuple(
        FederationChanges(fed, new_failures=("OKTA-SAML-AUDIENCE",) if i % 7 == 0 else (),
                          state=(StateChange("okta.app.settings.signOn.honorForceAuthn", True, False),))
        for i, fed in enumerate(feds)))
    return RunResult("run-29", start.isoformat(), (start + timedelta(seconds=90)).isoformat(), "0.1.0",
                     tuple(feds), tuple(findings), {}, {"snapshot_sha256": "0" * 64, "policy_files": {}},
                     changes=changes, trend=trend)


def main() -> None:
    """Render each format once (after a warm-up) and print time and size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--federations", type=int, default=200)
    args = parser.parse_args()
    result = build(args.federations)
    print(f"{args.federations} federations, {len(result.findings)} findings")
    for fmt in Format:
        render = writer(fmt)
        render(build(2))  # warm-up: imports and template compilation are not the render
        t0 = time.perf_counter()
        data = render(result)
        elapsed = time.perf_counter() - t0
        note = ""
        if fmt is Format.HTML:
            ok = elapsed < 2 and len(data) < 5 * 1024 * 1024
            note = "  (target < 2 s and < 5 MB: " + ("met)" if ok else "MISSED)")
        print(f"{fmt.value:9} {elapsed * 1000:8.0f} ms {len(data) / 1024 / 1024:8.2f} MB{note}")


if __name__ == "__main__":
    main()
