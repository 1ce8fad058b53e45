"""The ``ability`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import structlog
import typer
import uvicorn
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ability import memory, metrics_dir
from ability.bench.cli import bench_app
from ability.config import Settings
from ability.logging import configure_logging
from ability.migrations import upgrade

if TYPE_CHECKING:
    # Imported where used: they load the metrics, which must come after the
    # metrics directory is chosen (see ``ability.metrics_dir``).
    from ability.db import Database

app = typer.Typer(
    help="Ability: multi-tenant approval workflows.", no_args_is_help=True
)
admin_app = typer.Typer(help="Platform administration.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
jobs_app = typer.Typer(help="Background jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(bench_app, name="bench")

# Messages go to stderr, beside the logs. The first-run banner, which people
# copy from, goes to stdout: a JSON log stream stays one object per line.
console = Console(stderr=True)
banner = Console()
log = structlog.get_logger()
_BACKLOG = 2048  # uvicorn's default
T = TypeVar("T")


def _settings() -> Settings:
    settings = Settings()
    configure_logging(settings.LOG_LEVEL, settings.log_format)
    return settings


def _with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on a database whose changes reach running servers' caches
    (through Redis, when configured)."""
    from ability.cache.service import Cache
    from ability.db import Database
    from ability.redis import command_client

    async def run() -> T:
        db = Database.from_settings(settings)
        cache = Cache(
            settings.model_copy(update={"CACHE_L1_SIZE": 0}),
            command_client(settings),
        )
        db.cache = cache
        try:
            return await work(db)
        finally:
            await cache.stop()
            await db.dispose()

    return asyncio.run(run())


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    settings = _settings()
    upgrade(settings.DATABASE_URL)
    log.info("db.migrate.done")


async def _bootstrap_admin(db: Database, settings: Settings) -> None:
    from ability.admin.bootstrap import ensure_platform_admin

    if settings.ADMIN_EMAIL and settings.ADMIN_PASSWORD:
        await ensure_platform_admin(
            db,
            settings.ADMIN_EMAIL,
            settings.ADMIN_PASSWORD.get_secret_value(),
            settings.ADMIN_COMPANY,
        )


async def _prepare(db: Database, settings: Settings) -> bool | None:
    """Bootstrap the admin and, on an empty embedded database, the demo.

    Returns whether the demo was created now, or None when there is none.
    """
    from ability.seed.demo import create_demo, demo_exists, is_empty

    wanted = settings.SEED_DEMO and settings.is_sqlite
    create = wanted and await is_empty(db)
    await _bootstrap_admin(db, settings)
    if create:
        await create_demo(db)
        return True
    return False if wanted and await demo_exists(db) else None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Processes.")] = 1,
) -> None:
    """Run the API: migrates, seeds the demo on first start, then serves."""
    settings = _settings()
    sock = _listen(host, port)
    upgrade(settings.DATABASE_URL)
    _export_for_workers(settings, workers)
    metrics_dir.prepare("api")
    memory.apply_limit(settings.MEMORY_LIMIT_MB)
    from ability.seed.demo import DEMO_PASSWORD, DEMO_USERS  # loads the metrics

    seeded = _with_db(settings, lambda db: _prepare(db, settings))
    if seeded is not None:
        # The socket already listens: connections from here on are queued
        # until the application has started, never refused.
        _print_welcome(host, port, DEMO_USERS, DEMO_PASSWORD, seeded)
    config = uvicorn.Config(
        "ability.main:create_app",
        factory=True,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=settings.FORWARDED_ALLOW_IPS is not None,
        forwarded_allow_ips=settings.FORWARDED_ALLOW_IPS,
    )
    _run(config, sock)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a one-line error and exit 1."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        console.print(f"[red]Cannot listen on {host}:{port}:[/red] {reason}")
        raise typer.Exit(1) from None
    sock.set_inheritable(True)  # handed to the worker processes
    return sock


def _run(config: uvicorn.Config, sock: socket.socket) -> None:
    """Serve on ``sock``: in this process, or in ``config.workers`` of them."""
    from uvicorn.supervisors import Multiprocess

    if config.workers > 1:
        with contextlib.suppress(KeyboardInterrupt):
            Multiprocess(config, sockets=[sock]).run()
        return
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    if not server.started:  # the application failed to start
        raise typer.Exit(3)


