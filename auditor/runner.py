"""The pipeline, one direction: config -> collect -> snapshot -> evaluate (+ waivers) -> history
-> reports -> evidence manifest -> (optional) publishing.

The CLI only parses arguments and calls these functions.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import queue
import secrets
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor import __version__
from auditor.collectors.base import DEFAULT_CONCURRENCY, Collector, Progress
from auditor.config import Config, FederationConfig, NotifySettings, ReportSettings, okta_secret
from auditor.errors import ConfigError, InputProblem, UnknownFederationError
from auditor.evaluate.engine import evaluate, evaluate_estate, evaluate_federation
from auditor.evaluate.waivers import WaiverSet, apply_waivers, parse_waivers
from auditor.history import History, pack_state
from auditor.models import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, Finding, RunResult, Status
from auditor.outputs import check_output_dir
from auditor.policy.frameworks import check_selection
from auditor.policy.loader import PolicySet, load_policies
from auditor.remediate.model import ChangeOutcome, FindingFix, OutcomeState, RemediationResult, SkipReason
from auditor.report import Format, write_reports
from auditor.report.evidence import sha256_file, write_manifest
from auditor.report.json_report import finding_problem
from auditor.snapshot import FederationSnapshot, Snapshot, StoredResources, encode_federation
from auditor.yamlio import YamlLoadError, load_yaml_file

if TYPE_CHECKING:  # types only: publishing and remediation are imported by the runs that use them
    from auditor.remediate import RemediationOptions
    from auditor.report.publish import Published


@dataclass(frozen=True)
class ScanOptions:
    """Options that change how a run behaves; one frozen object, never globals."""

    formats: tuple[Format, ...] = (Format.HTML, Format.JSON)
    output_dir: Path | None = None  # default: the config's reports.dir
    federations: tuple[str, ...] = ()  # empty: all
    now: datetime | None = None  # evaluation time (tests pin it)
    mode: str = "scan"
    # Federations in flight per collector; 1 collects one federation at a time, collector by collector.
    concurrency: int = DEFAULT_CONCURRENCY
    # Framework sections for the reports (`--framework`); empty: the config's reports.frameworks.
    frameworks: tuple[str, ...] = ()
    # Send the findings to AWS Security Hub (`--security-hub`; or reports.security_hub in the config).
    security_hub: bool = False
    # Who changed it (`--attribute`): "new", "all" or "none"; None: the config's attribution.mode.
    attribute: str | None = None


@dataclass(frozen=True)
class RunOutput:
    """What a run produced: the result, its folder and the files written."""

    result: RunResult
    run_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    # Set when reports.s3 is configured and the upload succeeded.
    published: Published | None = None
    # Why publishing failed, when it did (the reports on disk are complete either way).
    publish_error: str | None = None
    # The signal that stopped a --fix run ("SIGINT", "SIGTERM"); its report, manifest and history
    # entry are complete, and the CLI exits 130.
    interrupted: str | None = None
    # The Security Hub import, when one was asked for (auditor.report.security_hub.PublishResult).
    security_hub: object | None = None


def new_run_id(now: datetime | None = None) -> str:
    """Sortable, unique: `20261128T084000Z-3f9a1c`."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def select_federations(config: Config, names: Sequence[str]) -> list[FederationConfig]:
    """The federations named (all when none), in the config's order; UnknownFederationError
    (exit 3) naming the first unknown one and the names the config has, ConfigError (exit 3)
    when the config lists none."""
    if not config.federations:
        raise ConfigError([InputProblem(
            str(config.path), None, None, "the config lists no federations: there is nothing to scan",
            f"add one under `federations:`, or let `auditor discover --config {config.path} --write {config.path}` "
            "find them")])
    if not names:
        return list(config.federations)
    known = {f.name for f in config.federations}
    for name in names:
        if name not in known:
            raise UnknownFederationError(name, tuple(sorted(known)), str(config.path))
    return [f for f in config.federations if f.name in names]


