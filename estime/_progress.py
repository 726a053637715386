"""Progress bars that appear only on work longer than about a second.

``tqdm.auto`` picks a notebook widget or a terminal bar. The bar is created with
``delay=1.0`` so short work shows nothing; it is off under pytest and when
``ESTIME_PROGRESS=0``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["progress", "steps"]


def _enabled() -> bool:
    if os.environ.get("ESTIME_PROGRESS", "").strip() in {"0", "false", "no", "off"}:
        return False
    return "PYTEST_CURRENT_TEST" not in os.environ


class _Null:
    """Stands in for a bar when progress is off (same small API)."""

    disable = True  # as tqdm says of a bar it does not show
    n = 0
    total: int | float | None = 0

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress(total: int | None, desc: str, unit: str = "event", **kwargs: Any) -> Any:
    """A tqdm bar (or a silent stand-in) with ``update(n)`` and ``close()``."""
    if not _enabled():
        return _Null()
    from tqdm.auto import tqdm

    kwargs.setdefault("unit_scale", True)
    return tqdm(total=total, desc=desc, unit=unit, delay=1.0, leave=False, **kwargs)


@contextmanager
def steps(desc: str, count: int) -> Iterator[Callable[[str], None]]:
    """A bar over ``count`` steps of one piece of work that cannot report from inside (one
    polars call each), named as each starts: ``step("checking payloads")``. Shown, like
    every bar, only once the work has lasted a second."""
    with progress(count, desc, unit="step", unit_scale=False) as bar:
        started = False

        def step(name: str) -> None:
            nonlocal started
            if started:
                bar.update(1)
            started = True
            bar.set_postfix_str(name, refresh=False)  # a refresh would show the bar at once

        yield step
        bar.update(1)
