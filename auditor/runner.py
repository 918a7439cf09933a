"""The pipeline, one direction: config -> collect -> snapshot -> evaluate (+ waivers) -> history
-> reports -> evidence manifest -> (optional) publishing.

The CLI only parses arguments and calls these functions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from auditor import __version__
from auditor.collectors.base import Collector, Progress
from auditor.config import Config, FederationConfig, ReportSettings, okta_secret
from auditor.evaluate.engine import evaluate
from auditor.evaluate.waivers import WaiverSet, apply_waivers, parse_waivers
from auditor.history import History
from auditor.models import RunResult
from auditor.policy.loader import PolicySet, load_policies
from auditor.report import Format, write_reports
from auditor.report.evidence import write_manifest
from auditor.snapshot import Snapshot
from auditor.yamlio import YamlLoadError, load_yaml_file


@dataclass(frozen=True)
class ScanOptions:
    """Options that change how a run behaves; one frozen object, never globals."""

    formats: tuple[Format, ...] = (Format.HTML, Format.JSON)
    output_dir: Path | None = None  # default: the config's reports.dir
    federations: tuple[str, ...] = ()  # empty: all
    now: datetime | None = None  # evaluation time (tests pin it)
    mode: str = "scan"


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


def new_run_id(now: datetime | None = None) -> str:
    """Sortable, unique: `20261128T084000Z-3f9a1c`."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
         collectors: Sequence[Collector] | None = None, progress: Progress | None = None) -> RunOutput:
    """Collect the live state, judge it and write the reports. Never raises for API failures."""
    from auditor.collectors import collect, default_collectors

    started = datetime.now(UTC)
    policies = policies or load_policies(list(config.policies))
    feds = select_federations(config, options.federations)
    if collectors is None:
        collectors = default_collectors(config, okta_secret(config), progress)
    run_id = new_run_id(started)
    snapshot = collect(config, feds, collectors, run_id=run_id)
    return judge(snapshot, policies, options, started=started, config_path=config.path,
                 output_dir=options.output_dir or config.reports_dir, settings=config.report_settings,
                 s3_client=_s3_client(config) if config.report_settings.s3 else None)


def _s3_client(config: Config) -> object:
    from auditor.collectors.aws import AwsClients

    return AwsClients(config).client("s3")


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
          s3_client: object | None = None) -> RunOutput:
    """Evaluate a snapshot (live or loaded from disk), record it in the history, write snapshot,
    reports and the evidence manifest, and publish the folder when configured."""
    settings = settings or ReportSettings()
    now = options.now or datetime.now(UTC)
    findings, notices = apply_waivers(evaluate(snapshot, policies, now=options.now),
                                      load_waiver_set(settings.waivers_path), now)
    run_dir = output_dir / snapshot.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    snapshot_path = run_dir / "snapshot.json"
    snapshot.write(snapshot_path)
    evidence = {
        "snapshot_sha256": sha256_file(snapshot_path),
        "config_sha256": sha256_file(config_path) if config_path and config_path.exists() else None,
        "policy_files": policies.files,
        "evaluated_at": (options.now or datetime.now(UTC)).isoformat(timespec="seconds"),
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
    )
    if settings.history_path is not None:
        history = History(settings.history_path)
        history.record(result, snapshot, run_dir)
        result = dataclasses.replace(result, changes=history.changes_since_previous(result.run_id),
                                     trend=history.trend(result.run_id, settings.trend_runs))
    files = write_reports(result, run_dir, options.formats)
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
