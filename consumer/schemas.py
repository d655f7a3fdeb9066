"""The Avro schemas of the service's topics, loaded once from the schemas folder.

Every version ever published stays in the folder so that old messages stay readable;
a reader decodes with the writer's schema (found from the message's framing) and
resolves it into the newest version of the same record.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from consumer.errors import ConfigurationError

BUILD_STATUS_CHANGED = "com.partsemble.builds.BuildStatusChanged"
EXPORT_COMMAND = "com.partsemble.builds.ExportCommand"
EXPORT_STATUS_CHANGED = "com.partsemble.builds.ExportStatusChanged"
TENANT_SETTINGS_CHANGED = "com.partsemble.tenants.TenantSettingsChanged"


@dataclass(frozen=True)
class SchemaVersion:
    name: str
    version: int
    parsed: Any
    fingerprint: bytes


def schema_dir() -> Path:
    configured = os.environ.get("BUILD_EXPORT_SCHEMA_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / "schemas"


@cache
def registry() -> SchemaRegistry:
    return SchemaRegistry.load(schema_dir())


class SchemaRegistry:
    """Every known schema version, by fingerprint and by record name."""

    def __init__(self, versions: list[SchemaVersion]) -> None:
        self._by_fingerprint = {v.fingerprint: v for v in versions}
        self._latest: dict[str, SchemaVersion] = {}
        for v in sorted(versions, key=lambda v: v.version):
            self._latest[v.name] = v

    @classmethod
    def load(cls, folder: Path) -> SchemaRegistry:
        files = sorted(folder.glob("*.avsc"))
        if not files:
            raise ConfigurationError(
                f"No Avro schemas (*.avsc) in {folder}; set BUILD_EXPORT_SCHEMA_DIR "
                "to the project's schemas folder."
            )
        return cls([_load_version(path) for path in files])

    def by_fingerprint(self, fp: bytes) -> SchemaVersion | None:
        return self._by_fingerprint.get(fp)

    def latest(self, name: str) -> SchemaVersion:
        return self._latest[name]


def _load_version(path: Path) -> SchemaVersion:
    # File names read <Record>.v<N>.avsc; the version orders evolutions of one record.
    raw = json.loads(path.read_text())
    parsed = cast(dict[str, Any], parse_schema(raw))  # each file holds a record
    version = int(path.name.split(".v")[-1].removesuffix(".avsc"))
    fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
    return SchemaVersion(parsed["name"], version, parsed, fp)
