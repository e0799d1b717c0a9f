"""Reading an EcoTaxa TSV the way EcoTaxa reads it (py/BO/TSVFile.py, TSVFile.open).

Tab-separated with '"' quoting; latin-1 unless the file starts with a UTF-8 BOM. Row 1 holds the
column names (stripped and lowercased), row 2 the types ([f] or [t]), data starts on line 3.
A data row longer than the header puts its extra cells under the key None, as csv.DictReader does;
EcoTaxa reports those as values in a header-less column.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

UTF8_BOM = b"\xef\xbb\xbf"

Row = dict[str | None, str | list[str] | None]


@dataclass
class TsvTable:
    # (name as written in the file, normalized name), in file order
    columns: list[tuple[str, str]]
    # normalized name -> type cell of line 2, e.g. "[f]"
    types: dict[str, str]
    # data rows keyed by the raw column names; the first is line 3 of the file
    rows: list[Row] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [clean for _, clean in self.columns]

    def value(self, row: Row, clean_name: str) -> str | None:
        """The cell of a row under a normalized column name, None when absent."""
        for raw, clean in self.columns:
            if clean == clean_name:
                cell = row.get(raw)
                return cell if isinstance(cell, str) else None
        return None


def decode(data: bytes) -> str:
    if data.startswith(UTF8_BOM):
        return data[len(UTF8_BOM) :].decode("utf-8")
    return data.decode("latin-1")


def parse_tsv(data: bytes) -> TsvTable:
    # newline=None translates line ends like the text-mode open() EcoTaxa uses.
    reader = csv.DictReader(io.StringIO(decode(data), newline=None), delimiter="\t", quotechar='"')
    columns = [(raw, raw.strip(" \t").lower()) for raw in (reader.fieldnames or []) if raw is not None]
    clean_of = dict(columns)
    types: dict[str, str] = {}
    rows: list[Row] = []
    for number, row in enumerate(reader):
        if number == 0:
            types = {clean_of[raw]: cell for raw, cell in row.items() if raw is not None and isinstance(cell, str)}
            continue
        rows.append(dict(row))
    return TsvTable(columns, types, rows)
