"""Alembic migrations of the audit schema (:mod:`scoring.audit`).

:func:`scoring.audit.upgrade_schema` runs them when an :class:`~scoring.audit.AuditStore`
opens, and ``scoring audit migrate`` on demand; the configuration is built in code
(:func:`scoring.audit.alembic_config`), so no ``alembic.ini`` is needed at run time. The
version table is ``audit_alembic_version`` (MLflow keeps its own ``alembic_version``).

A new revision, from the repository root (``alembic.ini`` points here)::

    alembic revision -m "what changes"                   # written by hand, or
    alembic -x url=sqlite:///models/audit.db revision --autogenerate -m "what changes"

Revisions are history: never edit one that has been released, add another.
"""
