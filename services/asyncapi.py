"""Factories for `faststream docs gen --factory`, one per service (`make docs`)."""

from importlib import import_module

from services.common.settings import Settings


def _spec(service: str):
    # A document needs no connection: a stand-in password spares it the local credentials.
    settings = Settings(kafka_security="sasl-scram", kafka_password="not used for documentation")
    return import_module(f"services.{service}.service").build(settings).asyncapi


def intake():
    return _spec("intake")


def matching():
    return _spec("matching")


def notification():
    return _spec("notification")


def reporting():
    return _spec("reporting")
