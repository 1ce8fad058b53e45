"""Page-number and keyset pagination shared by every list endpoint."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel, Field

from ability.errors import UnprocessableError
from ability.kit.schemas import MAX_ID

MAX_PAGE = 1000
MAX_PAGE_SIZE = 100


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    page: int | None
    page_size: int
    has_more: bool
    next_cursor: str | None
    # Present only when asked for (``with_total=true``).
    total: int | None = Field(default=None, exclude_if=lambda total: total is None)


@dataclass(frozen=True, slots=True)
class Keyset:
    """A position in a (created_at, id) ordering."""

    created_at: datetime
    id: int


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int | None
    page_size: int
    after: Keyset | None
    with_total: bool

    @property
    def offset(self) -> int:
        return 0 if self.page is None else (self.page - 1) * self.page_size


def encode_cursor(position: Keyset) -> str:
    raw = orjson.dumps([position.created_at.isoformat(), position.id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Keyset:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, ident = orjson.loads(base64.urlsafe_b64decode(padded))
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None or not 1 <= int(ident) <= MAX_ID:
            raise ValueError("cursor out of range")
        position = Keyset(moment.astimezone(UTC), int(ident))
    except (
        binascii.Error,
        ValueError,
        TypeError,
        OverflowError,
        orjson.JSONDecodeError,
    ) as exc:
        raise UnprocessableError("cursor is not valid") from exc
    return position


async def page_request(
    page: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    cursor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    with_total: bool = False,
) -> PageRequest:
    """Page parameters: ``page`` or ``cursor``, never both."""
    if page is not None and cursor is not None:
        raise UnprocessableError("pass either page or cursor, not both")
    if cursor is not None:
        return PageRequest(None, page_size, decode_cursor(cursor), with_total)
    return PageRequest(page or 1, page_size, None, with_total)


def build_page(
    rows: list[T],
    request: PageRequest,
    position: Any,
    total: int | None = None,
) -> Page[T]:
    """Trim the look-ahead row and make the next cursor.

    ``rows`` holds up to ``page_size + 1`` items; ``position`` maps an item to
    its ``Keyset`` (or None where the list has no keyset order).
    """
    has_more = len(rows) > request.page_size
    items = rows[: request.page_size]
    next_cursor = None
    if has_more and position is not None:
        next_cursor = encode_cursor(position(items[-1]))
    return Page[T](
        items=items,
        page=request.page,
        page_size=request.page_size,
        has_more=has_more,
        next_cursor=next_cursor,
        total=total,
    )
