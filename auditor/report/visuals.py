"""Geometry for the HTML report's pictures: the trust chain of a federation and the trend chart.

Only numbers and plain strings are computed here; the template draws them as inline SVG with
autoescaping on, so no text from an API ever reaches the markup unescaped.

Controls are placed on the chain by an explicit table, then by id prefix for controls a user
adds (`ACME-OKTA-...` does not match; it is listed under "other controls" instead of being
guessed onto a link).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from auditor.models import Finding, Status, TrendPoint

# Worst first: the colour of a link is the worst status among its controls.
_RANK = {Status.FAIL: 0, Status.ERROR: 1, Status.WAIVED: 2, Status.PASS: 3, Status.SKIPPED: 4}

# (node id, label, sub-label, row). Row 0: the sign-in chain; row 1: what guards it; row 2: the
# Amazon Connect sign-in chain (drawn only when its controls are judged).
NODES: tuple[tuple[str, str, str, int], ...] = (
    ("okta_app", "Okta SAML app", "ACS · audience · claims", 0),
    ("metadata", "Metadata & cert", "entity ID · signing cert", 0),
    ("cognito_idp", "Cognito IdP", "pool · domain · mapping", 0),
    ("app_client", "App client", "enabled identity providers", 0),
    ("scp", "Organizations SCP", "deny delete, in effect", 1),
    ("protected", "Role & instance", "exist (no stale ARN)", 1),
    ("okta_connect_app", "Okta Connect app", "ACS · relay state · role", 2),
    ("saml_provider", "IAM SAML provider", "entity ID · certificate", 2),
    ("connect_role", "Connect user role", "trust · federation token", 2),
    ("connect_instance", "Connect instance", "SAML identity", 2),
)

CONTROL_NODE: dict[str, str] = {
    "OKTA-APP-ACTIVE": "okta_app",
    "OKTA-SAML-ACS-URL": "okta_app",
    "OKTA-SAML-AUDIENCE": "okta_app",
    "OKTA-SAML-EMAIL-ATTRIBUTE": "okta_app",
    "OKTA-SAML-SIGNING": "okta_app",
    "OKTA-ASSIGNMENTS": "okta_app",
    "OKTA-CERT-EXPIRY": "metadata",
    "COGNITO-IDP-METADATA": "metadata",
    "COGNITO-DOMAIN": "cognito_idp",
    "COGNITO-IDP-SAML": "cognito_idp",
    "COGNITO-IDP-NAME": "cognito_idp",
    "COGNITO-IDP-EMAIL-MAPPING": "cognito_idp",
    "COGNITO-CLIENT-IDP-ENABLED": "app_client",
    "SCP-DENY-ROLE-DELETION": "scp",
    "SCP-DENY-INSTANCE-DELETION": "scp",
    "SCP-PROTECTED-RESOURCES-EXIST": "protected",
    "OKTA-CONNECT-APP": "okta_connect_app",
    "CONNECT-IAM-SAML-PROVIDER": "saml_provider",
    "CONNECT-ROLE-TRUST": "connect_role",
    "CONNECT-ROLE-FEDERATION": "connect_role",
    "CONNECT-INSTANCE-SAML": "connect_instance",
}
# For controls not in the table (new built-ins, user policies named after a system).
PREFIX_NODE: tuple[tuple[str, str], ...] = (
    ("OKTA-CONNECT-", "okta_connect_app"),
    ("CONNECT-ROLE-", "connect_role"),
    ("CONNECT-INSTANCE-", "connect_instance"),
    ("CONNECT-IAM-", "saml_provider"),
    ("COGNITO-CLIENT-", "app_client"),
    ("COGNITO-", "cognito_idp"),
    ("OKTA-CERT-", "metadata"),
    ("OKTA-", "okta_app"),
    ("SCP-", "scp"),
)

NODE_W, NODE_H, GAP, PAD = 180, 64, 44, 6
ROW_GAP = 34
_ROW_OF = {node_id: row for node_id, _, _, row in NODES}
_CONNECT_NODES = {node_id for node_id, row in _ROW_OF.items() if row == 2}


def node_for(control_id: str) -> str | None:
    """The chain link a control belongs to, or None when it is about something else."""
    if control_id in CONTROL_NODE:
        return CONTROL_NODE[control_id]
    return next((node for prefix, node in PREFIX_NODE if control_id.startswith(prefix)), None)


def worst(statuses: Iterable[Status]) -> Status | None:
    """The status that colours a link: FAIL, then ERROR, WAIVED, PASS, SKIPPED."""
    ordered = sorted(statuses, key=lambda s: _RANK[s])
    return ordered[0] if ordered else None


@dataclass(frozen=True)
class ChainNode:
    """One link of the chain with its controls; `index` picks its place (see chain_css)."""

    id: str
    index: int
    label: str
    sublabel: str
    status: str  # a Status value, or "NONE" when no control judged it
    controls: tuple[tuple[str, str], ...]  # (control id, status)
    # Status of the connector from the previous link of the same row (None: first of its row).
    edge_in: str | None

    @property
    def summary(self) -> str:
        """e.g. "FAIL · 2 of 6", "PASS · 6 controls"."""
        n = len(self.controls)
        if not n:
            return "not checked"
        bad = sum(1 for _, s in self.controls if s in ("FAIL", "ERROR"))
        if self.status in ("FAIL", "ERROR"):
            return f"{self.status} · {bad} of {n}"
        return f"{self.status} · {n} control{'s' if n != 1 else ''}"


@dataclass(frozen=True)
class ChainView:
    """The trust-chain picture of one federation: its links and the controls on no link."""

    nodes: tuple[ChainNode, ...]
    other: tuple[tuple[str, str], ...]
    rows: int  # 2, or 3 with the Amazon Connect row


def _edge_status(a: str, b: str) -> str:
    # A connector is only as good as its weaker end: a break on either side breaks sign-in.
    known = [Status(s) for s in (a, b) if s != "NONE"]
    w = worst(known)
    return w.value if w else "NONE"


def chain_view(findings: Sequence[Finding]) -> ChainView:
    """The links of one federation's chain, coloured by their controls' statuses.

    One SVG serves every width: each link is placed by a CSS class (`n0`..`n9`) whose transform
    differs between the wide (rows) and narrow (one column) layouts, so a 200-federation report
    does not carry each picture twice.
    """
    by_node: dict[str, list[tuple[str, str]]] = {}
    other: list[tuple[str, str]] = []
    for f in sorted(findings, key=lambda f: f.control_id):
        place = node_for(f.control_id)
        if place is None:
            other.append((f.control_id, f.status.value))
        else:
            by_node.setdefault(place, []).append((f.control_id, f.status.value))
    # The Connect row is drawn once its controls are judged (not all SKIPPED for want of connect_sso).
    connect_judged = any(s != Status.SKIPPED.value for n in _CONNECT_NODES for _, s in by_node.get(n, []))
    nodes: list[ChainNode] = []
    previous: dict[int, ChainNode] = {}
    for index, (node_id, label, sub, row) in enumerate(NODES):
        if row == 2 and not connect_judged:
            continue
        controls = by_node.get(node_id, [])
        status = worst(Status(s) for _, s in controls)
        value = status.value if status else "NONE"
        before = previous.get(row)
        link = ChainNode(node_id, index, label, sub, value, tuple(controls),
                         _edge_status(before.status, value) if before else None)
        nodes.append(link)
        previous[row] = link
    return ChainView(tuple(nodes), tuple(other), 3 if connect_judged else 2)


def chain_css() -> str:
    """Placement of the links (`g.n<i>`) and the picture's size, for the wide and narrow layouts.

    Built from the constants above only, never from data.
    """
    wide, narrow = [], []
    cols: dict[int, int] = {}
    rows_seen: list[int] = []
    for seq, (index, (_, _, _, row)) in enumerate(enumerate(NODES)):
        col = cols.get(row, 0)
        cols[row] = col + 1
        if row not in rows_seen:
            rows_seen.append(row)
        x, y = PAD + col * (NODE_W + GAP), PAD + row * (NODE_H + ROW_GAP)
        wide.append(f"svg.chain .n{index}{{transform:translate({x}px,{y}px)}}")
        vy = PAD + seq * (NODE_H + GAP // 2) + (len(rows_seen) - 1) * (ROW_GAP - GAP // 2)
        narrow.append(f"svg.chain .n{index}{{transform:translate({PAD}px,{vy}px)}}")
    width = PAD * 2 + max(cols.values()) * (NODE_W + GAP) - GAP
    per_row = {r: sum(1 for *_, rr in NODES if rr == r) for r in rows_seen}

    def v_height(rows: int) -> int:
        n = sum(per_row[r] for r in rows_seen[:rows])
        return PAD * 2 + n * (NODE_H + GAP // 2) - GAP // 2 + (rows - 1) * (ROW_GAP - GAP // 2)

    sizes_wide = "".join(f"svg.chain.rows{r}{{width:{width}px;height:{PAD * 2 + r * (NODE_H + ROW_GAP) - ROW_GAP}px}}"
                         for r in (2, 3))
    sizes_narrow = "".join(f"svg.chain.rows{r}{{width:{NODE_W + 2 * PAD}px;height:{v_height(r)}px}}" for r in (2, 3))
    return ("\n".join(wide) + "\n" + sizes_wide + "\n"
            "@media screen and (max-width: 720px) {\n" + "\n".join(narrow) + "\n" + sizes_narrow
            # The connector turns with the layout: CSS `d` replaces the path's own geometry.
            + '\nsvg.chain .e{d:path("M90,-20V-2M85,-9L90,-2L95,-9")}\n}\n')


@dataclass(frozen=True)
class TrendBar:
    """One run in the trend chart: stacked segments bottom-up, and its axis label."""

    run_id: str
    label: str
    x: int
    width: int
    segments: tuple[tuple[str, int, int, int], ...]  # (status, y, height, count)
    total: int
    current: bool
    mode: str = ""  # the run's mode, shown under the label when the runs are not all scans


@dataclass(frozen=True)
class TrendView:
    """The trend chart: bars, the y-axis ticks and the chart's size."""

    width: int
    height: int
    plot_top: int
    plot_bottom: int
    plot_left: int
    bars: tuple[TrendBar, ...]
    ticks: tuple[tuple[int, int], ...]  # (value, y)


