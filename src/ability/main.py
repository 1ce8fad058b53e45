"""The FastAPI application: routers, middleware, error handlers, lifespan."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException

from ability import __version__, memory, metrics
from ability.admin.dashboard import router as dashboard_router
from ability.admin.endpoints import metrics_router
from ability.admin.endpoints import router as admin_router
from ability.application.endpoints import router as application_router
from ability.application.warmup import warm
from ability.auth.endpoints import router as auth_router
from ability.auth.ratelimit import LoginLimiter, RateLimiter
from ability.cache.service import Cache
from ability.company.endpoints import router as company_router
from ability.config import Settings
from ability.db import Database
from ability.errors import AbilityError
from ability.health.endpoints import router as health_router
from ability.job.endpoints import router as job_router
from ability.job.runner import InProcessRunner, JobQueue
from ability.kit.tasks import cancel_and_wait
from ability.logging import configure_logging
from ability.middleware import GZipMiddleware, RequestMiddleware
from ability.redis import command_client, subscriber_client
from ability.report.endpoints import router as report_router
from ability.user.endpoints import router as user_router
from ability.workflow.endpoints import router as workflow_router

log = structlog.get_logger()


def _error_body(detail: str, error: str) -> dict[str, str]:
    return {"detail": detail, "error": error}


async def _ability_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AbilityError)
    if exc.status_code >= 500:
        log.error("http.error", error=type(exc).__name__, detail=exc.message)
    return JSONResponse(
        _error_body(exc.message, type(exc).__name__),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    try:
        return await request_validation_exception_handler(request, exc)
    except ValueError:
        # The echoed input held what JSON output cannot (NaN, an infinity, a
        # lone surrogate, undecodable bytes): answer without echoing it.
        errors = [{k: v for k, v in e.items() if k != "input"} for e in exc.errors()]
        body = json.dumps({"detail": jsonable_encoder(errors)}, ensure_ascii=True)
        return Response(body, 422, media_type="application/json")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    # FastAPI answers 400 for a body its JSON parser gives up on (nested past
    # the recursion limit); the contract makes every unparsable body a 422.
    if exc.status_code == 400 and isinstance(
        exc.__cause__, RecursionError | ValueError
    ):
        # Also numbers past Python's digit limit, which json refuses.
        return JSONResponse(
            _error_body("The body is not JSON that can be read", "UnprocessableError"),
            status_code=422,
        )
    return await http_exception_handler(request, exc)


async def _overloaded(_request: Request, exc: Exception) -> JSONResponse:
    # The pool had no connection in time, or SQLite stayed locked: the
    # client should come back shortly rather than wait here.
    if isinstance(exc, OperationalError) and "locked" not in str(exc.orig):
        log.exception("db.error")
        return JSONResponse(
            _error_body("Database error", "DatabaseError"),
            status_code=503,
            headers={"Retry-After": "1"},
        )
    log.warning("db.overloaded", error=type(exc).__name__)
    return JSONResponse(
        _error_body("Service overloaded, retry shortly", "OverloadedError"),
        status_code=503,
        headers={"Retry-After": "1"},
    )


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("http.unhandled", error=type(exc).__name__)
    return JSONResponse(
        _error_body("Internal server error", "InternalError"), status_code=500
    )


def _job_queue(db: Database, settings: Settings) -> JobQueue:
    if not settings.jobs_on_celery:
        return InProcessRunner(db, settings)
    from ability.celery_app import configure
    from ability.job.tasks import CeleryQueue

    configure(settings)
    return CeleryQueue()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for ``settings`` (default: the environment)."""
    settings = settings or Settings()
    configure_logging(settings.LOG_LEVEL, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database.from_settings(settings)
        cache = Cache(settings, command_client(settings), subscriber_client(settings))
        db.cache = cache
        runner = _job_queue(db, settings)
        app.state.db = db
        app.state.cache = cache
        app.state.rate_limiter = RateLimiter(
            settings.RATE_LIMIT_PER_MINUTE, cache.client
        )
        app.state.login_limiter = LoginLimiter(
            settings.LOGIN_FAILURES_PER_EMAIL,
            settings.LOGIN_FAILURES_PER_IP,
            settings.LOGIN_FAILURE_WINDOW,
            cache.client,
        )
        app.state.jobs = runner
        await cache.start()
        await runner.start()
        warming = asyncio.create_task(
            warm(db, cache, settings.CACHE_WARM_COMPANIES), name="cache-warm"
        )
        sampling = asyncio.create_task(metrics.sample_forever("api"))
        memory.freeze_startup_objects()
        log.info("app.started", database=db.dialect, version=__version__)
        try:
            yield
        finally:
            for task in (warming, sampling):
                await cancel_and_wait(task)
            await runner.stop()
            await cache.stop()
            await db.dispose()
            metrics.process_exited()
            log.info("app.stopped")

    app = FastAPI(
        title="Ability",
        version=__version__,
        summary="Multi-tenant approval workflows for back offices.",
        lifespan=lifespan,
        # Ability's figures go to Prometheus (ability.metrics). FastAPI's own
        # OpenTelemetry hooks would look for a provider on every request:
        # 7 % of the cheapest route's time in-process.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    for router in (
        health_router,
        auth_router,
        user_router,
        company_router,
        workflow_router,
        application_router,
        job_router,
        report_router,
        admin_router,
        dashboard_router,
        metrics_router,
    ):
        app.include_router(router)
    app.add_exception_handler(AbilityError, _ability_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(PoolTimeoutError, _overloaded)
    app.add_exception_handler(OperationalError, _overloaded)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(GZipMiddleware, minimum_size=settings.GZIP_MIN_BYTES)
    app.add_middleware(
        RequestMiddleware,
        max_body=settings.MAX_BODY_BYTES,
        record_metrics=settings.METRICS_ENABLED,
    )
    return app