def _export_for_workers(settings: Settings, workers: int) -> None:
    """Settings every API process must share, handed down by environment."""
    os.environ["ABILITY_WORKERS"] = str(workers)
    # One signing key for all processes (generated once if none is set).
    os.environ.setdefault("ABILITY_SECRET_KEY", settings.secret_key)
    if workers > 1 and settings.REDIS_URL is None and settings.CACHE_ENABLED:
        # Without Redis, processes cannot tell each other about changes.
        os.environ["ABILITY_CACHE_ENABLED"] = "false"
        log.info("cache.disabled", reason="several processes and no Redis")


def _print_welcome(
    host: str, port: int, users: Iterable[str], password: str, seeded: bool
) -> None:
    url = f"http://{host}:{port}"
    banner.print(f"[bold]Ability[/bold] on {url}  (API docs: {url}/docs)")
    if seeded:
        banner.print("Created the demo company on first start.")
    banner.print(f"Demo logins (password [bold]{password}[/bold]):")
    for email in users:
        banner.print(f"  {email}")
    # One line even when not a terminal (logs), so that it can be pasted.
    banner.print(
        f"Try: curl -s {url}/auth/login -H 'content-type: application/json' "
        f'-d \'{{"email": "admin@demo.example", "password": "{password}"}}\'',
        soft_wrap=True,
    )


@app.command()
def seed(
    companies: Annotated[int, typer.Option(min=1, max=10_000)] = 10,
    applications: Annotated[int, typer.Option(min=0, max=100_000_000)] = 10_000,
    chunk_size: Annotated[int, typer.Option(min=100, max=50_000)] = 5000,
    seed: Annotated[
        int, typer.Option(min=0, help="Another number makes other companies.")
    ] = 42,
) -> None:
    """Generate a realistic dataset (companies, users, workflows, history)."""
    from sqlalchemy.exc import IntegrityError

    from ability.seed.generator import SEED_PASSWORD, generate
    from ability.seed.logins import seed_tag, seeded_email

    settings = _settings()
    upgrade(settings.DATABASE_URL)
    started = time.perf_counter()
    try:
        with _progress() as bar:
            task = bar.add_task("applications", total=applications)
            tenants = _with_db(
                settings,
                lambda db: generate(
                    db,
                    companies,
                    applications,
                    lambda n: bar.advance(task, n),
                    chunk_size,
                    seed,
                ),
            )
    except IntegrityError:
        console.print(
            f"[red]Seed {seed} is already in this database;[/red] "
            "pass --seed with another number for more companies."
        )
        raise typer.Exit(1) from None
    seconds = time.perf_counter() - started
    rate = applications / seconds if seconds else 0.0
    console.print(
        f"Seeded {companies} companies and {applications:,} applications "
        f"in {seconds:.1f} s ({rate:,.0f}/s). Log in as "
        f"{seeded_email('admin', 1, seed_tag(seed))} (or reviewer@, approver@, "
        f"reporter@, member@; c0002 for the next company), "
        f"password {SEED_PASSWORD}."
    )
    log.info("seed.done", companies=len(tenants), applications=applications)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


