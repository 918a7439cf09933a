"""`auditor sandbox`: the demo's sandbox kept running, with a ready config, until Ctrl-C or SIGTERM.

`auditor demo` stops the sandbox when its one scan is done; a newcomer who wants to try `plan`,
`scan --fix`, `rollback`, `history` and `diff` needs it to stay up between commands. This starts
the same sandbox, seeds the same world, writes a config pointing at it (and the environment the
other shell needs: the sandbox's fixed token and dummy AWS keys), prints the commands to try and
waits. A signal stops both servers and frees their ports.
"""

from __future__ import annotations

import shlex
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from auditor.errors import InputProblem, UnusableInputError
from auditor.models import EXIT_OK

# The first line of every config the sandbox writes (auditor.sandbox.scenario.write_config): a file
# without it is someone's own config, never overwritten.
GENERATED_MARK = "# Generated for the sandbox by auditor.sandbox.scenario"
SCENARIOS = ("demo",)


def env_path(config_out: Path) -> Path:
    """Where the environment for `config_out` goes: beside it, `sandbox.yaml` -> `sandbox.env`."""
    return config_out.with_suffix(".env")


def check_writable(config_out: Path) -> None:
    """Refuse (exit 3) to overwrite a config the sandbox did not write, before anything starts."""
    problems = []
    for path in (config_out, env_path(config_out)):
        if path.is_dir():
            problems.append(InputProblem(str(path), None, None, "is a folder", "pass --config-out a file name"))
        elif path.exists():
            try:
                first = path.read_text(encoding="utf-8").split("\n", 1)[0]
            except (OSError, UnicodeDecodeError):
                first = ""
            if first.strip() != GENERATED_MARK:
                problems.append(InputProblem(str(path), None, None, "exists and was not written by `auditor sandbox`",
                                             "pass --config-out another file name, or move it away"))
    if problems:
        raise UnusableInputError(problems)


def next_commands(config_out: Path) -> list[str]:
    """What to try against the running sandbox, in order (printed, and shown in the README)."""
    c = shlex.quote(str(config_out))
    env = str(env_path(config_out))
    env = env if "/" in env else f"./{env}"  # `. FILE` without a slash searches $PATH, not here
    return [
        f". {shlex.quote(env)}                  # the sandbox's token and dummy AWS keys",
        f"auditor scan -c {c}                 # staging fails 6 controls; prod passes",
        f"auditor plan -c {c}                 # what --fix would change, field by field; changes nothing",
        f"auditor scan -c {c} --fix           # shows the plan, asks, applies, re-collects and verifies",
        f"auditor history -c {c} --mode fix   # the fix run's id",
        f"auditor rollback -c {c} RUN_ID      # restores what that fix run changed",
        f"auditor history -c {c}              # every run with its mode: scan, plan, fix, rollback",
        f"auditor diff -c {c} RUN_A RUN_B     # the controls and fields that changed between two runs",
    ]


def run_sandbox(*, config_out: Path, reports: Path, scenario: str = "demo", quiet: bool = False,
                ready: Callable[[], None] | None = None) -> int:
    """Start the sandbox, seed `scenario`, write `config_out` (and its .env) and wait for SIGINT or
    SIGTERM; then stop both servers. `ready` is called once everything is up (tests)."""
    from auditor.outputs import check_output_dir
    from auditor.sandbox.scenario import Sandbox, config_document, seed_demo, seed_demo_estate, write_config

    if scenario not in SCENARIOS:
        raise UnusableInputError([InputProblem("--scenario", None, None, f"unknown scenario {scenario!r}",
                                               f"choose from {', '.join(SCENARIOS)}")])
    check_writable(config_out)
    check_output_dir(reports, how_to_change="pass -o a folder you can write to")

    def say(text: str) -> None:
        if not quiet:
            print(text, flush=True)

    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    # Installed before the servers start: a signal during seeding stops cleanly too.
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        say("starting the sandbox: Okta simulator and local AWS (moto) on 127.0.0.1 ...")
        with Sandbox() as sb:
            say(f"  okta: {sb.okta.url}   aws: {sb.aws.endpoint_url}")
            if not stop.is_set():
                say("seeding the demo world: 'prod' (compliant) and 'staging' (drifted) ...")
                feds = seed_demo(sb)
                seed_demo_estate(sb)  # the unaudited federation and dangling IdP `auditor discover` finds
                write_config(config_out, config_document(sb, feds, reports_dir=str(reports.resolve())))
                env = env_path(config_out)
                # The sandbox's fixed, published token and dummy AWS keys: not secrets of anyone's.
                env.write_text(GENERATED_MARK + "\n" + "".join(
                    f"export {k}={shlex.quote(v)}\n" for k, v in sb.environment().items()), encoding="utf-8")
                say(f"wrote {config_out} and {env} (valid while this runs); reports go to {reports}/\n")
                say("try, in another shell:")
                for line in next_commands(config_out):
                    say(f"  {line}")
                say("\nthe sandbox runs until Ctrl-C (or SIGTERM) ...")
                if ready is not None:
                    ready()
            while not stop.wait(0.5):
                pass
            say(f"{received[0] if received else 'stop'}: stopping the sandbox ...")
        env_path(config_out).unlink(missing_ok=True)  # its credentials file is gone with the sandbox
        say(f"stopped; {config_out} is kept (history and diff still read its reports folder)")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return EXIT_OK
