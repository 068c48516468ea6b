"""How /health judges what a service observed: failing, degraded or ok, with the reason."""

from services.common.health import Bounds, ConsumerProgress, Observations, judge

BOUNDS = Bounds(stall_s=60, outbox_max_age_s=60)


def progress(**changes) -> ConsumerProgress:
    fields = dict(name="c", busy_for_s=None, failing_for_s=None, last_error=None, since_last_batch_s=1.0, records_waiting=0)
    return ConsumerProgress(**fields | changes)


def test_an_unreachable_broker_is_failing_and_says_why():
    status, checks = judge(Observations(broker="no answer within 2s"), BOUNDS)
    assert status == "failing" and checks["kafka"] == "failing: no answer within 2s" and checks["database"] == "ok"


def test_records_waiting_on_an_idle_consumer_past_the_bound_is_degraded():
    idle = progress(since_last_batch_s=90.0, records_waiting=12)
    status, checks = judge(Observations(consumers=[idle]), BOUNDS)
    assert status == "degraded" and "12 record(s) wait" in checks["consumer c"]
    assert judge(Observations(consumers=[progress(since_last_batch_s=90.0, records_waiting=0)]), BOUNDS)[0] == "ok"
    assert judge(Observations(consumers=[progress(since_last_batch_s=5.0, records_waiting=12)]), BOUNDS)[0] == "ok"


def test_failing_workers_and_parked_rows_are_degraded_only_past_the_bound():
    short = Observations(failing_workers=[("relay", 10.0, "KafkaConnectionError")])
    assert judge(short, BOUNDS)[0] == "ok"
    status, checks = judge(Observations(failing_workers=[("relay", 120.0, "KafkaConnectionError")], outbox_parked=2), BOUNDS)
    assert status == "degraded"
    assert "failing for 120s: KafkaConnectionError" in checks["relay"] and "2 row(s)" in checks["outbox"]


def test_notification_reports_an_open_breaker_and_late_deliveries():
    from services.notification.service import delivery_findings

    worker = {"failing_for_s": None, "last_error": None}
    report = {
        "claiming": worker, "recording": worker,
        "open_breakers": [{"peer": "smtp", "since": "2026-12-07T10:00:00+00:00", "reason": "ConnectionRefusedError",
                           "next_probe_at": "2026-12-07T10:00:10+00:00"}],
        "channels": {"email": {"pending": 30, "due": 30, "oldest_pending_s": 200.0, "oldest_due_s": 190.0},
                     "webhook": {"pending": 0, "due": 0, "oldest_pending_s": None, "oldest_due_s": None}},
    }
    findings = delivery_findings(report, stall_s=60)
    assert "ConnectionRefusedError" in findings["peer smtp"]
    assert findings["deliveries"] == "30 email deliveries due, the oldest for 190s"
    status, checks = judge(Observations(other=findings), BOUNDS)
    assert status == "degraded" and checks["deliveries"].startswith("degraded: 30 email")
    calm = report | {"open_breakers": [], "channels": {"email": {"pending": 1, "due": 1, "oldest_pending_s": 2.0, "oldest_due_s": 1.0}}}
    assert judge(Observations(other=delivery_findings(calm, stall_s=60)), BOUNDS)[0] == "ok"
