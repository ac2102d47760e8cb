"""Reading what the gateway's SQLite journal stored, independently of the gateway's own code."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway.settings import Settings


def canonical_json(settings: Settings, conversation_id: str) -> bytes:
    """The canonical JSON the journal stored for the conversation's declaration."""
    path = Path(settings.db_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT canonical_json FROM messages WHERE conversation_id = ?",
                         (conversation_id,)).fetchone()
    assert row is not None
    return bytes(row[0])
