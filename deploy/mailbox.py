"""A local mail server for development: a real SMTP server (aiosmtpd) that keeps every
message it receives as an .eml file, so you can open what coaches would get.

    python -m deploy.mailbox [folder] [port]
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import sys
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller


class MailboxHandler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.folder / f"{stamp}.eml"
        path.write_bytes(envelope.content)
        print(f"mail to {', '.join(envelope.rcpt_tos)}: {message['Subject']}  ({path.name})", flush=True)
        return "250 Message accepted for delivery"


async def serve(folder: Path, port: int) -> None:
    controller = Controller(MailboxHandler(folder), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"mailbox: SMTP on 127.0.0.1:{port}, messages saved in {folder}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".local/mailbox")
    try:
        asyncio.run(serve(target, int(sys.argv[2]) if len(sys.argv) > 2 else 8025))
    except KeyboardInterrupt:
        pass
