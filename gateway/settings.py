"""Typed, validated settings: one TOML file (path in GATEWAY_CONFIG) plus GATEWAY_* env overrides.

May import: stdlib only. Every key is checked at start-up; a bad key or value raises
ConfigError naming it, so a misconfigured gateway never starts half-working.
"""
from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping


class ConfigError(ValueError):
    """A configuration key is unknown or its value is invalid; the message names the key."""


@dataclass(frozen=True)
class BackendSettings:
    """One backend EHR: how to reach it and which translation profile version it is pinned to."""

    name: str
    dialect: str  # "local", "hl7v2" or "rest"
    profile: str  # "<profile id>@<version>", e.g. "hl7v2-generic@2.5.1-1.0.0"
    endpoint: str = ""  # mllp://host:port or https://host/api
    resources: tuple[str, ...] = ()  # resource types this backend owns; () = none unless default
    options: Mapping[str, Any] = field(default_factory=dict)  # dialect-specific (credentials, tz...)


@dataclass(frozen=True)
class Settings:
    """Everything the gateway reads from its environment, validated once in `load_settings`."""

    data_dir: str = "var"
    database_url: str = ""  # "" = sqlite file in data_dir
    base_url: str = ""  # public FHIR base (https://host/fhir); "" = derived from the request
    auth: str = "on"  # "on" or "off" (off only when set explicitly; the demo says so loudly)
    max_body_bytes: int = 5 * 1024 * 1024
    default_page_size: int = 20
    max_page_size: int = 500
    default_handling: str = "lenient"  # "lenient" or "strict" (Prefer: handling=)
    log_level: str = "INFO"
    default_backend: str = "local"
    backends: tuple[BackendSettings, ...] = ()
    testing: bool = False
    # Operations: inbound rate limits (limits-library notation, e.g. "600/minute"), shared
    # with the backends' options.rate_limit budgets through one storage; Prometheus metrics.
    rate_limit: str = "on"  # "off" only for benchmarks
    rate_limit_storage: str = "memory://"  # or redis://host:port/db (shared by all workers)
    rate_limit_default: str = "600/minute"  # per client on /fhir (token client_id, else address)
    rate_limit_token: str = "30/minute"  # per address on the OAuth POSTs (token, login form)
    rate_limit_prefix: str = "fhir-gateway"  # storage key prefix (several gateways, one Redis)
    metrics: str = "on"  # GET /metrics (Prometheus text); "off" removes the route
    # Read AuditEvents: "journal" = appended to a local durable journal before the response
    # and chained in the background (gateway.store.audit_journal); "inline" = committed into
    # the chain in a transaction of their own before the response. Writes are always inline.
    audit_reads: str = "journal"
    audit_journal_dir: str = ""  # "" = <data_dir>/audit-journal (a local disk: flock)
    audit_journal_fsync: bool = False  # true: fsync each event (survives power loss, slower)
    audit_drain_interval_ms: int = 500
    # Scheduled batch jobs (gateway.sync.housekeeping), run by `fhir-gateway scheduler`:
    # an interval such as "90s", "15m", "1h", "1d", or "off".
    job_auth_housekeeping: str = "1h"
    job_audit_drain: str = "1m"
    job_audit_verify: str = "1d"
    job_db_analyze: str = "1d"
    scheduler_interval_seconds: int = 5  # how often a scheduler looks for due jobs
    job_outbox_prune: str = "1h"
    # The transactional outbox (gateway.services.push, `fhir-gateway worker`): a write whose
    # backend cannot take it now is kept and retried ("queue"), or refused with 503 ("refuse").
    delivery_when_unavailable: str = "queue"
    outbox_retry_base_seconds: int = 2  # first retry within 0..2 s, doubling (full jitter)
    outbox_retry_cap_seconds: int = 300  # never wait longer than this between tries
    outbox_max_attempts: int = 30  # tries before a row is dead-lettered (the first included)
    outbox_max_age: str = "1d"  # ... or once it is this old, tries left or not
    outbox_retention: str = "30d"  # delivered and discarded rows kept this long (the log)
    outbox_lease_seconds: int = 300  # a worker's claim on a row; longer than any delivery
    worker_interval_ms: int = 500  # how often an idle worker looks for due rows
    # Subscriptions (R4 rest-hook) and `fhir-gateway notifier`, which sends their notifications.
    subscription_allow_http: bool = False  # true: http endpoints beyond loopback (never PHI on a network!)
    subscription_error_after: int = 3  # consecutive failed attempts that set status error
    notifier_max_attempts: int = 8  # tries of one notification before it is dead-lettered
    notifier_max_age: str = "24h"  # or dead-lettered once this old (an interval like job_*)
    notifier_retry_base_seconds: int = 30  # first retry within this; doubling (full jitter)
    notifier_retry_cap_seconds: int = 3600  # longest wait between two tries
    notifier_interval_seconds: int = 2  # how often a notifier looks for due notifications
    # Duplicate-patient detection (gateway.services.duplicates): every Patient write is scored
    # against the Patients sharing a blocking key with it; pairs scoring at or above the
    # review threshold (the lower bound of grade "possible") are queued for staff review.
    match_detection: str = "on"  # "off": no review items are queued ($match still answers)
    match_review_threshold: float = 0.55
    match_probable_threshold: float = 0.80
    match_certain_threshold: float = 0.95
    match_max_candidates: int = 50  # candidates scored per Patient (the best-blocked first)
    match_max_reviews: int = 5  # review items one write may queue (its best-scoring pairs)

    @property
    def resolved_audit_journal_dir(self) -> str:
        return self.audit_journal_dir or str(Path(self.data_dir).resolve() / "audit-journal")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir).resolve() / 'gateway.db'}"


