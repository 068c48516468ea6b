"""The committed AsyncAPI documents (docs/asyncapi/) describe the services as they are:
a change to a service's topics or contracts must come with `make docs`."""

import json
from pathlib import Path

import pytest

from services import asyncapi

DOCS = Path(__file__).resolve().parents[2] / "docs" / "asyncapi"


@pytest.mark.parametrize("service", ["intake", "matching", "notification", "reporting"])
def test_committed_asyncapi_document_is_current(service):
    generated = getattr(asyncapi, service)().schema.to_specification().to_jsonable()
    committed = json.loads((DOCS / f"{service}.json").read_text())
    assert generated == committed, f"docs/asyncapi/{service}.json is out of date: run `make docs`"
