"""No text in an event or its envelope may hold NUL, which PostgreSQL cannot store: it is
refused where it arrives, with an error that points at the field. The check sits only on
fields that can hold text (it used to run on every field and cost intake ~5% of its CPU),
so these tests also make sure that no text field, in a model written later too, slips
past it."""

from __future__ import annotations

import json
import types
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, ValidationError

from contracts.envelope import Envelope, EnvelopeError, decode, encode, new_event
from contracts.events import ALL_CONTRACTS, CompanyRef, Contract, DeadLetterRecord, NeedSubmitted, RefusesNul
from contracts.notices import NOTICE_EVENT_CONTRACTS, OutgoingMessage
from services.common.problems import validation_errors
from tests.conftest import a_need

NUL_MESSAGE = "Value error, must not contain the NUL character (\\u0000)"


def nul_errors(error: ValidationError) -> list[tuple]:
    return [e["loc"] for e in error.errors() if e["type"] == "value_error" and e["msg"] == NUL_MESSAGE]


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"title": "Långa\x00 ställtider"}, ("title",)),
        ({"description": "\x00"}, ("description",)),
        ({"company": {"org_number": "556036-0793", "name": "Verkstad\x00 AB"}}, ("company", "name")),
        ({"company": {"org_number": "556036-0793", "name": "V", "county": "Kalmar län\x00"}}, ("company", "county")),
        # NUL is what is wrong with this org number, not its check digit:
        ({"company": {"org_number": "556036-0793\x00", "name": "V"}}, ("company", "org_number")),
        ({"coach": {"name": "Karin", "email": "karin@example.se\x00"}}, ("coach", "email")),
        ({"coach": {"name": "Karin", "email": "k@example.se", "organisation": "IUC\x00"}}, ("coach", "organisation")),
        # a list of texts is refused as a whole, at the field
        ({"keywords": ["ställtid", "SMED\x00"]}, ("keywords",)),
    ],
)
def test_nul_is_refused_at_its_field_in_json_and_in_python(change, loc):
    payload = json.loads(a_need().model_dump_json()) | change
    for validate in (NeedSubmitted.model_validate, lambda p: NeedSubmitted.model_validate_json(json.dumps(p))):
        with pytest.raises(ValidationError) as raised:
            validate(payload)
        assert nul_errors(raised.value) == [loc]
        assert len(raised.value.errors()) == 1


def test_a_partners_record_with_nul_names_the_field():
    value, headers = encode(new_event(a_need(), source="/partners/iuc-syd"))
    poisoned = value.replace(b'"title":"', b'"title":"\\u0000')
    with pytest.raises(EnvelopeError) as raised:
        decode(headers, poisoned)
    assert raised.value.problems == [("title", NUL_MESSAGE)]

    with pytest.raises(EnvelopeError) as raised:
        decode(headers | {"ce_source": "/partners/iuc-syd\x00"}, value)
    assert raised.value.problems == [("header ce_source", NUL_MESSAGE)]


def test_an_http_problem_points_at_the_field():
    with pytest.raises(ValidationError) as raised:
        a_need(company={"org_number": "556036-0793", "name": "Verkstad\x00 AB"}, keywords=["a", "\x00"])
    detail = NUL_MESSAGE.removeprefix("Value error, ")
    assert validation_errors(raised.value.errors()) == [
        {"pointer": "/company/name", "location": ["company", "name"], "detail": detail},
        {"pointer": "/keywords", "location": ["keywords"], "detail": detail},
    ]


def test_text_without_nul_is_kept_as_it_was():
    need = a_need(title="  Tab\tand\u0001control  ", keywords=["\u00e5", "ställtid"])
    assert need.title == "Tab\tand\u0001control"
    assert NeedSubmitted.model_validate_json(need.model_dump_json()) == need


# --- every text field, of every model, now and later ---------------------------------------

# Text that satisfies the few fields with a pattern; a NUL added to it must still be refused.
SAMPLE_TEXTS = (
    "Verkstad AB", "karin@example.se", "https://example.se/hooks", "556036-0793", "0000-0002-1825-0097",
    "0" * 64, "1.0", "active", "trl", "email", "utf-8",
)

# Text that is not checked, and why.
UNCHECKED = {
    (DeadLetterRecord, "original_headers"): "the consumer replaces NUL in the headers it records",
}


