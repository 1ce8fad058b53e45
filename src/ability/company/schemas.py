from __future__ import annotations

from datetime import datetime

from ability.kit.schemas import Name, RequestModel, ResponseModel


class CompanyCreate(RequestModel):
    name: Name


class Company(ResponseModel):
    id: int
    name: str
    created_at: datetime
