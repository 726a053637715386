"""Readers of event logs, one module per format (writers are ``EventLog.write_*``).

- :func:`read_jsonl` — JSON Lines (estime's own files and foreign ones through a mapping)
- :func:`read_csv` — CSV with JSON-text payload columns, or plain columns as the payload
- :func:`read_parquet` — Parquet (estime's own files and foreign ones)
- :func:`read_cloudevents` — CloudEvents 1.0, structured mode, JSON format
- :func:`read_eventsourcing` — an SQLite database of the Python library ``eventsourcing``
- :func:`read_langgraph` / :func:`langgraph_lineages` — a LangGraph ``SqliteSaver`` database

Every reader accepts ``str`` or ``pathlib.Path``, reads ``.gz`` transparently (Parquet
excepted), takes ``duplicates="error" | "drop"`` and reports a bad line with its file and
line number (:class:`~estime.errors.LogFormatError`); nothing is half-loaded. Readers never
import, unpickle or execute anything named by the data.
"""

from estime.io.cloudevents import read_cloudevents
from estime.io.csv import read_csv
from estime.io.eventsourcing import read_eventsourcing
from estime.io.jsonl import read_jsonl
from estime.io.langgraph import langgraph_lineages, read_langgraph
from estime.io.parquet import read_parquet

__all__ = [
    "langgraph_lineages",
    "read_cloudevents",
    "read_csv",
    "read_eventsourcing",
    "read_jsonl",
    "read_langgraph",
    "read_parquet",
]
