"""A little realistic load on a live server, for the dashboard tests.

An admin signs in, makes a workflow and a few applications, then each round
reads them (cache hits and misses), lists, asks for a missing one (404) and
edits one (a write that invalidates cached copies). Every round is a fixed,
small number of requests; callers bound the number of rounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

WORKFLOW = {
    "name": "Purchase",
    "workflow_type": "purchase",
    "steps": [
        {"name": "Review", "order": 1, "required_role": "reviewer"},
        {"name": "Approve", "order": 2, "required_role": "approver"},
    ],
}


def sign_in(http: httpx.Client, email: str, password: str) -> str:
    response = http.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@dataclass
class Traffic:
    http: httpx.Client
    token: str
    applications: list[int] = field(default_factory=list)
    workflow_id: int = 0
    rounds: int = 0

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(path, headers=self.headers, json=body)
        assert response.status_code in (200, 201, 202), response.text
        created: dict[str, Any] = response.json()
        return created

    def prepare(self, applications: int = 5) -> None:
        """A workflow and ``applications`` pending applications."""
        self.workflow_id = self.post("/workflows", WORKFLOW)["id"]
        items = [
            {"title": f"Laptop {n}", "workflow_id": self.workflow_id}
            for n in range(applications)
        ]
        self.applications = self.post("/applications/bulk", {"applications": items})[
            "ids"
        ]

    def round(self) -> None:
        """About a dozen requests of several kinds."""
        self.rounds += 1
        for app_id in self.applications:
            self.http.get(f"/applications/{app_id}", headers=self.headers)
        self.http.get(f"/applications/{self.applications[0]}", headers=self.headers)
        self.http.get("/applications", headers=self.headers)
        self.http.get("/workflows", headers=self.headers)
        self.http.get("/applications/999999999", headers=self.headers)
        self.http.patch(
            f"/applications/{self.applications[-1]}",
            headers=self.headers,
            json={"description": f"Round {self.rounds}"},
        )
