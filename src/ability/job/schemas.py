from __future__ import annotations

import enum
from datetime import datetime

from ability.kit.schemas import ResponseModel


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"


class JobKind(enum.StrEnum):
    BATCH_PROCESS = "batch_process"
    IMPORT = "import"


class JobAccepted(ResponseModel):
    job_id: int
    status: JobStatus
    total: int


class JobError(ResponseModel):
    application_id: int
    detail: str


class Job(ResponseModel):
    id: int
    kind: str
    status: JobStatus
    total: int
    processed: int
    succeeded: int
    failed: int
    errors: list[JobError]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
