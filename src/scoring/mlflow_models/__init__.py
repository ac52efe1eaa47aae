"""MLflow models-from-code definitions (logged by path, never pickled)."""
