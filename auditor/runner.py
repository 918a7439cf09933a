"""The pipeline, one direction: config -> collect -> snapshot -> evaluate (+ waivers) -> history
-> reports -> evidence manifest -> (optional) publishing.

The CLI only parses arguments and calls these functions.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import secrets
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.collectors.base import DEFAULT_CONCURRENCY, Collector, Progress
from auditor.config import Config, FederationConfig, NotifySettings, ReportSettings, okta_secret
from auditor.evaluate.engine import evaluate, evaluate_estate, evaluate_federation
from auditor.evaluate.waivers import WaiverSet, apply_waivers, parse_waivers
from auditor.history import History, pack_state
from auditor.models import EXIT_FAIL, EXIT_OK, Finding, RunResult, Status
from auditor.outputs import check_output_dir
from auditor.policy.loader import PolicySet, load_policies
from auditor.remediate import RemediationOptions, RemediationResult, remediate
from auditor.remediate.journal import JOURNAL_NAME
from auditor.remediate.model import APPLIED_UNVERIFIED, APPLIED_VERIFIED, ChangeOutcome
from auditor.report import Format, write_reports
from auditor.report.evidence import sha256_file, write_manifest
from auditor.report.json_report import finding_problem
from auditor.snapshot import FederationSnapshot, Snapshot, encode_federation
from auditor.yamlio import YamlLoadError, load_yaml_file

# The exit code of a --fix run stopped by SIGINT/SIGTERM (128 + SIGINT, as shells report it),
# recorded in the history so that `auditor history` shows the run was cut short.
EXIT_INTERRUPTED = 130


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


@dataclass(frozen=True)
class RunOutput:
    """What a run produced: the result, its folder and the files written."""

    result: RunResult
    run_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    # Set when reports.s3 is configured and the upload succeeded (auditor.report.publish.Published).
    published: object | None = None
    # Why publishing failed, when it did (the reports on disk are complete either way).
    publish_error: str | None = None
    # The signal that stopped a --fix run ("SIGINT", "SIGTERM"); its report, manifest and history
    # entry are complete, and the CLI exits 130.
    interrupted: str | None = None


def new_run_id(now: datetime | None = None) -> str:
    """Sortable, unique: `20261128T084000Z-3f9a1c`."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def select_federations(config: Config, names: Sequence[str]) -> list[FederationConfig]:
    """The federations named (all when none); KeyError naming the unknown one."""
    if not names:
        return list(config.federations)
    known = {f.name for f in config.federations}
    for name in names:
        if name not in known:
            raise KeyError(f"no federation named {name!r}; the config has: {', '.join(sorted(known))}")
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
    from auditor.remediate.interrupt import deferred_signals, sigterm_interrupts

    if remediation is not None and options.mode == "scan":  # a library caller: say what the run did
        options = dataclasses.replace(options, mode="fix" if remediation.apply else "plan")

    check_reports_dir(config, options)
    started = datetime.now(UTC)
    policies = policies or load_policies(list(config.policies))
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
        precomputed = streaming.finish() if streaming is not None else None
    finish_bar = getattr(progress, "finish", None)
    if callable(finish_bar):
        finish_bar()
    if config.discovery.enabled:
        snapshot = dataclasses.replace(snapshot, estate=discover_estate(config, secret, progress, options.concurrency))
    fix: RemediationResult | None = None
    snapshot_after: Snapshot | None = None
    if remediation is not None:
        out_dir = options.output_dir or config.reports_dir
        findings = evaluate(snapshot, policies, now=options.now)
        fix = remediate(config, secret, snapshot, findings, policies, out_dir / run_id, remediation)
        touched = {o.change_id.split(":", 1)[0] for o in fix.outcomes if o.state == APPLIED_UNVERIFIED}
        if touched and fix.interrupted is None:
            try:
                with sigterm_interrupts():
                    if progress:
                        progress(",".join(sorted(touched)), "re-collecting to verify the fixes")
                    snapshot_after = collect(config, [f for f in feds if f.name in touched],
                                             default_collectors(config, secret, progress, limits), run_id=run_id)
            except KeyboardInterrupt as exc:  # the changes are made: report them, unverified
                fix = dataclasses.replace(fix, interrupted="SIGTERM" if exc.args == ("SIGTERM",) else "SIGINT")

    def write_run() -> RunOutput:
        return judge(snapshot, policies, options, started=started, config_path=config.path,
                     remediation=fix, snapshot_after=snapshot_after, prepared=precomputed,
                     output_dir=options.output_dir or config.reports_dir, settings=config.report_settings,
                     s3_client=_s3_client(config) if config.report_settings.s3 else None,
                     notifications=config.notifications)

    if fix is None or not fix.applied:
        return write_run()
    # A run that changed something is written and recorded whole, whatever signal comes meanwhile.
    with deferred_signals() as received:
        out = write_run()
    signal_name = fix.interrupted or (received[0] if received else None)
    return dataclasses.replace(out, interrupted=signal_name) if signal_name else out


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


