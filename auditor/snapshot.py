"""The Snapshot: everything collected in one run, plus what could not be collected.

It is written to disk with every run (`snapshot.json`): it is the evidence, and
`auditor evaluate --snapshot FILE` re-judges it offline. It never holds secrets: collectors
drop secret fields (an app client's `ClientSecret`, Okta credentials) before storing.

Resource keys: what each holds is described, with the JSON Schema of its shape, in one place,
`auditor/resources.py` (`auditor validate` checks template references against those shapes).
Values are plain JSON, never SDK objects. A key that is *absent* means the data could not be
collected (there is an entry in `errors` with that key as its `source`); a key whose value is
``None`` means the collector looked and the object does not exist.

Why an object does not exist, when the collector can say more than "it does not exist", is
recorded beside its ``None`` in the federation's ``absent`` map (written only when non-empty):
``{resource key: {"reason": str, "similar": [str]}}``, e.g. ``{"okta.app": {"reason": "no app with
label 'Contact Centre prod' in Okta", "similar": ["'Contact Center prod' (0oa1b2c3)"]}}``:
`reason` is a sentence, `similar` the near matches the collector saw (at most a few, each
naming the object's label and id). The evaluator uses it in the message of every finding about
that object, and collectors stay the only ones that look things up.
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor import nesting
from auditor.prettyjson import list_item, with_list

SNAPSHOT_FORMAT = 1


@dataclass(frozen=True)
class CollectionError:
    """Something a collector could not fetch; `source` is the resource key it was for."""

    source: str
    message: str

    def to_json(self) -> dict[str, str]:
        """Plain JSON form."""
        return {"source": self.source, "message": self.message}


class StoredResources(Mapping[str, Any]):
    """A federation's resources that can leave memory: held as given until `store(load)`, then
    read back through `load()` at each use.

    A scan stores each federation's resources once it is judged and its snapshot.json text is
    spooled to disk (auditor.runner.StreamingEvaluator): what is left to read them (attribution
    of FAILs, a re-judged federation) reads few, and 1,000 federations' resources (~45 MB
    decoded) are then never all in memory. Read back, they equal the originals with their keys
    sorted, as `Snapshot.load` gives them. Read-only; `Sink` copies one before writing to it.
    """

    __slots__ = ("_live", "_load")

    def __init__(self, live: Mapping[str, Any]) -> None:
        self._live: Mapping[str, Any] | None = live
        self._load: Callable[[], Mapping[str, Any]] | None = None

    def store(self, load: Callable[[], Mapping[str, Any]]) -> None:
        """Drop the resources held; from now on `load()` gives them back (thread-safe: a reader
        meanwhile sees either)."""
        self._load = load
        self._live = None

    @property
    def stored(self) -> bool:
        """True once the resources are no longer held in memory."""
        return self._live is None

    def _data(self) -> Mapping[str, Any]:
        live = self._live
        if live is not None:
            return live
        assert self._load is not None  # set before _live is dropped
        return self._load()

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __contains__(self, key: object) -> bool:
        return key in self._data()

    def get(self, key: str, default: Any = None) -> Any:
        """The value of `key`, else `default` (one read)."""
        return self._data().get(key, default)

    def items(self) -> ItemsView[str, Any]:
        """(key, value) pairs (one read)."""
        return self._data().items()

    def __repr__(self) -> str:  # reads nothing back (the spool may be closed)
        return f"StoredResources({'stored' if self.stored else 'held'})"


@dataclass(frozen=True)
class FederationSnapshot:
    """The collected state of one federation."""

    name: str
    # The federation's config block (secrets never live there: they come from env vars).
    config: dict[str, Any]
    # A dict, or after a streamed scan a StoredResources reading them back from disk.
    resources: Mapping[str, Any] = field(default_factory=dict)
    errors: tuple[CollectionError, ...] = ()
    # Why a resource whose value is None does not exist: {key: {reason, similar}} (see above).
    absent: dict[str, dict[str, Any]] = field(default_factory=dict)

    def has(self, key: str) -> bool:
        """True when the resource was collected (its value may still be None: 'does not exist')."""
        return key in self.resources

    def errors_for(self, key: str) -> list[CollectionError]:
        """The collection errors recorded for one resource key."""
        return [e for e in self.errors if e.source == key]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (`absent` only when there is something in it)."""
        data = {
            "name": self.name,
            "config": self.config,
            "resources": self.resources if isinstance(self.resources, dict) else dict(self.resources.items()),
            "errors": [e.to_json() for e in self.errors],
        }
        if self.absent:
            data["absent"] = self.absent
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FederationSnapshot:
        """Inverse of to_json."""
        return cls(
            name=data["name"],
            config=data.get("config", {}),
            resources=dict(data.get("resources", {})),
            errors=tuple(CollectionError(e["source"], e["message"]) for e in data.get("errors", [])),
            absent=dict(data.get("absent") or {}),
        )


