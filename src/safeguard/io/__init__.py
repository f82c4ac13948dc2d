"""Streaming input and output: read post dumps as records, write decisions.

::

    from safeguard.io import iter_posts, open_writer, parse_field_map, read_records

    field_map = parse_field_map(["text=body", "author.id=user_id"])
    with open_writer("decisions.jsonl") as out:
        for record, post, error in iter_posts(read_records("dump.jsonl"), field_map):
            ...
"""

from safeguard.io.fields import FIELD_TARGETS, parse_field_map
from safeguard.io.readers import (
    FORMATS,
    Record,
    detect_format,
    iter_posts,
    normalize_format,
    read_records,
    record_id,
)
from safeguard.io.writers import (
    FLAT_COLUMNS,
    CsvWriter,
    DecisionWriter,
    JsonlWriter,
    ParquetWriter,
    dumps_json,
    error_record,
    flatten,
    open_writer,
    write_json_line,
)

__all__ = [
    "FIELD_TARGETS",
    "FLAT_COLUMNS",
    "FORMATS",
    "CsvWriter",
    "DecisionWriter",
    "JsonlWriter",
    "ParquetWriter",
    "Record",
    "detect_format",
    "dumps_json",
    "error_record",
    "flatten",
    "iter_posts",
    "normalize_format",
    "open_writer",
    "parse_field_map",
    "read_records",
    "record_id",
    "write_json_line",
]
