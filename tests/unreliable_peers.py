"""Peers that fail in real ways, on 127.0.0.1, for the delivery tests: a mail server that
goes away and comes back on the same port (and can refuse mail with a reply code), an
HTTP host that accepts connections and never answers, and a TCP proxy that cuts every
connection through it (to take PostgreSQL away from one client, not from the suite)."""

from __future__ import annotations

import asyncio
import contextlib
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.peers import free_port


class SwitchableMailServer:
    """An aiosmtpd server on a fixed port that can be stopped (the port then refuses
    connections) and started again; `data_reply`, when set, is its answer to DATA
    instead of accepting the mail."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.data_reply: str | None = None
        self._controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.data_reply:
            return self.data_reply
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def start(self) -> SwitchableMailServer:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()
            self._controller = None

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]).strip("<>").split("@")[0] for m in self.messages]


class HangingHttpHost:
    """Accepts connections, reads what comes, never answers; counts the connections
    open at once."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.open_now = 0
        self.most_open = 0
        self.accepted = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> HangingHttpHost:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", self.port)
        return self

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while await reader.read(65536):
                pass
        finally:
            self.open_now -= 1
            writer.close()

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)


class CuttableProxy:
    """A TCP proxy to `target_port`. `cut()` closes every connection through it and
    refuses new ones, as a server that died does; `restore()` accepts again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.port = free_port()
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def restore(self) -> CuttableProxy:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)
        return self

    async def cut(self) -> None:
        if self._server:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _pipe(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, server_writer}

        async def copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (OSError, ConnectionError):
                pass
            finally:
                writer.transport.abort()

        await asyncio.gather(copy(client_reader, server_writer), copy(server_reader, client_writer))
        self._writers -= {client_writer, server_writer}
