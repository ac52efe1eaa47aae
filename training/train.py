"""Train with an experiment configuration: a thin entry point over
:func:`scoring.pipeline.train` (the same as ``scoring train``).

    python training/train.py --config training/configs/small-trees.yaml --data data/synthetic/default

See training/README.md for which configuration is which.
"""

from __future__ import annotations

import argparse
import sys

from scoring.configuration import ConfigError
from scoring.contract import ContractError
from scoring.models.dataset import TrainingDataError
from scoring.pipeline import train


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="Data set folder (CONTRACT §1).")
    ap.add_argument("--config", default=None, help="Training configuration (default: packaged).")
    ap.add_argument("--trials", type=int, default=None, help="Optuna trials per model.")
    ap.add_argument("--no-register", action="store_true", help="Log the run, register nothing.")
    ap.add_argument("--no-policy", action="store_true", help="Train the risk models only.")
    args = ap.parse_args(argv)
    try:
        res = train(
            args.data,
            args.config,
            trials=args.trials,
            register=not args.no_register,
            with_policy=not args.no_policy,
        )
    except (ConfigError, ContractError, TrainingDataError, FileNotFoundError) as exc:
        print(f"error: training failed, nothing registered: {exc}", file=sys.stderr)
        return 1
    print(f"run {res.run_id} finished in {res.seconds:.0f} s; registered {res.versions}")
    for key, why in res.not_trained.items():
        print(f"NOT trained: {key}: {why}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
