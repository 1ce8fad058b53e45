"""applications: references checked once per statement on PostgreSQL

Revision ID: 0004
Revises: 0003

PostgreSQL only. A foreign key checks each inserted row on its own: one
query and one row lock per reference per row, three per application. Bulk
loads spent more time there than on the table and all its indexes together.
The three foreign keys of ``applications`` give way to one statement-level
trigger that reads the statement's new rows as a set: it locks every
distinct referenced workflow and user once (``FOR KEY SHARE``, as a foreign
key would) and rejects the statement if any is missing. It is also stricter
than the keys it replaces: the workflow must belong to the application's
company. (The creator may belong to another: a platform admin may submit
in any company.)

The other side of a foreign key is kept too: a workflow or user that an
application refers to cannot be deleted, and no referenced id, nor the
company of a workflow, can change. A delete waits for the writers holding
the row, then looks again, so the check holds under concurrency.
SQLite keeps its foreign keys, which cost it little.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name: (column, referenced table)
_FOREIGN_KEYS = {
    "fk_applications_company_id_companies": ("company_id", "companies"),
    "fk_applications_workflow_id_workflows": ("workflow_id", "workflows"),
    "fk_applications_created_by_users": ("created_by", "users"),
}

_CHECK_NEW_ROWS = """
CREATE FUNCTION applications_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing record;
BEGIN
    PERFORM FROM workflows
    WHERE (company_id, id) IN (SELECT company_id, workflow_id FROM new_rows)
    FOR KEY SHARE;
    PERFORM FROM users
    WHERE id IN (SELECT created_by FROM new_rows)
    FOR KEY SHARE;
    SELECT wanted.* INTO missing
    FROM (
        SELECT DISTINCT company_id, workflow_id, created_by FROM new_rows
    ) AS wanted
    WHERE NOT EXISTS (
        SELECT FROM workflows
        WHERE id = wanted.workflow_id AND company_id = wanted.company_id
    )
    OR NOT EXISTS (SELECT FROM users WHERE id = wanted.created_by)
    LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            TABLE = 'applications',
            MESSAGE = format(
                'no workflow %s in company %s, or no user %s',
                missing.workflow_id, missing.company_id, missing.created_by
            );
    END IF;
    RETURN NULL;
END
$$
"""

_REFUSE_CHANGE = """
CREATE FUNCTION applications_references_fixed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.company_id, NEW.workflow_id, NEW.created_by)
        IS DISTINCT FROM (OLD.company_id, OLD.workflow_id, OLD.created_by)
    THEN
        RAISE foreign_key_violation USING
            TABLE = 'applications',
            MESSAGE = 'an application''s company, workflow and creator are fixed';
    END IF;
    RETURN NEW;
END
$$
"""

# The parent side. Row-level BEFORE triggers run once the row is locked for
# the delete, i.e. after writers holding it (KEY SHARE) have finished; each
# statement below then sees what they committed.
_GUARD_REFERENCED = """
CREATE FUNCTION applications_guard_referenced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    referenced boolean;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF (NEW.id, NEW.company_id) IS DISTINCT FROM (OLD.id, OLD.company_id)
        THEN
            RAISE foreign_key_violation USING
                TABLE = TG_TABLE_NAME,
                MESSAGE = format('%s: id and company are fixed', TG_TABLE_NAME);
        END IF;
        RETURN NEW;
    END IF;
    IF TG_TABLE_NAME = 'workflows' THEN
        referenced := EXISTS (
            SELECT FROM applications
            WHERE company_id = OLD.company_id AND workflow_id = OLD.id
        );
    ELSE
        referenced := EXISTS (SELECT FROM applications WHERE created_by = OLD.id);
    END IF;
    IF referenced THEN
        RAISE foreign_key_violation USING
            TABLE = TG_TABLE_NAME,
            MESSAGE = format(
                '%s %s is still referenced from applications',
                TG_TABLE_NAME, OLD.id
            );
    END IF;
    RETURN OLD;
END
$$
"""

_UP = [
    _CHECK_NEW_ROWS,
    """
    CREATE TRIGGER applications_check_references
    AFTER INSERT ON applications REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION applications_check_references()
    """,
    _REFUSE_CHANGE,
    """
    CREATE TRIGGER applications_references_fixed
    BEFORE UPDATE OF company_id, workflow_id, created_by ON applications
    FOR EACH ROW EXECUTE FUNCTION applications_references_fixed()
    """,
    _GUARD_REFERENCED,
    *(
        f"""
        CREATE TRIGGER applications_guard_referenced
        BEFORE DELETE OR UPDATE OF id, company_id ON {table}
        FOR EACH ROW EXECUTE FUNCTION applications_guard_referenced()
        """
        for table in ("workflows", "users")
    ),
]

_DOWN = [
    "DROP TRIGGER applications_guard_referenced ON users",
    "DROP TRIGGER applications_guard_referenced ON workflows",
    "DROP FUNCTION applications_guard_referenced()",
    "DROP TRIGGER applications_references_fixed ON applications",
    "DROP FUNCTION applications_references_fixed()",
    "DROP TRIGGER applications_check_references ON applications",
    "DROP FUNCTION applications_check_references()",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _UP:
        op.execute(statement)
    for name in _FOREIGN_KEYS:
        op.drop_constraint(name, "applications", type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (column, table) in _FOREIGN_KEYS.items():
        op.create_foreign_key(name, "applications", table, [column], ["id"])
    for statement in _DOWN:
        op.execute(statement)
