"""Alembic environment of the audit schema.

Run by :func:`scoring.audit.upgrade_schema` with ``config.attributes["connection"]``: a
connection already in a transaction that holds the migration lock, which the caller commits.
Without it (the ``alembic`` command of a developer, or offline ``--sql``), the URL is
``-x url=...`` or ``sqlalchemy.url``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from scoring.audit import VERSION_TABLE, metadata

config = context.config


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: give -x url=... (or sqlalchemy.url)")
    return url


def _include_name(name, type_, parent_names) -> bool:
    """Autogenerate looks only at the audit tables (MLflow's may share the database)."""
    return type_ != "table" or name in metadata.tables


def _options(dialect_name: str) -> dict:
    return {
        "target_metadata": metadata,
        "version_table": VERSION_TABLE,
        "include_name": _include_name,
        "render_as_batch": dialect_name == "sqlite",  # ALTER TABLE through copies on SQLite
        "compare_type": True,
    }


def run_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_options(sa.engine.make_url(url).get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    conn = config.attributes.get("connection")
    if conn is not None:
        context.configure(connection=conn, **_options(conn.dialect.name))
        with context.begin_transaction():  # the caller's transaction: a no-op here
            context.run_migrations()
        return
    engine = sa.create_engine(_url(), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as own:
            context.configure(connection=own, **_options(own.dialect.name))
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
