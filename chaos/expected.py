"""What a chaos run must end with, as a JSON file the checker reads.

    {"builds_published": 5000, "malformed_published": 25,
     "realms": ["9130357000000001", ...],
     "builds": [{"build_id": "...", "tenant_id": "...", "realm_id": "...",
                 "build_number": "B-00042", "story": "approved after QA",
                 "exports": [{"kind": "BUILD", "outcome": "SYNCED",
                              "transaction_type": "JournalEntry",
                              "amount": "412.35"}]}],
     "run": {"consumer_kills": 41, "broker_restarts": 1, "wall_seconds": 612.4}}

An export's ``outcome`` is SYNCED, FAILED (with ``error_code``) or NOT_EXPORTED. A
synced journal entry names its ``amount``; a synced inventory adjustment its
``quantities`` (item id to the quantity it moves). ``run`` is filled in when the run
ends; a file without it still checks.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SYNCED = "SYNCED"
FAILED = "FAILED"
NOT_EXPORTED = "NOT_EXPORTED"


@dataclass(frozen=True)
class ExpectedExport:
    kind: str  # BUILD or WASTE
    outcome: str  # SYNCED, FAILED or NOT_EXPORTED
    error_code: str | None = None
    transaction_type: str | None = None  # InventoryAdjustment or JournalEntry
    amount: str | None = None
    quantities: dict[str, str] | None = None


@dataclass(frozen=True)
class ExpectedBuild:
    build_id: str
    tenant_id: str
    realm_id: str
    build_number: str
    story: str
    exports: tuple[ExpectedExport, ...]


@dataclass
class RunFacts:
    consumer_kills: int = 0
    consumer_exits: int = 0  # consumers that ended without being killed
    broker_restarts: int = 0
    wall_seconds: float = 0.0


@dataclass
class Expectation:
    builds: list[ExpectedBuild]
    malformed_published: int
    realms: list[str]
    run: RunFacts = field(default_factory=RunFacts)

    @property
    def builds_published(self) -> int:
        return len(self.builds)

    def exports(self) -> dict[tuple[str, str], ExpectedExport]:
        """Every expected export by (build id, kind)."""
        return {(b.build_id, e.kind): e for b in self.builds for e in b.exports}

    def save(self, path: Path) -> None:
        document = {
            "builds_published": self.builds_published,
            "malformed_published": self.malformed_published,
            "realms": self.realms,
            "builds": [asdict(b) for b in self.builds],
            "run": asdict(self.run),
        }
        path.write_text(json.dumps(document, indent=1))


def load(path: Path) -> Expectation:
    document = json.loads(path.read_text())
    return Expectation(
        builds=[_build(raw) for raw in document["builds"]],
        malformed_published=int(document.get("malformed_published", 0)),
        realms=list(document.get("realms", [])),
        run=RunFacts(**document.get("run", {})),
    )


def _build(raw: dict[str, Any]) -> ExpectedBuild:
    exports = tuple(ExpectedExport(**e) for e in raw["exports"])
    return ExpectedBuild(**{**raw, "exports": exports})
