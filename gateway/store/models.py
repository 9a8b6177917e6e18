"""SQLAlchemy table models: resources with version history, search indexes, backend id map.

May import: sqlalchemy, stdlib. The search index tables hold one row per indexed value of the
*current* version of a resource; they are rewritten on every write in the same transaction.
Timestamps are naive UTC (SQLite has no time zone type; PostgreSQL gets the same values).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String,
                        Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# BIGINT on PostgreSQL, INTEGER on SQLite (only INTEGER PRIMARY KEY autoincrements there).
PK = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base; Alembic's env.py reads Base.metadata."""


class ResourceRow(Base):
    """The current version of one resource (deleted ones stay, flagged, so reads can answer 410)."""

    __tablename__ = "resources"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    id: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int] = mapped_column(Integer)
    last_updated: Mapped[datetime] = mapped_column(DateTime)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    content: Mapped[str | None] = mapped_column(Text)  # canonical JSON text; None once deleted
    __table_args__ = (
        UniqueConstraint("resource_type", "id", name="uq_resources_type_id"),
        Index("ix_resources_type_updated", "resource_type", "last_updated"),
    )


class ResourceVersionRow(Base):
    """Every version ever written (the history); content is None for a delete."""

    __tablename__ = "resource_versions"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    resource_pk: Mapped[int] = mapped_column(ForeignKey("resources.pk", ondelete="CASCADE"))
    resource_type: Mapped[str] = mapped_column(String(64))
    id: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int] = mapped_column(Integer)
    last_updated: Mapped[datetime] = mapped_column(DateTime)
    method: Mapped[str] = mapped_column(String(8))  # POST | PUT | DELETE
    content: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        UniqueConstraint("resource_type", "id", "version_id", name="uq_versions_type_id_version"),
        Index("ix_versions_type_updated", "resource_type", "last_updated"),
    )


class TokenIndexRow(Base):
    """Token search values: codes, identifiers (system|value), telecoms, ids."""

    __tablename__ = "idx_token"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    resource_pk: Mapped[int] = mapped_column(ForeignKey("resources.pk", ondelete="CASCADE"), index=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    system: Mapped[str | None] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))
    __table_args__ = (Index("ix_token_lookup", "resource_type", "param", "code", "system"),)


