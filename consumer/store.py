"""The service's state in SQL, through SQLAlchemy: SQLite by default, PostgreSQL in
production.

Tables: companies' export settings and connections (tokens encrypted at rest), builds'
latest snapshots, exports and their outcome, processed event ids (the inbox) and the
outbox of messages still to publish.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import (
    BigInteger,
    Boolean,
    CursorResult,
    DateTime,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    or_,
    select,
    update,
)
from sqlalchemy.exc import (
    IntegrityError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from consumer.errors import ConfigurationError
from consumer.model import ExportMode, InventoryMode, TenantSettings
from consumer.quickbooks_client import Tokens


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class TenantRow(Base):
    __tablename__ = "tenants"

    tenant_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    realm_id: Mapped[str] = mapped_column(String(64))
    inventory_mode: Mapped[str] = mapped_column(String(32))
    export_mode: Mapped[str] = mapped_column(String(16), default=ExportMode.AUTO.value)
    cogs_account_id: Mapped[str | None] = mapped_column(String(64))
    waste_account_id: Mapped[str | None] = mapped_column(String(64))
    build_debit_account_id: Mapped[str | None] = mapped_column(String(64))
    build_credit_account_id: Mapped[str | None] = mapped_column(String(64))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    home_currency: Mapped[str] = mapped_column(String(3), default="USD")
    # When the settings applied last were decided; an older settings event is ignored.
    settings_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )

    def settings(self) -> TenantSettings:
        return TenantSettings(
            tenant_id=self.tenant_id,
            realm_id=self.realm_id,
            inventory_mode=InventoryMode(self.inventory_mode),
            export_mode=ExportMode(self.export_mode),
            cogs_account_id=self.cogs_account_id,
            waste_account_id=self.waste_account_id,
            build_debit_account_id=self.build_debit_account_id,
            build_credit_account_id=self.build_credit_account_id,
            timezone=self.timezone,
            home_currency=self.home_currency,
        )


class ConnectionRow(Base):
    __tablename__ = "connections"

    tenant_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    realm_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="CONNECTED")
    refresh_token: Mapped[bytes] = mapped_column(LargeBinary)
    # A digest of the refresh token as a person granted it: loading the same grant again
    # must not undo the rotations since (the stored token is the newest one).
    granted_digest: Mapped[str | None] = mapped_column(String(64))
    access_token: Mapped[bytes | None] = mapped_column(LargeBinary)
    access_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )


class BuildRow(Base):
    __tablename__ = "builds"

    build_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(200), index=True)
    build_number: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_id: Mapped[str] = mapped_column(String(36))
    snapshot: Mapped[str] = mapped_column(Text)  # the event's JSON form
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )


class ExportRow(Base):
    """One export of a build: the build itself, or its waste."""

    __tablename__ = "exports"
    __table_args__ = (
        UniqueConstraint("build_id", "kind"),
        UniqueConstraint("tenant_id", "reference"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    build_id: Mapped[str] = mapped_column(String(36), index=True)
    tenant_id: Mapped[str] = mapped_column(String(200), index=True)
    build_number: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8))
    reference: Mapped[str] = mapped_column(String(21))
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    request_id: Mapped[str | None] = mapped_column(String(50))
    causation_id: Mapped[str | None] = mapped_column(String(64))
    transaction_type: Mapped[str | None] = mapped_column(String(32))
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    retryable: Mapped[bool] = mapped_column(Boolean, default=False)
    # While EXPORTING: when the next post may go, how many posts this attempt has made
    # (a post whose answer was lost is looked up before posting again), and how many
    # scheduled retries transient trouble has used.
    next_attempt_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), index=True
    )
    posts: Mapped[int] = mapped_column(Integer, default=0)
    scheduled_retries: Mapped[int] = mapped_column(Integer, default=0)
    # The worker posting it now, until when: another process takes it over only after.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )


class ProcessedEvent(Base):
    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)  # Kafka offsets are 64-bit
    processed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )


class ReplayedDeadLetter(Base):
    """A dead letter that was replayed: replaying it again does nothing."""

    __tablename__ = "replayed_dead_letters"

    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    action: Mapped[str] = mapped_column(String(255))
    replayed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )


class OutboxRow(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(255))
    key: Mapped[bytes | None] = mapped_column(LargeBinary)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[str] = mapped_column(
        Text, default="[]"
    )  # JSON list of [name, hex value]
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )
    published_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), index=True
    )
    # The relay publishing it now, until when: each row goes out through one process.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def header_list(self) -> list[tuple[str, bytes]]:
        return [
            (name, bytes.fromhex(value)) for name, value in json.loads(self.headers)
        ]


class TokenCipher:
    """Encrypts tokens at rest with a Fernet key."""

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                "BUILD_EXPORT_TOKEN_KEY is not a valid Fernet key (32 url-safe base64 "
                "bytes); make one with `build-export tenants new-key`"
            ) from exc

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken as exc:
            raise ConfigurationError(
                "stored tokens cannot be decrypted with BUILD_EXPORT_TOKEN_KEY: use "
                "the key they were stored with, or load the companies' connections "
                "again"
            ) from exc


class Store:
    def __init__(self, url: str, cipher: TokenCipher) -> None:
        self.url = url
        self._cipher = cipher
        try:
            self._engine = create_engine(url, future=True)
        except ImportError as exc:
            raise ConfigurationError(
                f"the database driver for {mask_url(url)} is missing ({exc.name}): "
                "for PostgreSQL use postgresql+psycopg://, whose driver the project "
                "installs"
            ) from exc
        except (SQLAlchemyError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot use database URL {mask_url(url)}: {exc}"
            ) from exc
        if self._engine.dialect.name == "sqlite":
            event.listen(self._engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    def create_schema(self) -> None:
        # Several processes starting together race to create the same tables; the
        # losers find them made on the next try.
        for attempt in range(5):
            try:
                Base.metadata.create_all(self._engine)
                return
            except (OperationalError, IntegrityError, ProgrammingError):
                if attempt == 4:
                    break
                time.sleep(0.2 * (attempt + 1))
        try:
            Base.metadata.create_all(self._engine)
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            raise ConfigurationError(
                f"cannot open database {mask_url(self.url)}: {cause}"
            ) from exc

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on error."""
        with self._sessions.begin() as session:
            yield session

    # -- companies and their connections ---------------------------------------------

    def tenant(self, tenant_id: str) -> TenantSettings | None:
        with self.begin() as s:
            row = s.get(TenantRow, tenant_id)
            return row.settings() if row else None

    def tenants(self) -> list[TenantSettings]:
        with self.begin() as s:
            return [
                r.settings()
                for r in s.scalars(select(TenantRow).order_by(TenantRow.tenant_id))
            ]

    def save_tenant(
        self, settings: TenantSettings, decided_at: datetime | None = None
    ) -> bool:
        """Store a company's settings; False when settings decided later are stored."""
        with self.begin() as s:
            return save_tenant_in(s, settings, decided_at)

    def connect(self, tenant_id: str, realm_id: str, refresh_token: str) -> bool:
        """Store a connection: a refresh token granted for ``realm_id``. Returns False
        when this very grant is stored already (its rotated successor is kept)."""
        digest = hashlib.sha256(f"{realm_id}:{refresh_token}".encode()).hexdigest()
        with self.begin() as s:
            row = s.get(ConnectionRow, tenant_id) or ConnectionRow(tenant_id=tenant_id)
            if row.granted_digest == digest and row.realm_id == realm_id:
                return False
            row.granted_digest = digest
            row.realm_id = realm_id
            row.status = "CONNECTED"
            row.refresh_token = self._cipher.seal(refresh_token)
            row.access_token = None
            row.access_expires_at = None
            row.updated_at = utcnow()
            s.add(row)
            return True

    def connection_status(self, tenant_id: str) -> str | None:
        with self.begin() as s:
            row = s.get(ConnectionRow, tenant_id)
            return row.status if row else None

    def load_tokens(self, tenant_id: str) -> Tokens | None:
        with self.begin() as s:
            row = s.get(ConnectionRow, tenant_id)
            if row is None or row.status != "CONNECTED":
                return None
            return self._tokens(row)

    def _tokens(self, row: ConnectionRow) -> Tokens:
        return Tokens(
            refresh_token=self._cipher.open(row.refresh_token),
            access_token=self._cipher.open(row.access_token)
            if row.access_token
            else None,
            access_expires_at=as_utc(row.access_expires_at),
        )

    def save_tokens(self, tenant_id: str, tokens: Tokens) -> None:
        with self.begin() as s:
            row = s.get(ConnectionRow, tenant_id)
            if row is None:
                return
            row.refresh_token = self._cipher.seal(tokens.refresh_token)
            row.access_token = (
                self._cipher.seal(tokens.access_token) if tokens.access_token else None
            )
            row.access_expires_at = tokens.access_expires_at
            row.status = "CONNECTED"
            row.updated_at = utcnow()

    def refresh_tokens(
        self,
        tenant_id: str,
        failed_access: str | None,
        exchange: Callable[[str], Tokens | None],
    ) -> Tokens | None:
        """Refresh a company's tokens with no other worker refreshing them meanwhile.

        ``exchange`` trades a refresh token for new tokens (None when QuickBooks refuses
        it). The rotated tokens are committed before they are returned, so they are
        stored before anything uses them. Returns None when the connection is gone.
        """
        with self.begin() as s:
            # Writing the row first takes its lock (a row lock in PostgreSQL, the write
            # lock in SQLite): a second worker waits here, then sees the fresh tokens.
            s.execute(
                update(ConnectionRow)
                .where(ConnectionRow.tenant_id == tenant_id)
                .values(updated_at=utcnow())
            )
            row = s.get(ConnectionRow, tenant_id)
            if row is None or row.status != "CONNECTED":
                return None
            current = self._tokens(row)
            if current.access_token != failed_access and current.access_valid(utcnow()):
                return current  # another worker refreshed while this one waited

            fresh = exchange(current.refresh_token)
            if fresh is None:
                row.status, row.access_token = "EXPIRED", None
                return None
            row.refresh_token = self._cipher.seal(fresh.refresh_token)
            row.access_token = (
                self._cipher.seal(fresh.access_token) if fresh.access_token else None
            )
            row.access_expires_at = fresh.access_expires_at
            return fresh

    def mark_connection(self, tenant_id: str, status: str) -> None:
        with self.begin() as s:
            mark_connection_in(s, tenant_id, status)

    # -- exports ----------------------------------------------------------------------

    def exports(
        self, build_ids: list[str] | None = None, tenant_id: str | None = None
    ) -> list[ExportRow]:
        with self.begin() as s:
            query = select(ExportRow).order_by(
                ExportRow.tenant_id, ExportRow.build_number, ExportRow.kind
            )
            if build_ids:
                query = query.where(ExportRow.build_id.in_(build_ids))
            if tenant_id:
                query = query.where(ExportRow.tenant_id == tenant_id)
            return list(s.scalars(query))

    def due_tenants(self, now: datetime) -> list[str]:
        """Companies with exports whose next post may go now."""
        with self.begin() as s:
            return list(
                s.scalars(select(ExportRow.tenant_id).where(*_due(now)).distinct())
            )

    def claim_due(
        self, tenant_id: str, now: datetime, limit: int, owner: str, lease: timedelta
    ) -> list[ExportRow]:
        """Lease up to ``limit`` due exports of a company to ``owner``.

        Each row is taken with a conditional update, so two processes never hold the
        same export; a lease that runs out (its worker died) frees the export again.
        """
        with self.begin() as s:
            query = (
                select(ExportRow.id)
                .where(ExportRow.tenant_id == tenant_id, *_due(now))
                .order_by(ExportRow.next_attempt_at, ExportRow.id)
                .limit(limit)
            )
            candidates = list(s.scalars(query))
        claimed = []
        with self.begin() as s:
            for export_id in candidates:
                taken = cast(
                    CursorResult[Any],
                    s.execute(
                        update(ExportRow)
                        .where(ExportRow.id == export_id, *_due(now))
                        .values(lease_owner=owner, lease_until=now + lease)
                    ),
                )
                if taken.rowcount == 1:
                    claimed.append(export_id)
        with self.begin() as s:
            return list(
                s.scalars(
                    select(ExportRow)
                    .where(ExportRow.id.in_(claimed))
                    .order_by(ExportRow.id)
                )
            )

    def builds(self, tenant_id: str | None = None) -> list[BuildRow]:
        with self.begin() as s:
            query = select(BuildRow).order_by(BuildRow.tenant_id, BuildRow.build_number)
            if tenant_id:
                query = query.where(BuildRow.tenant_id == tenant_id)
            return list(s.scalars(query))

    # -- outbox -----------------------------------------------------------------------

    def unpublished(self, limit: int = 500) -> list[OutboxRow]:
        with self.begin() as s:
            query = (
                select(OutboxRow)
                .where(OutboxRow.published_at.is_(None))
                .order_by(OutboxRow.id)
                .limit(limit)
            )
            return list(s.scalars(query))

    def claim_unpublished(
        self, owner: str, lease: timedelta, limit: int = 500
    ) -> list[OutboxRow]:
        """Claim up to ``limit`` unpublished rows for one relay, oldest first; rows
        another relay holds are left to it until its claim runs out."""
        now = utcnow()
        free = (
            OutboxRow.published_at.is_(None),
            or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now),
        )
        with self.begin() as s:
            candidates = list(
                s.scalars(
                    select(OutboxRow.id)
                    .where(*free)
                    .order_by(OutboxRow.id)
                    .limit(limit)
                )
            )
        claimed = []
        with self.begin() as s:
            for row_id in candidates:
                taken = s.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id == row_id, *free)
                    .values(claimed_by=owner, claimed_until=now + lease)
                )
                if cast(CursorResult[Any], taken).rowcount == 1:
                    claimed.append(row_id)
        with self.begin() as s:
            query = (
                select(OutboxRow)
                .where(OutboxRow.id.in_(claimed))
                .order_by(OutboxRow.id)
            )
            return list(s.scalars(query))

    def mark_published(self, ids: list[int]) -> None:
        if not ids:
            return
        with self.begin() as s:
            for row in s.scalars(select(OutboxRow).where(OutboxRow.id.in_(ids))):
                row.published_at = utcnow()


