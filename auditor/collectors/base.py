"""The one small interface every collector implements, and the sink it writes into."""

from __future__ import annotations

import abc
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar

from auditor.config import DEFAULT_CONCURRENCY, AwsSettings, Config, FederationConfig, OktaSettings
from auditor.prettyjson import json_key
from auditor.resources import provided_by
from auditor.snapshot import CollectionError


@dataclass
class Sink:
    """Where a collector puts one federation's data: a value per resource key, or an error."""

    federation: str
    # A dict while collectors write; once the federation is handed over complete, possibly a
    # StoredResources (`hand_over`), copied back into a dict by a (buggy) later write.
    resources: Mapping[str, Any] = field(default_factory=dict)
    errors: list[CollectionError] = field(default_factory=list)
    # Why an object that does not exist does not, when there is more to say (snapshot `absent`).
    absent: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Bumped by every put and fail: `collect()` re-announces a federation whose sink changed after
    # it was announced complete (a crashing collector may still mark keys as failed).
    version: int = 0
    # Writes and `hand_over` exclude each other: a write racing the hand-over is never lost.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def put(self, key: str, value: Any) -> None:
        """Store plain JSON for `key` (None: looked, and it does not exist). A value nested too
        deeply to keep in a snapshot (see auditor.nesting) is recorded as an error instead."""
        from auditor import nesting

        try:
            kept = _plain(value, 1, nesting.MAX_RESOURCE_DEPTH)
        except _TooDeep:
            kept = _TOO_DEEP
        except TypeError:  # a value JSON cannot hold; but depth is reported first, as it always was
            if not nesting.exceeds_depth(value, nesting.MAX_RESOURCE_DEPTH):
                raise
            kept = _TOO_DEEP
        if kept is _TOO_DEEP:
            self.fail(key, f"the answer's {nesting.NestingTooDeep(nesting.MAX_RESOURCE_DEPTH)}: too deep to keep "
                           "or judge")
            return
        with self._lock:
            self._writable()[key] = kept
            self.absent.pop(key, None)
            self.version += 1

    def put_absent(self, key: str, reason: str, similar: Sequence[str] = ()) -> None:
        """Store that `key` does not exist, with why (`reason`, a sentence) and the near matches
        seen instead (`similar`); the findings about that object say so."""
        self.put(key, None)
        with self._lock:
            self.absent[key] = {"reason": reason, "similar": list(similar)}
            self.version += 1

    def fail(self, key: str, message: str) -> None:
        """Record that `key` could not be collected; the controls needing it become ERROR."""
        with self._lock:
            self._writable().pop(key, None)
            self.absent.pop(key, None)
            self.errors.append(CollectionError(key, message))
            self.version += 1

    def get(self, key: str) -> Any:
        """A value collected earlier in this run (None when absent or not collected)."""
        return self.resources.get(key)

    def hand_over(self, resources: Mapping[str, Any], version: int) -> bool:
        """Hold `resources` (the same data, e.g. a StoredResources) in place of the dict written
        so far, when nothing was written since `version`; False (nothing changed) otherwise."""
        with self._lock:
            if self.version != version:
                return False
            self.resources = resources
            return True

    def _writable(self) -> dict[str, Any]:
        if not isinstance(self.resources, dict):  # handed over: a late write works on a copy
            self.resources = dict(self.resources.items())
        return self.resources


def plain(value: Any) -> Any:
    """Deep-convert SDK output (datetimes, tuples) to plain JSON values, with dict keys and
    short strings interned: every federation's resources repeat the same few hundred keys and
    enum-like values, and sharing them cuts a snapshot's memory by a third (measured: 77 -> 50
    MB for 1,000 federations' resources).

    The very values `json.loads(json.dumps(value, default=...))` gives (datetimes and dates as
    ISO 8601, bytes as UTF-8 text, tuples as lists, dict keys as JSON writes them), in one walk:
    the round trip through text, then a second walk to intern, cost twice the CPU (~0.5 ms a
    federation). Raises TypeError for a value JSON cannot hold, as json.dumps does.
    """
    return _plain(value, 1, sys.maxsize)


_INTERN_MAX = 64  # longer strings are ids, ARNs, certificates: rarely repeated
_TOO_DEEP = object()