class StringIndexRow(Base):
    """String search values: `norm` is lower-cased, accent-stripped (default and :contains);
    `exact` is the value as written (:exact)."""

    __tablename__ = "idx_string"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    resource_pk: Mapped[int] = mapped_column(ForeignKey("resources.pk", ondelete="CASCADE"), index=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    norm: Mapped[str] = mapped_column(String(255))
    exact: Mapped[str] = mapped_column(String(255))
    __table_args__ = (Index("ix_string_lookup", "resource_type", "param", "norm"),)


class DateIndexRow(Base):
    """Date search values as an inclusive UTC range [low, high] (a date covers its whole day)."""

    __tablename__ = "idx_date"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    resource_pk: Mapped[int] = mapped_column(ForeignKey("resources.pk", ondelete="CASCADE"), index=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    low: Mapped[datetime] = mapped_column(DateTime)
    high: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (Index("ix_date_lookup", "resource_type", "param", "low", "high"),)


class ReferenceIndexRow(Base):
    """Reference search values; relative references are split into target type and id."""

    __tablename__ = "idx_reference"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    resource_pk: Mapped[int] = mapped_column(ForeignKey("resources.pk", ondelete="CASCADE"), index=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str | None] = mapped_column(String(1024))  # absolute references, as written
    __table_args__ = (
        Index("ix_reference_lookup", "resource_type", "param", "target_type", "target_id"),
        Index("ix_reference_target", "target_type", "target_id"),
    )


class BackendIdRow(Base):
    """Which id a resource has in each backend EHR (MRN, appointment filler id, vendor id)."""

    __tablename__ = "backend_ids"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    backend: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    backend_id: Mapped[str] = mapped_column(String(255))
    profile: Mapped[str] = mapped_column(String(128))  # profile version that made the mapping
    created: Mapped[datetime] = mapped_column(DateTime)
    __table_args__ = (
        UniqueConstraint("backend", "resource_type", "backend_id", name="uq_backend_ids_remote"),
        UniqueConstraint("backend", "resource_type", "resource_id", name="uq_backend_ids_local"),
    )


class AuditEventRow(Base):
    """One AuditEvent, append-only. `hash` = sha256(prev_hash + content): editing or deleting
    any row breaks every later link, which `fhir-gateway audit verify` detects."""

    __tablename__ = "audit_events"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    recorded: Mapped[datetime] = mapped_column(DateTime, index=True)
    action: Mapped[str] = mapped_column(String(1))  # C R U D E
    outcome: Mapped[str] = mapped_column(String(2))  # 0 4 8 12
    interaction: Mapped[str] = mapped_column(String(32))
    agent: Mapped[str] = mapped_column(String(255))  # client id / user name
    content: Mapped[str] = mapped_column(Text)  # canonical AuditEvent JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditEntityRow(Base):
    """The resources an AuditEvent touched (every search hit too), for entity/patient search."""

    __tablename__ = "audit_entities"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    audit_pk: Mapped[int] = mapped_column(ForeignKey("audit_events.pk", ondelete="CASCADE"), index=True)
    reference: Mapped[str] = mapped_column(String(160))  # Type/id
    patient: Mapped[str | None] = mapped_column(String(64))  # patient id when it is in a compartment
    __table_args__ = (Index("ix_audit_entities_reference", "reference"),
                      Index("ix_audit_entities_patient", "patient"),)


class AuditJournalSegmentRow(Base):
    """How far the drainer moved one audit journal segment into audit_events (byte offset),
    written in the same transaction as the events: each journal line is chained exactly once."""

    __tablename__ = "audit_journal_segments"
    segment: Mapped[str] = mapped_column(String(255), primary_key=True)  # file name
    drained_to: Mapped[int] = mapped_column(BigInteger)


class ScheduledJobRow(Base):
    """One scheduled batch job's state, shared by every scheduler process: when it is next due,
    who holds its lease (so two schedulers never run it at once, and a crashed one's lease
    expires), and how its last run ended (figures only, never PHI)."""

    __tablename__ = "scheduled_jobs"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(DateTime)
    lease_holder: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_started: Mapped[datetime | None] = mapped_column(DateTime)
    last_finished: Mapped[datetime | None] = mapped_column(DateTime)
    last_success: Mapped[datetime | None] = mapped_column(DateTime)
    last_outcome: Mapped[str | None] = mapped_column(String(16))  # ok | failed
    last_detail: Mapped[str | None] = mapped_column(String(1000))  # JSON figures or error class
    runs: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)


class PatientMatchReviewRow(Base):
    """A possible duplicate pair for staff to review (gateway.services.duplicates): the Patient
    whose write raised it, the candidate, the matcher's score, grade and reasons (field names
    and outcomes only, JSON), and the decision. pair_low/pair_high are the two ids in order,
    so a pair is found whichever side was written; a not_duplicate decision keeps the pair
    from ever being flagged again."""

    __tablename__ = "patient_match_reviews"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(String(64))
    candidate_id: Mapped[str] = mapped_column(String(64))
    pair_low: Mapped[str] = mapped_column(String(64))
    pair_high: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(16))  # certain | probable | possible
    reasons: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # open | duplicate | not_duplicate | dismissed
    created: Mapped[datetime] = mapped_column(DateTime)
    updated: Mapped[datetime] = mapped_column(DateTime)  # last scored
    resolved_by: Mapped[str | None] = mapped_column(String(255))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("ix_match_reviews_pair", "pair_low", "pair_high"),
                      Index("ix_match_reviews_status", "status", "pk"))


class InboundMessageRow(Base):
    """Every message a backend sent us, raw, before translation: nothing it carried (Z-segments
    included) is lost even when translation fails, and failures can be replayed later."""

    __tablename__ = "inbound_messages"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    backend: Mapped[str] = mapped_column(String(64))
    received: Mapped[datetime] = mapped_column(DateTime, index=True)
    control_id: Mapped[str] = mapped_column(String(64))
    message_type: Mapped[str] = mapped_column(String(32))
    raw: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # received | applied | ignored | refused | failed
    detail: Mapped[str] = mapped_column(Text, default="")
    resource_ref: Mapped[str | None] = mapped_column(String(160))
    # A webhook event's own id (None for MLLP messages, whose control ids senders may reuse):
    # unique per backend, so a redelivered event is recognised and applied once.
    event_id: Mapped[str | None] = mapped_column(String(255))
    __table_args__ = (Index("uq_inbound_messages_event", "backend", "event_id", unique=True),)


class OAuthClientRow(Base):
    """A registered OAuth 2.0 / SMART client (secret stored as a salted scrypt hash)."""

    __tablename__ = "oauth_clients"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    secret_hash: Mapped[str | None] = mapped_column(String(256))
    scope: Mapped[str] = mapped_column(Text)  # the most this client may ever be granted
    role: Mapped[str] = mapped_column(String(32))
    created: Mapped[datetime] = mapped_column(DateTime)
    redirect_uris: Mapped[str] = mapped_column(Text, default="")  # space-separated, exact match
    public: Mapped[bool] = mapped_column(Boolean, default=False)  # no secret: PKCE only
    jwks: Mapped[str | None] = mapped_column(Text)  # public keys for private_key_jwt (JSON)


class StaffUserRow(Base):
    """A staff member who logs in at the authorize step; the role caps what apps get."""

    __tablename__ = "staff_users"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    created: Mapped[datetime] = mapped_column(DateTime)
    # the Practitioner resource that is this user's FHIR identity (the OpenID `fhirUser` claim)
    practitioner_id: Mapped[str | None] = mapped_column(String(64))


