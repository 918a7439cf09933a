"""Benchmark: what a command costs before it does any work - `auditor --help`, `auditor validate`
and a one-federation `auditor scan` against the sandbox (its start and seeding excluded).

    .venv/bin/python bench/startup.py [--repeats 5]

Each command runs as `python -m auditor ...` in a fresh process, `--repeats` times interleaved
(help, validate, scan, help, ...); the wall time and the process's CPU (user + system, from
wait4: interpreter start, imports and exit included) are printed as min and median, with the
machine's load average, and the targets of issue 17 are checked on the medians. A benchmark
prints figures; it is not a timed test.

The package is byte-compiled first and the child runs without PYTHONDONTWRITEBYTECODE, so it loads
its modules from `__pycache__` as a user's `pip install` does (bench/child_env.py): the figures
are what a user's process costs, not a checkout's that recompiles every module from source.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from auditor.sandbox.scenario import (  # noqa: E402 (after the path: runs from a checkout)
    Sandbox,
    apply_environment,
    config_document,
    seed_federation,
    write_config,
)
from bench.child_env import child_env, compile_package  # noqa: E402

# Target CPU seconds (medians), issue 17.
TARGETS = {"--help": 0.15, "validate": 0.4, "scan (1 federation)": None}
SCAN_FIXED_TARGET_S = 0.6


def run(args: list[str]) -> tuple[float, float, int]:
    """(wall s, CPU s, exit code) of `python -m auditor ARGS` in a fresh process."""
    env = child_env()
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "auditor", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - began, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    compile_package()
    load = os.getloadavg()
    with Sandbox() as sb, tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        apply_environment(sb)
        fed = seed_federation(sb, "startup")
        config = write_config(Path(tmp) / "config.yaml", config_document(sb, [fed], reports_dir=str(Path(tmp) / "r")))
        commands = {"--help": ["--help"], "validate": ["validate", "--config", str(config)],
                    "scan (1 federation)": ["scan", "--config", str(config), "--format", "json", "-q"]}
        results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, cmd in commands.items():
                results[name].append(run(cmd))
    end_load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs; load average {load[0]:.2f} before, {end_load[0]:.2f} after; "
          f"{args.repeats} interleaved runs of each")
    print(f"{'command':22} {'wall min':>9} {'wall med':>9} {'CPU min':>9} {'CPU med':>9} {'exit':>5}  "
          "target (CPU median)")
    ok = True
    for name, runs in results.items():
        walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
        target = TARGETS[name]
        verdict = ""
        if target is not None:
            met = statistics.median(cpus) <= target
            ok &= met
            verdict = f"<= {target} s: {'ok' if met else 'MISSED'}"
        else:
            verdict = (f"(the fixed part of a scan, <= {SCAN_FIXED_TARGET_S} s, is checked by bench/scan_scale.py; "
                       "this one also collects and judges one federation)")
        print(f"{name:22} {min(walls):9.3f} {statistics.median(walls):9.3f} {min(cpus):9.3f} "
              f"{statistics.median(cpus):9.3f} {','.join(sorted({str(r[2]) for r in runs})):>5}  {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
