-- A partner with topics of its own on Kafka (partner.<id>.*) is accepted only there.
ALTER TABLE partners ADD COLUMN own_kafka_topics boolean NOT NULL DEFAULT false;
