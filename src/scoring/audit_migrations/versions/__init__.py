"""Revisions of the audit schema, oldest first: ``baseline_116dcf0dcce5`` is the schema of the
releases before migrations."""
