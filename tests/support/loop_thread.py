"""Run an adapter's ``run()`` loop (a link, a consumer) on its own event loop in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any


class LoopRunner:
    """``start()`` runs ``part.run()`` in a background event loop; ``stop()`` cancels it,
    awaits ``part.stop()`` and closes the loop."""

    def __init__(self, part: Any) -> None:
        self.part = part
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> LoopRunner:
        self._thread.start()

        async def begin() -> asyncio.Task[None]:
            return asyncio.get_running_loop().create_task(self.part.run())

        self._task = asyncio.run_coroutine_threadsafe(begin(), self.loop).result(10)
        return self

    def stop(self) -> None:
        async def end() -> None:
            assert self._task is not None
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            await self.part.stop()
            await asyncio.sleep(0.2)             # let the transports close

        asyncio.run_coroutine_threadsafe(end(), self.loop).result(20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