def scan(config: Config, options: ScanOptions, *, policies: PolicySet | None = None,
         collectors: Sequence[Collector] | None = None, progress: Progress | None = None,
         remediation: RemediationOptions | None = None) -> RunOutput:
    """Collect the live state, judge it and write the reports. Never raises for API failures.

    With `remediation`, also plan the fixes and, when asked and confirmed, apply them, then
    re-collect the touched federations so the report says whether each fix is verified. A
    SIGINT/SIGTERM once changes are being applied stops the apply safely, skips the re-collection
    and still writes and records the whole run (RunOutput.interrupted says so).
    """
    from auditor.collectors import collect, collect_options, default_collectors

    if remediation is not None and options.mode == "scan":  # a library caller: say what the run did
        options = dataclasses.replace(options, mode="fix" if remediation.apply else "plan")

    check_reports_dir(config, options)
    started = datetime.now(UTC)
    policies = policies or load_policies(list(config.policies), frameworks=list(config.frameworks))
    selected = options.frameworks or config.report_settings.frameworks
    check_selection(policies.frameworks, selected, where="--framework" if options.frameworks else str(config.path))
    feds = select_federations(config, options.federations)
    secret = okta_secret(config)
    limits = collect_options(config, options.concurrency)
    if collectors is None:
        collectors = default_collectors(config, secret, progress, limits)
    run_id = new_run_id(started)
    # A progress bar (auditor.progress.ProgressBar) counts collector x federation completions.
    start_bar = getattr(progress, "start", None)
    if callable(start_bar):
        start_bar(len(collectors) * len(feds))
    # Each federation is judged as soon as it is collected, while collection waits on rate
    # limits for the others. Not with --fix: its findings are judged after the changes.
    streaming = (StreamingEvaluator(policies, config.settings_for_snapshot(), options.now or started,
                                    pack_history=config.report_settings.history_path is not None)
                 if remediation is None else None)
    try:
        snapshot = collect(config, feds, collectors, run_id=run_id, on_done=getattr(progress, "collected", None),
                           on_federation=streaming.submit if streaming is not None else None)
    finally:
        if streaming is not None:
            streaming.finish()
    finish_bar = getattr(progress, "finish", None)
    if callable(finish_bar):
        finish_bar()
    if config.discovery.enabled:
        snapshot = dataclasses.replace(snapshot, estate=discover_estate(config, secret, progress, options.concurrency))
    fix: RemediationResult | None = None
    snapshot_after: Snapshot | None = None
    if remediation is not None:
        out_dir = options.output_dir or config.reports_dir
        evaluated_at = options.now or datetime.now(UTC)
        findings = evaluate(snapshot, policies, now=evaluated_at)
        from auditor.remediate import remediate
        from auditor.remediate.interrupt import sigterm_interrupts

        fix = remediate(config, secret, snapshot, findings, policies, out_dir / run_id, remediation, now=evaluated_at)
        touched = fix.applied_federations()
        if touched and fix.interrupted is None:
            try:
                with sigterm_interrupts():
                    if progress:
                        progress(",".join(sorted(touched)), "re-collecting to verify the fixes")
                    snapshot_after = collect(config, [f for f in feds if f.name in touched],
                                             default_collectors(config, secret, progress, limits), run_id=run_id)
            except KeyboardInterrupt as exc:  # the changes are made: report them, unverified
                fix = dataclasses.replace(fix, interrupted="SIGTERM" if exc.args == ("SIGTERM",) else "SIGINT")

    hub = security_hub_for(config, options)
    attribution = attribution_for(config, options, secret, started)

    def write_run() -> RunOutput:
        target = RunTarget(output_dir=options.output_dir or config.reports_dir, config_path=config.path,
                           settings=config.report_settings, notifications=config.notifications,
                           s3_client=_s3_client(config) if config.report_settings.s3 else None,
                           security_hub=hub, attribution=attribution)
        try:
            return judge(snapshot, policies, options, started=started, target=target,
                         fix=FixToVerify(fix, snapshot_after) if fix is not None else None,
                         streamed=streaming.streamed(snapshot) if streaming is not None else None)
        finally:
            if streaming is not None:
                streaming.close()

    if fix is None or not fix.applied:
        return write_run()
    # A run that changed something is written and recorded whole, whatever signal comes meanwhile.
    from auditor.remediate.interrupt import deferred_signals

    with deferred_signals() as received:
        out = write_run()
    signal_name = fix.interrupted or (received[0] if received else None)
    return dataclasses.replace(out, interrupted=signal_name) if signal_name else out


@dataclass(frozen=True)
class AttributionTarget:
    """Who-changed-it for a run: which FAILs ("new" since the previous run, or "all"), the look-back
    window, the time the window ends, and the reader of the change events
    (auditor.collectors.change_events.ChangeEventReader)."""

    mode: str
    lookback_days: int
    now: datetime
    reader: Any


def attribution_for(config: Config, options: ScanOptions, secret: str | None,
                    started: datetime) -> AttributionTarget | None:
    """The attribution of a live scan (None: `--attribute none` / attribution.mode none)."""
    mode = options.attribute or config.attribution.mode
    if mode == "none":
        return None
    from auditor.collectors.change_events import ChangeEventReader

    return AttributionTarget(mode, config.attribution.lookback_days, options.now or started,
                             ChangeEventReader(config, secret))


@dataclass(frozen=True)
class SecurityHubTarget:
    """Where ASFF findings go (`aws_target`) and the client that imports them (None: write the
    asff file only); `problem` says why the target could not be worked out (a report notice)."""

    aws_target: dict[str, Any] | None
    client: object | None = None
    problem: str | None = None
    # The federations the config names (None: not known, as when re-judging a snapshot): an
    # earlier run's finding of a federation no longer among them is archived in Security Hub.
    configured: tuple[str, ...] | None = None


def security_hub_for(config: Config, options: ScanOptions) -> SecurityHubTarget | None:
    """The Security Hub target of a scan: reports.security_hub, else aws.region and the scanning
    credentials' account (sts:GetCallerIdentity, which needs no permission). None when neither
    `--security-hub`, reports.security_hub nor the asff format was asked for."""
    settings = config.report_settings.security_hub
    publish = options.security_hub or settings is not None
    if not publish and Format.ASFF not in options.formats:
        return None
    import boto3
    from botocore.config import Config as BotoConfig
    from botocore.exceptions import BotoCoreError, ClientError

    region = (settings.region if settings else None) or config.aws.region
    session = boto3.session.Session(profile_name=config.aws.profile, region_name=region)
    account = settings.account_id if settings else None
    if account is None:
        try:
            account = str(session.client("sts", endpoint_url=config.aws.endpoint_url).get_caller_identity()["Account"])
        except (BotoCoreError, ClientError) as exc:
            return SecurityHubTarget(None, problem=f"Security Hub/ASFF: cannot tell the AWS account "
                                     f"(sts:GetCallerIdentity failed: {exc}); set reports.security_hub.account_id")
    partition = session.get_partition_for_region(region)
    client = session.client("securityhub", endpoint_url=config.aws.endpoint_url,
                            config=BotoConfig(retries={"max_attempts": 5, "mode": "standard"})) if publish else None
    return SecurityHubTarget({"region": region, "account_id": account, "partition": partition}, client,
                             configured=tuple(f.name for f in config.federations))