def judge(snapshot: Snapshot, policies: PolicySet, options: ScanOptions, *, started: datetime,
          config_path: Path | None, output_dir: Path, settings: ReportSettings | None = None,
          s3_client: object | None = None, remediation: RemediationResult | None = None,
          snapshot_after: Snapshot | None = None, notifications: NotifySettings | None = None,
          prepared: StreamingEvaluator | None = None) -> RunOutput:
    """Evaluate a snapshot (live or loaded from disk), record it in the history, write snapshot,
    reports and the evidence manifest, and publish the folder when configured.

    After `--fix`, `snapshot_after` holds the re-collected state of the touched federations:
    their findings are judged from it, and each applied change is marked verified or not.
    `prepared` is the evaluator that already judged each federation of `snapshot` while a scan
    collected it, with the work it did ahead (findings checked against the report schema,
    history states packed, snapshot texts made); not with `snapshot_after`.
    """
    check_output_dir(output_dir, how_to_change=_reports_dir_fix(options, config_path))
    settings = settings or ReportSettings()
    now = options.now or datetime.now(UTC)
    if snapshot_after is not None:
        prepared = None
    judged = snapshot if snapshot_after is None else merge_snapshots(snapshot, snapshot_after)
    if prepared is not None:
        evaluated_at = prepared.now
        judged_findings = prepared.in_order(snapshot) + evaluate_estate(snapshot, policies, now=evaluated_at)
    else:
        evaluated_at = options.now or datetime.now(UTC)
        judged_findings = evaluate(judged, policies, now=evaluated_at)
    findings, notices = apply_waivers(judged_findings, load_waiver_set(settings.waivers_path), now)
    remediation_doc = None
    if remediation is not None:
        remediation = verify_outcomes(remediation, findings)
        findings = annotate_findings(findings, remediation)
        remediation_doc = remediation.to_json()
    run_dir = output_dir / snapshot.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    snapshot_path = run_dir / "snapshot.json"
    snapshot.write(snapshot_path, prepared.encoded if prepared is not None else None)
    if prepared is not None:
        prepared.close()
    if snapshot_after is not None:
        snapshot_after.write(run_dir / "snapshot-after-fix.json")
    if remediation is not None:
        (run_dir / "plan.json").write_text(json.dumps(remediation.plan.to_json(), indent=2, default=str) + "\n",
                                           encoding="utf-8")
    evidence = {
        "snapshot_sha256": sha256_file(snapshot_path),
        "config_sha256": sha256_file(config_path) if config_path and config_path.exists() else None,
        "policy_files": policies.files,
        "evaluated_at": evaluated_at.isoformat(timespec="seconds"),
        "collected_at": snapshot.collected_at,
    }
    result = RunResult(
        run_id=snapshot.run_id,
        started_at=started.isoformat(timespec="seconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        tool_version=__version__,
        federations=tuple(f.name for f in snapshot.federations),
        findings=tuple(findings),
        collection_errors={f.name: [e.to_json() for e in f.errors] for f in snapshot.federations},
        evidence=evidence,
        mode=options.mode,
        notices=tuple(notices),
        remediation=remediation_doc,
    )
    if settings.history_path is not None:
        history = History(settings.history_path)
        stopped = remediation is not None and remediation.interrupted is not None
        history.record(result, snapshot, run_dir, packed=prepared.packed if prepared is not None else None,
                       exit_code=EXIT_INTERRUPTED if stopped else None)
        result = dataclasses.replace(result, changes=history.changes_since_previous(result.run_id),
                                     trend=history.trend(result.run_id, settings.trend_runs))
    if notifications is not None:
        from auditor.notify import notify

        # Before the reports are written, so that a failed notification is in them (never raises).
        result = dataclasses.replace(result, notices=result.notices + tuple(notify(result, notifications, run_dir)))
    files = write_reports(result, run_dir, options.formats,
                          validated=prepared.validated if prepared is not None else None)
    files["snapshot"] = snapshot_path
    files["manifest"] = write_manifest(run_dir, run_id=result.run_id, tool_version=result.tool_version,
                                       policy_files=policies.files, config_path=config_path,
                                       signing_key=settings.signing_key)
    out = RunOutput(result, run_dir, files)
    if settings.s3 is not None and s3_client is not None:
        from botocore.exceptions import BotoCoreError, ClientError

        from auditor.report.publish import publish_run

        try:
            out = dataclasses.replace(out, published=publish_run(run_dir, settings.s3, s3_client))
        except (BotoCoreError, ClientError) as exc:
            out = dataclasses.replace(out, publish_error=f"publishing to s3://{settings.s3.bucket} failed: {exc}")
    return out


class StreamingEvaluator:
    """Judges federations on a worker thread as `collect()` hands them over.

    Collection mostly waits (on latency and rate limits); judging each federation meanwhile takes
    the evaluation off the end of the scan. A federation handed over again (its data changed)
    is judged again; the last judgement counts.
    """

    _DONE = object()

    def __init__(self, policies: PolicySet, settings: dict[str, Any], now: datetime, *,
                 pack_history: bool = False) -> None:
        self._policies, self._settings = policies, settings
        self.now = now  # the evaluation time of every federation it judges
        self._pack_history = pack_history
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._results: dict[str, list[Finding]] = {}
        self._error: BaseException | None = None
        # Work done ahead for the end of the scan: findings whose JSON passed the report schema
        # (by id, with the object itself so an id can never stand for another finding), and each
        # federation's state packed for the history.
        self._checked: dict[int, Finding] = {}
        self.packed: dict[str, bytes] = {}
        # Each federation's snapshot.json text, on disk (not in memory: ~35 MB for 1,000).
        self._spool = tempfile.TemporaryFile(prefix="auditor-snapshot-")  # noqa: SIM115 (closed in close())
        self._spooled: dict[str, tuple[int, int]] = {}
        self._thread = threading.Thread(target=self._work, name="evaluate", daemon=True)
        self._thread.start()

    def submit(self, fed: FederationSnapshot) -> None:
        """Queue one collected federation (thread-safe; called from collector threads)."""
        self._queue.put(fed)

    def _work(self) -> None:
        while (fed := self._queue.get()) is not self._DONE:
            if self._error is not None:
                continue
            try:
                findings = evaluate_federation(fed, self._settings, self._policies, now=self.now)
                self._results[fed.name] = findings
                for finding in findings:
                    if finding_problem(finding) is None:  # else report.json re-checks it and raises
                        self._checked[id(finding)] = finding
                if self._pack_history:
                    self.packed[fed.name] = pack_state(fed.resources)
                text = encode_federation(fed).encode("utf-8")
                self._spool.seek(0, os.SEEK_END)
                self._spooled[fed.name] = (self._spool.tell(), len(text))
                self._spool.write(text)
            except BaseException as exc:  # re-raised by in_order(), like evaluate() would raise
                self._error = exc

    def encoded(self, fed: FederationSnapshot) -> str | None:
        """The federation's snapshot.json text made while collecting (None: not made)."""
        where = self._spooled.get(fed.name)
        if where is None:
            return None
        self._spool.seek(where[0])
        return self._spool.read(where[1]).decode("utf-8")

    def close(self) -> None:
        """Drop the spooled texts."""
        self._spool.close()
        self._spooled.clear()

    def validated(self, finding: Finding) -> bool:
        """True when this very finding object was checked against the report schema."""
        return self._checked.get(id(finding)) is finding

    def finish(self) -> StreamingEvaluator:
        """Wait until everything queued is judged; returns self."""
        self._queue.put(self._DONE)
        self._thread.join()
        return self

    def in_order(self, snapshot: Snapshot) -> list[Finding]:
        """The findings in the snapshot's federation order (as `evaluate` orders them)."""
        if self._error is not None:
            raise self._error
        out: list[Finding] = []
        for fed in snapshot.federations:
            found = self._results.get(fed.name)
            if found is None:  # never handed over (cannot happen with collect(); cheap to cover)
                found = evaluate_federation(fed, self._settings, self._policies, now=self.now)
            out += found
        return out


def merge_snapshots(before: Snapshot, after: Snapshot) -> Snapshot:
    """`before` with the federations re-collected in `after` replaced by their new state."""
    fresh = {f.name: f for f in after.federations}
    return dataclasses.replace(before, federations=tuple(fresh.get(f.name, f) for f in before.federations))


def verify_outcomes(result: RemediationResult, findings: Sequence[Finding]) -> RemediationResult:
    """An applied change is verified when every control it was for now passes (an interrupted
    run re-collected nothing: its applied changes stay unverified)."""
    status = {(f.federation, f.control_id): f.status for f in findings}
    by_id = {c.id: c for c in result.plan.changes}
    outcomes = []
    for outcome in result.outcomes:
        change = by_id.get(outcome.change_id)
        if outcome.state == APPLIED_UNVERIFIED and result.interrupted is not None:
            detail = f"not re-collected: the run was interrupted ({result.interrupted})"
            outcome = ChangeOutcome(outcome.change_id, APPLIED_UNVERIFIED,
                                    f"{outcome.detail}; {detail}" if outcome.detail else detail)
        elif outcome.state == APPLIED_UNVERIFIED and change is not None:
            still = [c for c in change.control_ids if status.get((change.federation, c)) is not Status.PASS]
            if not still:
                outcome = ChangeOutcome(outcome.change_id, APPLIED_VERIFIED, "re-collected: the controls pass")
            else:
                outcome = ChangeOutcome(outcome.change_id, APPLIED_UNVERIFIED,
                                        f"re-collected: {', '.join(still)} still not passing")
        outcomes.append(outcome)
    return dataclasses.replace(result, outcomes=tuple(outcomes))


def annotate_findings(findings: Sequence[Finding], result: RemediationResult) -> list[Finding]:
    """Each finding a change is for carries that change's plan entry (and outcome)."""
    outcomes = {o.change_id: o for o in result.outcomes}
    out = []
    for finding in findings:
        change = result.plan.for_control(finding.federation, finding.control_id)
        if change is None:
            out.append(finding)
            continue
        entry: dict[str, object] = {
            "change_id": change.id, "api_call": change.api_call,
            "fields": [f.to_json() for f in change.fields],
            "state": outcomes[change.id].state if change.id in outcomes else "planned",
        }
        if change.id in outcomes and outcomes[change.id].detail:
            entry["detail"] = outcomes[change.id].detail
        out.append(dataclasses.replace(finding, remediation=entry))
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
    from auditor.remediate.model import SKIPPED

    started = datetime.now(UTC)
    undoes = _run_id_of(fix_run_dir)
    run_id = new_run_id(started)
    run_dir = config.reports_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    settings = config.report_settings
    history = History(settings.history_path) if settings.history_path is not None else None
    earlier = tuple(r.run_id for r in history.rollbacks_of(undoes)) if history is not None else ()
    outcomes = tuple(rollback(config, okta_secret(config), fix_run_dir, run_dir / JOURNAL_NAME))
    ok = all(o.state == "restored" or (o.state == SKIPPED and o.detail.startswith("nothing to undo"))
             for o in outcomes)
    exit_code = EXIT_OK if ok else EXIT_FAIL
    started_at, finished_at = started.isoformat(timespec="seconds"), datetime.now(UTC).isoformat(timespec="seconds")
    federations = tuple(sorted({o.change_id.split(":", 1)[0] for o in outcomes}))
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
