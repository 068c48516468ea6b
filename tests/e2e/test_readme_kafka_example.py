"""The README's example of publishing a need on Kafka by hand, run as a user would paste
it: a need sent as admin on partner.needs.v1 for the demo partner `iuc-sverige`, accepted
by intake onto redthread.needs.v1, and shown by the README's own `consume` command. Only
the topics carry this test's namespace, so that it runs beside the rest of the suite."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

from contracts.topics import NEEDS
from deploy.demo.partners import DEMO_PARTNERS, provision
from tests.conftest import read_topic

ROOT = Path(__file__).resolve().parents[2]
NEED_ID = "7b0c4a8e-2f64-4a56-9d5e-0c1f3a9b7e21"
TOPICS = ("partner.needs.v1", "redthread.needs.v1", "redthread.dead-letters.v1")


def readme_block() -> str:
    section = (ROOT / "README.md").read_text().split("### Publishing a need on Kafka by hand", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)


def namespaced(script: str, namespace: str) -> str:
    pattern = "|".join(re.escape(topic) for topic in TOPICS)
    return re.sub(rf"(?<![\w.-])({pattern})", rf"{namespace}.\1", script)


def run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)


async def test_the_readme_example_publishes_a_need_that_intake_accepts(platform, settings):
    await provision(settings, tuple(p for p in DEMO_PARTNERS if p.partner_id == "iuc-sverige"))
    await asyncio.sleep(1.5)  # intake's partner cache (partner_cache_s) learns the new partner
    script = namespaced(readme_block(), settings.namespace)
    assert all(f"{settings.namespace}.{topic}" in script for topic in TOPICS)
    produced = await asyncio.to_thread(run, script)
    assert produced.returncode == 0, produced.stderr

    [accepted] = await read_topic(settings, settings.topic(NEEDS.name), where=lambda r: NEED_ID in r.value.decode())
    assert dict(accepted.headers)["ce_type"] == b"redthread.need.submitted"
    assert "pressverkstaden" in accepted.value.decode()
    # The README's `consume` ran right after the send; run it again now the need is there.
    consume = next(line for line in script.splitlines() if f"consume {settings.namespace}.redthread.needs.v1" in line)
    shown = await asyncio.to_thread(run, consume)
    assert NEED_ID in shown.stdout and "Långa ställtider i pressverkstaden" in shown.stdout