def save_tenant_in(
    s: Session, settings: TenantSettings, decided_at: datetime | None = None
) -> bool:
    """``Store.save_tenant`` inside a transaction the caller holds."""
    row = s.get(TenantRow, settings.tenant_id) or TenantRow(
        tenant_id=settings.tenant_id
    )
    stored_at = as_utc(row.settings_at)
    if decided_at is not None and stored_at is not None and stored_at > decided_at:
        return False
    row.settings_at = decided_at or utcnow()
    row.realm_id = settings.realm_id
    row.inventory_mode = settings.inventory_mode.value
    row.export_mode = settings.export_mode.value
    row.cogs_account_id = settings.cogs_account_id
    row.waste_account_id = settings.waste_account_id
    row.build_debit_account_id = settings.build_debit_account_id
    row.build_credit_account_id = settings.build_credit_account_id
    row.timezone = settings.timezone
    row.home_currency = settings.home_currency
    row.updated_at = utcnow()
    s.add(row)
    return True


def mark_connection_in(s: Session, tenant_id: str, status: str) -> None:
    row = s.get(ConnectionRow, tenant_id)
    if row is not None:
        row.status = status
        row.access_token = None
        row.updated_at = utcnow()


def _due(now: datetime) -> tuple[Any, ...]:
    return (
        ExportRow.state == "EXPORTING",
        ExportRow.next_attempt_at <= now,
        or_(ExportRow.lease_until.is_(None), ExportRow.lease_until < now),
    )


def outbox_row(
    topic: str,
    key: str | None,
    value: bytes,
    headers: list[tuple[str, bytes]] | None = None,
) -> OutboxRow:
    encoded = json.dumps([[name, data.hex()] for name, data in headers or []])
    return OutboxRow(
        topic=topic, key=key.encode() if key else None, value=value, headers=encoded
    )


def as_utc(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored here is UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def mask_url(url: str) -> str:
    # Never echo a database password (which may itself contain '@').
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return url
