"""The migrations build exactly the schema that store/schema.py declares, on both backends."""

from __future__ import annotations

import re

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Index, Table

from farmbridge.store import partitions
from farmbridge.store.dialect import build_engine
from farmbridge.store.migrate import upgrade
from farmbridge.store.schema import metadata

_PARTITION = re.compile(rf"readings_p\d{{8}}|{partitions.DEFAULT_PARTITION}")


def _declared(obj: object, name: str | None, type_: str, reflected: bool, _: object) -> bool:
    """Everything but PostgreSQL's partitions of readings (and their indexes): the schema
    declares the partitioned table itself, as SQLite has it."""
    table = obj.name if isinstance(obj, Table) else obj.table.name if isinstance(obj, Index) else ""
    return not (reflected and _PARTITION.fullmatch(str(table)))


def test_migrated_database_matches_declared_schema(database_url: str) -> None:
    """On SQLite and PostgreSQL alike, autogenerate finds nothing to change."""
    engine = build_engine(database_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": False, "include_object": _declared}
            )
            diff = compare_metadata(ctx, metadata)
    finally:
        engine.dispose()
    assert diff == []
