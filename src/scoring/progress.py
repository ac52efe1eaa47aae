"""Progress bars (tqdm) for long work, in the terminal and in notebooks, that can be turned off
(``--no-progress``) and cost nothing when they are."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def bar(
    items: Iterable[T], desc: str, progress: bool = True, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    """``items``, with a progress bar when ``progress``."""
    if not progress:
        yield from items
        return
    from tqdm.auto import tqdm

    yield from tqdm(items, desc=desc, total=total, unit=unit)


def gather(client, futures: list, desc: str, progress: bool = True) -> list[Any]:
    """Results of Dask ``futures`` in their order, with a bar advancing as each completes."""
    if not progress:
        return client.gather(futures)
    from distributed import as_completed

    position = {f.key: i for i, f in enumerate(futures)}
    out: list[Any] = [None] * len(futures)
    for fut in bar(as_completed(futures), desc, True, total=len(futures), unit="task"):
        out[position[fut.key]] = fut.result()
    return out
