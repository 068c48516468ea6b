from contracts.events import ALL_CONTRACTS
from contracts.topics import ALL_TOPICS


def test_topic_names_are_unique_and_versioned():
    names = [t.name for t in ALL_TOPICS]
    assert len(names) == len(set(names))
    assert all(name.endswith(".v1") for name in names)


def test_every_contract_has_one_canonical_topic():
    canonical = [t for t in ALL_TOPICS if not t.name.startswith("partner.")]
    for contract in ALL_CONTRACTS:
        carriers = [t.name for t in canonical if contract.EVENT_TYPE in t.event_types]
        assert len(carriers) == 1, (contract.EVENT_TYPE, carriers)


def test_services_read_only_registered_topics():
    from services.intake.service import build as intake
    from services.matching.service import build as matching
    from services.notification.service import build as notification
    from services.reporting.service import build as reporting

    registered = {t.name for t in ALL_TOPICS}
    for build in (intake, matching, notification, reporting):
        service = build()
        for subscriber in service.broker.subscribers:
            names = {getattr(topic, "name", topic) for topic in subscriber.topics}
            assert names <= registered, (service.name, names)
