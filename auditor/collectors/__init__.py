"""Collectors: live state -> plain JSON in a Snapshot. One module per system.

No collector reads what another stored, so with `concurrency` > 1 the collectors run side by
side (each with its federations in flight up to `concurrency`); with 1 they run one after the
other over one federation at a time. Every collector records its own failures in the
snapshot's `errors` and never raises.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from auditor import __version__
from auditor.collectors.base import DEFAULT_CONCURRENCY, CollectOptions, Collector, Progress, Sink
from auditor.config import Config, FederationConfig
from auditor.snapshot import FederationSnapshot, Snapshot


def collect_options(config: Config, concurrency: int = DEFAULT_CONCURRENCY) -> CollectOptions:
    """The collection limits: `concurrency` from the command line, rates from the config."""
    return CollectOptions(concurrency=max(1, concurrency), okta_rate_limit_share=config.okta.rate_limit_share,
                          cognito_pool_rps=config.aws.cognito_pool_rps,
                          cognito_account_rps=config.aws.cognito_account_rps)


def default_collectors(config: Config, okta_secret: str | None, progress: Progress | None = None,
                       options: CollectOptions | None = None) -> list[Collector]:
    """The built-in collectors, sharing one AWS client cache and one SAML metadata cache."""
    from auditor.collectors.aws import AwsClients, CognitoCollector, IamConnectCollector, OrganizationsCollector
    from auditor.collectors.okta import OktaCollector
    from auditor.collectors.saml_cache import MetadataCache

    options = options or collect_options(config)
    clients = AwsClients(config)
    # Cognito IdPs' MetadataURLs (Okta's public form, fetched without credentials); the Okta
    # collector reads the same metadata through the API instead.
    metadata = MetadataCache(config)
    return [
        OktaCollector(config, okta_secret, progress, options),
        CognitoCollector(config, clients, progress, options, metadata=metadata),
        OrganizationsCollector(config, clients, progress, options),
        IamConnectCollector(config, clients, progress, options),
    ]


def collect(config: Config, federations: Sequence[FederationConfig], collectors: Sequence[Collector],
            *, run_id: str, on_done: Callable[[str, str], None] | None = None,
            on_federation: Callable[[FederationSnapshot], Mapping[str, Any] | None] | None = None) -> Snapshot:
    """Run every collector over the federations and assemble the Snapshot.

    `on_done(collector, federation)` is told each time a collector finishes a federation (the
    progress bar counts them: `len(collectors) * len(federations)` in all).

    `on_federation(snapshot)` is handed each federation's state as soon as every collector is
    done with it, while the others are still being collected, so that judging can overlap the
    waits of collection. Every federation is handed over at least once; one whose data changed
    after it was handed over (a collector crashed later and marked its keys failed) is handed
    over again, and the last one counts. It may return a stand-in for the federation's resources
    (the same data: a scan's evaluator returns a StoredResources that leaves memory once the
    federation is judged), which the sink and the returned Snapshot then hold in place of them.
    """
    started = datetime.now(UTC).isoformat(timespec="seconds")
    sinks = {f.name: Sink(f.name) for f in federations}
    pending = {f.name: len(collectors) for f in federations}
    finished_by: dict[str, set[str]] = {c.name: set() for c in collectors}
    announced: dict[str, int] = {}  # federation -> its sink's version when handed over
    lock = threading.Lock()

    def snapshot_of(fed: FederationConfig, *, copy: bool = True) -> FederationSnapshot:
        sink = sinks[fed.name]
        # A copy of the top level: a buggy collector may still fail keys of an announced
        # federation from its thread while the receiver reads it (and then announces it again).
        # Not once every collector is done (and a stand-in stays one).
        resources = dict(sink.resources.items()) if copy else sink.resources
        return FederationSnapshot(name=fed.name, config=fed.data, resources=resources,
                                  errors=tuple(sink.errors), absent=dict(sink.absent))

    def announce(fed: FederationConfig, version: int) -> None:
        assert on_federation is not None
        stand_in = on_federation(snapshot_of(fed))
        if stand_in is not None:
            sinks[fed.name].hand_over(stand_in, version)

    by_name = {f.name: f for f in federations}

    def finished(collector: Collector, fed_name: str) -> None:
        with lock:
            if fed_name in finished_by[collector.name]:
                return  # told twice: count it once
            finished_by[collector.name].add(fed_name)
            pending[fed_name] -= 1
            complete = pending[fed_name] == 0
            if complete:
                announced[fed_name] = version = sinks[fed_name].version
        if on_done is not None:
            on_done(collector.name, fed_name)
        if complete and on_federation is not None:
            announce(by_name[fed_name], version)

    def run(collector: Collector) -> None:
        collector.on_done = lambda fed, c=collector: finished(c, fed)  # type: ignore[misc]
        try:
            collector.collect(federations, sinks)
        except Exception as exc:  # a collector bug must not lose the others' data or hide as PASS
            for fed in federations:
                if fed.name in finished_by[collector.name]:
                    continue  # finished before the crash: its data stands
                for key in collector.provides:
                    if key not in sinks[fed.name].resources:
                        sinks[fed.name].fail(key, f"{collector.name} collector crashed: {type(exc).__name__}: {exc}")

    parallel = len(collectors) > 1 and all(c.options.concurrency > 1 for c in collectors)
    if parallel:
        for collector in collectors:
            # A failure here is met again, and recorded, by collect().
            with contextlib.suppress(Exception):
                collector.warm_up(federations)
        # Side by side: Okta's rate limits, not the AWS calls, then set the pace of the scan.
        with ThreadPoolExecutor(max_workers=len(collectors), thread_name_prefix="collector") as pool:
            list(pool.map(run, collectors))
    else:
        for collector in collectors:
            run(collector)
    if on_federation is not None:
        for fed in federations:  # never announced (a collector skipped it), or changed since
            version = sinks[fed.name].version
            if announced.get(fed.name) != version:
                announce(fed, version)
    return Snapshot(
        run_id=run_id,
        collected_at=started,
        tool_version=__version__,
        settings=config.settings_for_snapshot(),
        federations=tuple(snapshot_of(f, copy=False) for f in federations),
    )