def discover_estate(config: Config, secret: str | None, progress: Progress | None,
                    concurrency: int) -> FederationSnapshot:
    """Discovery for a scan with `discovery.enabled`: the coverage as the snapshot's estate-level
    resources (auditor.resources.ESTATE_RESOURCES); what could not be read as its errors."""
    from auditor.collectors.discovery import scope_from
    from auditor.discovery import run_discovery
    from auditor.discovery.match import estate_items
    from auditor.snapshot import CollectionError

    coverage = run_discovery(config, secret, scope_from(config), progress=progress, concurrency=concurrency)
    federations, references = estate_items(coverage)
    errors = tuple(CollectionError(key, f"{n['where']}: {n['message']}")
                   for n in coverage.notices for key in ("coverage.federation", "coverage.reference"))
    return FederationSnapshot(name="estate", config={"discovery": {"scope": coverage.scope}},
                              resources={"coverage.federation": federations, "coverage.reference": references},
                              errors=errors)


def _s3_client(config: Config) -> object:
    import boto3
    from botocore.config import Config as BotoConfig

    # SigV4 explicitly: AWS refuses a SigV2-presigned GET of an SSE-KMS object, and boto3 may
    # still pick SigV2 for S3 presigning with a custom endpoint.
    session = boto3.session.Session(profile_name=config.aws.profile, region_name=config.aws.region)
    return session.client("s3", endpoint_url=config.aws.endpoint_url,
                          config=BotoConfig(signature_version="s3v4", retries={"max_attempts": 5, "mode": "standard"}))


def check_reports_dir(config: Config, options: ScanOptions) -> None:
    """Raise OutputLocationError (exit 3) when the run's report folder cannot be written: checked
    before any API call, since writing it would otherwise fail only after the whole collection."""
    check_output_dir(options.output_dir or config.reports_dir, how_to_change=_reports_dir_fix(options, config.path))


def _reports_dir_fix(options: ScanOptions, config_path: Path | None) -> str:
    """How the user points the reports elsewhere: -o, or the config's reports.dir it came from."""
    if options.output_dir is None and config_path is not None:
        return f"change reports.dir in {config_path} or pass -o a folder you can write to"
    return "pass -o a folder you can write to"


def load_waiver_set(path: Path | None) -> WaiverSet:
    """Read and validate the waivers file; an unreadable file is a problem, not a crash."""
    if path is None:
        return WaiverSet()
    try:
        return parse_waivers(load_yaml_file(path))
    except YamlLoadError as exc:
        return WaiverSet(problems=(exc.problem,))


@dataclass(frozen=True)
class RunTarget:
    """Where a judged run is written and what else it reaches: the reports folder (each run gets
    a folder in it), the config file it came from (its digest is evidence), the report settings
    (waivers, history, trend, signing key, S3) and the notifications."""

    output_dir: Path
    config_path: Path | None = None
    settings: ReportSettings = field(default_factory=ReportSettings)
    notifications: NotifySettings | None = None
    # The S3 client publishing uses (with settings.s3); None: the run is not published.
    s3_client: object | None = None
    # Where ASFF findings go and the Security Hub client (None: neither asked for).
    security_hub: SecurityHubTarget | None = None
    # Who changed what newly fails (None: not looked for, as when re-judging a snapshot offline).
    attribution: AttributionTarget | None = None


@dataclass(frozen=True)
class FixToVerify:
    """A planned or applied --fix, to be judged with the run: the remediation result and the
    state of the touched federations re-collected after the changes (None: nothing re-collected)."""

    result: RemediationResult
    snapshot_after: Snapshot | None = None


@dataclass(frozen=True)
class Evaluated:
    """Judging stage 1, the snapshot evaluated: every finding, in the snapshot's federation order,
    and the time it was judged at (certificate expiry depends on it)."""

    at: datetime
    findings: tuple[Finding, ...]
    # One per finding: True when that finding's report.json item already passed the report schema
    # (a scan checks them while it still collects; see StreamingEvaluator).
    schema_checked: tuple[bool, ...]

    def __post_init__(self) -> None:
        if len(self.schema_checked) != len(self.findings):
            raise ValueError("schema_checked must hold one flag per finding")

    @classmethod
    def of(cls, at: datetime, findings: Sequence[Finding]) -> Evaluated:
        """Findings none of which was checked against the report schema yet."""
        return cls(at, tuple(findings), (False,) * len(findings))


@dataclass(frozen=True)
class Verdict:
    """Judging stage 2, the findings as reported: waivers applied and, after --fix, each applied
    change verified against the re-collected state and noted on the findings it is for."""

    findings: tuple[Finding, ...]
    schema_checked: tuple[bool, ...]  # one per finding, as in Evaluated (a changed finding: False)
    notices: tuple[str, ...]
    remediation: RemediationResult | None = None


