"""The job_run table: one row per (job, scheduled slot), claimed before the job runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


class JobRun(SQLModel, table=True):
    """One run of a scheduled or manual job; UNIQUE(job_id, slot) makes each slot run once."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job_id", "slot", name="uq_job_run_job_slot"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    job_id: str = Field(max_length=100, index=True)
    slot: datetime  # the scheduled fire time (manual runs: the moment they were asked for)
    started_at: datetime
    finished_at: Optional[datetime] = Field(default=None)
    status: str = Field(default="running", max_length=20)  # running | ok | failed | skipped
    summary: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON, nullable=True))
    runner: str = Field(default="", max_length=200)
    error: Optional[str] = Field(default=None, max_length=2000)
