from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from ability.auth.roles import Role
from ability.kit.schemas import Id, NoNul, RequestModel, ResponseModel

Email = Annotated[
    str,
    StringConstraints(
        min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$", to_lower=True
    ),
    NoNul,
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256), NoNul]


class UserCreate(RequestModel):
    email: Email
    password: Password
    roles: list[Role] = Field(min_length=1, max_length=len(Role))
    company_id: Id | None = None

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, roles: list[Role]) -> list[Role]:
        return sorted(set(roles))


class User(ResponseModel):
    id: int
    email: str
    company_id: int
    roles: list[Role]
    is_platform_admin: bool
