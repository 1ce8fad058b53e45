from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import Field, StringConstraints, field_validator

from ability.kit.schemas import (
    Id,
    LongText,
    Name,
    NoNul,
    RequestModel,
    ResponseModel,
)
from ability.models.application import Status

MAX_METADATA_BYTES = 16 * 1024
MAX_BULK = 1000
MAX_BATCH = 1000


def _check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError as exc:  # too deep, huge ints, lone surrogates
        raise ValueError(f"metadata cannot be stored: {exc}") from None
    if len(encoded) > MAX_METADATA_BYTES:
        raise ValueError("metadata must be at most 16 KiB as JSON")
    if b"\\u0000" in encoded:
        raise ValueError("metadata must not contain NUL characters")
    if b"null" in encoded and orjson.loads(encoded) != value:
        # orjson writes NaN and infinities as null; JSON has no such numbers.
        raise ValueError("metadata must not contain NaN or Infinity")
    return value


class Action(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    COMMENT = "comment"
    CANCEL = "cancel"


class ApplicationCreate(RequestModel):
    title: Name
    workflow_id: Id
    description: LongText | None = None
    company_id: Id | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    _metadata = field_validator("metadata")(_check_metadata)


class ApplicationUpdate(RequestModel):
    title: Name | None = None
    description: LongText | None = None
    metadata: dict[str, Any] | None = None

    _metadata = field_validator("metadata")(
        lambda v: None if v is None else _check_metadata(v)
    )


class Application(ResponseModel):
    id: int
    company_id: int
    workflow_id: int
    workflow_version: int
    title: str
    description: str | None
    status: Status
    current_step: int | None
    metadata: dict[str, Any]
    created_by: int
    created_at: datetime
    updated_at: datetime
    version: int


class Progress(RequestModel):
    action: Action
    comment: LongText | None = None
    expected_version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class HistoryEntry(ResponseModel):
    step_order: int | None
    step_name: str | None
    action: Action
    comment: str | None
    actor_id: int
    actor_role: str | None
    on_behalf_of_id: int | None
    workflow_version: int
    at: datetime


class BulkCreate(RequestModel):
    applications: list[ApplicationCreate] = Field(min_length=1, max_length=MAX_BULK)


MAX_IMPORT = 10_000


class ImportRequest(RequestModel):
    """Applications to create in the background, each on its own."""

    applications: list[ApplicationCreate] = Field(min_length=1, max_length=MAX_IMPORT)


class BulkCreated(ResponseModel):
    ids: list[int]


class BatchProcess(RequestModel):
    application_ids: list[Id] = Field(min_length=1, max_length=MAX_BATCH)
    action: Action
    comment: LongText | None = None

    @field_validator("application_ids")
    @classmethod
    def _unique(cls, ids: list[int]) -> list[int]:
        if len(set(ids)) != len(ids):
            raise ValueError("application_ids must be unique")
        return ids


SearchQuery = Annotated[str, StringConstraints(min_length=1, max_length=200), NoNul]
