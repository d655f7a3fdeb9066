"""The checker's figures, its verdict, and how they are printed.

The figures the verdict rests on are printed last, one per line, as ``name: value``;
notes that explain them (unexpected outcomes, dead letters, the outbox) come before.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Figures:
    builds_published: int = 0
    exports_expected: int = 0
    settled: int = 0
    synced: int = 0
    failed: int = 0
    expected_failed: int = 0
    not_exported: int = 0
    missing_transactions: int = 0
    duplicate_transactions: int = 0
    mismatches: int = 0
    missing_status_events: int = 0
    unbalanced_journal_entries: int = 0
    throttled_429: int = 0
    consumer_kills: int = 0
    broker_restarts: int = 0
    wall_seconds: float = 0.0
    notes: Notes = field(default_factory=lambda: Notes())

    def problems(self) -> list[str]:
        """Why the run fails; empty when it passes."""
        found = []
        if self.settled < self.exports_expected:
            found.append(f"{self.exports_expected - self.settled} exports not settled")
        for count, what in (
            (self.missing_transactions, "missing transactions"),
            (self.duplicate_transactions, "duplicate transactions"),
            (self.mismatches, "DB/ledger mismatches"),
            (self.missing_status_events, "missing status events"),
            (self.unbalanced_journal_entries, "unbalanced journal entries"),
        ):
            if count:
                found.append(f"{count} {what}")
        return found

    @property
    def passed(self) -> bool:
        return not self.problems()

    def lines(self) -> list[str]:
        problems = self.problems()
        verdict = "PASSED" if not problems else "FAILED: " + "; ".join(problems)
        return [*self.notes.lines(), f"chaos check: {verdict}", *self.figure_lines()]

    def figure_lines(self) -> list[str]:
        return [
            f"builds published: {self.builds_published}",
            f"exports expected: {self.exports_expected}",
            f"settled: {self.settled}",
            f"synced: {self.synced}",
            f"failed: {self.failed} (expected to fail: {self.expected_failed})",
            f"not exported (full recovery): {self.not_exported}",
            f"missing transactions: {self.missing_transactions}",
            f"duplicate transactions: {self.duplicate_transactions}",
            f"DB/ledger mismatches: {self.mismatches}",
            f"missing status events: {self.missing_status_events}",
            f"unbalanced journal entries: {self.unbalanced_journal_entries}",
            f"429s served by the emulator: {self.throttled_429}",
            f"consumer kills: {self.consumer_kills}",
            f"broker restarts: {self.broker_restarts}",
            f"wall time: {self.wall_seconds:.1f} s",
        ]


@dataclass
class Notes:
    """What explains the figures; none of it decides the verdict."""

    unexpected_outcomes: list[str] = field(default_factory=list)
    failure_codes: Counter[str] = field(default_factory=Counter)
    wrong_amounts: list[str] = field(default_factory=list)
    unexpected_exports: int = 0
    stray_transactions: int = 0
    status_events: int = 0
    repeated_status_events: int = 0
    malformed_published: int = 0
    input_dead_letters: int | None = None
    export_dead_letters: int | None = None
    outbox_unpublished: int | None = None
    consumer_exits: int = 0
    examples: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        lines = [
            f"note: status events read: {self.status_events} "
            f"({self.repeated_status_events} "
            "published more than once)",
            f"note: failures by code: {_counts(self.failure_codes)}",
            f"note: unexpected outcomes: {len(self.unexpected_outcomes)}",
            "note: transactions with wrong amounts or quantities: "
            f"{len(self.wrong_amounts)}",
            "note: exports recorded that no build asked for: "
            f"{self.unexpected_exports}",
            "note: ledger transactions naming no expected export: "
            f"{self.stray_transactions}",
            f"note: consumers that exited without being killed: {self.consumer_exits}",
        ]
        if self.input_dead_letters is not None:
            lines.append(
                f"note: malformed messages published: {self.malformed_published}, "
                f"dead-lettered (distinct offsets): {self.input_dead_letters}"
            )
        if self.export_dead_letters is not None:
            lines.append(
                f"note: failed exports dead-lettered: {self.export_dead_letters}"
            )
        if self.outbox_unpublished is not None:
            lines.append(
                f"note: outbox rows still unpublished: {self.outbox_unpublished}"
            )
        shown = [*self.unexpected_outcomes, *self.wrong_amounts, *self.examples][:15]
        return lines + [f"  e.g. {example}" for example in shown]


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{code} {n}" for code, n in counter.most_common()) or "none"
