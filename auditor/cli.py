"""Command line: argument parsing, exit codes and progress output. Thin: the work is elsewhere."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from auditor import __version__
from auditor.errors import UnusableInputError
from auditor.models import EXIT_ERROR, EXIT_OK, EXIT_UNUSABLE

EXIT_CODES_HELP = """\
exit codes:
  0  compliant: every control passes, is waived or does not apply
  1  drift: at least one control FAILs
  2  unknown: some data could not be collected (an ERROR finding); wins over 1
  3  unusable config or policy: nothing was scanned
"""

MAIN_EPILOG = f"""\
The chain audited: Okta SAML app -> its metadata and certificate -> Cognito user pool, domain
and SAML identity provider -> the app client -> the AWS Organizations SCP guarding the Amazon
Connect role and instance. One finding per control and federation; reports go to
reports/<run-id>/ (report.html, report.json, snapshot.json).

examples:
  auditor demo                                # try it: local sandbox, no Okta or AWS needed
  auditor validate --config config.yaml       # check config and policies, no API calls
  OKTA_API_TOKEN=... auditor scan --config config.yaml
  auditor scan --federation contact-center-prod --format json -q
  auditor evaluate --snapshot reports/<run-id>/snapshot.json   # re-judge offline
  auditor handover --federation contact-center-prod

{EXIT_CODES_HELP}"""


def _default_config() -> str:
    return os.environ.get("AUDITOR_CONFIG", "config.yaml")


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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by tests and to generate the README's usage)."""
    parser = argparse.ArgumentParser(
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

    def output(p: argparse.ArgumentParser) -> None:
        p.add_argument("--format", type=_formats, default=None, metavar="FMT[,FMT]",
                       help="report formats: html, json (default: the config's reports.formats)")
        p.add_argument("-o", "--output", type=Path, default=None, metavar="DIR",
                       help="reports folder (default: the config's reports.dir); each run gets DIR/<run-id>/")

    p = sub.add_parser("scan", help="collect live state, judge it, write reports",
                       description="Collect the live state from Okta and AWS, judge it against the policies, "
                                   "and write report.html, report.json and snapshot.json.",
                       epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    common(p)
    output(p)
    p.add_argument("-f", "--federation", action="append", default=[], metavar="NAME",
                   help="scan only this federation (repeatable)")

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
    p.add_argument("--at", default=None, metavar="ISO_TIME",
                   help="judge as of this time (default: now); certificate expiry depends on it")

    p = sub.add_parser("handover", help="print the values the contact-center vendor needs",
                       description="From the live state: IdP name, user pool id, region, domain, app client id, "
                                   "ACS URL and audience, plus the federation's CloudFormation stack outputs.")
    common(p)
    p.add_argument("-f", "--federation", action="append", default=[], metavar="NAME",
                   help="only this federation (repeatable)")
    p.add_argument("--format", choices=["text", "json"], default="text", dest="handover_format")

    p = sub.add_parser("demo", help="run a scan against the embedded sandbox (no Okta or AWS needed)",
                       description="Start the local Okta simulator and local AWS, seed the contact-center "
                                   "scenario (one compliant federation, one with drift), scan it and write "
                                   "the reports. Exits 0 when the demo itself ran.")
    common(p, config=False)
    p.add_argument("-o", "--output", type=Path, default=Path("reports"), metavar="DIR",
                   help="reports folder (default: ./reports)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `auditor` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_UNUSABLE
    try:
        handler = {"scan": _cmd_scan, "validate": _cmd_validate, "evaluate": _cmd_evaluate,
                   "handover": _cmd_handover, "demo": _cmd_demo}[args.command]
        return handler(args)
    except UnusableInputError as exc:
        print(f"auditor: cannot use the input ({len(exc.problems)} problem"
              f"{'s' if len(exc.problems) != 1 else ''}):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        print("auditor: interrupted", file=sys.stderr)
        return 130


def _progress(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    if args.quiet or not (args.verbose or sys.stderr.isatty()):
        return None

    def show(federation: str, message: str) -> None:
        print(f"  [{federation}] {message}", file=sys.stderr, flush=True)
    return show


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from auditor.config import load_config
    from auditor.errors import ConfigError, InputProblem
    from auditor.policy.loader import load_policies

    path = Path(args.config)
    if not path.exists():
        raise ConfigError([InputProblem(str(path), None, None, "config file not found",
                                        "copy config.example.yaml to config.yaml and edit it, or pass --config FILE")])
    config = load_config(path)
    return config, load_policies(list(config.policies))


def _options(args: argparse.Namespace, config_formats: Sequence[str], mode: str, **extra: object):  # type: ignore[no-untyped-def]
    from auditor.report import Format
    from auditor.runner import ScanOptions

    names = args.format or tuple(config_formats)
    return ScanOptions(formats=tuple(Format(n) for n in names), output_dir=args.output,
                       federations=tuple(getattr(args, "federation", []) or ()), mode=mode, **extra)  # type: ignore[arg-type]


def _report(out, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from auditor.report.json_report import EXIT_MEANINGS
    from auditor.report.terminal import print_summary

    if not args.quiet:
        print_summary(out.result, show_pass=args.verbose)
        print()
    for name, path in out.files.items():
        print(f"{name}: {path}")
    code: int = out.result.exit_code
    if not args.quiet:
        print(f"exit {code}: {EXIT_MEANINGS[code]}")
    return code


def _cmd_scan(args: argparse.Namespace) -> int:
    from auditor.runner import scan

    config, policies = _load(args)
    try:
        options = _options(args, config.formats, "scan")
        if not args.quiet:
            print(f"scanning {len(options.federations) or len(config.federations)} federation(s) "
                  f"with {len(policies.controls)} controls...", file=sys.stderr)
        out = scan(config, options, policies=policies, progress=_progress(args))
    except KeyError as exc:
        print(f"auditor: {exc.args[0]}", file=sys.stderr)
        return EXIT_UNUSABLE
    return _report(out, args)


def _cmd_validate(args: argparse.Namespace) -> int:
    config, policies = _load(args)
    auth = config.okta.auth
    if auth.token_env and not os.environ.get(auth.token_env):
        print(f"note: {auth.token_env} is not set in this environment; `auditor scan` will need it",
              file=sys.stderr)
    if not args.quiet:
        print(f"{config.path}: valid ({len(config.federations)} federation(s))")
        print(f"policies: {len(policies.controls)} controls from {len(policies.files)} file(s)")
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from auditor.errors import InputProblem, UnusableInputError
    from auditor.policy.loader import load_policies
    from auditor.runner import judge, new_run_id
    from auditor.snapshot import Snapshot

    config_path = Path(args.config)
    if config_path.exists():
        config, policies = _load(args)
        formats, out_dir = config.formats, config.reports_dir
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
    options = _options(args, formats, "evaluate", now=now)
    out = judge(snapshot, policies, options, started=datetime.now(UTC), config_path=None,
                output_dir=args.output or out_dir)
    return _report(out, args)


def _cmd_handover(args: argparse.Namespace) -> int:
    from auditor.handover import handover

    config, _ = _load(args)
    try:
        sheets = handover(config, args.federation)
    except KeyError as exc:
        print(f"auditor: {exc.args[0]}", file=sys.stderr)
        return EXIT_UNUSABLE
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
    from auditor.sandbox.demo import run_demo

    return run_demo(output=args.output, verbose=args.verbose, quiet=args.quiet)
