"""Command line: argument parsing, exit codes and progress output. Thin: the work is elsewhere."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from auditor import __version__
from auditor.config import DEFAULT_CONCURRENCY  # a light import: config.py loads YAML/jsonschema lazily
from auditor.errors import UnknownFederationError, UnusableInputError
from auditor.models import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_INTERRUPTED,
    EXIT_MEANINGS,
    EXIT_OK,
    EXIT_PRECEDENCE,
    EXIT_UNUSABLE,
    RUN_MODES,
)
from auditor.outputs import OutputLocationError

if TYPE_CHECKING:  # not imported at run time: keeps --help fast
    from collections.abc import Callable

    from auditor.collectors.base import Progress
    from auditor.config import Config
    from auditor.history import History
    from auditor.policy.loader import PolicySet
    from auditor.remediate import RemediationOptions
    from auditor.remediate.model import Plan
    from auditor.runner import RunOutput, ScanOptions

# From the one definition of the meanings (auditor.models), which the reports show too.
EXIT_CODES_HELP = ("exit codes:\n" + "".join(f"  {code:>3}  {meaning}\n" for code, meaning in EXIT_MEANINGS.items())
                   + f"  ({EXIT_PRECEDENCE})\n")

MAIN_EPILOG = f"""\
The chain audited: Okta SAML app -> its metadata and certificate -> Cognito user pool, domain
and SAML identity provider -> the app client -> the AWS Organizations SCP guarding the Amazon
Connect role and instance; with `connect_sso`, also Okta -> IAM SAML provider -> the Connect
user role -> the instance. One finding per control and federation; reports go to
reports/<run-id>/ (report.html, report.json, snapshot.json).

examples:
  auditor demo                                # try it: local sandbox, no Okta or AWS needed
  auditor sandbox                             # keep that sandbox running; sandbox.yaml points at it
  auditor validate --config config.yaml       # check config and policies, no API calls
  OKTA_API_TOKEN=... auditor scan --config config.yaml
  auditor scan --federation contact-center-prod --format json -q
  auditor evaluate --snapshot reports/<run-id>/snapshot.json   # re-judge offline
  auditor handover --federation contact-center-prod
  auditor plan                                # what --fix would change, field by field; changes nothing
  auditor scan --fix                          # plan, confirm, apply, verify (journaled)
  auditor rollback <run-id>                   # restore what that --fix run changed
  auditor history                             # past runs, newest first
  auditor diff RUN_A RUN_B                    # what changed between two runs
  auditor verify reports/<run-id>             # digests and signature of a run folder
  auditor frameworks                          # PCI DSS, SOC 2, ISO 27001, NIST 800-53 mappings and coverage
  auditor scan --framework pci-dss-4.0 --security-hub   # framework section + attestation; findings to Security Hub
  auditor schedule --log-format json          # nightly scans on the config's schedule
  auditor discover --organization --write config.yaml   # find unaudited federations, add them

