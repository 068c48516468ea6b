"""The ACLs derived from the topic registry (services/common/kafka_acls.py)."""

from __future__ import annotations

from contracts.topics import PARTNER_ACCESS, PARTNER_FEEDBACK, PARTNER_NEEDS
from services.common.kafka_acls import Grant, partner_grants, registry_grants, service_grants


def writes(grants: list[Grant]) -> set[str]:
    return {g.name for g in grants if g.operation == "WRITE"}


def test_only_intake_may_announce_partners_roles():
    writers = {g.principal for g in registry_grants() if g.operation == "WRITE" and g.name == PARTNER_ACCESS.name}
    assert writers == {"redthread.intake"}


def test_no_service_but_notification_writes_a_shared_partner_topic():
    shared = {g.principal: g.name for g in registry_grants() if g.operation == "WRITE" and g.name.startswith("partner.")}
    assert shared == {"redthread.notification": PARTNER_FEEDBACK.name}


def test_grants_follow_the_namespace():
    assert all(g.name.startswith("t1.") for g in service_grants("matching", "t1") if g.resource != "CLUSTER")
    assert writes(service_grants("matching", "t1")) == {"t1.redthread.matches.v1", "t1.redthread.dead-letters.v1"}


def test_a_partner_writes_by_prefix_only_its_own_topics():
    grants = partner_grants("iuc-smaland")
    assert {(g.name, g.pattern) for g in grants if g.operation == "WRITE"} == {("partner.iuc-smaland.", "PREFIXED")}
    assert PARTNER_NEEDS.name not in writes(grants)


def test_a_partner_id_cannot_widen_its_prefix():
    for hostile in ("iuc.smaland", "", "a" * 64, "IUC", "x*", "admin"):
        try:
            partner_grants(hostile)
        except ValueError:
            continue
        raise AssertionError(f"{hostile!r} was accepted")
