"""Reading what the gateway's SQLite journal stored, independently of the gateway's own code."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from gateway.ports import Notification
from gateway.settings import Settings


def canonical_json(settings: Settings, conversation_id: str) -> bytes:
    """The canonical JSON the journal stored for the conversation's declaration."""
    path = Path(settings.db_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT canonical_json FROM messages WHERE conversation_id = ?",
                         (conversation_id,)).fetchone()
    assert row is not None
    return bytes(row[0])


async def record_notification(journal: Any, notification: Notification,
                              status: dict[str, Any], callback_url: str | None) -> bool:
    """Store a notification and its conversation's new status the way an event handler does
    (one ``apply_once`` transaction, keyed by the notification's source); False if seen."""
    def work(tx: Any) -> bool:
        if tx.add_notification(notification, callback_url) is None:
            return False
        tx.update_conversation(notification.conversation_id, status=status["status"],
                               at=notification.created_at,
                               customs_reference=status.get("mrn"))
        return True

    done, applied = await journal.apply_once("tests", notification.source_id, "test", work)
    return bool(applied and done)
