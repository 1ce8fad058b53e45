"""search: the documents move to their own table on PostgreSQL

Revision ID: 0005
Revises: 0004

PostgreSQL only. Turning an application into a tsvector and adding it to
the GIN index was more than half the cost of inserting it. The documents
now live in ``application_search`` (one row per application that is not
deleted), kept by triggers on ``applications``: in the same statement for
ordinary writes, so a client finds what it just wrote; or, for a bulk load
that asks for it (``ability.search_deferred``), recorded as a range of ids
in ``search_backlog`` and indexed right after the load commits, so search
trails such a load by seconds while reads see it at once.

SQLite keeps its FTS5 table, indexed as rows are written.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Words are runs of letters and digits, as SQLite's FTS5 splits them and as
# queries are split: "john@acme.com" is found by "acme", "v2.4.1" by "v2".
WORDS = """
CREATE FUNCTION application_words(text text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT regexp_replace(text, '[^[:alnum:]]+', ' ', 'g')
$$
"""

# The company is a term of its own document: one lexeme with a space in it,
# which no text can produce. A search ANDs it with the words, so the GIN
# index finds the company's matches without visiting any other company's.
DOCUMENT = """
CREATE FUNCTION application_document(
    company_id bigint, title text, description text
)
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('simple', application_words(title)), 'A')
        || setweight(
            to_tsvector(
                'simple', application_words(coalesce(description, ''))
            ),
            'B'
        )
        || ('''company ' || company_id::text || '''')::tsvector
$$
"""

_INDEX_NEW_ROWS = """
CREATE FUNCTION applications_index_new_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ability.search_deferred', true) = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO application_search (application_id, company_id, document)
    SELECT id, company_id, application_document(company_id, title, description)
    FROM new_rows
    WHERE NOT is_deleted;
    RETURN NULL;
END
$$
"""

_REINDEX_CHANGED_ROW = """
CREATE FUNCTION applications_reindex_changed_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.is_deleted THEN
        DELETE FROM application_search WHERE application_id = NEW.id;
    ELSE
        INSERT INTO application_search (application_id, company_id, document)
        VALUES (
            NEW.id, NEW.company_id,
            application_document(NEW.company_id, NEW.title, NEW.description)
        )
        ON CONFLICT (application_id)
        DO UPDATE SET document = excluded.document;
    END IF;
    RETURN NULL;
END
$$
"""

_UP = [
    WORDS,
    DOCUMENT,
    """
    CREATE TABLE application_search (
        application_id bigint PRIMARY KEY,
        company_id bigint NOT NULL,
        document tsvector NOT NULL
    )
    """,
    """
    INSERT INTO application_search (application_id, company_id, document)
    SELECT id, company_id, application_document(company_id, title, description)
    FROM applications
    WHERE NOT is_deleted
    """,
    """
    CREATE INDEX ix_application_search_document
    ON application_search USING gin (document)
    """,
    """
    CREATE TABLE search_backlog (
        id bigserial PRIMARY KEY,
        company_id bigint NOT NULL,
        first_id bigint NOT NULL,
        last_id bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    _INDEX_NEW_ROWS,
    """
    CREATE TRIGGER applications_index_new_rows
    AFTER INSERT ON applications REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION applications_index_new_rows()
    """,
    _REINDEX_CHANGED_ROW,
    """
    CREATE TRIGGER applications_reindex_changed_row
    AFTER UPDATE OF title, description, is_deleted ON applications
    FOR EACH ROW EXECUTE FUNCTION applications_reindex_changed_row()
    """,
    "ALTER TABLE applications DROP COLUMN search_vector",
]

_DOWN = [
    "DROP TRIGGER applications_reindex_changed_row ON applications",
    "DROP FUNCTION applications_reindex_changed_row()",
    "DROP TRIGGER applications_index_new_rows ON applications",
    "DROP FUNCTION applications_index_new_rows()",
    "DROP TABLE search_backlog",
    "DROP TABLE application_search",
    """
    ALTER TABLE applications ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', title), 'A')
        || setweight(to_tsvector('simple', coalesce(description, '')), 'B')
    ) STORED
    """,
    "DROP FUNCTION application_document(bigint, text, text)",
    "DROP FUNCTION application_words(text)",
    """
    CREATE INDEX ix_applications_company_search ON applications
    USING gin (company_id, search_vector) WHERE is_deleted = false
    """,
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _UP:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _DOWN:
        op.execute(statement)
