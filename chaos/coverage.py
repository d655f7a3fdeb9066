"""Whether the chaos reached what it is for: kills that caught exports in flight.

These read the service's bookkeeping columns (``lease_owner``, ``posts``); they only
describe the run and never decide the verdict. Where the columns are missing (the
service's schema changed), the figures are left out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)


@dataclass
class Coverage:
    kills_in_flight: int = 0  # kills of a process that held exports
    exports_held: int = 0  # exports those processes held when killed
    exports_held_posted: int = 0  # of those, exports with a post under way or done
    reposted: int | None = None  # exports posted more than once in the end

    def lines(self) -> list[str]:
        lines = [
            f"coverage: kills that caught exports in flight: {self.kills_in_flight} "
            f"({self.exports_held} exports held, "
            f"{self.exports_held_posted} of them already posted)"
        ]
        if self.reposted is not None:
            lines.append(
                "coverage: exports whose post was tried again after an unknown "
                f"outcome: {self.reposted}"
            )
        return lines


class CoverageProbe:
    def __init__(self, database_url: str, tenant_ids: list[str]) -> None:
        self._engine = create_engine(database_url)
        self._tenants = tenant_ids
        self.coverage = Coverage()

    def close(self) -> None:
        self._engine.dispose()

    def before_kill(self, pid: int) -> None:
        """Note what the process about to be killed holds."""
        statement = text(
            "SELECT count(*), coalesce(sum(CASE WHEN posts > 0 THEN 1 ELSE 0 END), 0) "
            "FROM exports WHERE state = 'EXPORTING' AND lease_owner LIKE :owner"
        )
        try:
            with self._engine.connect() as connection:
                held, posted = connection.execute(
                    statement, {"owner": f"%:{pid}:%"}
                ).one()
        except SQLAlchemyError as exc:
            log.warning("cannot see what consumer %d holds: %s", pid, exc)
            return
        if held:
            self.coverage.kills_in_flight += 1
            self.coverage.exports_held += int(held)
            self.coverage.exports_held_posted += int(posted)

    def finish(self) -> Coverage:
        statement = text(
            "SELECT count(*) FROM exports WHERE posts > 1 AND tenant_id IN "
            "(" + ", ".join(f":t{i}" for i in range(len(self._tenants))) + ")"
        )
        try:
            with self._engine.connect() as connection:
                params = {f"t{i}": t for i, t in enumerate(self._tenants)}
                self.coverage.reposted = int(
                    connection.execute(statement, params).scalar_one()
                )
        except SQLAlchemyError as exc:
            log.warning("cannot count exports posted twice: %s", exc)
        return self.coverage