def text_shapes(annotation: Any, container: type | None = None):
    """('text', container) for every place text can sit in an annotation, ('model', cls) for nested models."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        yield from text_shapes(args[0], container)
    elif origin in (Union, types.UnionType):
        for arg in args:
            yield from text_shapes(arg, container)
    elif origin in (list, tuple, set, frozenset):
        for arg in args:
            if arg is not Ellipsis:
                yield from text_shapes(arg, origin)
    elif origin is dict:
        yield from text_shapes(args[0], dict)
        yield from text_shapes(args[1], dict)
    elif origin is Literal:
        return
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield "model", annotation
    elif annotation in (Any, object) or (
        isinstance(annotation, type) and issubclass(annotation, str) and not issubclass(annotation, Enum)
    ):
        yield "text", container


def all_models() -> list[type[BaseModel]]:
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    found: list[type[BaseModel]] = []
    todo = [*ALL_CONTRACTS, *NOTICE_EVENT_CONTRACTS, OutgoingMessage, Envelope, *subclasses(RefusesNul)]
    while todo:
        model = todo.pop()
        if model in found:
            continue
        found.append(model)
        for field in model.model_fields.values():
            todo.extend(nested for kind, nested in text_shapes(field.annotation) if kind == "model")
    return found


def errors_at(model: type[BaseModel], name: str, value: Any) -> list[dict]:
    try:
        model.model_validate({name: value})
    except ValidationError as error:
        return [e for e in error.errors() if e["loc"][0] == name]
    return []


def test_every_model_with_text_refuses_nul_in_it():
    for model in all_models():
        for field in model.model_fields.values():
            for kind, nested in text_shapes(field.annotation):
                if kind == "model":
                    assert issubclass(nested, RefusesNul), f"{model.__name__} holds {nested.__name__}: text unchecked"


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.__name__)
def test_no_text_field_accepts_nul(model):
    for name, field in model.model_fields.items():
        containers = {container for kind, container in text_shapes(field.annotation) if kind == "text"}
        if not containers or (model, name) in UNCHECKED:
            continue
        for container in containers:
            shape = {None: lambda t: t, list: lambda t: [t], tuple: lambda t: (t,), set: lambda t: {t},
                     frozenset: lambda t: frozenset({t}), dict: lambda t: {t: t}}[container]
            accepted = [t for t in (*(field.examples or ()), *SAMPLE_TEXTS) if not errors_at(model, name, shape(t))]
            assert accepted, f"{model.__name__}.{name}: no sample text fits it; add `examples=` to the field"
            for text in accepted:
                for with_nul in (text + "\x00", "\x00" + text, text[:1] + "\x00" + text[1:]):
                    errors = errors_at(model, name, shape(with_nul))
                    assert errors, f"{model.__name__}.{name} accepted {shape(with_nul)!r}"
                    # Refused for the NUL, or by the field's own pattern, which leaves no room for NUL
                    assert all(e["msg"] == NUL_MESSAGE or e["type"] == "string_pattern_mismatch" for e in errors), (
                        errors
                    )


def test_a_model_written_later_is_checked_too():
    class Later(Contract):
        note: str
        maybe: Annotated[str | None, "anything"] = None
        tags: list[str] = []
        either: int | str = 0
        company: CompanyRef | None = None

    with pytest.raises(ValidationError) as raised:
        Later.model_validate({
            "note": "a\x00", "maybe": "\x00", "tags": ["x", "y\x00"], "either": "z\x00",
            "company": {"org_number": "556036-0793", "name": "\x00"},
        })
    assert nul_errors(raised.value) == [("note",), ("maybe",), ("tags",), ("either",), ("company", "name")]
    assert Later.model_validate({"note": "a", "either": 7}).either == 7


def checked_fields(model: type[BaseModel]) -> set[str]:
    """The fields whose schema carries a NUL check (not looking into nested models)."""

    def has_check(schema: dict) -> bool:
        if schema.get("type") == "model":
            return False
        function = schema.get("function")
        if isinstance(function, dict) and "nul" in getattr(function.get("function"), "__name__", ""):
            return True
        return any(has_check(v) for v in schema.values() if isinstance(v, dict))

    schema = model.__pydantic_core_schema__
    if schema["type"] == "definitions":
        schema = schema["schema"]
    return {name for name, field in schema["schema"]["fields"].items() if has_check(field)}


def test_only_text_fields_pay_for_the_check():
    assert checked_fields(NeedSubmitted) == {"title", "description", "keywords"}
    assert checked_fields(CompanyRef) == {"org_number", "name", "county", "municipality", "region", "iuc"}
    assert checked_fields(Envelope) == set(Envelope.model_fields) - {"time", "schemaversion"}