@dataclass(frozen=True)
class StateWritten:
    """Judging stage 3, the collected state on disk: the run folder holding snapshot.json (after
    --fix also snapshot-after-fix.json and plan.json), and the evidence every report cites."""

    run_dir: Path
    snapshot_path: Path
    evidence: dict[str, Any]


@dataclass(frozen=True)
class Streamed:
    """What a scan did while it still collected (StreamingEvaluator): each federation judged, its
    state packed for the history and its snapshot.json text made. Used by `judge` in place of
    evaluating, packing and encoding again."""

    evaluated: Evaluated
    packed_states: Mapping[str, bytes]  # by federation name; empty when the run keeps no history
    snapshot_texts: SnapshotTexts


def judge(snapshot: Snapshot, policies: PolicySet, options: ScanOptions, *, started: datetime,
          target: RunTarget, fix: FixToVerify | None = None, streamed: Streamed | None = None) -> RunOutput:
    """Evaluate a snapshot (live or loaded from disk), record it in the history, write snapshot,
    reports and the evidence manifest, and publish the folder when configured.

    One stage after the other, each handing the next one small value: evaluate (Evaluated) ->
    waivers and fix verification (Verdict) -> collected state on disk (StateWritten) -> the
    RunResult, completed by the history and the notifications -> reports and manifest -> publishing.
    After `--fix`, `fix.snapshot_after` holds the re-collected state of the touched federations:
    their findings are judged from it, and each applied change is marked verified or not.
    `streamed` is what a scan judged and prepared while collecting `snapshot` (not with a
    re-collected state: that is judged afresh).
    """
    check_output_dir(target.output_dir, how_to_change=_reports_dir_fix(options, target.config_path))
    now = options.now or datetime.now(UTC)  # waivers expire as of now
    if fix is not None and fix.snapshot_after is not None:
        streamed = None
    if streamed is not None:  # the federations were judged while collecting; the estate is judged now
        evaluated = with_estate(streamed.evaluated, snapshot, policies)
    else:
        evaluated = evaluate_snapshot(snapshot, policies, options, fix)
    verdict = reach_verdict(evaluated, load_waiver_set(target.settings.waivers_path), now, fix)
    state = write_state(snapshot, target.output_dir / snapshot.run_id, policies, evaluated, target.config_path,
                        fix=fix, snapshot_texts=streamed.snapshot_texts if streamed is not None else None)
    result = run_result(snapshot, options, started, verdict, state)
    result = _with_frameworks(result, policies, options.frameworks or target.settings.frameworks, target.security_hub)
    # The history keeps the state the findings were judged from: after --fix, the re-collected
    # one, so that a diff with the run before shows the fields the fix changed.
    judged = merge_snapshots(snapshot, fix.snapshot_after) if fix is not None and fix.snapshot_after else snapshot
    result = record_history(result, judged, state.run_dir, target.settings,
                            packed_states=streamed.packed_states if streamed is not None else None,
                            interrupted=verdict.remediation is not None and verdict.remediation.interrupted is not None)
    result, verdict = attribute_findings(result, verdict, snapshot, target.attribution, policies)
    if target.attribution is not None and target.settings.history_path is not None:
        History(target.settings.history_path).record_attributions(result)
    if target.notifications is not None:
        result = send_notifications(result, target.notifications, state.run_dir)
    result, hub_result = send_to_security_hub(result, target.security_hub, target.settings.history_path)
    result, formats = report_formats(result, options.formats, target.security_hub)
    files = write_run_reports(result, verdict, state, formats, policies, target)
    return publish(RunOutput(result, state.run_dir, files, security_hub=hub_result), target)


def evaluate_snapshot(snapshot: Snapshot, policies: PolicySet, options: ScanOptions,
                      fix: FixToVerify | None = None) -> Evaluated:
    """Stage 1 when nothing was judged while collecting: evaluate the snapshot (after --fix, with
    the touched federations' re-collected state in place of their state before the changes)."""
    judged = snapshot
    if fix is not None and fix.snapshot_after is not None:
        judged = merge_snapshots(snapshot, fix.snapshot_after)
    at = options.now or datetime.now(UTC)
    return Evaluated.of(at, evaluate(judged, policies, now=at))


def with_estate(evaluated: Evaluated, snapshot: Snapshot, policies: PolicySet) -> Evaluated:
    """Stage 1 after streaming: the federations' findings judged while collecting, then the
    estate-level controls (a scan with discovery), judged at the same time."""
    estate = evaluate_estate(snapshot, policies, now=evaluated.at)
    if not estate:
        return evaluated
    return Evaluated(evaluated.at, evaluated.findings + tuple(estate),
                     evaluated.schema_checked + (False,) * len(estate))


def reach_verdict(evaluated: Evaluated, waivers: WaiverSet, now: datetime, fix: FixToVerify | None) -> Verdict:
    """Stage 2: apply the waivers and, after --fix, verify each applied change and note it on the
    findings it is for. A finding either step rewrites is no longer the one the schema passed."""
    findings, notices = apply_waivers(evaluated.findings, waivers, now)
    checked = _still_checked(evaluated.findings, findings, evaluated.schema_checked)
    remediation = None
    if fix is not None:
        remediation = verify_outcomes(fix.result, findings)
        annotated = annotate_findings(findings, remediation)
        checked, findings = _still_checked(findings, annotated, checked), annotated
    return Verdict(tuple(findings), checked, tuple(notices), remediation)


