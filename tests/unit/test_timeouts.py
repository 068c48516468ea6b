"""A time limit on a peer that counts only the time the process runs: an answer that
arrived while the process was paused is read, not taken for a timeout."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from services.common.timeouts import running_time_limit


async def test_an_answer_that_arrived_during_a_pause_is_read_not_timed_out():
    ours, peers = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    loop = asyncio.get_running_loop()

    def peer_answers_then_the_process_pauses() -> None:
        peers.sendall(b"250 OK\n")
        time.sleep(2.5)  # the whole process stands still, as under SIGSTOP

    try:
        async with running_time_limit(1.0):
            loop.call_later(0.1, peer_answers_then_the_process_pauses)
            assert await reader.readline() == b"250 OK\n"
    finally:
        writer.close()
        peers.close()


async def test_a_peer_that_never_answers_is_given_up_after_the_limit():
    ours, peers = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError):
            async with running_time_limit(0.6):
                await reader.readline()
    finally:
        writer.close()
        peers.close()
    assert 0.5 < time.monotonic() - started < 2.0
