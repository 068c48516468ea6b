"""Settings from the environment, with defaults that work against the local stack
(`make up`). Each service reads the same names; only its HTTP port differs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

def local_home() -> Path:
    """Where `make` keeps local state (downloads, data, local credentials and keys):
    $REDTHREAD_HOME, by default <repo>/.local."""
    return Path(os.environ.get("REDTHREAD_HOME") or Path(__file__).resolve().parents[2] / ".local")


SERVICE_PORTS = {"intake": 8001, "matching": 8002, "notification": 8003, "reporting": 8004, "operations": 8005}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REDTHREAD_", extra="ignore")

    # One broker address, or several separated by commas: a client that cannot reach one
    # tries the next.
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # "sasl-scram": every client authenticates (SCRAM-SHA-512) as its own principal and
    # the broker's ACLs, generated from the topic registry, decide what it may do
    # (services/common/kafka_security.py). "plaintext": anonymous, for a broker without
    # security that a developer runs on purpose.
    kafka_security: Literal["sasl-scram", "plaintext"] = "sasl-scram"
    # The password of this process's principal (redthread.<service>, or admin for the
    # operator's tools). Unset: read from kafka_credentials_dir/<principal>, where
    # `make up` keeps the local ones.
    kafka_password: SecretStr | None = None
    # Every client of this process authenticates as this principal instead (an operator
    # running a service's tool as admin, a test acting as a service that does not exist).
    kafka_principal: str | None = None
    # Default: $REDTHREAD_HOME/kafka/credentials (<repo>/.local/kafka/credentials).
    kafka_credentials_dir: str = ""
    # How often clients refresh topic metadata: bounds how soon intake reads a partner's
    # newly created own topics.
    kafka_metadata_max_age_ms: int = 30_000
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:15432/redthread",
        validation_alias=AliasChoices("DATABASE_URL", "REDTHREAD_DATABASE_URL"),
    )
    # Prefixes topic names and consumer groups, so a test run or a second demo can share
    # one broker without seeing anyone else's events.
    namespace: str = ""
    http_host: str = "127.0.0.1"
    http_port: int | None = None
    max_request_bytes: int = 256 * 1024
    # Requests per minute from one client address to the routes open without a key
    # (services/common/rate_limits.py); partners have their own allowance.
    public_requests_per_minute: int = 300
    # How long the answer link in a match message works (it can be revoked before: python -m services.ops links revoke).
    answer_link_ttl_days: int = 180

    consumer_batch_size: int = 500
    # How long a consumer waits for records before it polls again. FastStream then sleeps
    # as long again before the next poll, so an empty poll delays whatever arrives during
    # it by up to twice this.
    consumer_batch_timeout_ms: int = 20
    # How long the broker holds a fetch that finds no new records. aiokafka sends a broker
    # no fetch while one is in flight, so a fetch held for partitions that are caught up
    # kept the others waiting, with their records on the broker: with Kafka's 500 ms, a
    # batch consumer stalled up to half a second at a time mid-stream.
    consumer_fetch_max_wait_ms: int = 50
    # A consumer that handles no batch for this long (frozen, or stuck on one) leaves its
    # group, and its partitions go to the others; it rejoins when it polls again. Kafka's
    # default, 5 minutes, leaves a stuck instance's partitions waiting that long.
    consumer_max_poll_interval_ms: int = 120_000
    # A process that sends no heartbeat for this long (killed, frozen, cut off) is out of
    # its group.
    consumer_session_timeout_ms: int = 10_000
    outbox_batch_size: int = 500
    outbox_poll_interval_s: float = 1.0
    # Who sends a service's outbox rows to Kafka: a task in the service's own process, or
    # a relay process beside it (`python -m services.common.relay <service>`), which keeps
    # that work off the service's event loop; docker-compose runs one per service.
    outbox_relay: Literal["in-process", "own-process"] = "in-process"
    # How long a relay in its own process, once woken, waits for more commits to join.
    outbox_relay_linger_ms: float = 10
    # /health says "degraded" when a consumer, relay or dispatcher has made no progress
    # for this long (with records waiting, or failing), or the oldest outbox row is older.
    health_stall_s: float = 60.0
    health_outbox_max_age_s: float = 60.0
    retry_backoff_initial_s: float = 0.5
    # A peer back after a long outage is noticed within this long by every retry loop.
    retry_backoff_max_s: float = 10.0

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    mail_from: str = "redthread <noreply@redthread.local>"
    smtp_timeout_s: float = 10.0

    # Notification: where its links point (unsubscribe, answer a match, Atom feeds), and
    # how hard it tries to deliver before a message becomes a dead letter.
    public_url: str = "http://127.0.0.1:8003"
    # A delivery is retried until this long after it became pending, so that an outage
    # of a mail server or webhook receiver of up to a day loses nothing; then it is
    # failed, dead-lettered, and can be resent (`python -m services.ops deliveries resend`).
    delivery_give_up_after_s: float = 24 * 3600.0
    # Only a bound against a runaway: the horizon above is what ends retrying (backoff
    # capped at an hour makes some 60 attempts a day).
    delivery_max_attempts: int = 500
    delivery_backoff_initial_s: float = 2.0
    delivery_backoff_max_s: float = 3600.0
    # A peer (the mail server, a webhook host) failing this many sends in a row is held
    # back: its deliveries wait without spending attempts, one probe is sent after each
    # pause, and when a probe gets through they are all due at once.
    delivery_breaker_failures: int = 5
    delivery_breaker_pause_s: float = 10.0
    # How many sends one webhook host may have under way, so that a host that hangs
    # holds at most these of the `delivery_concurrency` slots (half leaves the other half
    # to mail and other hosts; a quarter cost a busy single host two thirds of its rate).
    delivery_webhook_host_concurrency: int = 16
    # Outcomes are recorded in groups of what ended within this time. A send keeps its
    # slot until its outcome is recorded (so a kill -9 resends at most what was on the
    # wire), so this adds to every send's time in its slot: a few ms make the groups.
    delivery_record_linger_ms: float = 5
    # Short enough that an instance killed mid-send leaves rows others re-claim soon; it
    # must exceed the longest send (webhook or SMTP timeout) with room to spare.
    delivery_lease_s: float = 30.0
    delivery_batch_size: int = 100
    # Sends under way at once. A send keeps its slot until its outcome is recorded, so
    # this is also the most a kill -9 can send twice; with 16, waiting for the records
    # cost webhooks a third of their rate (bench-notification).
    delivery_concurrency: int = 32
    delivery_poll_interval_s: float = 0.5
    webhook_timeout_s: float = 10.0
    # Webhooks to loopback and private addresses are refused unless allowed (local demos,
    # tests, a receiver inside the same network on purpose).
    webhook_allow_internal: bool = False
    # Seals the secrets notification keeps (webhook signing secrets): 32 bytes, URL-safe
    # base64 (services/common/sealing.py). Unset: a local key in $REDTHREAD_HOME/secrets.key.
    secrets_key: SecretStr | None = None
    # After a webhook secret is rotated, the old one keeps signing this long.
    webhook_secret_overlap_h: float = 24.0
    # Digests go out at this local hour; weekly ones on Mondays.
    digest_hour: int = 7
    digest_timezone: str = "Europe/Stockholm"

    # How long intake trusts its cached partners and keys: a new partner or a revoked
    # key takes effect within this time on every instance.
    partner_cache_s: float = 5.0

    # The trace viewer's page (Zipkin's UI, e.g. http://127.0.0.1:9411/zipkin), which the
    # operators' console links into; unset, it shows no links.
    trace_viewer_url: str = ""

    # A service's log lines: one JSON object each (services/common/logs.py), or "text".
    log_format: Literal["json", "text"] = "json"

    # The chance of being useful at or above which a pair is proposed, one for every pair;
    # unset, those chosen with the fitted model (services/matching/decision_model.json),
    # which hold the need's nearest output in meaning to a lower one.
    match_min_probability: float | None = Field(None, ge=0, le=1)
    # Meaning as well as words (services/matching/meaning.py): an embedding model of
    # about 100 MB in memory, and tens of milliseconds per need or output that arrives.
    match_meaning: bool = True
    matches_per_event: int = 5

    @property
    def bootstrap_servers(self) -> list[str]:
        """kafka_bootstrap_servers as the list Kafka clients take (FastStream would take
        the comma-separated text for a single host name)."""
        return [server.strip() for server in self.kafka_bootstrap_servers.split(",") if server.strip()]

    def topic(self, name: str) -> str:
        return f"{self.namespace}.{name}" if self.namespace else name

    def registry_name(self, topic: str) -> str:
        """The registry's name of a topic of this namespace."""
        prefix = f"{self.namespace}." if self.namespace else ""
        return topic.removeprefix(prefix)

    def group_id(self, service: str) -> str:
        return self.topic(f"redthread.{service}")

    def port_for(self, service: str) -> int:
        return self.http_port or SERVICE_PORTS[service]
