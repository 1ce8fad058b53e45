"""``ability import``: many applications at once, all of them or none."""

from __future__ import annotations

import codecs
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ability.application.importer import ImportLineError, import_applications
from ability.application.search import index_backlog
from ability.errors import UnprocessableError
from ability.models import Application
from tests._live import ABILITY, server_environment
from tests.conftest import Api


def _lines(*items: dict[str, Any]) -> list[bytes]:
    return [orjson.dumps(item) + b"\n" for item in items]


def _titles(api: Api, company_id: int) -> list[str]:
    async def read() -> list[str]:
        async with api.db.session(write=False) as session:
            result = await session.execute(
                sa.select(Application.title)
                .where(Application.company_id == company_id)
                .order_by(Application.id)
            )
            return list(result.scalars())

    titles: list[str] = api.run(read)
    return titles


class TestImport:
    def test_every_line_becomes_a_pending_application(
        self, api: Api, backend: str
    ) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        lines = _lines(
            *(
                {
                    "title": f"Chair {n}",
                    "workflow_id": workflow_id,
                    "metadata": {"n": n},
                }
                for n in range(25)
            )
        )
        lines.insert(3, b"   \n")  # blank lines are skipped
        seen: list[int] = []

        result = api.run(
            lambda: import_applications(
                api.db, lines, tenant.emails["member"], 10, seen.append
            )
        )

        assert (result.imported, result.company_id) == (25, tenant.company_id)
        assert seen == [10, 10, 5]
        listed = api.client.get(
            "/applications", headers=tenant.headers(), params={"page_size": 100}
        ).json()["items"]
        assert sorted(a["title"] for a in listed) == sorted(
            f"Chair {n}" for n in range(25)
        )
        one = next(a for a in listed if a["title"] == "Chair 7")
        assert one["status"] == "pending"
        assert one["current_step"] == 1
        assert one["metadata"] == {"n": 7}
        assert one["created_by"] == tenant.users["member"].user_id

        # PostgreSQL indexes an import for search after it commits.
        def waiting() -> Any:
            stats = api.client.get("/admin/database/stats", headers=tenant.headers())
            return stats.json()["search_backlog"]

        deferred = backend == "postgres"
        assert waiting()["ranges"] == (1 if deferred else 0)
        assert waiting()["ids"] >= (25 if deferred else 0)
        indexed = api.run(index_backlog, api.db)
        assert waiting() == {"ranges": 0, "ids": 0}
        assert indexed == (25 if backend == "postgres" else 0)
        assert api.run(index_backlog, api.db) == 0
        found = api.client.get(
            "/applications/search",
            headers=tenant.headers(),
            params={"query": "chair", "page_size": 100},
        ).json()["items"]
        assert len(found) == 25

    @pytest.mark.parametrize("backend", ["postgres"])
    def test_edits_before_indexing_are_what_search_finds(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        lines = _lines(
            *({"title": f"Lamp {n}", "workflow_id": workflow_id} for n in range(3))
        )
        api.run(lambda: import_applications(api.db, lines, tenant.emails["member"]))
        ids = sorted(
            a["id"]
            for a in api.client.get("/applications", headers=tenant.headers()).json()[
                "items"
            ]
        )
        renamed = api.client.patch(
            f"/applications/{ids[0]}",
            headers=tenant.headers(),
            json={"title": "Heater"},
        )
        deleted = api.client.delete(f"/applications/{ids[1]}", headers=tenant.headers())
        assert (renamed.status_code, deleted.status_code) == (200, 204)

        def search(query: str) -> list[int]:
            found = api.client.get(
                "/applications/search",
                headers=tenant.headers(),
                params={"query": query},
            ).json()["items"]
            return sorted(a["id"] for a in found)

        assert search("heater") == [ids[0]]  # an edit indexes at once
        assert search("lamp") == []
        api.run(index_backlog, api.db)

        assert search("lamp") == [ids[2]]
        assert search("heater") == [ids[0]]

    @pytest.mark.parametrize(
        ("bad", "message"),
        [
            (b"{not json", "line 12: "),
            (b'{"title": "", "workflow_id": 1}', "line 12: title"),
            (b'{"title": "x"}', "line 12: workflow_id"),
        ],
    )
    def test_a_bad_line_keeps_nothing_and_names_its_line(
        self, api: Api, bad: bytes, message: str
    ) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        lines = _lines(
            *({"title": f"Desk {n}", "workflow_id": workflow_id} for n in range(30))
        )
        lines[11] = bad

        with pytest.raises(ImportLineError) as raised:
            api.run(
                lambda: import_applications(
                    api.db, lines, tenant.emails["member"], chunk_size=5
                )
            )

        assert raised.value.message.startswith(message)
        assert _titles(api, tenant.company_id) == []

    def test_another_companys_workflow_or_company_is_refused(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        workflow_id = api.workflow(tenant)
        foreign = api.workflow(other)

        for line, message in [
            ({"title": "x", "workflow_id": foreign}, "line 2: workflow not found"),
            (
                {"title": "x", "workflow_id": workflow_id, "company_id": 10**9},
                "line 2: company_id is not the user's",
            ),
        ]:
            lines = _lines({"title": "ok", "workflow_id": workflow_id}, line)
            with pytest.raises(ImportLineError, match=message):
                api.run(
                    lambda lines=lines: import_applications(
                        api.db, lines, tenant.emails["member"]
                    )
                )

        assert _titles(api, tenant.company_id) == []
        assert _titles(api, other.company_id) == []

    def test_an_unknown_submitter_is_refused(self, api: Api) -> None:
        with pytest.raises(UnprocessableError, match="no active user"):
            api.run(lambda: import_applications(api.db, [], "nobody@nowhere.test"))

    def test_a_reporter_cannot_be_the_submitter(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        lines = _lines({"title": "Desk", "workflow_id": workflow_id})

        with pytest.raises(UnprocessableError, match="may not submit"):
            api.run(
                lambda: import_applications(api.db, lines, tenant.emails["reporter"])
            )

        assert _titles(api, tenant.company_id) == []


class TestCommand:
    """``ability import`` as an operator runs it."""

    def _run(self, api: Api, args: list[str], stdin: bytes = b"") -> str:
        done = subprocess.run(
            [str(ABILITY), "import", *args],
            input=stdin,
            env=server_environment(
                ABILITY_DATABASE_URL=api.settings.DATABASE_URL,
                ABILITY_SECRET_KEY=api.settings.secret_key,
            ),
            capture_output=True,
            timeout=120,
            check=False,
        )
        output = (done.stdout + done.stderr).decode()
        assert done.returncode == 0, output
        return output

    def test_a_file_with_a_byte_order_mark_or_a_pipe(
        self, api: Api, tmp_path: Path
    ) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        member = tenant.emails["member"]
        path = tmp_path / "chairs.jsonl"
        path.write_bytes(
            codecs.BOM_UTF8
            + b"".join(
                _lines(
                    *(
                        {"title": f"Chair {n}", "workflow_id": workflow_id}
                        for n in range(3)
                    )
                )
            )
        )
        piped = b"".join(_lines({"title": "Piped desk", "workflow_id": workflow_id}))

        from_file = self._run(api, [str(path), "--as", member])
        from_pipe = self._run(api, ["-", "--as", member], stdin=piped)

        assert "Imported 3 applications" in from_file
        assert "Imported 1 applications" in from_pipe
        assert sorted(_titles(api, tenant.company_id)) == [
            "Chair 0",
            "Chair 1",
            "Chair 2",
            "Piped desk",
        ]


def _insert(api: Api, **values: Any) -> None:
    async def insert() -> None:
        async with api.db.session(write=True) as session:
            row = {
                "workflow_version": 1,
                "title": "Direct",
                "status": "pending",
                "current_step": 1,
                "metadata_": {},
                "version": 1,
                "is_deleted": False,
                **values,
            }
            await session.execute(sa.insert(Application), [row])

    api.run(insert)


class TestReferences:
    """The database itself refuses rows that point nowhere or across tenants."""

    def test_rows_must_point_at_existing_rows(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        good = {
            "company_id": tenant.company_id,
            "workflow_id": workflow_id,
            "created_by": tenant.users["member"].user_id,
        }
        _insert(api, **good)

        for wrong in ({"workflow_id": 10**9}, {"created_by": 10**9}):
            with pytest.raises(IntegrityError):
                _insert(api, **{**good, **wrong})

        assert _titles(api, tenant.company_id) == ["Direct"]

    # SQLite keeps plain foreign keys, which do not see tenants.
    @pytest.mark.parametrize("backend", ["postgres"])
    def test_a_workflow_of_another_company_is_refused(self, api: Api) -> None:
        tenant, other = api.tenant(), api.tenant()
        foreign = api.workflow(other)

        with pytest.raises(IntegrityError, match="no workflow"):
            _insert(
                api,
                company_id=tenant.company_id,
                workflow_id=foreign,
                created_by=tenant.users["member"].user_id,
            )

    @pytest.mark.parametrize("backend", ["postgres"])
    def test_referenced_rows_stay_and_references_are_fixed(self, api: Api) -> None:
        tenant = api.tenant()
        workflow_id = api.workflow(tenant)
        app = api.submit(tenant, workflow_id)
        unused = api.workflow(tenant)

        async def run(statement: str) -> None:
            async with api.db.session(write=True) as session:
                await session.execute(sa.text(statement))

        refused = [
            f"DELETE FROM workflows WHERE id = {workflow_id}",
            f"DELETE FROM users WHERE id = {app['created_by']}",
            f"UPDATE workflows SET company_id = company_id + 1 WHERE id = {unused}",
            f"UPDATE applications SET workflow_id = {unused} WHERE id = {app['id']}",
        ]
        for statement in refused:
            with pytest.raises(IntegrityError):
                api.run(run, statement)
        api.run(run, f"DELETE FROM workflow_steps WHERE workflow_id = {unused}")
        api.run(run, f"DELETE FROM workflows WHERE id = {unused}")

        assert _titles(api, tenant.company_id) == ["Laptop for a new hire"]
