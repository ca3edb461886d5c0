"""Which model made the stored embeddings (its fingerprint), so another model's vectors are never mixed in."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class EmbeddingModel(SQLModel, table=True):
    """One row: the fingerprint of the model whose vectors are stored in section.embedding."""

    __tablename__ = "embedding_model"

    id: int = Field(default=1, primary_key=True)
    fingerprint: str = Field(max_length=64)
    name: str = Field(default="", max_length=1000)
    recorded_at: datetime
