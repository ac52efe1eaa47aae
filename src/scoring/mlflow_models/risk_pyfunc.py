"""Pyfunc of a risk model: feature frame in (categoricals as strings), calibrated probability out.

Logged with ``mlflow.pyfunc.log_model(python_model=<this file>)`` (models from code), so that
``mlflow models serve -m models:/NAME@champion`` returns probabilities. ``load_context`` imports
only :mod:`scoring.models.risk` and what it needs, which the model carries in its ``code/``
folder (:data:`scoring.registry.PYFUNC_MODULES`).
"""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd
from mlflow.models import set_model


class RiskPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
    def load_context(self, context) -> None:
        from scoring.models.risk import RiskModel

        self.model = RiskModel.load(context.artifacts["model"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return pd.DataFrame({"probability": self.model.predict_proba(pd.DataFrame(model_input))})


set_model(RiskPyfunc())