@dataclass(frozen=True)
class Snapshot:
    """Everything one run collected."""

    run_id: str
    collected_at: str  # ISO 8601, UTC
    tool_version: str
    # Global, non-secret settings the templates may use: {aws: {region}, okta: {org_url,
    # allow_insecure_http}}.
    settings: dict[str, Any]
    federations: tuple[FederationSnapshot, ...]
    # The estate-level resources (auditor.resources.ESTATE_RESOURCES: discovery's coverage) when
    # the scan ran discovery; its `errors` are what discovery could not read. Absent otherwise.
    estate: FederationSnapshot | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (what `snapshot.json` holds)."""
        return {**self._header(), "federations": [f.to_json() for f in self.federations]}

    def _header(self) -> dict[str, Any]:
        header = {"format": SNAPSHOT_FORMAT, "run_id": self.run_id, "collected_at": self.collected_at,
                  "tool_version": self.tool_version, "settings": self.settings}
        if self.estate is not None:
            header["estate"] = self.estate.to_json()
        return header

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        """Inverse of to_json; raises ValueError on a document that is not a snapshot."""
        if not isinstance(data, dict) or data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"not an auditor snapshot (expected format {SNAPSHOT_FORMAT})")
        return cls(
            run_id=data["run_id"],
            collected_at=data["collected_at"],
            tool_version=data["tool_version"],
            settings=data.get("settings", {}),
            federations=tuple(_configured(FederationSnapshot.from_json(f)) for f in data["federations"]),
            estate=FederationSnapshot.from_json(data["estate"]) if data.get("estate") else None,
        )

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        """Read a snapshot written by `write`; raises ValueError for a document that is not one,
        including one nested deeper than `nesting.MAX_SNAPSHOT_DEPTH` (it could not be judged
        or reported without running out of stack)."""
        return cls.from_json(nesting.loads(path.read_text(encoding="utf-8"), nesting.MAX_SNAPSHOT_DEPTH))

    def write(self, path: Path, encoded: Callable[[FederationSnapshot], str | None] | None = None) -> None:
        """Write as pretty, key-sorted JSON so two snapshots diff cleanly.

        Federation by federation, so that a 1,000-federation snapshot (~35 MB) is never held as
        text; `encoded(fed)` may hand over a federation's text made earlier by `encode_federation`
        (a scan encodes each federation while others are still collected). Same bytes as
        `json.dump(self.to_json(), indent=2, sort_keys=True)` plus a newline.
        """
        texts = ((encoded(fed) if encoded is not None else None) or encode_federation(fed)
                 for fed in self.federations)
        with path.open("w", encoding="utf-8") as fh:
            for piece in with_list(self._header(), "federations", texts, sort_keys=True):
                fh.write(piece)


def encode_federation(fed: FederationSnapshot) -> str:
    """One federation's text in snapshot.json: a newline, then the pretty, key-sorted JSON
    indented to its place in the top-level `federations` list."""
    return list_item(fed.to_json(), sort_keys=True)


def _configured(fed: FederationSnapshot) -> FederationSnapshot:
    """`fed`, once its config is known to be a valid federation block (findings are named from it:
    judging could not name them); raises ValueError naming the federation and the key."""
    from auditor.config import FederationConfig

    FederationConfig.from_data(fed.name, fed.config)
    return fed
