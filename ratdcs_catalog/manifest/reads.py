"""Named reads: what the dataset and report modules ask of the manifest, so no SQL lives outside it."""

from __future__ import annotations

import sqlite3
from typing import Sequence


class Reads:
    """Read methods of ``Manifest``."""

    def query(self, sql: str, params: Sequence | dict = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()