def _still_checked(before: Sequence[Finding], after: Sequence[Finding], checked: Sequence[bool]) -> tuple[bool, ...]:
    """The schema flags of `after`, a one-for-one rewrite of `before`: kept for a finding the
    rewrite left equal, dropped for one it changed (and for all, were it not one-for-one)."""
    if len(after) != len(before):
        return (False,) * len(after)
    return tuple(ok and new == old for ok, new, old in zip(checked, after, before, strict=True))


def write_state(snapshot: Snapshot, run_dir: Path, policies: PolicySet, evaluated: Evaluated,
                config_path: Path | None, *, fix: FixToVerify | None = None,
                snapshot_texts: SnapshotTexts | None = None) -> StateWritten:
    """Stage 3: the run folder with snapshot.json (federation texts made while collecting are
    reused: `snapshot_texts`), after --fix the re-collected snapshot-after-fix.json and plan.json;
    and the evidence the reports cite (digests, policy files, times)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    snapshot_path = run_dir / "snapshot.json"
    snapshot.write(snapshot_path, snapshot_texts.text if snapshot_texts is not None else None)
    if fix is not None and fix.snapshot_after is not None:
        fix.snapshot_after.write(run_dir / "snapshot-after-fix.json")
    if fix is not None:
        (run_dir / "plan.json").write_text(json.dumps(fix.result.plan.to_json(), indent=2, default=str) + "\n",
                                           encoding="utf-8")
    evidence = {
        "snapshot_sha256": sha256_file(snapshot_path),
        "config_sha256": sha256_file(config_path) if config_path and config_path.exists() else None,
        "policy_files": policies.files,
        "evaluated_at": evaluated.at.isoformat(timespec="seconds"),
        "collected_at": snapshot.collected_at,
    }
    return StateWritten(run_dir, snapshot_path, evidence)


def run_result(snapshot: Snapshot, options: ScanOptions, started: datetime, verdict: Verdict,
               state: StateWritten) -> RunResult:
    """Stage 4: the run as every report shows it (finished now; history and notices come next)."""
    return RunResult(
        run_id=snapshot.run_id,
        started_at=started.isoformat(timespec="seconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        tool_version=__version__,
        federations=tuple(f.name for f in snapshot.federations),
        findings=verdict.findings,
        collection_errors={f.name: [e.to_json() for e in f.errors] for f in snapshot.federations},
        evidence=state.evidence,
        mode=options.mode,
        notices=verdict.notices,
        remediation=verdict.remediation,
    )


def record_history(result: RunResult, snapshot: Snapshot, run_dir: Path, settings: ReportSettings, *,
                   packed_states: Mapping[str, bytes] | None = None, interrupted: bool = False) -> RunResult:
    """Stage 5: record the run in the history (when kept) and add the changes since the previous
    run and the trend. A --fix run stopped by a signal is recorded with exit code 130."""
    if settings.history_path is None:
        return result
    history = History(settings.history_path)
    history.record(result, snapshot, run_dir, packed=packed_states,
                   exit_code=EXIT_INTERRUPTED if interrupted else None)
    return dataclasses.replace(result, changes=history.changes_since_previous(result.run_id),
                               trend=history.trend(result.run_id, settings.trend_runs))


def attribute_findings(result: RunResult, verdict: Verdict, snapshot: Snapshot, target: AttributionTarget | None,
                       policies: PolicySet | None = None) -> tuple[RunResult, Verdict]:
    """Stage 5b: who changed it. Each FAIL new since its federation's previous run (every FAIL with
    mode "all") gets an attribution from the change events of its object, read since the previous
    run's start (for a FAIL not new, and without a previous run: the look-back window). A lookup
    that fails is a notice on the finding; statuses and the exit code never change."""
    if target is None:
        return result, verdict
    from auditor.evaluate.attribution import Subject, attribute, plan_queries, resource_key_of, time_driven

    clock_judged = {c.id for c in policies.controls if time_driven(c)} if policies is not None else set()

    feds = {f.name: f for f in snapshot.federations}
    floor = target.now - timedelta(days=target.lookback_days)
    previous = datetime.fromisoformat(result.changes.previous_started_at) if result.changes is not None else None
    if previous is not None and previous.tzinfo is None:
        previous = previous.replace(tzinfo=UTC)
    subjects: dict[int, Subject] = {}
    for i, finding in enumerate(result.findings):
        fed = feds.get(finding.federation)
        key = resource_key_of(finding)
        if finding.status is not Status.FAIL or fed is None or key is None:
            continue
        changes = result.changes.for_federation(finding.federation) if result.changes is not None else None
        new = changes is None or changes.first_seen or finding.control_id in changes.new_failures
        if target.mode == "new" and not new:
            continue
        since = max(floor, previous) if new and previous is not None and not (changes and changes.first_seen) else floor
        region = str((fed.config.get("aws") or {}).get("region") or snapshot.settings.get("aws", {}).get("region")
                     or "us-east-1")
        subjects[i] = Subject(finding, key, fed.resources, fed.config, region, since,
                              time_driven=finding.control_id in clock_judged)
    if not subjects:
        return result, verdict
    found = target.reader.read(plan_queries(subjects.values()), until=target.now)
    findings = list(result.findings)
    for i, subject in subjects.items():
        findings[i] = dataclasses.replace(findings[i], attribution=attribute(subject, found))
    checked = tuple(ok and i not in subjects for i, ok in enumerate(verdict.schema_checked))
    return (dataclasses.replace(result, findings=tuple(findings)),
            dataclasses.replace(verdict, findings=tuple(findings), schema_checked=checked))


def send_notifications(result: RunResult, notifications: NotifySettings, run_dir: Path) -> RunResult:
    """Stage 6: notify; before the reports are written, so that a failed notification is in them
    (never raises)."""
    from auditor.notify import notify

    return dataclasses.replace(result, notices=result.notices + tuple(notify(result, notifications, run_dir)))


def send_to_security_hub(result: RunResult, security_hub: SecurityHubTarget | None,
                         history_path: Path | None = None) -> tuple[RunResult, Any]:
    """Stage 6b: import the findings into AWS Security Hub when asked, and archive there the
    findings of the previous run that this one no longer reports (`findings_gone`); before the
    reports are written, so that a refused import is a notice in them. Never raises, and never
    changes the exit code. Returns the run and the import's result (None when nothing was sent)."""
    if security_hub is None or security_hub.client is None or result.aws_target is None:
        return result, None
    from auditor.report.asff import asff_findings, asff_timestamp, product_arn
    from auditor.report.security_hub import archive_findings, publish_findings

    hub_result = publish_findings(asff_findings(result), security_hub.client, target=result.aws_target)
    notices = hub_result.notices
    gone = findings_gone(result, security_hub.configured, history_path)
    if gone and not hub_result.stopped:  # an import that could not be made: archive nothing either
        archived = archive_findings(gone, security_hub.client, target=result.aws_target,
                                    updated_at=asff_timestamp(result.finished_at),
                                    product_arn=product_arn(result.aws_target))
        notices += archived.notices
    return dataclasses.replace(result, notices=result.notices + notices), hub_result


