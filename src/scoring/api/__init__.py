"""The HTTP service: ``create_app()`` builds it (see :mod:`scoring.api.app`)."""

from __future__ import annotations


def create_app(*args, **kwargs):
    """Build the FastAPI app (imported lazily so ``import scoring.api`` stays cheap)."""
    from scoring.api.app import create_app as _create_app

    return _create_app(*args, **kwargs)


__all__ = ["create_app"]
