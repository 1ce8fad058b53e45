"""Request-scoped dependencies shared by every feature."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from ability.cache.service import Cache
from ability.config import Settings
from ability.db import Database


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_cache(request: Request) -> Cache:
    cache: Cache = request.app.state.cache
    return cache


def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_database(request).session(write=False) as session:
        yield session


async def _write_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_database(request).session(write=True) as session:
        yield session


AppSettings = Annotated[Settings, Depends(get_settings)]
AppCache = Annotated[Cache, Depends(get_cache)]
# scope="function": the session commits and returns its connection when the
# endpoint returns, before the response is sent, so a slow client never holds
# a pooled connection.
ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]
WriteSession = Annotated[AsyncSession, Depends(_write_session, scope="function")]