def findings_gone(result: RunResult, configured: tuple[str, ...] | None, history_path: Path | None) -> list[str]:
    """Finding uids of earlier runs (each federation's latest) that this run no longer reports:
    of a federation it scanned (a control, resource or estate item gone), or of one the config no
    longer names. A federation left out by `--federation` keeps its findings."""
    if history_path is None:
        return []
    previous = History(history_path).last_findings(result.run_id)
    current = {f.uid for f in result.findings}
    scanned = set(result.federations)
    return sorted(uid for uid, federation in previous.items() if uid not in current and (
        federation in scanned or (configured is not None and federation not in configured)))


def report_formats(result: RunResult, formats: tuple[Format, ...],
                   security_hub: SecurityHubTarget | None) -> tuple[RunResult, tuple[Format, ...]]:
    """The formats the run's reports can be written in: ASFF only with the AWS account the findings
    belong to (else a notice says why findings.asff.json is missing)."""
    if result.aws_target is not None or Format.ASFF not in formats:
        return result, formats
    if security_hub is None or security_hub.problem is None:  # a problem is already a notice
        result = dataclasses.replace(result, notices=(
            *result.notices, "findings.asff.json not written: ASFF needs the AWS account the findings belong to; "
            "set reports.security_hub.account_id (a live scan asks sts:GetCallerIdentity)"))
    return result, tuple(f for f in formats if f is not Format.ASFF)


def write_run_reports(result: RunResult, verdict: Verdict, state: StateWritten, formats: tuple[Format, ...],
                      policies: PolicySet, target: RunTarget) -> dict[str, Path]:
    """Stage 7: the reports in the run's formats (and each framework's attestation summary), then
    the evidence manifest over the whole folder (signed when a key is configured). Returns
    {name: path}, snapshot and manifest included."""
    files = write_reports(result, state.run_dir, formats, schema_checked=verdict.schema_checked)
    if result.frameworks:
        from auditor.report.attestation import write_attestations

        files.update(write_attestations(result, state.run_dir))
    files["snapshot"] = state.snapshot_path
    files["manifest"] = write_manifest(state.run_dir, run_id=result.run_id, tool_version=result.tool_version,
                                       policy_files=policies.files, config_path=target.config_path,
                                       signing_key=target.settings.signing_key)
    return files


def publish(out: RunOutput, target: RunTarget) -> RunOutput:
    """Stage 8: upload the run folder when reports.s3 is configured; a failure is noted in the
    output (the reports on disk are complete either way)."""
    s3 = target.settings.s3
    if s3 is None or target.s3_client is None:
        return out
    from botocore.exceptions import BotoCoreError, ClientError

    from auditor.report.publish import publish_run

    try:
        return dataclasses.replace(out, published=publish_run(out.run_dir, s3, target.s3_client))
    except (BotoCoreError, ClientError) as exc:
        return dataclasses.replace(out, publish_error=f"publishing to s3://{s3.bucket} failed: {exc}")


