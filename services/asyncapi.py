"""Factories for `faststream docs gen --factory`, one per service (`make docs`)."""

from importlib import import_module


def _spec(service: str):
    return import_module(f"services.{service}.service").build().asyncapi


def intake():
    return _spec("intake")


def matching():
    return _spec("matching")


def notification():
    return _spec("notification")


def reporting():
    return _spec("reporting")
