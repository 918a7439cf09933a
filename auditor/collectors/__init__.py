"""Collectors: live state -> plain JSON in a Snapshot. One module per system.

Order matters only in that each collector may read what an earlier one stored; every
collector records its own failures in the snapshot's `errors` and never raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from auditor import __version__
from auditor.collectors.base import Collector, Progress, Sink
from auditor.config import Config, FederationConfig
from auditor.snapshot import FederationSnapshot, Snapshot


def default_collectors(config: Config, okta_secret: str | None, progress: Progress | None = None) -> list[Collector]:
    """The built-in collectors in their run order."""
    from auditor.collectors.aws import AwsClients, CognitoCollector, IamConnectCollector, OrganizationsCollector
    from auditor.collectors.okta import OktaCollector

    clients = AwsClients(config)
    return [
        OktaCollector(config, okta_secret, progress),
        CognitoCollector(config, clients, progress),
        OrganizationsCollector(config, clients, progress),
        IamConnectCollector(config, clients, progress),
    ]


def collect(config: Config, federations: Sequence[FederationConfig], collectors: Sequence[Collector],
            *, run_id: str) -> Snapshot:
    """Run every collector over the federations and assemble the Snapshot."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    sinks = {f.name: Sink(f.name) for f in federations}
    for collector in collectors:
        try:
            collector.collect(federations, sinks)
        except Exception as exc:  # a collector bug must not lose the others' data or hide as PASS
            for fed in federations:
                for key in collector.provides:
                    if key not in sinks[fed.name].resources:
                        sinks[fed.name].fail(key, f"{collector.name} collector crashed: {type(exc).__name__}: {exc}")
    return Snapshot(
        run_id=run_id,
        collected_at=started,
        tool_version=__version__,
        settings=config.settings_for_snapshot(),
        federations=tuple(
            FederationSnapshot(name=f.name, config=f.data, resources=sinks[f.name].resources,
                               errors=tuple(sinks[f.name].errors))
            for f in federations
        ),
    )
