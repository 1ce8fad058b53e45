from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

from ability.kit.schemas import NoNul, RequestModel, ResponseModel


class LoginRequest(RequestModel):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320), NoNul]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256), NoNul]


class Token(ResponseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