class SnapshotTexts:
    """Each federation's snapshot.json text (`encode_federation`), kept on disk, not in memory
    (~35 MB for 1,000 federations); the federations' resources are read back from it
    (`resources_at`) once they have left memory (StoredResources). Thread-safe."""

    def __init__(self) -> None:
        self._spool = tempfile.TemporaryFile(prefix="auditor-snapshot-")  # noqa: SIM115 (closed in close())
        self._where: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        # The last federation read back, decoded: its findings are consecutive, so attribution
        # reading one federation's resources many times decodes them once.
        self._last: tuple[tuple[int, int], dict[str, Any]] | None = None

    def add(self, name: str, text: str) -> tuple[int, int]:
        """Keep a federation's text (a later one for the same federation replaces it); returns
        where it is, for `resources_at`."""
        data = text.encode("utf-8")
        with self._lock:
            self._spool.seek(0, os.SEEK_END)
            where = self._where[name] = (self._spool.tell(), len(data))
            self._spool.write(data)
        return where

    def _read(self, where: tuple[int, int]) -> str:
        with self._lock:
            self._spool.seek(where[0])
            return self._spool.read(where[1]).decode("utf-8")

    def text(self, fed: FederationSnapshot) -> str | None:
        """The federation's text (None: none kept); the `encoded` hook of Snapshot.write."""
        where = self._where.get(fed.name)
        return None if where is None else self._read(where)

    def resources_at(self, where: tuple[int, int]) -> dict[str, Any]:
        """The resources of the federation text kept at `where` (as `add` returned it)."""
        last = self._last
        if last is not None and last[0] == where:
            return last[1]
        resources: dict[str, Any] = json.loads(self._read(where))["resources"]
        self._last = (where, resources)
        return resources

    def close(self) -> None:
        """Drop the texts."""
        with self._lock:
            self._spool.close()
            self._where.clear()
            self._last = None


@dataclass(frozen=True)
class JudgedFederation:
    """One federation judged while the scan collected the others (StreamingEvaluator's unit)."""

    findings: tuple[Finding, ...]
    # One per finding: its report.json item passed the report schema (else report.json re-checks
    # it and raises).
    schema_checked: tuple[bool, ...]


def _with_frameworks(result: RunResult, policies: PolicySet, selected: Sequence[str],
                     security_hub: SecurityHubTarget | None) -> RunResult:
    """The run with its framework sections and its ASFF target (and the notice when there is none)."""
    from auditor.evaluate.frameworks import framework_views

    check_selection(policies.frameworks, tuple(selected), where="--framework")
    views = framework_views(policies.frameworks, selected, result.findings, result.federations)
    target = None
    notices = result.notices
    if security_hub is not None:
        target = security_hub.aws_target
        if security_hub.problem:
            notices += (security_hub.problem,)
    labels = {f.id: f.related_requirement("").strip() for f in policies.frameworks.frameworks}
    return dataclasses.replace(result, frameworks=views, aws_target=target, notices=notices, framework_labels=labels)


class StreamingEvaluator:
    """Judges federations on a worker thread as `collect()` hands them over.

    Collection mostly waits (on latency and rate limits); judging each federation meanwhile takes
    the evaluation off the end of the scan, with the work the writers would do at the end: each
    finding checked against the report schema, the federation's state packed for the history and
    its snapshot.json text made. Then its resources leave memory: `submit` returns the
    StoredResources that stands in for them (collect() keeps it in the snapshot), read back from
    the spooled text when needed. A federation handed over again (its data changed) is judged
    again; the last judgement counts. `finish()` then `streamed(snapshot)` hand it all over;
    `close()` drops the spooled texts (the stored resources can no longer be read).
    """

    _DONE = object()

    def __init__(self, policies: PolicySet, settings: dict[str, Any], now: datetime, *,
                 pack_history: bool = False) -> None:
        self._policies, self._settings = policies, settings
        self.now = now  # the evaluation time of every federation it judges
        self._pack_history = pack_history
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._judged: dict[str, JudgedFederation] = {}
        self._packed: dict[str, bytes] = {}
        self._texts = SnapshotTexts()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="evaluate", daemon=True)
        self._thread.start()

    def submit(self, fed: FederationSnapshot) -> StoredResources:
        """Queue one collected federation (thread-safe; called from collector threads); returns
        what stands in for its resources (held until it is judged, then read back from disk)."""
        stored = StoredResources(fed.resources)
        self._queue.put((fed, stored))
        return stored

    def _work(self) -> None:
        while (item := self._queue.get()) is not self._DONE:
            if self._error is not None:
                continue
            fed, stored = item
            try:
                self._judged[fed.name] = self._judge(fed)
                if self._pack_history:
                    self._packed[fed.name] = pack_state(fed.resources)
                where = self._texts.add(fed.name, encode_federation(fed))
                stored.store(functools.partial(self._texts.resources_at, where))
            except BaseException as exc:  # re-raised by streamed(), like evaluate() would raise
                self._error = exc
            del fed, stored, item  # not held while waiting for the next one

    def _judge(self, fed: FederationSnapshot) -> JudgedFederation:
        findings = tuple(evaluate_federation(fed, self._settings, self._policies, now=self.now))
        return JudgedFederation(findings, tuple(finding_problem(f) is None for f in findings))

    def finish(self) -> None:
        """Wait until everything queued is judged."""
        self._queue.put(self._DONE)
        self._thread.join()

    def streamed(self, snapshot: Snapshot) -> Streamed:
        """After `finish()`: the snapshot's findings in its federation order (as `evaluate` orders
        them), with the packed states and snapshot texts; raises what judging raised."""
        if self._error is not None:
            raise self._error
        findings: list[Finding] = []
        checked: list[bool] = []
        for fed in snapshot.federations:
            judged = self._judged.get(fed.name)
            if judged is None:  # never handed over (cannot happen with collect(); cheap to cover)
                judged = self._judge(fed)
            findings += judged.findings
            checked += judged.schema_checked
        return Streamed(Evaluated(self.now, tuple(findings), tuple(checked)), self._packed, self._texts)

    def close(self) -> None:
        """Drop the spooled snapshot texts."""
        self._texts.close()


