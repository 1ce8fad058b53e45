"""The ``ability`` command line."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, TypeVar

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

from ability.config import Settings
from ability.db import Database
from ability.logging import configure_logging
from ability.migrations import upgrade

app = typer.Typer(
    help="Ability: multi-tenant approval workflows.", no_args_is_help=True
)
admin_app = typer.Typer(help="Platform administration.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")

console = Console(stderr=True)
log = structlog.get_logger()
T = TypeVar("T")


def _settings() -> Settings:
    settings = Settings()
    configure_logging(settings.LOG_LEVEL, settings.log_format)
    return settings


def _with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database.from_settings(settings)
        try:
            return await work(db)
        finally:
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


async def _prepare(db: Database, settings: Settings) -> bool:
    """Bootstrap the admin and, on an empty embedded database, the demo."""
    from ability.seed.demo import create_demo, demo_exists

    await _bootstrap_admin(db, settings)
    if settings.SEED_DEMO and settings.is_sqlite and not await demo_exists(db):
        await create_demo(db)
        return True
    return False


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Processes.")] = 1,
) -> None:
    """Run the API: migrates, seeds the demo on first start, then serves."""
    from ability.seed.demo import DEMO_PASSWORD, DEMO_USERS

    settings = _settings()
    upgrade(settings.DATABASE_URL)
    settings.secret_key  # noqa: B018 - made before workers fork, shared by all
    seeded = _with_db(settings, lambda db: _prepare(db, settings))
    if settings.is_sqlite and settings.SEED_DEMO:
        _print_welcome(host, port, DEMO_USERS, DEMO_PASSWORD, seeded)
    uvicorn.run(
        "ability.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )


def _print_welcome(
    host: str, port: int, users: Iterable[str], password: str, seeded: bool
) -> None:
    url = f"http://{host}:{port}"
    console.print(f"[bold]Ability[/bold] on {url}  (API docs: {url}/docs)")
    if seeded:
        console.print("Created the demo company on first start.")
    console.print(f"Demo logins (password [bold]{password}[/bold]):")
    for email in users:
        console.print(f"  {email}")
    # One line even when not a terminal (logs), so that it can be pasted.
    console.print(
        f"Try: curl -s {url}/auth/login -H 'content-type: application/json' "
        f'-d \'{{"email": "admin@demo.example", "password": "{password}"}}\'',
        soft_wrap=True,
    )


@app.command()
def seed(
    companies: Annotated[int, typer.Option(min=1, max=10_000)] = 10,
    applications: Annotated[int, typer.Option(min=0, max=100_000_000)] = 10_000,
    chunk_size: Annotated[int, typer.Option(min=100, max=50_000)] = 5000,
) -> None:
    """Generate a realistic dataset (companies, users, workflows, history)."""
    from ability.seed.generator import SEED_PASSWORD, generate

    settings = _settings()
    upgrade(settings.DATABASE_URL)
    started = time.perf_counter()
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
            ),
        )
    seconds = time.perf_counter() - started
    rate = applications / seconds if seconds else 0.0
    console.print(
        f"Seeded {companies} companies and {applications:,} applications "
        f"in {seconds:.1f} s ({rate:,.0f}/s). Users like "
        f"admin@c0001.…example; password {SEED_PASSWORD}."
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


@admin_app.command("create")
def admin_create(
    email: str,
    company: Annotated[str, typer.Option(help="Company to put the admin in.")] = "",
) -> None:
    """Create or update a platform admin (password from a prompt or stdin)."""
    from ability.admin.bootstrap import ensure_platform_admin

    settings = _settings()
    upgrade(settings.DATABASE_URL)
    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        console.print("[red]The password needs at least 8 characters.[/red]")
        raise typer.Exit(2)
    _with_db(
        settings,
        lambda db: ensure_platform_admin(
            db, email, password, company or settings.ADMIN_COMPANY
        ),
    )
    console.print(f"Platform admin {email} is ready.")


if __name__ == "__main__":
    app()
