"""Progress bars that appear only on work longer than about a second.

``tqdm.auto`` picks a notebook widget or a terminal bar. The bar is created with
``delay=1.0`` so short work shows nothing; it is off under pytest and when
``ESTIME_PROGRESS=0``.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["progress"]


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

    def set_postfix_str(self, s: str) -> None:
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

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, delay=1.0, leave=False,
                **kwargs)
