"""The asyncio natives the delivery hot path uses, and the one place nmcore uses them.

The concurrency rule: anyio for structure (task groups, cancel scopes, threads, events) everywhere, so the
code reads one way; asyncio's own primitives only where a measured hot path needs them, through this module.
The dispatcher starts one plain task per busy lane slot and bounds each send with `asyncio.timeout`: anyio's
per-task and per-scope bookkeeping cost about a fifth of the CPU per delivery there (bench S1), and the HTTP
stack (aiohttp) is asyncio-only anyway.
"""

import asyncio
from collections.abc import Callable, Collection, Coroutine
from typing import Any

import anyio

Event = asyncio.Event
Task = asyncio.Task
deadline = asyncio.timeout
"""`async with deadline(seconds):` raises TimeoutError when the block takes longer."""


def spawn(work: Coroutine[Any, Any, None], done: Callable[["asyncio.Task[None]"], None]) -> "asyncio.Task[None]":
    """Start `work` as a plain task, outside any cancel scope (a stop lets it finish); `done` is called after."""
    task = asyncio.create_task(work)
    task.add_done_callback(done)
    return task


async def finish(tasks: Collection["asyncio.Task[None]"]) -> None:
    """Wait for `tasks` to end, even while being cancelled: sends in flight finish and are recorded."""
    if tasks:
        with anyio.CancelScope(shield=True):
            await asyncio.wait(tasks)
