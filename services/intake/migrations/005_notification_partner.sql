-- Notification passes on the answers coaches and companies give through the links in its
-- messages as feedback on partner.feedback.v1, so intake knows it as a partner that may
-- send feedback (on Kafka only: it has no API key).
INSERT INTO partners (partner_id, name, event_types)
VALUES ('redthread-notification', 'redthread notification (answers from e-mail links)', ARRAY['redthread.feedback.submitted'])
ON CONFLICT (partner_id) DO NOTHING;