_SCALARS = {f.name: f for f in dataclasses.fields(Settings) if f.name != "backends"}
_CHOICES = {
    "auth": ("on", "off"),
    "default_handling": ("lenient", "strict"),
    "log_level": ("DEBUG", "INFO", "WARNING", "ERROR"),
    "rate_limit": ("on", "off"),
    "metrics": ("on", "off"),
    "audit_reads": ("journal", "inline"),
    "delivery_when_unavailable": ("queue", "refuse"),
    "match_detection": ("on", "off"),
}
_DURATIONS = ("outbox_max_age", "outbox_retention")  # like job intervals, but never "off"
# The limits library's notation ("10/second", "600 per minute", "5/2 hours; 100/day"), checked
# here so a typo stops the start-up instead of surfacing on the first request.
_ONE_LIMIT = r"\s*[0-9]+\s*(?:/|\s+per\s+)\s*(?:[0-9]+\s+)?(?:second|minute|hour|day|month|year)s?\s*"
RATE_LIMIT = re.compile(rf"^{_ONE_LIMIT}(?:[,;]{_ONE_LIMIT})*$", re.IGNORECASE)
_RATE_LIMIT_KEYS = ("rate_limit_default", "rate_limit_token")
_LIMIT_STORAGES = ("memory://", "redis://", "rediss://", "redis+unix://", "redis+sentinel://")
_BACKEND_KEYS = {f.name for f in dataclasses.fields(BackendSettings)}
_DIALECTS = ("local", "hl7v2", "rest")


def _coerce(key: str, value: Any) -> Any:
    kind = _SCALARS[key].type
    if kind == "float":
        return _fraction(key, value)
    if kind == "int":
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
        if number <= 0:
            raise ConfigError(f"{key}: must be positive, got {number}")
        return number
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ConfigError(f"{key}: must be one of {', '.join(_CHOICES[key])}, got {value!r}")
    if key in _RATE_LIMIT_KEYS:
        _check_rate_limit(key, value)
    if key.startswith("job_") or key == "notifier_max_age" or key in _DURATIONS:
        _check_interval(key, value, allow_off=key not in _DURATIONS)
    if key == "rate_limit_storage" and not value.startswith(_LIMIT_STORAGES):
        raise ConfigError(f"{key}: expected memory:// or a redis:// URL, got {value.split('@')[-1]!r}")
    return value


