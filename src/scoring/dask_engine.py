"""Scale-out on Dask: portfolio decisions partitioned by debtor, on any Dask scheduler.

``scoring batch --engine dask`` starts a local cluster (one process per core) unless
``--scheduler ADDRESS`` names an existing one. The tables and the model bundle are sent to
every worker once; each task decides for one partition of debtors with exactly the same code
as the in-process engine, so the results are identical (sampling is seeded per debtor and
instant, not per partition).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from scoring.cases import as_of_day, build_cases, open_invoice_mask
from scoring.progress import gather


@contextmanager
def dask_client(
    scheduler: str | None = None, n_workers: int | None = None, threads_per_worker: int = 1
):
    """A ``distributed.Client``: to ``scheduler`` if given, else to a new local cluster."""
    from distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    import os

    workers = n_workers or max(1, os.cpu_count() or 1)
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _decide_partition(
    tables: dict[str, pd.DataFrame], bundle, as_of, debtor_ids: list[str], lang: str, explore: bool
) -> pd.DataFrame:
    from scoring.service import batch_decisions

    cs = build_cases(tables, as_of, debtor_ids=debtor_ids)
    if len(cs) == 0:
        return pd.DataFrame()
    return batch_decisions(bundle, cs, lang=lang, explore=explore)


def case_debtors(tables: dict[str, pd.DataFrame], as_of) -> np.ndarray:
    """Sorted ids of the debtors with open invoices at ``as_of`` (the cases of a batch)."""
    day = as_of_day(pd.Timestamp(as_of).tz_convert("UTC"))
    inv = tables["invoices"]
    return np.sort(inv.loc[open_invoice_mask(inv, day), "debtor_id"].unique().astype(object))


def batch_on_dask(
    tables: dict[str, pd.DataFrame],
    as_of,
    bundle,
    client,
    partitions: int | None = None,
    lang: str = "fr",
    explore: bool = True,
    progress: bool = False,
) -> pd.DataFrame:
    """Decisions for every case at ``as_of``, computed on the workers of ``client``."""
    ids = case_debtors(tables, as_of)
    if len(ids) == 0:
        return pd.DataFrame()
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    parts = partitions or max(n_workers * 4, int(np.ceil(len(ids) / 25000)))
    chunks = [list(c) for c in np.array_split(ids, min(parts, len(ids))) if len(c)]
    # only the rows of the case debtors travel
    keep = pd.Index(ids)
    small = {
        "debtors": tables["debtors"][tables["debtors"]["debtor_id"].isin(keep)],
        "invoices": tables["invoices"][tables["invoices"]["debtor_id"].isin(keep)],
        "actions": tables["actions"][tables["actions"]["debtor_id"].isin(keep)],
    }
    tables_f = client.scatter(small, broadcast=True)
    bundle_f = client.scatter(bundle, broadcast=True)
    futures = client.map(
        _decide_partition, [tables_f] * len(chunks), [bundle_f] * len(chunks), [as_of] * len(chunks), chunks,
        [lang] * len(chunks), [explore] * len(chunks), pure=False,
    )  # fmt: skip
    frames: list[Any] = gather(client, futures, "deciding (dask)", progress)
    return pd.concat([f for f in frames if len(f)], ignore_index=True)