class AuthCodeRow(Base):
    """An authorization code (stored hashed), single use, with its PKCE challenge."""

    __tablename__ = "auth_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    username: Mapped[str] = mapped_column(String(64))
    patient: Mapped[str | None] = mapped_column(String(64))
    expires: Mapped[datetime] = mapped_column(DateTime)
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    nonce: Mapped[str | None] = mapped_column(Text)  # OpenID Connect: echoed in the id_token


class LaunchContextRow(Base):
    """An EHR launch (SMART `launch` parameter, stored hashed): the patient in context, for
    one client, created by the EHR side before it opens the app, valid for an hour."""

    __tablename__ = "launch_contexts"
    launch_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    patient: Mapped[str] = mapped_column(String(64))
    username: Mapped[str | None] = mapped_column(String(64))  # when the EHR names the user
    created: Mapped[datetime] = mapped_column(DateTime)
    expires: Mapped[datetime] = mapped_column(DateTime)


class RefreshTokenRow(Base):
    """A refresh token (stored hashed), rotated on every use (OAuth 2.0 Security BCP 4.14)."""

    __tablename__ = "refresh_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text)
    username: Mapped[str | None] = mapped_column(String(64))
    patient: Mapped[str | None] = mapped_column(String(64))
    expires: Mapped[datetime] = mapped_column(DateTime)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class SigningKeyRow(Base):
    """RSA keys that sign access tokens; the newest signs, older ones still verify (rotation)."""

    __tablename__ = "signing_keys"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    private_pem: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(DateTime)


class UsedAssertionRow(Base):
    """jti values of client assertions already presented (SMART backend services: no replay)."""

    __tablename__ = "used_assertions"
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    expires: Mapped[datetime] = mapped_column(DateTime)


class RevokedTokenRow(Base):
    """Access tokens revoked before they expire (RFC 7009), by jti."""

    __tablename__ = "revoked_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires: Mapped[datetime] = mapped_column(DateTime)


class OutboxRow(Base):
    """One write owed to a backend EHR (the transactional outbox), committed with the write.

    Delivered rows stay as the delivery log until the retention job prunes them; `dead` rows are
    the dead-letter queue staff inspect, replay or discard. Each backend's pending rows are
    delivered one at a time in id order (HL7 v2 receivers expect A04 before A08), so only the
    oldest pending row of a backend is ever claimed. `profile` is the version that rendered it.
    """

    __tablename__ = "outbox"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    backend: Mapped[str] = mapped_column(String(64))
    interaction: Mapped[str] = mapped_column(String(16))  # create | update | delete | merge
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int] = mapped_column(Integer)  # the version whose content is sent
    profile: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | dead | discarded
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(DateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished: Mapped[datetime | None] = mapped_column(DateTime)  # delivered, dead-lettered or discarded
    lease_holder: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    backend_id: Mapped[str | None] = mapped_column(String(128))  # what the backend answered
    last_error: Mapped[str | None] = mapped_column(Text)  # the backend's reason (may name data: never logged)
    closed_by: Mapped[str | None] = mapped_column(String(128))  # who last replayed or discarded it
    note: Mapped[str | None] = mapped_column(String(1000))  # why (discard reason, replay history)
    __table_args__ = (
        Index("ix_outbox_backend_status", "backend", "status", "pk"),
        Index("ix_outbox_status_finished", "status", "finished"),
        Index("ix_outbox_resource", "resource_type", "resource_id"),
    )
class SubscriptionNotificationRow(Base):
    """One notification owed to a Subscription's endpoint: the resource version that matched
    its criteria, enqueued in the transaction of the write, then claimed by a notifier with a
    lease, sent, and retried with backoff until delivered or dead-lettered. `last_error` holds
    an HTTP status or an exception class name, never a body or an endpoint (no PHI)."""

    __tablename__ = "subscription_notifications"
    pk: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(String(64), index=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int] = mapped_column(Integer)
    interaction: Mapped[str] = mapped_column(String(16))  # create | update | delete
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | dead | cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    lease_holder: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(DateTime)
    updated: Mapped[datetime] = mapped_column(DateTime)
    delivered: Mapped[datetime | None] = mapped_column(DateTime)
    __table_args__ = (Index("ix_subscription_notifications_due", "status", "next_attempt_at"),)


class SubscriptionHealthRow(Base):
    """Delivery health per Subscription, shared by every notifier: consecutive failed attempts
    (the Subscription goes to status `error` past a threshold, back to `active` on a success)."""

    __tablename__ = "subscription_health"
    subscription_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_delivered: Mapped[datetime | None] = mapped_column(DateTime)
    last_failed: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String(255))


class SubscriptionRegistryRow(Base):
    """One row: a counter bumped in the transaction of every Subscription write, so each
    process knows when its cached list of active subscriptions is stale (one primary-key
    read per write instead of loading the subscriptions)."""

    __tablename__ = "subscription_registry"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
