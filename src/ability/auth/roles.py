from __future__ import annotations

import enum


class Role(enum.StrEnum):
    ADMIN = "admin"
    REVIEWER = "reviewer"
    APPROVER = "approver"
    REPORTER = "reporter"
    MEMBER = "member"
