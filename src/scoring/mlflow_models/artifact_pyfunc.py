"""Pyfunc that carries a JSON model artifact (the policy): loaded by scoring, not predicted."""

from __future__ import annotations

import mlflow.pyfunc
from mlflow.models import set_model


class ArtifactPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
    def predict(self, context, model_input, params=None):
        raise TypeError("this model is used through the scoring package (scoring batch / the API)")


set_model(ArtifactPyfunc())
