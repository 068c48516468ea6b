#!/usr/bin/env bash
# The kafka service of docker-compose.yml: the same broker settings as `make up`
# (conf/server.properties: SASL/SCRAM only, ACLs on), rendered for the compose network,
# formatted on first start with the admin's SCRAM credential, then run. The admin
# password comes from REDTHREAD_KAFKA_ADMIN_PASSWORD (compose's .env), never a file in
# the repository; the services' passwords are set by the topics service afterwards.
set -euo pipefail

: "${REDTHREAD_KAFKA_ADMIN_PASSWORD:?set REDTHREAD_KAFKA_ADMIN_PASSWORD (in .env beside docker-compose.yml)}"
TEMPLATE=${REDTHREAD_KAFKA_TEMPLATE:-/etc/redthread/server.properties}
DATA=${REDTHREAD_KAFKA_DATA:-/var/lib/kafka/data}
CONF=${REDTHREAD_KAFKA_CONF:-/var/lib/kafka/server.properties}
KAFKA_BIN=${REDTHREAD_KAFKA_BIN:-/opt/kafka/bin}
ADVERTISED_HOST=${REDTHREAD_KAFKA_ADVERTISED_HOST:-kafka}

# Listeners on every interface of the container, advertised under its compose name.
sed -e "s|@DATA_DIR@|$DATA|g" \
  -e "s|@ADMIN_PASSWORD@|$REDTHREAD_KAFKA_ADMIN_PASSWORD|g" \
  -e "/^listeners=/ s|127\.0\.0\.1|0.0.0.0|g" \
  -e "/^advertised\.listeners=/ s|127\.0\.0\.1|$ADVERTISED_HOST|g" \
  -e "/^controller\.quorum\.bootstrap\.servers=/ s|127\.0\.0\.1|$ADVERTISED_HOST|g" \
  "$TEMPLATE" >"$CONF"
chmod 600 "$CONF"

if [[ ! -f $DATA/meta.properties ]]; then
  $KAFKA_BIN/kafka-storage.sh format --standalone -t "$($KAFKA_BIN/kafka-storage.sh random-uuid)" -c "$CONF" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=$REDTHREAD_KAFKA_ADMIN_PASSWORD]"
fi
exec $KAFKA_BIN/kafka-server-start.sh "$CONF"
