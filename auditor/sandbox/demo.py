"""`auditor demo`: the whole product against the embedded sandbox, no Okta or AWS needed."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from auditor.models import EXIT_OK


def run_demo(*, output: Path, verbose: bool = False, quiet: bool = False, frameworks: tuple[str, ...] = (),
             security_hub: bool = False, discover: bool = False) -> int:
    """Start the sandbox, seed the contact center, scan it, print the report paths; with
    `discover`, then run `auditor discover` over the demo's organization and print its result.

    Exits 0 when the demo itself ran; the line "a real scan would exit N" says what the scan
    found (the seeded drift makes it 1).
    """
    from auditor.config import load_config
    from auditor.models import EXIT_MEANINGS
    from auditor.outputs import check_output_dir
    from auditor.report.terminal import print_summary
    from auditor.runner import ScanOptions, scan
    from auditor.sandbox.scenario import (
        Sandbox,
        apply_environment,
        config_document,
        discovery_block,
        seed_demo,
        seed_demo_estate,
        write_config,
    )

    check_output_dir(output, how_to_change="pass -o a folder you can write to")  # before the sandbox starts

    def say(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr, flush=True)

    started = time.monotonic()
    say("starting the sandbox: Okta simulator and local AWS (moto) on 127.0.0.1 ...")
    with Sandbox() as sb:
        say(f"  okta: {sb.okta.url}   aws: {sb.aws.endpoint_url}")
        say("seeding the contact center: 'prod' (compliant) and 'staging' (drifted) ...")
        feds = seed_demo(sb)
        # Beyond the two configured federations (the scan below does not see them): an unaudited
        # one in another Region and a pool whose IdP reads a deleted Okta app, for `--discover`.
        estate = seed_demo_estate(sb)
        apply_environment(sb)
        with tempfile.TemporaryDirectory(prefix="auditor-demo-") as tmp:
            config_path = write_config(Path(tmp) / "config.yaml",
                                       config_document(sb, feds, reports_dir=str(output.resolve())))
            config = load_config(config_path)
            say("scanning ...")
            progress = (lambda fed, msg: say(f"  [{fed}] {msg}")) if verbose else None
            out = scan(config, ScanOptions(mode="demo", frameworks=frameworks, security_hub=security_hub),
                       progress=progress)
            discovered = None
            if discover:
                from auditor.collectors.discovery import scope_from
                from auditor.discovery import run_discovery
                from auditor.discovery.render import render

                say("discovering (auditor discover --organization): both accounts, us-east-1 and eu-central-1; "
                    "the discovery config also names 'retired', a block left over from a decommissioned "
                    "contact center ...")
                doc = config_document(sb, feds, reports_dir=str(output.resolve()))
                doc["federations"].append(estate.retired)
                doc["discovery"] = discovery_block()
                dconfig = load_config(write_config(Path(tmp) / "discover.yaml", doc))
                discovered = render(run_discovery(dconfig, sb.environment()["AUDITOR_SANDBOX_OKTA_TOKEN"],
                                                  scope_from(dconfig)), "text")
    if not quiet:
        print_summary(out.result, show_pass=verbose)
        print()
    for name, path in out.files.items():
        print(f"{name}: {path}")
    for notice in out.result.notices:
        print(f"notice: {notice}", file=sys.stderr)
    hub = out.security_hub
    if hub is not None:
        print(f"security hub: {hub.imported} of {hub.sent} finding(s) imported into {hub.target} "  # type: ignore[attr-defined]
              f"({hub.batches} call(s))")  # type: ignore[attr-defined]
    if discovered is not None:
        print()
        print(discovered)
    code = out.result.exit_code
    print(f"a real scan would exit {code} ({EXIT_MEANINGS[code]}); the demo itself succeeded "
          f"in {time.monotonic() - started:.1f} s")
    return EXIT_OK
