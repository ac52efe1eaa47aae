"""ASGI entry point: ``uvicorn serving.app:app``.

Importing this module builds the app only: API keys, the audit trail and the models are
loaded at startup (see :func:`scoring.api.app.create_app`).
"""

from scoring.api.app import create_app

app = create_app()