{EXIT_CODES_HELP}"""


def _default_config() -> str:
    return os.environ.get("AUDITOR_CONFIG", "config.yaml")


# auditor.history.MODES (not imported: keeps --help fast).


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if not 1 <= number <= 256:
        raise argparse.ArgumentTypeError("give a number from 1 to 256")
    return number


def _formats(value: str) -> tuple[str, ...]:
    from auditor.report import Format

    names = tuple(v.strip() for v in value.split(",") if v.strip())
    valid = [f.value for f in Format]
    for name in names:
        if name not in valid:
            raise argparse.ArgumentTypeError(f"unknown format {name!r}; choose from {', '.join(valid)}")
    if not names:
        raise argparse.ArgumentTypeError("give at least one format")
    return names


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 3 ("nothing was scanned"), not argparse's 2: to a nightly
    job 2 means "compliance unknown". Subcommand parsers inherit the class (add_subparsers)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_UNUSABLE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by tests and to generate the README's usage)."""
    parser = _Parser(
        prog="auditor",
        description="Audit the Okta -> Cognito -> Amazon Connect sign-in chain for drift.",
        epilog=MAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def common(p: argparse.ArgumentParser, *, config: bool = True) -> None:
        if config:
            p.add_argument("-c", "--config", default=_default_config(), metavar="FILE",
                           help="config file (default: $AUDITOR_CONFIG or ./config.yaml)")
        p.add_argument("-v", "--verbose", action="store_true", help="show progress and PASS findings")
        p.add_argument("-q", "--quiet", action="store_true", help="print only the report paths and errors")
        p.add_argument("--log-format", choices=["text", "json"], default=os.environ.get("AUDITOR_LOG_FORMAT", "text"),
                       help="log lines as text (for a terminal) or one JSON object per line (for unattended "
                            "runs); default $AUDITOR_LOG_FORMAT or text. Secrets are redacted")

    def concurrency(p: argparse.ArgumentParser) -> None:
        p.add_argument("--concurrency", type=_positive_int, default=DEFAULT_CONCURRENCY, metavar="N",
                       help=f"federations collected at a time per system (default {DEFAULT_CONCURRENCY}); Okta "
                            "requests stay within okta.rate_limit_share of each rate limit either way")

    def federation(p: argparse.ArgumentParser, verb: str) -> None:
        p.add_argument("-f", "--federation", action="append", default=[], metavar="NAME",
                       help=f"{verb} only this federation (repeatable)")

    def output(p: argparse.ArgumentParser) -> None:
        p.add_argument("--format", type=_formats, action="extend", default=None, metavar="FMT[,FMT]",
                       help="report formats, comma-separated or repeated: html, json, junit, ocsf, csv, "
                            "markdown, asff (default: the config's reports.formats)")
        p.add_argument("-o", "--output", type=Path, default=None, metavar="DIR",
                       help="reports folder (default: the config's reports.dir); each run gets DIR/<run-id>/")

    def frameworks(p: argparse.ArgumentParser, *, security_hub: bool) -> None:
        p.add_argument("--framework", action="append", default=[], metavar="ID", dest="frameworks",
                       help="add this framework's section and attestation summary to the reports (repeatable; "
                            "default: the config's reports.frameworks; `auditor frameworks` lists the ids)")
        if security_hub:
            p.add_argument("--security-hub", action="store_true",
                           help="send every finding to AWS Security Hub (BatchImportFindings, ASFF); a refused "
                                "call is a report notice and never changes the exit code")

    p = sub.add_parser("scan", help="collect live state, judge it, write reports",
                       description="Collect the live state from Okta and AWS, judge it against the policies, "
                                   "and write report.html, report.json and snapshot.json.",
                       epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    common(p)
    output(p)
    federation(p, "scan")
    concurrency(p)
    frameworks(p, security_hub=True)
    p.add_argument("--attribute", choices=("new", "all", "none"), default=None,
                   help="who changed it: attribute each FAIL new since the previous run (new), every FAIL "
                        "(all) or none, from Okta's System Log and CloudTrail (default: the config's "
                        "attribution.mode, new); a denied lookup is a notice, never a change of the verdict")
    fix = p.add_argument_group("remediation")
    fix.add_argument("--fix", action="store_true",
                     help="after the scan, show the plan, ask, apply it, and re-collect to verify")
    fix.add_argument("--dry-run", action="store_true", help="with --fix: show the plan only (same as `auditor plan`)")
    fix.add_argument("-y", "--yes", action="store_true",
                     help="apply without asking (needed when stdin is not a terminal)")
    fix.add_argument("--allow-scp-changes", action="store_true",
                     help="let --fix create and attach a dedicated SCP for a missing deny (off by default)")

    p = sub.add_parser("plan", help="show the changes --fix would make; changes nothing in Okta or AWS",
                       description="Scan, then print for every fixable FAIL the field-level change "
                                   "(path: before -> after), the API call it needs and why. Nothing is changed "
                                   "in Okta or AWS; the plan is saved as plan.json in the run's report folder "
                                   "(with the reports, and the run is recorded in the history).",
                       epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    common(p)
    output(p)
    federation(p, "plan")
    concurrency(p)
    p.add_argument("--allow-scp-changes", action="store_true", help="include SCP changes in the plan")

    p = sub.add_parser("rollback", help="undo the changes a --fix run applied",
                       description="Restore the before images journaled by the run RUN_ID, newest first. An "
                                   "object changed by someone else since the fix is reported, not overwritten.",
                       epilog="exit codes: 0 everything restored, 1 something was not (conflict or error), "
                              "3 no such run or no journal", formatter_class=argparse.RawDescriptionHelpFormatter)
    common(p)
    p.add_argument("run_id", metavar="RUN_ID", help="the run id (a folder under reports.dir) or a run folder")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")

    p = sub.add_parser("validate", help="check the config and policies; no API calls",
                       description="Load and validate the config and every policy file, and report problems "
                                   "with file, line and fix. Makes no API call.",
                       epilog="exit codes: 0 valid, 3 problems found",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    common(p)

    p = sub.add_parser("evaluate", help="re-judge a saved snapshot offline",
                       description="Judge a snapshot.json written by an earlier scan against the current "
                                   "policies, without calling any API.",
                       epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    common(p)
    output(p)
    p.add_argument("--snapshot", type=Path, required=True, metavar="FILE", help="snapshot.json to judge")
    frameworks(p, security_hub=False)
    p.add_argument("--at", default=None, metavar="ISO_TIME",
                   help="judge as of this time (default: now); certificate expiry depends on it")

    p = sub.add_parser("handover", help="print the values the contact-center vendor needs",
                       description="From the live state: IdP name, user pool id, region, domain, app client id, "
                                   "ACS URL and audience, plus the federation's CloudFormation stack outputs.")
    common(p)
    federation(p, "show")
    p.add_argument("--format", choices=["text", "json"], default="text", dest="handover_format")

    p = sub.add_parser("demo", help="run a scan against the embedded sandbox (no Okta or AWS needed)",
                       description="Start the local Okta simulator and local AWS, seed the contact-center "
                                   "scenario (one compliant federation, one with drift), scan it and write "
                                   "the reports. Exits 0 when the demo itself ran.")
    common(p, config=False)
    p.add_argument("-o", "--output", type=Path, default=Path("reports"), metavar="DIR",
                   help="reports folder (default: ./reports)")
    frameworks(p, security_hub=True)
    p.add_argument("--discover", action="store_true",
                   help="then run `auditor discover` over the demo's organization: an unaudited federation, "
                        "a dangling IdP and a configured one that is gone")

    p = sub.add_parser("sandbox", help="keep the demo's sandbox running, with a ready config, until Ctrl-C",
                       description="Start the local Okta simulator and local AWS, seed the demo world, write a "
                                   "config pointing at them (and FILE.env with the sandbox's token and dummy AWS "
                                   "keys), print the commands to try (scan, plan, scan --fix, rollback, history, "
                                   "diff) and run until Ctrl-C or SIGTERM, then stop both servers.",
                       epilog="exit codes: 0 stopped cleanly, 3 a --config-out that is not the sandbox's to "
                              "overwrite, or a reports folder that cannot be written",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-out", type=Path, default=Path("sandbox.yaml"), metavar="FILE",
                   help="where to write the config (default: sandbox.yaml; never overwrites a file it did "
                        "not write)")
    p.add_argument("--scenario", choices=["demo"], default="demo",
                   help="the world to seed (default: demo, as `auditor demo`)")
    p.add_argument("-o", "--output", type=Path, default=Path("reports"), metavar="DIR",
                   help="the config's reports folder (default: ./reports)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")

    p = sub.add_parser("history", help="list the runs recorded in the history",
                       description="List past runs from the history (reports.history, default "
                                   "<reports.dir>/history.sqlite), newest first.")
    common(p)
    p.add_argument("-n", "--limit", type=int, default=20, help="how many runs (default 20)")
    p.add_argument("--mode", choices=list(RUN_MODES), default=None,
                   help="only runs of this mode (a rollback names the fix run it undid)")
    p.add_argument("--history", type=Path, default=None, metavar="FILE", help="history file (overrides the config)")
    p.add_argument("--format", choices=["text", "json"], default="text", dest="list_format")

    p = sub.add_parser("diff", help="compare two runs: verdict changes and collected-state changes",
                       description="Per federation: controls that newly fail, no longer fail and still fail "
                                   "between RUN_A and RUN_B, and every collected field that changed.")
    common(p)
    p.add_argument("run_a", metavar="RUN_A", help="the earlier run id")
    p.add_argument("run_b", metavar="RUN_B", help="the later run id")
    p.add_argument("--history", type=Path, default=None, metavar="FILE", help="history file (overrides the config)")
    p.add_argument("--format", choices=["text", "json"], default="text", dest="list_format")

    p = sub.add_parser("verify", help="check a run folder's digests and signature",
                       description="Recompute the SHA-256 of every artifact listed in RUN_DIR/manifest.json and "
                                   "check its Ed25519 signature; name each altered, missing or added file. "
                                   "RUN_DIR may be a run id (a folder under the config's reports.dir), as for "
                                   "`bundle` and `rollback`.",
                       epilog="exit codes: 0 intact, 1 something was altered or the signature is bad, "
                              "3 not a run folder, or a --public-key that cannot be read",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder, or a run id")
    p.add_argument("-c", "--config", default=_default_config(), metavar="FILE",
                   help="the config whose reports.dir holds the run ids (default: $AUDITOR_CONFIG or ./config.yaml)")
    p.add_argument("--public-key", type=Path, default=None, metavar="PEM",
                   help="the signer's Ed25519 public key; without it the key named in the manifest is used, "
                        "which proves integrity but not who signed")

    p = sub.add_parser("schedule", help="run scans on the config's schedule (or once, for cron/systemd)",
                       description="Run scans on the config's `schedule` (daily at a time in a time zone, or "
                                   "every N hours), one at a time (a lock file in the reports folder), keeping "
                                   "reports.retention and writing <reports.dir>/heartbeat.json. SIGTERM/SIGINT "
                                   "let the current run finish, then exit; a second signal abandons it.",
                       epilog="exit codes: with --once the scan's own (0/1/2/3; 2 also when another scan holds "
                              "the lock); without, 0 after a clean stop, 3 for an unusable config",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    common(p)
    p.add_argument("--once", action="store_true",
                   help="run one scan through the scheduler's path (lock, retention, heartbeat) and exit "
                        "with its exit code: for cron and systemd timers")

    p = sub.add_parser("frameworks", help="list the compliance frameworks and how much of each the controls cover",
                       description="List the shipped framework mappings (policies/frameworks/) and those under "
                                   "the config's `frameworks:`, with how many requirements a control covers. "
                                   "With an ID: that framework's requirements and their controls.",
                       epilog="exit codes: 0 listed, 3 an unusable config or mapping, or an unknown ID",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    common(p)
    p.add_argument("framework_id", nargs="?", metavar="ID", help="show this framework's requirements")
    p.add_argument("--format", choices=["text", "json"], default="text", dest="list_format")
    _discover_parser(sub, common, concurrency)

    p = sub.add_parser("bundle", help="zip a run folder for download",
                       description="Write <reports.dir>/RUN_ID.zip holding the run's reports, snapshot, "
                                   "manifest and signature.")
    common(p)
    p.add_argument("run_id", metavar="RUN_ID", help="a run id, or a path to a run folder")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="ZIP", help="where to write the zip")
    return parser


# The young generation's threshold for the command-line process. A scan allocates ~150,000
# long-lived objects (imports, botocore's service models, the collected state) and almost no
# cyclic garbage (~1,400 objects found in a whole scan, at 1 and at 200 federations). The default
# (700) ran ~400 collections, each promoting those objects a step closer to the full collections
# that then walk them all (0.2 s of a scan's CPU, measured); 10,000 still ran ~30 young and 3
# middle ones walking the survivors (~60 ms of a one-federation scan, measured, medians of 15
# paired runs). At 1,000,000 a scan of up to ~200 federations runs none; peak RSS is the same
# at 1 and at 1,000 federations (measured: 101 MB and 224 MB, as at 10,000), and a long-lived
# `auditor schedule` still collects, about once per scan.
GC_YOUNG_THRESHOLD = 1_000_000


def console(argv: Sequence[str] | None = None) -> int:
    """The `auditor` console script and `python -m auditor`: `main` in a process that ends with
    it. The garbage collector runs less often (GC_YOUNG_THRESHOLD), and everything left is frozen
    before the interpreter exits: its last full collections would only free what exiting frees
    anyway (~0.2 s of CPU, measured). Library callers and tests call `main`, which does neither."""
    import gc

    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    code = main(argv)
    gc.freeze()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the command line (`console` is the console script's)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_UNUSABLE
    from auditor.logs import configure_logging

    args.redact = configure_logging(getattr(args, "log_format", "text"), verbose=getattr(args, "verbose", False))
    try:
        handler = {"scan": _cmd_scan, "validate": _cmd_validate, "evaluate": _cmd_evaluate,
                   "handover": _cmd_handover, "demo": _cmd_demo, "sandbox": _cmd_sandbox,
                   "history": _cmd_history, "diff": _cmd_diff,
                   "verify": _cmd_verify, "bundle": _cmd_bundle, "plan": _cmd_plan,
                   "rollback": _cmd_rollback, "schedule": _cmd_schedule,
                   "frameworks": _cmd_frameworks, "discover": _cmd_discover}[args.command]
        return handler(args)
    except (OutputLocationError, UnknownFederationError) as exc:  # one line: what and the fix
        print(f"auditor: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except UnusableInputError as exc:
        print(f"auditor: cannot use the input ({len(exc.problems)} problem"
              f"{'s' if len(exc.problems) != 1 else ''}):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        print("auditor: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _progress(args: argparse.Namespace) -> Progress | None:
    if getattr(args, "log_format", "text") == "json":
        import logging

        progress_log = logging.getLogger("auditor.progress")
        return lambda federation, message: progress_log.debug("%s", message, extra={"federation": federation})
    if args.quiet or not (args.verbose or sys.stderr.isatty()):
        return None
    if sys.stderr.isatty() and not args.verbose:
        from auditor.progress import ProgressBar

        return ProgressBar(sys.stderr)

    def show(federation: str, message: str) -> None:
        print(f"  [{federation}] {message}", file=sys.stderr, flush=True)
    return show


def _load(args: argparse.Namespace) -> tuple[Config, PolicySet]:
    from auditor.config import load_config
    from auditor.errors import ConfigError, InputProblem
    from auditor.policy.loader import load_policies

    path = Path(args.config)
    if not path.exists():
        raise ConfigError([InputProblem(str(path), None, None, "config file not found",
                                        "copy config.example.yaml to config.yaml and edit it, or pass --config FILE")])
    config = load_config(path)
    if getattr(args, "redact", None) is not None:  # the config's secret values never reach a log line
        from auditor.logs import add_secrets, config_secrets

        add_secrets(args.redact, config_secrets(config))
    return config, load_policies(list(config.policies), frameworks=list(config.frameworks))


def _compliance_options(args: argparse.Namespace, config: Config | None,
                        policies: PolicySet) -> tuple[tuple[str, ...], bool]:
    """`--framework` (checked: an unknown id is exit 3 naming the known ones) and `--security-hub`."""
    from auditor.policy.frameworks import check_selection

    selected = tuple(getattr(args, "frameworks", None) or ())
    check_selection(policies.frameworks, selected, where="--framework")
    if config is not None and not selected:
        check_selection(policies.frameworks, config.report_settings.frameworks,
                        where=f"{config.path}: reports.frameworks")
    return selected, bool(getattr(args, "security_hub", False))


def _options(args: argparse.Namespace, config_formats: Sequence[str], mode: str, *,
             now: datetime | None = None, compliance: tuple[tuple[str, ...], bool] = ((), False)) -> ScanOptions:
    from auditor.report import Format
    from auditor.runner import ScanOptions

    names = args.format or tuple(config_formats)
    options = ScanOptions(formats=tuple(Format(n) for n in names), output_dir=args.output,
                          federations=tuple(getattr(args, "federation", []) or ()), mode=mode, now=now,
                          frameworks=compliance[0], security_hub=compliance[1])
    if getattr(args, "concurrency", None) is not None:
        options = dataclasses.replace(options, concurrency=args.concurrency)
    if getattr(args, "attribute", None) is not None:
        options = dataclasses.replace(options, attribute=args.attribute)
    return options


def _report(out: RunOutput, args: argparse.Namespace) -> int:
    from auditor.report.terminal import print_summary

    if not args.quiet:
        print_summary(out.result, show_pass=args.verbose)
        print()
    for name, path in out.files.items():
        print(f"{name}: {path}")
    for notice in out.result.notices:
        print(f"notice: {notice}", file=sys.stderr)
    if out.published is not None:
        print(f"published: s3://{out.published.bucket}/{out.published.prefix}/ "
              f"(link valid {out.published.expires_in} s)")
        print(f"link: {out.published.url}")
    if out.publish_error:
        print(f"auditor: {out.publish_error}", file=sys.stderr)
    hub = getattr(out, "security_hub", None)
    if hub is not None:
        print(f"security hub: {hub.imported} of {hub.sent} finding(s) imported into {hub.target} "
              f"({hub.batches} call(s))")
    code: int = out.result.exit_code
    if not args.quiet:
        print(f"exit {code}: {EXIT_MEANINGS[code]}")
    return code


def _cmd_scan(args: argparse.Namespace) -> int:
    from auditor.remediate import RemediationOptions

    if (args.dry_run or args.yes or args.allow_scp_changes) and not args.fix:
        print("auditor: --dry-run, --yes and --allow-scp-changes go with --fix", file=sys.stderr)
        return EXIT_UNUSABLE
    applying = args.fix and not args.dry_run
    if applying and not args.yes and not sys.stdin.isatty():
        # An unattended --fix must say so explicitly: nothing is written without --yes.
        print("auditor: --fix needs --yes when stdin is not a terminal (nothing was written)", file=sys.stderr)
        return EXIT_UNUSABLE
    remediation = None
    if args.fix:
        remediation = RemediationOptions(apply=applying, allow_scp_changes=args.allow_scp_changes,
                                         confirm=_confirm(args), on_signal=_on_signal)
    mode = "fix" if applying else "dry-run" if args.fix else "scan"
    return _run_scan(args, remediation, announce=not args.quiet, mode=mode)


def _on_signal(name: str, again: bool) -> None:
    """Say at once what a Ctrl-C during --fix does (the apply stops safely; see auditor/remediate/interrupt.py)."""
    if again:
        print(f"auditor: {name} again: abandoning the call in flight; re-reading its object",
              file=sys.stderr, flush=True)
    else:
        print(f"auditor: {name}: no further change will start; letting the call in flight finish "
              "(Ctrl-C again to abandon it now)", file=sys.stderr, flush=True)


def _run_scan(args: argparse.Namespace, remediation: RemediationOptions | None, *, announce: bool, mode: str) -> int:
    """Load, scan (with the remediation options, if any), print the plan or outcomes, report."""
    from auditor.runner import check_reports_dir, scan, select_federations

    config, policies = _load(args)
    options = _options(args, config.formats, mode, compliance=_compliance_options(args, config, policies))
    # scan() checks both too; here before the "scanning" line, so that a typo is the only line.
    check_reports_dir(config, options)
    feds = select_federations(config, options.federations)
    if announce:
        print(f"scanning {len(feds)} federation(s) with {len(policies.controls)} controls...", file=sys.stderr)
    out = scan(config, options, policies=policies, progress=_progress(args), remediation=remediation)
    _print_remediation(out, args)
    code = _report(out, args)
    if out.interrupted:
        _print_interrupted(out)
        return EXIT_INTERRUPTED
    return code


def _print_interrupted(out: RunOutput) -> None:
    """What a --fix stopped by a signal changed, and how to undo it (always: even with -q)."""
    from auditor.remediate.apply import outcome_lines

    fix = out.result.remediation
    outcomes = fix.outcomes if fix is not None else ()
    applied = sum(o.state.applied for o in outcomes)
    planned = len(fix.plan.changes) if fix is not None else 0
    print(f"auditor: interrupted ({out.interrupted}) during --fix: {applied} of {planned} change(s) "
          "applied; the run is recorded and its report written", file=sys.stderr)
    print("\n".join(outcome_lines(outcomes)), file=sys.stderr)
    print(f"undo: auditor rollback {out.result.run_id}   (run folder: {out.run_dir})", file=sys.stderr)


def _confirm(args: argparse.Namespace) -> Callable[[Plan], bool]:
    from auditor.remediate.plan import plan_text

    def ask(plan: Plan) -> bool:
        if args.yes:
            if not args.quiet:  # -q: the report paths and errors only
                print(plan_text(plan), file=sys.stderr)
            return True
        print(plan_text(plan), file=sys.stderr)
        answer = input(f"apply these {len(plan.changes)} change(s)? [y/N] ")
        return answer.strip().lower() in ("y", "yes")
    return ask


def _print_remediation(out: RunOutput, args: argparse.Namespace) -> None:
    fix = out.result.remediation
    if fix is None or args.quiet or fix.interrupted:  # an interrupted fix: _print_interrupted
        return
    from auditor.remediate.apply import outcome_lines  # only with --fix: the remediation stack

    if fix.declined:  # the plan was shown with the question: not again
        print("declined: nothing was changed in Okta or AWS")
    elif not fix.applied:
        from auditor.remediate.plan import plan_text

        print(plan_text(fix.plan))
        how = "; apply it with `auditor scan --fix`" if fix.plan.changes else ""
        print(f"nothing was changed in Okta or AWS; the plan is saved in {out.run_dir / 'plan.json'}{how}")
    else:
        print("fix results:")
        print("\n".join(outcome_lines(fix.outcomes)))
        print(f"journal: {out.run_dir / 'journal.jsonl'}  (undo: auditor rollback {out.result.run_id})")
    print()


def _cmd_plan(args: argparse.Namespace) -> int:
    from auditor.remediate import RemediationOptions

    return _run_scan(args, RemediationOptions(apply=False, allow_scp_changes=args.allow_scp_changes),
                     announce=False, mode="plan")


def _run_folder(reports_dir: Path, run_id: str) -> Path:
    """`reports_dir/run_id` for a bare run id; a name that would leave the reports folder
    (`..`, a separator, an absolute path) is refused rather than resolved."""
    from auditor.errors import InputProblem

    if run_id in (".", "..") or "/" in run_id or "\\" in run_id or "\0" in run_id or not run_id.strip():
        raise UnusableInputError([InputProblem(run_id, None, None, "not a run id",
                                               "pass a run id such as 20261128T084000Z-3f9a1c, or a run folder")])
    return reports_dir / run_id


def _cmd_rollback(args: argparse.Namespace) -> int:
    from auditor.errors import InputProblem
    from auditor.remediate.journal import JOURNAL_NAME, UNDOABLE_STATES, read_journal
    from auditor.runner import rollback_fix_run

    config, _ = _load(args)
    run_dir = Path(args.run_id)
    if not (run_dir / JOURNAL_NAME).exists():
        run_dir = _run_folder(config.reports_dir, args.run_id)
    journal = run_dir / JOURNAL_NAME
    if not run_dir.is_dir():
        raise UnusableInputError([InputProblem(args.run_id, None, None, f"no such run (no folder {run_dir})",
                                               "pass a fix run's id: `auditor history --mode fix` lists them")])
    if not journal.exists():
        raise UnusableInputError([InputProblem(str(journal), None, None, "no journal: that run applied no fix",
                                               "pass a fix run's id: `auditor history --mode fix` lists them")])
    entries = read_journal(journal)
    undoable = [e for e in entries if e.state in UNDOABLE_STATES]
    if not undoable:
        print("nothing to roll back: that run's journal shows no change applied (or left to undo)")
        return EXIT_OK
    if not args.yes:
        if not sys.stdin.isatty():
            print("auditor: rollback needs --yes when stdin is not a terminal (nothing was written)", file=sys.stderr)
            return EXIT_UNUSABLE
        for e in undoable:
            print(f"  restore {e.change.id} ({', '.join(f.path for f in e.change.fields)})")
        if input(f"restore the before images of {len(undoable)} change(s)? [y/N] ").strip().lower() not in ("y", "yes"):
            print("declined: nothing was written")
            return EXIT_OK
    out = rollback_fix_run(config, run_dir)
    if out.earlier:
        print(f"note: {out.undoes} was rolled back before by {', '.join(out.earlier)}; "
              "each change was re-checked against the live objects")
    for o in out.outcomes:
        print(f"  {o.change_id}: {o.state}" + (f" — {o.detail}" if o.detail else ""))
    print(f"rollback run: {out.run_id}  (folder: {out.run_dir}; undoes {out.undoes})")
    return out.exit_code


def _cmd_schedule(args: argparse.Namespace) -> int:
    from auditor.errors import InputProblem
    from auditor.outputs import check_output_dir
    from auditor.scheduler import Scheduler, scan_job

    config, _ = _load(args)  # an unusable config stops here (exit 3), before any lock or run
    # The lock, heartbeat and runs all go there: an unusable folder is exit 3 now, not a crash later.
    check_output_dir(config.reports_dir, how_to_change=f"change reports.dir in {config.path}")
    if config.schedule is None and not args.once:
        raise UnusableInputError([InputProblem(str(config.path), None, None, "the config has no `schedule`",
                                               'add schedule: {daily_at: "02:30", timezone: Europe/Berlin} '
                                               "or {every_hours: 6}, or run `auditor schedule --once` from cron")])
    scheduler = Scheduler(scan_job(config.path), config.reports_dir, schedule=config.schedule,
                          retention=config.retention)
    return scheduler.run_once() if args.once else scheduler.serve()


def _cmd_validate(args: argparse.Namespace) -> int:
    config, policies = _load(args)
    auth = config.okta.auth
    if auth.token_env and not os.environ.get(auth.token_env):
        print(f"note: {auth.token_env} is not set in this environment; `auditor scan` will need it",
              file=sys.stderr)
    waivers_path = config.report_settings.waivers_path
    if waivers_path is not None:
        from auditor.runner import load_waiver_set

        waivers = load_waiver_set(waivers_path)
        if waivers.problems:
            raise UnusableInputError(list(waivers.problems))
        if not args.quiet:
            print(f"waivers: {len(waivers.waivers)} from {waivers_path}")
    if not config.federations:
        print(f"note: {config.path} lists no federations yet; `auditor discover --config {config.path} "
              f"--write {config.path}` finds them", file=sys.stderr)
    if not args.quiet:
        print(f"{config.path}: valid ({len(config.federations)} federation(s))")
        print(f"policies: {len(policies.controls)} controls from {len(policies.files)} file(s)")
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from auditor.config import ReportSettings
    from auditor.errors import InputProblem, UnusableInputError
    from auditor.policy.loader import load_policies
    from auditor.runner import RunTarget, judge, new_run_id
    from auditor.snapshot import Snapshot

    config_path = Path(args.config)
    settings = ReportSettings()  # without a config: no history, waivers or signing
    config = None
    if config_path.exists():
        config, policies = _load(args)
        formats, out_dir, settings = config.formats, config.reports_dir, config.report_settings
    else:
        policies = load_policies()
        formats, out_dir = ("html", "json"), Path("reports")
    try:
        snapshot = Snapshot.load(args.snapshot)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UnusableInputError([InputProblem(str(args.snapshot), None, None, f"not a readable snapshot: {exc}",
                                               "pass the snapshot.json of an earlier run")]) from exc
    now = None
    if args.at:
        try:
            now = datetime.fromisoformat(args.at.replace("Z", "+00:00"))
        except ValueError as exc:
            raise UnusableInputError([InputProblem("--at", None, None, f"not an ISO 8601 time: {args.at}")]) from exc
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
    snapshot = dataclasses.replace(snapshot, run_id=new_run_id())
    options = _options(args, formats, "evaluate", now=now, compliance=_compliance_options(args, config, policies))
    # No S3 upload (no client) and no notifications for an offline re-evaluation: it is a what-if,
    # not the evidence of a scan. No config digest either: the snapshot's config is what it judges.
    out = judge(snapshot, policies, options, started=datetime.now(UTC),
                target=RunTarget(output_dir=args.output or out_dir, settings=settings))
    return _report(out, args)


def _cmd_handover(args: argparse.Namespace) -> int:
    from auditor.handover import handover

    config, _ = _load(args)
    sheets = handover(config, args.federation)
    if args.handover_format == "json":
        print(json.dumps(sheets, indent=2))
    else:
        for sheet in sheets:
            print(f"# {sheet['federation']}")
            for key, value in sheet["values"].items():
                print(f"{key:28} {value if value is not None else '(unknown)'}")
            for key, value in (sheet.get("stack_outputs") or {}).items():
                print(f"{'stack output ' + key:28} {value}")
            for problem in sheet["problems"]:
                print(f"! {problem}")
            print()
    return EXIT_ERROR if any(s["problems"] for s in sheets) else EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from auditor.policy.frameworks import check_selection
    from auditor.policy.loader import load_policies
    from auditor.sandbox.demo import run_demo

    check_selection(load_policies().frameworks, args.frameworks, where="--framework")  # before the sandbox starts
    return run_demo(output=args.output, verbose=args.verbose, quiet=args.quiet, frameworks=tuple(args.frameworks),
                    security_hub=args.security_hub, discover=args.discover)


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from auditor.sandbox.serve import run_sandbox

    return run_sandbox(config_out=args.config_out, reports=args.output, scenario=args.scenario, quiet=args.quiet)


def _history(args: argparse.Namespace) -> History:
    from auditor.config import report_locations
    from auditor.history import History

    if args.history is not None:
        return History(args.history)
    path = Path(args.config)
    if not path.exists():
        return History(Path("reports") / "history.sqlite")
    # Only the reports block is read: a config with a problem elsewhere (`auditor validate` names
    # it) must not hide the runs already recorded.
    return History(report_locations(path)[1])


def _reports_dir(config_path: Path) -> Path:
    """The reports folder run ids are looked up in: the config's reports.dir (./reports without a config)."""
    from auditor.config import report_locations

    return report_locations(config_path)[0] if config_path.exists() else Path("reports")


def _cmd_history(args: argparse.Namespace) -> int:
    history = _history(args)
    runs = history.runs(args.limit, mode=args.mode)
    if args.list_format == "json":
        print(json.dumps([r.to_json() for r in runs], indent=2))
        return EXIT_OK
    if not runs:
        print(f"no runs recorded in {history.path}")
        return EXIT_OK
    print(f"{'run id':28} {'started':26} {'mode':9} exit  PASS FAIL ERROR WAIVED  federations")
    for r in runs:
        c = r.counts
        print(f"{r.run_id:28} {r.started_at:26} {r.mode:9} {r.exit_code:>4}  {c.get('PASS', 0):>4} "
              f"{c.get('FAIL', 0):>4} {c.get('ERROR', 0):>5} {c.get('WAIVED', 0):>6}  {', '.join(r.federations)}"
              + (f" (undid {r.undoes})" if r.undoes else ""))
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    from auditor.history import HistoryError

    history = _history(args)
    try:
        changes = history.diff(args.run_a, args.run_b)
    except HistoryError as exc:
        print(f"auditor: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    # Who made each new failure, as the later run's report said (scans with attribution).
    who = history.attributions(args.run_b)
    if args.list_format == "json":
        doc = changes.to_json()
        for fed in doc.get("federations", []):
            fed["attributions"] = {c: who[(fed["federation"], c)] for c in fed.get("new_failures", [])
                                   if (fed["federation"], c) in who}
        print(json.dumps(doc, indent=2, default=str))
        return EXIT_OK
    print(f"changes from {args.run_a} to {args.run_b}")
    for fc in changes.federations:
        print(f"\n# {fc.federation}" + (" (not in the earlier run)" if fc.first_seen else ""))
        for label, ids in (("new failure", fc.new_failures), ("resolved", fc.resolved_failures),
                           ("still failing", fc.still_failing)):
            for cid in ids:
                print(f"  {label:14} {cid}")
                if label == "new failure" and (fc.federation, cid) in who:
                    print(f"  {'':14}   -> {who[(fc.federation, cid)]}")
        for ch in fc.state:
            print(f"  changed        {ch.path}: {json.dumps(ch.before, default=str)} -> "
                  f"{json.dumps(ch.after, default=str)}")
        if fc.state_truncated:
            print(f"  ... and {fc.state_truncated} more field changes (--format json for all shown)")
        if not fc.has_changes and not fc.still_failing:
            print("  no change")
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    from auditor.report.evidence import MANIFEST, EvidenceError, load_public_key, verify_run

    if not args.run_dir.is_dir() and len(args.run_dir.parts) == 1:  # a run id, as bundle and rollback take
        args.run_dir = _run_folder(_reports_dir(Path(args.config)), str(args.run_dir))
    if not (args.run_dir / MANIFEST).is_file():
        print(f"auditor: {args.run_dir} has no {MANIFEST}: not a run folder written by auditor", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.public_key is not None:
        try:  # an unreadable key is a usage problem, not evidence that the run was altered
            load_public_key(args.public_key)
        except EvidenceError as exc:
            print(f"auditor: {exc}", file=sys.stderr)
            return EXIT_UNUSABLE
    result = verify_run(args.run_dir, args.public_key)
    for problem in result.problems:
        print(f"ALTERED {problem}")
    if result.ok:
        how = ("signature valid" + ("" if args.public_key else " (key from the manifest)")) if result.signed \
            else "not signed"
        print(f"OK {args.run_dir}: {result.checked} artifacts match the manifest; {how}")
        return EXIT_OK
    print(f"FAILED {args.run_dir}: {len(result.problems)} problem(s)", file=sys.stderr)
    return EXIT_FAIL


def _cmd_bundle(args: argparse.Namespace) -> int:
    from auditor.report.evidence import EvidenceError, bundle_run

    run_dir = Path(args.run_id)
    if not run_dir.is_dir():
        run_dir = _run_folder(_reports_dir(Path(args.config)), args.run_id)
    if not run_dir.is_dir():
        print(f"auditor: no run folder {run_dir}", file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        target = bundle_run(run_dir, args.output)
    except EvidenceError as exc:
        print(f"auditor: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    print(f"bundle: {target}")
    return EXIT_OK


def _cmd_frameworks(args: argparse.Namespace) -> int:
    """List the framework mappings (shipped and configured) with their coverage, or one framework's
    requirements and the controls that give evidence for each."""
    from auditor.policy.frameworks import check_selection
    from auditor.policy.loader import load_policies

    if Path(args.config).exists():
        _, policies = _load(args)
    else:  # no config: the shipped mappings alone
        policies = load_policies()
    frameworks = policies.frameworks
    if args.framework_id:
        check_selection(frameworks, [args.framework_id], where="auditor frameworks")
        fw = frameworks.get(args.framework_id)
        if args.list_format == "json":
            print(json.dumps({"id": fw.id, "name": fw.name, "version": fw.version, "source": fw.source,
                              "requirements": [{"id": r.id, "title": r.title, "note": r.note,
                                                "controls": [{"id": c.control_id, "rationale": c.rationale}
                                                             for c in r.controls]} for r in fw.requirements]},
                             indent=2))
            return EXIT_OK
        print(f"{fw.label} ({fw.id}; {fw.source})")
        for r in fw.requirements:
            print(f"  {r.id:10} {r.title or '(title not verified)'}")
            for c in r.controls:
                print(f"  {'':10}   {c.control_id}: {c.rationale}")
            if not r.controls:
                print(f"  {'':10}   not assessed by this tool" + (f" — {r.note}" if r.note else ""))
        return EXIT_OK
    rows = []
    for fw in frameworks.frameworks:
        covered, total = fw.coverage()
        controls = sorted({c.control_id for r in fw.requirements for c in r.controls})
        rows.append({"id": fw.id, "name": fw.name, "version": fw.version, "shipped": fw.builtin,
                     "source": fw.source, "requirements": total, "covered": covered, "controls": len(controls)})
    if args.list_format == "json":
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    print(f"{'id':18} {'framework':34} {'covered':>11}  {'controls':>8}  source")
    for row in rows:
        name = f"{row['name']} {row['version']}"
        print(f"{row['id']:18} {name:34} {row['covered']:>4} of {row['requirements']:<4} {row['controls']:>8}  "
              f"{'shipped' if row['shipped'] else row['source']}")
    print("requirements no control covers are reported as 'not assessed by this tool', never as passing")
    return EXIT_OK


def _discover_parser(sub: argparse._SubParsersAction[_Parser],
                     common: Callable[..., None], concurrency: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("discover", help="find every federation in Okta and AWS; report what the config misses",
                       description="Read Okta's SAML apps and, in each account and Region, the user pools, their "
                                   "SAML IdPs and app clients, the IAM SAML providers and the roles trusting them, "
                                   "the Connect instances and the SCPs in effect; match them into federations "
                                   "(each match with its evidence) and print the config blocks and the coverage: "
                                   "configured and found, unaudited, configured but not found, dangling "
                                   "references. Read-only.",
                       epilog="exit codes: 0 everything found is configured and nothing dangles, 1 something is "
                              "unaudited or dangling, 2 something could not be read (see the notices), 3 unusable "
                              "input or a --write that was refused",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    common(p)
    concurrency(p)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--organization", action="store_true",
                       help="every active account of the organization (listed with organizations.profile), "
                            "reached by assuming discovery.role_name in each")
    where.add_argument("--account", action="append", default=[], metavar="ID",
                       help="this account (repeatable); default: the config's discovery block, else the "
                            "scanner's own account")
    p.add_argument("--region", action="append", default=[], metavar="R",
                   help="this Region (repeatable); default: discovery.regions, else aws.region")
    p.add_argument("--write", type=Path, default=None, metavar="FILE",
                   help="add the unaudited federations' blocks to FILE, keeping everything in it (comments "
                        "too), or write FILE new; refused with the reason when it cannot be done safely")
    p.add_argument("--format", choices=["text", "json", "yaml"], default="text", dest="discover_format")


def _cmd_discover(args: argparse.Namespace) -> int:
    import re

    from auditor.collectors.discovery import scope_from
    from auditor.config import okta_secret
    from auditor.discovery import run_discovery
    from auditor.discovery.render import render
    from auditor.discovery.write import WriteRefused, write_blocks

    config, _ = _load(args)
    for account in args.account:
        if not re.fullmatch(r"\d{12}", account):
            print(f"auditor: --account {account!r} is not a 12-digit AWS account id", file=sys.stderr)
            return EXIT_UNUSABLE
    for region in args.region:
        if not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", region):
            print(f"auditor: --region {region!r} is not an AWS Region name (e.g. eu-central-1)", file=sys.stderr)
            return EXIT_UNUSABLE
    scope = scope_from(config, organization=args.organization or None, accounts=args.account, regions=args.region)
    coverage = run_discovery(config, okta_secret(config), scope, progress=_progress(args),
                             concurrency=args.concurrency)
    if not args.quiet or args.discover_format != "text":
        sys.stdout.write(render(coverage, args.discover_format))
    if args.write is not None:
        try:
            written = write_blocks(args.write, coverage.unaudited, source_config=Path(args.config))
        except WriteRefused as exc:
            print(f"auditor: --write refused: {exc}", file=sys.stderr)
            return EXIT_UNUSABLE
        names = ", ".join(b["name"] for b in written) or "none (every federation found is in it)"
        print(f"{args.write}: added {len(written)} federation block(s): {names}", file=sys.stderr)
    if coverage.notices:
        return EXIT_ERROR
    return 1 if coverage.unaudited or coverage.dangling else EXIT_OK