TREND_ORDER = (Status.FAIL, Status.ERROR, Status.WAIVED, Status.SKIPPED, Status.PASS)


def trend_view(points: Sequence[TrendPoint], current_run: str, *, width: int = 900, height: int = 220) -> TrendView:
    """Stacked bars of status counts per run, oldest left; the current run is marked."""
    left, right, top, bottom = 44, 10, 10, 40
    plot_h = height - top - bottom
    totals = [sum(p.counts.get(s.value, 0) for s in Status) for p in points]
    peak = max(totals, default=0) or 1
    step = _nice_step(peak)
    top_value = ((peak + step - 1) // step) * step
    slot = (width - left - right) / max(len(points), 1)
    bar_w = max(4, min(48, int(slot * 0.7)))
    labels = trend_labels(points)
    show_modes = any(p.mode not in ("", "scan", "scheduled") for p in points)
    bars = []
    for i, (p, total) in enumerate(zip(points, totals, strict=True)):
        x = int(left + i * slot + (slot - bar_w) / 2)
        y = top + plot_h
        segs = []
        for status in TREND_ORDER[::-1]:  # PASS at the bottom, FAIL on top where the eye lands
            n = p.counts.get(status.value, 0)
            if not n:
                continue
            h = max(1, round(n * plot_h / top_value))
            y -= h
            segs.append((status.value, y, h, n))
        bars.append(TrendBar(p.run_id, labels[i], x, bar_w, tuple(segs), total, p.run_id == current_run,
                             p.mode if show_modes else ""))
    ticks = tuple((v, top + plot_h - round(v * plot_h / top_value)) for v in range(0, top_value + 1, step))
    return TrendView(width, height, top, top + plot_h, left, tuple(bars), ticks)


def trend_labels(points: Sequence[TrendPoint]) -> list[str]:
    """Each run's axis label: "MM-DD HH:MM", with the seconds when runs share a minute (a plan, a
    fix and the scan after it often do), and a counter beyond that, so that no two bars read alike."""
    minutes = [p.started_at[5:10] + " " + p.started_at[11:16] for p in points]
    labels = [m if minutes.count(m) == 1 else p.started_at[5:10] + " " + p.started_at[11:19]
              for m, p in zip(minutes, points, strict=True)]
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if labels.count(label) == 1 else f"{label} #{seen[label]}")
    return out


def _nice_step(peak: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if peak / step <= 5:
            return step
    return max(1, peak // 5)