def merge_snapshots(before: Snapshot, after: Snapshot) -> Snapshot:
    """`before` with the federations re-collected in `after` replaced by their new state."""
    fresh = {f.name: f for f in after.federations}
    return dataclasses.replace(before, federations=tuple(fresh.get(f.name, f) for f in before.federations))


def verify_outcomes(result: RemediationResult, findings: Sequence[Finding]) -> RemediationResult:
    """An applied change is verified when every control it was for now passes (an interrupted
    run re-collected nothing: its applied changes stay unverified)."""
    status = {(f.federation, f.control_id): f.status for f in findings}
    outcomes = []
    for outcome in result.outcomes:
        change = outcome.change
        if outcome.state is OutcomeState.APPLIED_UNVERIFIED and result.interrupted is not None:
            detail = f"not re-collected: the run was interrupted ({result.interrupted})"
            outcome = ChangeOutcome(change, OutcomeState.APPLIED_UNVERIFIED,
                                    f"{outcome.detail}; {detail}" if outcome.detail else detail)
        elif outcome.state is OutcomeState.APPLIED_UNVERIFIED:
            still = [c for c in change.control_ids if status.get((change.federation, c)) is not Status.PASS]
            if not still:
                outcome = ChangeOutcome(change, OutcomeState.APPLIED_VERIFIED, "re-collected: the controls pass")
            else:
                outcome = ChangeOutcome(change, OutcomeState.APPLIED_UNVERIFIED,
                                        f"re-collected: {', '.join(still)} still not passing")
        outcomes.append(outcome)
    return dataclasses.replace(result, outcomes=tuple(outcomes))


def annotate_findings(findings: Sequence[Finding], result: RemediationResult) -> list[Finding]:
    """Each finding a change is for carries that change (and its outcome)."""
    out = []
    for finding in findings:
        change = result.plan.for_control(finding.federation, finding.control_id)
        if change is None:
            out.append(finding)
            continue
        out.append(dataclasses.replace(finding, remediation=FindingFix(change, result.outcome_of(change.id))))
    return out


@dataclass(frozen=True)
class RollbackOutput:
    """A rollback run: its id and folder, the fix run it undid, and each change's outcome."""

    run_id: str
    run_dir: Path
    undoes: str
    outcomes: tuple[ChangeOutcome, ...]
    exit_code: int
    # Earlier rollback runs of the same fix run (from the history), oldest first.
    earlier: tuple[str, ...] = ()


def rollback_fix_run(config: Config, fix_run_dir: Path) -> RollbackOutput:
    """Undo a --fix run as a run of its own, leaving the fix run's folder untouched.

    The rollback gets its own run id and folder under reports.dir holding its journal,
    rollback.json and manifest.json, and is recorded in the history with mode "rollback" and the
    fix run it undid. Each change is restored only when its object is still as the fix left it,
    so a second rollback finds the objects restored and writes nothing.
    """
    from auditor.remediate import rollback
    from auditor.remediate.interrupt import deferred_signals
    from auditor.remediate.journal import JOURNAL_NAME

    started = datetime.now(UTC)
    undoes = _run_id_of(fix_run_dir)
    run_id = new_run_id(started)
    run_dir = config.reports_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    settings = config.report_settings
    history = History(settings.history_path) if settings.history_path is not None else None
    earlier = tuple(r.run_id for r in history.rollbacks_of(undoes)) if history is not None else ()
    outcomes = tuple(rollback(config, okta_secret(config), fix_run_dir, run_dir / JOURNAL_NAME))
    ok = all(o.state is OutcomeState.RESTORED or o.skipped is SkipReason.NOTHING_TO_UNDO for o in outcomes)
    exit_code = EXIT_OK if ok else EXIT_FAIL
    started_at, finished_at = started.isoformat(timespec="seconds"), datetime.now(UTC).isoformat(timespec="seconds")
    federations = tuple(sorted({o.federation for o in outcomes}))
    doc = {"run_id": run_id, "mode": "rollback", "undoes": undoes, "undoes_run_dir": str(fix_run_dir),
           "started_at": started_at, "finished_at": finished_at,
           "tool_version": __version__, "federations": list(federations), "exit_code": exit_code,
           "earlier_rollbacks": list(earlier), "outcomes": [o.to_json() for o in outcomes]}
    with deferred_signals():  # objects were restored: the rollback's evidence is written whole
        (run_dir / "rollback.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        write_manifest(run_dir, run_id=run_id, tool_version=__version__, policy_files={}, config_path=config.path,
                       signing_key=settings.signing_key)
        if history is not None:
            history.record_rollback(run_id=run_id, started_at=started_at, finished_at=finished_at,
                                    tool_version=__version__, exit_code=exit_code, run_dir=run_dir,
                                    federations=federations, undoes=undoes)
    return RollbackOutput(run_id, run_dir, undoes, outcomes, exit_code, earlier)


def _run_id_of(run_dir: Path) -> str:
    """The run id a run folder's manifest names (its folder name when it has none: killed mid-apply)."""
    from auditor.report.evidence import MANIFEST

    try:
        run_id = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))["run_id"]
    except (OSError, ValueError, KeyError, TypeError):
        return run_dir.resolve().name
    return run_id if isinstance(run_id, str) and run_id else run_dir.resolve().name
