"""The validation floor of the API benchmark: a bare FastAPI endpoint that validates the same
body as ``/score`` (one ``Case`` or a list, the service's own pydantic models) and answers a
constant. ``uvicorn benchmarks.floor_app:app`` (or ``--app-dir benchmarks floor_app:app``)."""

from __future__ import annotations

from fastapi import FastAPI

from scoring.api.deps import Cases

app = FastAPI()


@app.post("/floor")
def floor(body: Cases) -> dict:
    return {"ok": True}
