"""A model change must come with its regenerated JSON Schema (`make schemas`), so that
every contract change is visible in review."""

import json

from contracts import schema_snapshots
from contracts.events import ALL_CONTRACTS


def test_committed_schemas_match_the_models():
    assert schema_snapshots.drifted() == []


def test_a_changed_model_is_detected(monkeypatch):
    original = schema_snapshots.render

    def with_a_new_field():
        rendered = original()
        name = next(n for n in rendered if n.startswith("redthread.need.submitted"))
        schema = json.loads(rendered[name])
        schema["properties"]["sneaky"] = {"type": "string"}
        rendered[name] = json.dumps(schema)
        return rendered

    monkeypatch.setattr(schema_snapshots, "render", with_a_new_field)
    assert [n for n in schema_snapshots.drifted() if n.startswith("redthread.need.submitted")]


def test_every_contract_has_a_unique_event_type():
    types = [c.EVENT_TYPE for c in ALL_CONTRACTS]
    assert len(types) == len(set(types))