class _TooDeep(Exception):
    """A list or object nested deeper than the limit `_plain` was given."""


def _plain(value: Any, depth: int, limit: int) -> Any:
    """`plain(value)` for a value at nesting `depth` (1: the top); raises _TooDeep for a list or
    object deeper than `limit` (auditor.nesting counts the same way)."""
    cls = type(value)
    if cls is str:
        return sys.intern(value) if len(value) <= _INTERN_MAX else value
    if cls is dict or isinstance(value, dict):
        if depth > limit:
            raise _TooDeep
        depth += 1
        return {_key(k): _plain(v, depth, limit) for k, v in value.items()}
    if cls is list or cls is tuple or isinstance(value, list | tuple):
        if depth > limit:
            raise _TooDeep
        depth += 1
        return [_plain(v, depth, limit) for v in value]
    if value is None or cls is bool or cls is int or cls is float:
        return value
    if isinstance(value, str):  # a subclass: json writes its characters
        return _plain(str.__str__(value), depth, limit)
    if isinstance(value, int):  # bool is handled above; an IntEnum is written as its number
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, datetime | date):
        return _plain(value.isoformat(), depth, limit)
    if isinstance(value, bytes):
        return _plain(value.decode("utf-8", "replace"), depth, limit)
    raise TypeError(f"cannot store {type(value).__name__} in a snapshot")


def _key(key: Any) -> str:
    """A dict key as json.dumps writes it, interned (every federation repeats the same keys)."""
    return sys.intern(json_key(key))


# A progress callback: (federation, message).
Progress = Callable[[str, str], None]

@dataclass(frozen=True)
class CollectOptions:
    """How hard collection may push: one frozen object handed to every collector, no globals.

    `concurrency` bounds the federations in flight per collector (1: one federation at a time,
    one collector after the other, as a plain loop). The rate settings come from the config
    (`okta.rate_limit_share`, `aws.cognito_pool_rps`, `aws.cognito_account_rps`); without one,
    the config's defaults apply (declared once, in auditor/config.py).
    """

    concurrency: int = DEFAULT_CONCURRENCY
    okta_rate_limit_share: float = OktaSettings.rate_limit_share
    cognito_pool_rps: float = AwsSettings.cognito_pool_rps
    cognito_account_rps: float = AwsSettings.cognito_account_rps


class Collector(abc.ABC):
    """Fetches one system's live state for every federation and writes it into their sinks.

    Collectors are independent: none reads what another stored, so `collect()` (see
    auditor/collectors/__init__.py) runs them side by side (one after the other only with a
    concurrency of 1), and relating one system's data to another's (the SAML metadata checks)
    is the evaluator's work. A failure becomes a `Sink.fail` entry, never an exception out of
    `collect`.
    """

    name: ClassVar[str]
    # The keys it writes: the resource catalogue's entries naming this collector (auditor/resources.py),
    # set from the catalogue when the class is defined. `collect()` marks them failed if it crashes.
    provides: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and "provides" not in cls.__dict__:
            cls.provides = provided_by(cls.name)

    def __init__(self, config: Config, progress: Progress | None = None,
                 options: CollectOptions | None = None) -> None:
        self.config = config
        self.progress = progress or (lambda fed, msg: None)
        self.options = options or CollectOptions()
        # Set by `collect()`: told once per federation this collector is finished with.
        self.on_done: Callable[[str], None] = lambda fed: None

    def warm_up(self, federations: Sequence[FederationConfig]) -> None:  # noqa: B027 (optional hook)
        """Prepare what the first paced call needs (clients, sessions), before any collector runs.

        A rate limit's unused budget is lost for good (a token bucket only holds its burst), so
        a paced collector must start calling at once; warming up first, alone, keeps the other
        collectors' start-up work (the okta SDK's imports, ~0.7 s of CPU) from delaying it. Must
        not raise: a failure here shows up again, and is recorded, in `collect`.
        """

    @abc.abstractmethod
    def collect(self, federations: Sequence[FederationConfig], sinks: dict[str, Sink]) -> None:
        """Collect every federation's resources of this system into `sinks[federation.name]`."""