@app.command()
def worker(
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Processes (1: no child pool).")
    ] = 1,
    beat: Annotated[
        bool, typer.Option(help="Also run the scheduler (in one worker only).")
    ] = False,
    metrics_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Serve /metrics here (0: off).")
    ] = 0,
    metrics_host: Annotated[str, typer.Option()] = "127.0.0.1",
) -> None:
    """Run a Celery worker for background jobs (needs ABILITY_REDIS_URL)."""
    from ability.celery_app import QUEUE, configure

    settings = _settings()
    if settings.REDIS_URL is None:
        console.print("[red]ability worker needs ABILITY_REDIS_URL.[/red]")
        raise typer.Exit(2)
    argv = [
        "worker",
        f"--loglevel={settings.LOG_LEVEL}",
        f"--concurrency={concurrency}",
        f"--pool={'solo' if concurrency == 1 else 'prefork'}",
        f"--queues={QUEUE}",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        schedule = Path(tempfile.gettempdir()) / f"ability-beat-{os.getpid()}"
        argv += ["--beat", f"--schedule={schedule}"]
    metrics_dir.prepare("worker")
    memory.apply_limit(settings.MEMORY_LIMIT_MB)
    if metrics_port:
        from prometheus_client import start_http_server

        from ability import metrics

        start_http_server(metrics_port, metrics_host, registry=metrics.registry())
    configure(settings).worker_main(argv)


@jobs_app.command("watch")
def jobs_watch(
    job_id: Annotated[int, typer.Argument(min=1)],
    interval: Annotated[float, typer.Option(min=0.05, max=60)] = 0.5,
) -> None:
    """Follow a job with a live progress bar until it ends."""
    from ability.errors import NotFoundError
    from ability.job.schemas import Job, JobStatus
    from ability.job.service import job_service

    settings = _settings()
    finished = (JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.FAILED)

    async def read(db: Database) -> Job:
        async with db.session(write=False) as session:
            return await job_service.get(session, None, job_id)

    async def follow(db: Database) -> Job:
        job = await read(db)
        with _progress() as bar:
            task = bar.add_task(f"job {job_id} ({job.kind})", total=job.total)
            while True:
                bar.update(task, completed=job.processed)
                if job.status in finished:
                    return job
                await asyncio.sleep(interval)
                job = await read(db)

    try:
        job = _with_db(settings, follow)
    except NotFoundError:
        console.print(f"[red]No job {job_id}.[/red]")
        raise typer.Exit(2) from None
    console.print(
        f"Job {job.id} {job.status}: {job.succeeded} succeeded, "
        f"{job.failed} failed of {job.total}."
    )
    for error in job.errors[:20]:
        console.print(f"  application {error.application_id}: {error.detail}")
    if job.status != JobStatus.SUCCEEDED:
        raise typer.Exit(1)


@app.command("import")
def import_(
    path: Annotated[
        Path,
        typer.Argument(
            dir_okay=False,
            help="JSON Lines, one application each; - reads standard input.",
        ),
    ],
    submitter: Annotated[
        str, typer.Option("--as", help="Email of the submitting user.")
    ],
    chunk_size: Annotated[int, typer.Option(min=100, max=100_000)] = 10_000,
) -> None:
    """Import applications from a JSON Lines file: all of them or none."""
    from ability.application.importer import import_applications
    from ability.application.search import index_backlog
    from ability.errors import AbilityError

    if str(path) != "-" and not path.exists():
        console.print(f"[red]No file {path}.[/red]")
        raise typer.Exit(2)
    settings = _settings()
    upgrade(settings.DATABASE_URL)
    # A regular file is read twice, to size the progress bar; a pipe once.
    total = None
    if path.is_file():
        with path.open("rb") as counted:
            total = sum(1 for line in counted if line.strip())

    async def run(db: Database) -> tuple[int, int, float, float]:
        source = sys.stdin.buffer if str(path) == "-" else path.open("rb")
        with _progress() as bar, source as lines:
            task = bar.add_task("importing", total=total)
            started = time.perf_counter()
            result = await import_applications(
                db, lines, submitter, chunk_size, lambda n: bar.advance(task, n)
            )
            imported = time.perf_counter() - started
            task = bar.add_task("indexing for search", total=result.imported)
            await index_backlog(db, progress=lambda n: bar.advance(task, n))
            indexed = time.perf_counter() - started - imported
        return result.imported, result.company_id, imported, indexed

    try:
        count, company_id, imported, indexed = _with_db(settings, run)
    except AbilityError as exc:
        console.print(f"[red]Nothing imported:[/red] {exc.message}")
        raise typer.Exit(1) from None
    console.print(
        f"Imported {count:,} applications into company {company_id} in "
        f"{imported:.1f} s ({count / imported:,.0f}/s); searchable "
        f"{indexed:.1f} s later."
    )


@admin_app.command("create")
def admin_create(
    email: str,
    company: Annotated[str, typer.Option(help="Company to put the admin in.")] = "",
) -> None:
    """Create or update a platform admin (password from a prompt or stdin)."""
    from pydantic import TypeAdapter, ValidationError

    from ability.admin.bootstrap import ensure_platform_admin
    from ability.user.schemas import Email

    try:
        email = TypeAdapter(Email).validate_python(email)
    except ValidationError:
        console.print(f"[red]{email!r} is not an email address.[/red]")
        raise typer.Exit(2) from None
    settings = _settings()
    upgrade(settings.DATABASE_URL)
    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        console.print("[red]The password needs at least 8 characters.[/red]")
        raise typer.Exit(2)
    created = _with_db(
        settings,
        lambda db: ensure_platform_admin(
            db, email, password, company or settings.ADMIN_COMPANY
        ),
    )
    if created:
        console.print(f"Created platform admin {email}.")
    else:
        console.print(
            f"[yellow]{email} already existed:[/yellow] it is now a platform "
            "admin and its password was reset."
        )


if __name__ == "__main__":
    app()
