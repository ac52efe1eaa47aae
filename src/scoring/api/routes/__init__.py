"""HTTP routes, one module per resource; :data:`router` holds them all, in the order of the
published API."""

from fastapi import APIRouter

from scoring.api.routes import decisions, reviews, scoring, service

router = APIRouter()
for _module in (scoring, decisions, reviews, service):
    router.include_router(_module.router)

__all__ = ["router"]
