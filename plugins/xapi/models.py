"""Tables of the learning record store: statements and their query indexes, documents, clients, outbox, progress."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from lms.extensions import db
from lms.timeutil import utcnow

# 64-bit keys on PostgreSQL, rowid aliases on SQLite (a BIGINT primary key is not autoincrementing there).
BigId = BigInteger().with_variant(Integer(), "sqlite")
IRI = String(2048)


class XapiStatement(db.Model):
    """One stored statement: its exact JSON plus the columns the query parameters filter on."""

    __tablename__ = "xapi_statement"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    statement_id: Mapped[str] = mapped_column(String(36), unique=True)
    actor_key: Mapped[str] = mapped_column(String(512), info={"pi": True})
    verb_id: Mapped[str] = mapped_column(IRI)
    object_type: Mapped[str] = mapped_column(String(16))
    # activity IRI, agent key or statement id, depending on object_type
    object_key: Mapped[str] = mapped_column(IRI)
    registration: Mapped[str | None] = mapped_column(String(36))
    timestamp: Mapped[datetime]
    stored: Mapped[datetime]
    voided: Mapped[bool] = mapped_column(Boolean, default=False)
    person_id: Mapped[int | None] = mapped_column(Integer)  # a site account's user id, for projections
    client_id: Mapped[int | None] = mapped_column(Integer)
    has_attachments: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[str] = mapped_column(Text, info={"pi": True})  # the statement as stored (canonical JSON text)

    __table_args__ = (
        Index("ix_xapi_statement_actor_stored", "actor_key", "stored"),
        Index("ix_xapi_statement_verb_stored", "verb_id", "stored"),
        Index("ix_xapi_statement_object_stored", "object_key", "stored"),
        Index("ix_xapi_statement_stored", "stored", "id"),
        # partial indexes: most statements have no registration, are not StatementRefs, are not a site member's
        Index("ix_xapi_statement_registration", "registration", sqlite_where=text("registration IS NOT NULL"),
              postgresql_where=text("registration IS NOT NULL")),
        Index("ix_xapi_statement_refs", "stored", "id", sqlite_where=text("object_type = 'StatementRef'"),
              postgresql_where=text("object_type = 'StatementRef'")),
        Index("ix_xapi_statement_person", "person_id", "stored", sqlite_where=text("person_id IS NOT NULL"),
              postgresql_where=text("person_id IS NOT NULL")),
    )


class XapiStatementAgent(db.Model):
    """Agents a statement is related to besides its actor and object: authority, instructor, team, group
    members, and those of a sub-statement (for `related_agents`)."""

    __tablename__ = "xapi_statement_agent"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    statement_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("xapi_statement.statement_id", ondelete="CASCADE"))
    agent_key: Mapped[str] = mapped_column(String(512), info={"pi": True})

    __table_args__ = (Index("ix_xapi_statement_agent_key", "agent_key", "statement_id"),)


class XapiStatementActivity(db.Model):
    """Activities a statement is related to besides its object: context activities and those of a
    sub-statement (for `related_activities`)."""

    __tablename__ = "xapi_statement_activity"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    statement_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("xapi_statement.statement_id", ondelete="CASCADE"))
    activity_id: Mapped[str] = mapped_column(IRI)

    __table_args__ = (Index("ix_xapi_statement_activity_iri", "activity_id", "statement_id"),)


class XapiAttachment(db.Model):
    """Attachment content, stored once per sha2 and shared by the statements that list it."""

    __tablename__ = "xapi_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha2: Mapped[str] = mapped_column(String(128), unique=True)
    content_type: Mapped[str] = mapped_column(String(255))
    length: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class XapiActivity(db.Model):
    """The canonical definition of an activity, merged from the statements that described it."""

    __tablename__ = "xapi_activity"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[str] = mapped_column(IRI, unique=True)
    definition: Mapped[str | None] = mapped_column(Text)  # JSON
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class XapiDocument(db.Model):
    """A State, Activity Profile or Agent Profile document."""

    __tablename__ = "xapi_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # state | activity_profile | agent_profile
    activity_id: Mapped[str] = mapped_column(IRI, default="")
    agent_key: Mapped[str] = mapped_column(String(512), default="", info={"pi": True})
    registration: Mapped[str] = mapped_column(String(36), default="")
    doc_id: Mapped[str] = mapped_column(String(1024))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(String(255))
    etag: Mapped[str] = mapped_column(String(64))
    updated: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("kind", "activity_id", "agent_key", "registration", "doc_id"),
        Index("ix_xapi_document_lookup", "kind", "activity_id", "agent_key", "registration", "updated"),
    )


class XapiClient(db.Model):
    """An HTTP Basic credential for a content package, script or external system."""

    __tablename__ = "xapi_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex of a 256-bit random secret
    can_read: Mapped[bool] = mapped_column(Boolean, default=True)
    can_write: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None]
    # AUTH-08: a key works until this moment (at most XAPI_CLIENT_DAYS ≤ 365 days after creation or renewal).
    expires_at: Mapped[datetime]

    @property
    def scopes(self) -> list[str]:
        return [s for s, on in (("read", self.can_read), ("write", self.can_write)) if on]

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def expired(self) -> bool:
        return self.expires_at <= utcnow()


class XapiOutbox(db.Model):
    """A statement waiting to be forwarded to the external LRS; kept until that LRS acknowledges it."""

    __tablename__ = "xapi_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    statement_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("xapi_statement.statement_id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_xapi_outbox_pending", "sent_at", "next_attempt_at"),)


class XapiProgress(db.Model):
    """Learning progress of one person on one activity, projected from their (non-voided) statements."""

    __tablename__ = "xapi_progress"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    activity_id: Mapped[str] = mapped_column(IRI)
    activity_name: Mapped[str | None] = mapped_column(String(255))
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # percent, 0–100
    completion: Mapped[bool] = mapped_column(Boolean, default=False)
    success: Mapped[bool | None] = mapped_column(Boolean)
    score_scaled: Mapped[float | None] = mapped_column(Float)
    effective_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    statement_count: Mapped[int] = mapped_column(Integer, default=0)
    first_seen: Mapped[datetime | None]
    last_seen: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("person_id", "activity_id"),
        Index("ix_xapi_progress_person_seen", "person_id", "last_seen"),
    )