def _fraction(key: str, value: Any) -> float:
    """A threshold: a number in (0, 1]."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a number between 0 and 1, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected a number between 0 and 1, got {value!r}") from None
    if not 0 < number <= 1:
        raise ConfigError(f"{key}: must be above 0 and at most 1, got {number}")
    return number


def _check_match_thresholds(settings: "Settings") -> None:
    ordered = (("match_review_threshold", settings.match_review_threshold),
               ("match_probable_threshold", settings.match_probable_threshold),
               ("match_certain_threshold", settings.match_certain_threshold))
    for (low_key, low), (high_key, high) in zip(ordered, ordered[1:]):
        if low >= high:
            raise ConfigError(f"{high_key}: must be above {low_key} ({low}), got {high}")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def interval_seconds(value: str) -> int | None:
    """A job interval: "90s", "15m", "1h", "1d" -> seconds; "off" -> None; else ValueError."""
    text = value.strip().lower()
    if text == "off":
        return None
    if len(text) < 2 or text[-1] not in _UNITS or not text[:-1].isdigit() or int(text[:-1]) <= 0:
        raise ValueError(value)
    return int(text[:-1]) * _UNITS[text[-1]]


def _check_interval(key: str, value: str, *, allow_off: bool) -> None:
    """An interval such as "90s", "15m", "1h", "1d" (and "off" where a key may be switched off)."""
    try:
        if interval_seconds(value) is None and not allow_off:
            raise ValueError(value)
    except ValueError:
        examples = "'90s', '15m', '1h', '1d'" + (" or 'off'" if allow_off else "")
        raise ConfigError(f"{key}: expected an interval such as {examples}, got {value!r}") from None


def _check_rate_limit(key: str, value: Any) -> None:
    if not isinstance(value, str) or not RATE_LIMIT.match(value):
        raise ConfigError(f"{key}: expected a rate limit such as '10/second' or '600 per minute', "
                          f"got {value!r}")


# Inbound webhook events (gateway.sync.events): the shared secret that signs them, how old a
# signature may be, and how large an event may be.
WEBHOOK_SECRET_MIN = 32  # characters; an HMAC key guessable offline is no key (RFC 2104 s. 3)
_WEBHOOK_INTS = {"webhook_tolerance_seconds": (1, 3600), "webhook_max_bytes": (1024, 1024 * 1024)}


def _check_webhook(where: str, dialect: str, options: dict) -> None:
    keys = [k for k in ("webhook_secret", *_WEBHOOK_INTS) if k in options]
    if not keys:
        return
    if dialect != "rest":
        raise ConfigError(f"{where}.{keys[0]}: webhook events are received from rest backends only")
    secret = options.get("webhook_secret")
    if not isinstance(secret, str) or len(secret) < WEBHOOK_SECRET_MIN or secret != secret.strip():
        raise ConfigError(f"{where}.webhook_secret: required with the other webhook_* keys: a string "
                          f"of at least {WEBHOOK_SECRET_MIN} characters without surrounding spaces")
    for key, (low, high) in _WEBHOOK_INTS.items():
        value = options.get(key, low)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"{where}.{key}: expected an integer from {low} to {high}, got {value!r}")


def _backend(index: int, raw: Any) -> BackendSettings:
    where = f"backends[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    unknown = set(raw) - _BACKEND_KEYS
    if unknown:
        raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown key")
    for key in ("name", "dialect", "profile"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ConfigError(f"{where}.{key}: required string")
    if raw["dialect"] not in _DIALECTS:
        raise ConfigError(f"{where}.dialect: must be one of {', '.join(_DIALECTS)}")
    if "@" not in raw["profile"]:
        raise ConfigError(f"{where}.profile: expected '<id>@<version>', got {raw['profile']!r}")
    resources = raw.get("resources", [])
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        raise ConfigError(f"{where}.resources: expected a list of resource type names")
    options = raw.get("options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{where}.options: expected a table")
    if "rate_limit" in options:  # the EHR's budget (gateway.sync.budget)
        _check_rate_limit(f"{where}.options.rate_limit", options["rate_limit"])
    _check_webhook(f"{where}.options", raw["dialect"], options)
    return BackendSettings(
        name=raw["name"], dialect=raw["dialect"], profile=raw["profile"],
        endpoint=str(raw.get("endpoint", "")), resources=tuple(resources), options=options,
    )


def settings_from_mapping(values: Mapping[str, Any]) -> Settings:
    """Build Settings from a plain mapping (TOML table or test dict), validating every key."""
    scalars: dict[str, Any] = {}
    for key, value in values.items():
        if key == "backends":
            continue
        if key not in _SCALARS:
            raise ConfigError(f"{key}: unknown configuration key")
        scalars[key] = _coerce(key, value)
    raw_backends = values.get("backends", [])
    if not isinstance(raw_backends, list):
        raise ConfigError("backends: expected an array of tables")
    backends = tuple(_backend(i, raw) for i, raw in enumerate(raw_backends))
    names = [b.name for b in backends]
    if len(set(names)) != len(names):
        raise ConfigError("backends: backend names must be unique")
    if not any(b.name == "local" for b in backends):
        # The local store is always there: it mirrors what the backends cannot answer.
        backends = (BackendSettings(name="local", dialect="local", profile="local-store@1.4.0"),) + backends
    settings = Settings(**scalars, backends=backends)
    if settings.outbox_retry_cap_seconds < settings.outbox_retry_base_seconds:
        raise ConfigError("outbox_retry_cap_seconds: must be at least outbox_retry_base_seconds")
    _check_match_thresholds(settings)
    if settings.default_backend not in {b.name for b in backends}:
        raise ConfigError(f"default_backend: no backend named {settings.default_backend!r}")
    return settings


def load_settings(environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read the TOML file named by GATEWAY_CONFIG, apply GATEWAY_* env and explicit overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = env.get("GATEWAY_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                values.update(tomllib.load(fh))
        except FileNotFoundError:
            raise ConfigError(f"GATEWAY_CONFIG: file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"GATEWAY_CONFIG: {path} is not valid TOML: {exc}") from None
    for name, value in env.items():
        if not name.startswith("GATEWAY_") or name == "GATEWAY_CONFIG":
            continue
        key = name[len("GATEWAY_"):].lower()
        if key not in _SCALARS:
            if key.startswith("test_"):
                continue  # test-harness variables (GATEWAY_TEST_POSTGRES_URL) are not settings
            raise ConfigError(f"{name}: unknown configuration key")
        values[key] = value
    values.update(overrides or {})
    return settings_from_mapping(values)
