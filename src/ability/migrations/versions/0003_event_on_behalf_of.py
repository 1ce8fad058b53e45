"""history: who an actor stood in for

Revision ID: 0003
Revises: 0002

An action taken under a delegation is recorded with both people: the actor
(``actor_id``) and the user they acted for (``on_behalf_of_id``). Null for
every action taken in one's own name, which is all of them until delegation
rules are switched on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ability.models.base import BigId

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("application_events") as batch:
        batch.add_column(sa.Column("on_behalf_of_id", BigId, nullable=True))
        batch.create_foreign_key(
            "fk_application_events_on_behalf_of_id_users",
            "users",
            ["on_behalf_of_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("application_events") as batch:
        batch.drop_constraint(
            "fk_application_events_on_behalf_of_id_users", type_="foreignkey"
        )
        batch.drop_column("on_behalf_of_id")
