"""Base schemas and the validated text types requests are built from."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


def _not_blank(value: str) -> str:
    if not any(ch.isprintable() and not ch.isspace() for ch in value):
        raise ValueError("must contain visible characters")
    return value


NoNul = AfterValidator(_no_nul)
"""Refuses NUL characters: add it to every ``Annotated`` text type."""

Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    NoNul,
    AfterValidator(_not_blank),
]
LongText = Annotated[str, StringConstraints(max_length=10_000), NoNul]


class RequestModel(BaseModel):
    """A request body: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]
"""A database id: bounded so that no value overflows a BIGINT column."""
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
