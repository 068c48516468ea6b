#!/usr/bin/env bash
# A second local Kafka (KRaft, single node) with SASL/SCRAM authentication and ACLs, for
# checking how partners get their own Kafka principal (docs/partner-access.md). It runs
# from the same Maven jars as kafka.sh but on its own ports and data directory, so the
# default PLAINTEXT broker on 9092/9093 that the tests use is never touched.
# See `sasl.sh help`.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd -P)
REDTHREAD_HOME=${REDTHREAD_HOME:-$REPO_ROOT/.local}
case $REDTHREAD_HOME in /*) ;; *) REDTHREAD_HOME=$PWD/$REDTHREAD_HOME ;; esac

LIB_DIR=$REDTHREAD_HOME/kafka/lib # shared with kafka.sh, which installs it
SHOME=$REDTHREAD_HOME/kafka-sasl
CONF_SRC=$SCRIPT_DIR/conf
TEMPLATE=$CONF_SRC/sasl/server.properties
ADMIN_TEMPLATE=$CONF_SRC/sasl/admin-client.properties
CONF=$SHOME/conf/node1.properties
ADMIN_CONF=$SHOME/conf/admin-client.properties
DATA=$SHOME/data
LOGS=$SHOME/logs
RUN_DIR=$SHOME/run
PID_FILE=$RUN_DIR/node1.pid
PASSWORD_FILE=$SHOME/admin.password
PYTHON=${REDTHREAD_PYTHON:-$REPO_ROOT/.venv/bin/python}
START_TIMEOUT=${REDTHREAD_KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${REDTHREAD_KAFKA_STOP_TIMEOUT:-60}
BROKER_HEAP=512M
READY_LINE='Kafka Server started'
MECHANISM=SCRAM-SHA-512
if [[ -n ${JAVA_HOME:-} ]]; then JAVA=$JAVA_HOME/bin/java; else JAVA=java; fi

# Ports come from the template, so editing it is enough to move the broker.
PORT=$(sed -n 's/^listeners=.*SASL_PLAINTEXT:\/\/[^:,]*:\([0-9]*\).*/\1/p' "$TEMPLATE")
CPORT=$(sed -n 's/^listeners=.*CONTROLLER:\/\/[^:,]*:\([0-9]*\).*/\1/p' "$TEMPLATE")
BOOTSTRAP=127.0.0.1:$PORT

usage() {
  cat <<EOF
usage: sasl.sh COMMAND [ARGS]

A single-node Kafka with SASL/SCRAM and ACLs on SASL_PLAINTEXT $BOOTSTRAP
(controller $CPORT), state in \$REDTHREAD_HOME/kafka-sasl. The admin (the only super
user) gets a random password at format time, kept in $PASSWORD_FILE.

  start                      format on first use (with the admin SCRAM credential), start,
                             wait for "$READY_LINE"
  stop                       stop it (SIGTERM, then SIGKILL after ${STOP_TIMEOUT}s)
  status                     exit 0 when it accepts connections, else 3
  wipe                       delete its data, logs, config and admin password (must be stopped)
  create-topics [--partner ID]
        create every topic of contracts/topics.py (as admin); with --partner, instead
        the partner's own copies of the partner topics, partner.ID.needs.v1 and so on

  add-partner [--own-topics] ID [PASSWORD|-]
        SCRAM user ID ($MECHANISM) + exactly these ACLs for User:ID: Write and Describe
        on the shared partner topics (LITERAL), IdempotentWrite on the cluster.
        --own-topics: creates partner.ID.* and grants Write and Describe on the PREFIXED
        pattern "partner.ID." instead of the shared topics (docs/partner-access.md)
  add-service NAME [PASSWORD|-]
        SCRAM user redthread.NAME for a redthread service, with the ACLs its entry in
        contracts/topics.py implies: Read+Describe on what it reads, Read on group
        redthread.NAME, Write+Describe on what it writes (and on the dead-letter topic
        when it consumes), IdempotentWrite on the cluster
  set-password USER MECHANISM [PASSWORD|-]
        add or replace USER's credential for MECHANISM (SCRAM-SHA-256|SCRAM-SHA-512);
        the other mechanism's credential is left alone (password rotation)
  drop-password USER MECHANISM
        delete USER's credential for MECHANISM
  remove-partner ID          delete every ACL and the SCRAM credentials of User:ID
  users                      list SCRAM users and their mechanisms
  acls [USER]                list ACLs (of User:USER)

  kafka-acls ARGS...         org.apache.kafka.tools.AclCommand      } as admin, with
  kafka-configs ARGS...      kafka.admin.ConfigCommand              } --bootstrap-server and
  kafka-topics ARGS...       org.apache.kafka.tools.TopicCommand    } --command-config added
  check [ARGS]               deploy/kafka/sasl_check.py: start, provision, prove what is
                             allowed and denied, stop and wipe (see --help)

A PASSWORD of "-" or none is read from stdin (keeps it out of the process list).
Passwords: 12-200 characters, no whitespace and none of , [ ] = " \\
Partner ids: lower-case letters, digits and "-" (no "."), not "admin".

environment:
  REDTHREAD_HOME                 state directory (default: <repo>/.local, now $REDTHREAD_HOME)
  REDTHREAD_PYTHON               Python with the project installed (default: <repo>/.venv/bin/python)
  REDTHREAD_KAFKA_START_TIMEOUT  seconds to wait for "$READY_LINE" (default 90)
  REDTHREAD_KAFKA_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 60)
  JAVA_HOME                      Java 17+ to use (default: java on PATH)
EOF
}

say() { printf 'kafka-sasl: %s\n' "$*"; }
die() { printf 'kafka-sasl: error: %s\n' "$*" >&2; exit 1; }

[[ -n $PORT && -n $CPORT ]] || die "cannot read the SASL_PLAINTEXT/CONTROLLER ports from $TEMPLATE"

require_java() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (set JAVA_HOME or put Java 17+ on PATH)"
}

# The jars are kafka.sh's: its install is a no-op when they are current.
ensure_installed() {
  if ! compgen -G "$LIB_DIR/kafka_2.13-*.jar" >/dev/null || ! compgen -G "$LIB_DIR/kafka-tools-*.jar" >/dev/null; then
    "$SCRIPT_DIR/kafka.sh" install >&2
  fi
}

tools_java() {
  "$JAVA" -Xmx256M -Dlog4j2.configurationFile="$CONF_SRC/tools-log4j2.yaml" -cp "$LIB_DIR/*" "$@"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints the broker's pid if it is alive; the command line is checked so that a pid
# reused by another process after a crash is never signalled.
broker_pid() {
  [[ -f $PID_FILE ]] || return 1
  local pid
  pid=$(<"$PID_FILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "kafka.Kafka $CONF" || return 1
  printf '%s' "$pid"
}

admin_password() {
  [[ -s $PASSWORD_FILE ]] || die "no admin password in $PASSWORD_FILE: run sasl.sh start first"
  cat "$PASSWORD_FILE"
}

# render TEMPLATE OUT: fills in @DATA_DIR@ and @ADMIN_PASSWORD@; OUT is readable by the
# owner only, since it holds the admin password.
render() {
  local template=$1 out=$2 pw line
  pw=$(admin_password)
  mkdir -p "$(dirname "$out")"
  (
    umask 077
    : >"$out.tmp"
    while IFS= read -r line || [[ -n $line ]]; do
      line=${line//@DATA_DIR@/$DATA}
      printf '%s\n' "${line//@ADMIN_PASSWORD@/$pw}" >>"$out.tmp"
    done <"$template"
  )
  mv "$out.tmp" "$out"
}

# ---------------------------------------------------------------- lifecycle

cmd_start() {
  if broker_pid >/dev/null && port_open "$PORT"; then
    say "already running on SASL_PLAINTEXT $BOOTSTRAP"
    return 0
  fi
  broker_pid >/dev/null && die "the broker process is up but $BOOTSTRAP does not accept connections; try sasl.sh stop"
  require_java
  ensure_installed
  if port_open "$PORT" || port_open "$CPORT"; then
    die "port $PORT or $CPORT is already in use by another process"
  fi

  if [[ ! -f $DATA/meta.properties ]]; then
    mkdir -p "$SHOME"
    if [[ ! -s $PASSWORD_FILE ]]; then
      (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$PASSWORD_FILE")
    fi
    render "$TEMPLATE" "$CONF"
    render "$ADMIN_TEMPLATE" "$ADMIN_CONF"
    local cid
    cid=$(tools_java kafka.tools.StorageTool random-uuid)
    mkdir -p "$DATA"
    say "formatting storage in $DATA (cluster id $cid) with the SCRAM credential of User:admin"
    # KRaft reads SCRAM credentials from its metadata log, so the one the broker itself
    # uses (inter-broker, as admin) must be in it before the first start: --add-scram.
    tools_java kafka.tools.StorageTool format --standalone -t "$cid" -c "$CONF" \
      --add-scram "$MECHANISM=[name=admin,password=$(admin_password)]" >/dev/null ||
      die "storage format failed"
  else
    [[ -s $PASSWORD_FILE ]] || die "$DATA is formatted but $PASSWORD_FILE is gone; sasl.sh wipe and start again"
    render "$TEMPLATE" "$CONF"
    render "$ADMIN_TEMPLATE" "$ADMIN_CONF"
  fi

  mkdir -p "$LOGS" "$RUN_DIR"
  rm -f "$PID_FILE"
  local offset
  offset=$(stat -c %s "$LOGS/server.log" 2>/dev/null || echo 0)
  # setsid + nohup as in kafka.sh: the broker outlives the calling shell and its Ctrl-C.
  # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
  setsid bash -c 'echo $$ >"$0"; exec nohup "$@"' "$PID_FILE" \
    "$JAVA" -Xms$BROKER_HEAP -Xmx$BROKER_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true \
    -Dkafka.logs.dir="$LOGS" -Dlog4j2.configurationFile="$CONF_SRC/log4j2.yaml" \
    -cp "$LIB_DIR/*" kafka.Kafka "$CONF" \
    >>"$LOGS/stdout.log" 2>&1 </dev/null &
  local i
  for ((i = 0; i < 100; i++)); do
    if broker_pid >/dev/null; then break; fi
    sleep 0.1
  done
  broker_pid >/dev/null || die "the broker process did not start (see $LOGS/stdout.log)"
  say "started pid $(<"$PID_FILE"), logs in $LOGS"

  say "waiting up to ${START_TIMEOUT}s for \"$READY_LINE\"..."
  local deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if [[ -f $LOGS/server.log ]] && tail -c +"$((offset + 1))" "$LOGS/server.log" | grep -F "$READY_LINE" >/dev/null; then
      break
    fi
    if ! broker_pid >/dev/null; then
      printf 'kafka-sasl: error: the broker exited during startup\n' >&2
      show_log_tail "$offset"
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      printf 'kafka-sasl: error: no "%s" within %ss\n' "$READY_LINE" "$START_TIMEOUT" >&2
      show_log_tail "$offset"
      cmd_stop >&2
      exit 1
    fi
    sleep 1
  done
  say "ready: SASL_PLAINTEXT $BOOTSTRAP ($MECHANISM or SCRAM-SHA-256), admin client config $ADMIN_CONF"
}

show_log_tail() {
  printf '\n--- %s/server.log (this start, last 40 lines) ---\n' "$LOGS" >&2
  if [[ -f $LOGS/server.log ]]; then tail -c +"$(($1 + 1))" "$LOGS/server.log" | tail -n 40 >&2; fi
  printf -- '--- %s/stdout.log (last 20 lines) ---\n' "$LOGS" >&2
  if [[ -f $LOGS/stdout.log ]]; then tail -n 20 "$LOGS/stdout.log" >&2; fi
  printf -- '---\n' >&2
}

cmd_stop() {
  local pid
  if ! pid=$(broker_pid); then
    rm -f "$PID_FILE"
    say "not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  say "stopping (pid $pid)"
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      say "still up ${STOP_TIMEOUT}s after SIGTERM, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.5
  done
  rm -f "$PID_FILE"
  say "stopped"
}

cmd_status() {
  local pid
  if pid=$(broker_pid); then
    if port_open "$PORT"; then
      say "running (pid $pid) on SASL_PLAINTEXT $BOOTSTRAP"
      return 0
    fi
    say "process up (pid $pid) but $BOOTSTRAP not accepting connections"
  else
    say "stopped"
  fi
  return 3
}

cmd_wipe() {
  if broker_pid >/dev/null; then die "still running; stop it first: sasl.sh stop"; fi
  rm -rf "$SHOME"
  say "deleted $SHOME (data, logs, config, admin password)"
}

# ---------------------------------------------------------------- admin tools

require_running() {
  port_open "$PORT" || die "the SASL broker is not running on $BOOTSTRAP: sasl.sh start"
  [[ -s $ADMIN_CONF ]] || die "missing $ADMIN_CONF: sasl.sh start renders it"
}

# admin_tool CLASS ARGS...: a Kafka tool as User:admin against the SASL broker.
admin_tool() {
  local class=$1
  shift
  require_java
  ensure_installed
  require_running
  tools_java "$class" --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_CONF" "$@"
}

acl() { admin_tool org.apache.kafka.tools.AclCommand "$@"; }
configs() { admin_tool kafka.admin.ConfigCommand "$@"; }

# registry QUERY [NAME]: topic names from contracts/topics.py, one per line:
#   partner-topics      what partner systems write
#   reads NAME          what service NAME reads
#   writes NAME         what service NAME writes (plus the dead-letter topic if it reads)
registry() {
  [[ -x $PYTHON ]] || die "$PYTHON not found: the topic registry needs the project's venv (make test creates it)"
  (cd "$REPO_ROOT" && "$PYTHON" - "$@" <<'PY'
import sys

from contracts.topics import ALL_TOPICS, DEAD_LETTERS, PARTNERS

query, name = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
if query == "partner-topics":
    names = [t.name for t in ALL_TOPICS if t.writer == PARTNERS]
elif query == "reads":
    names = [t.name for t in ALL_TOPICS if name in t.readers]
elif query == "writes":
    names = [t.name for t in ALL_TOPICS if t.writer == name]
    if any(name in t.readers for t in ALL_TOPICS):
        names.append(DEAD_LETTERS.name)
elif query == "services":
    found = {t.writer for t in ALL_TOPICS} | {r for t in ALL_TOPICS for r in t.readers}
    names = sorted(found - {PARTNERS, DEAD_LETTERS.writer, "operators"})
else:
    raise SystemExit(f"unknown registry query {query!r}")
print("\n".join(names))
PY
  )
}

# topic_flags NAME...: "--topic NAME" for each.
topic_flags() {
  local t
  TOPIC_FLAGS=()
  for t in "$@"; do TOPIC_FLAGS+=(--topic "$t"); done
}

# read_password ARG: the password from ARG, or from stdin when ARG is "-" or empty.
read_password() {
  local pw=${1:-}
  if [[ -z $pw || $pw == - ]]; then
    if [[ -t 0 ]]; then
      read -r -s -p 'password: ' pw
      printf '\n' >&2
    else
      IFS= read -r pw || [[ -n $pw ]] || die "no password on stdin"
    fi
  fi
  ((${#pw} >= 12 && ${#pw} <= 200)) || die "the password must have 12 to 200 characters"
  # Kafka's config syntax (SCRAM-SHA-512=[password=...]) and JAAS strings have no escapes
  # for these.
  if [[ $pw == *[[:space:],=\"\\\[\]]* ]]; then
    die "the password must not contain whitespace or any of , [ ] = \" \\"
  fi
  PASSWORD=$pw
}

check_mechanism() {
  case $1 in SCRAM-SHA-256 | SCRAM-SHA-512) ;; *) die "mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512, not '$1'" ;; esac
}

# set_scram USER MECHANISM PASSWORD: through a file (mode 600), not the command line.
set_scram() {
  local user=$1 mechanism=$2 pw=$3 file
  mkdir -p "$RUN_DIR"
  file=$(umask 077 && mktemp "$RUN_DIR/scram.XXXXXX")
  # In a file the value has no [...] around it (those only group values on --add-config).
  printf '%s=iterations=8192,password=%s\n' "$mechanism" "$pw" >"$file"
  if ! configs --alter --entity-type users --entity-name "$user" --add-config-file "$file" >/dev/null; then
    rm -f "$file"
    die "could not set the $mechanism credential of $user"
  fi
  rm -f "$file"
  say "User:$user: $mechanism credential set"
}

check_partner_id() {
  [[ $1 =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] ||
    die "partner id '$1': lower-case letters, digits and '-', at most 63 (no '.': see docs/partner-access.md)"
  [[ $1 != admin ]] || die "'admin' is the super user, not a partner"
}

cmd_add_partner() {
  local own=0 args=() a
  for a in "$@"; do
    if [[ $a == --own-topics ]]; then own=1; else args+=("$a"); fi
  done
  ((${#args[@]} >= 1 && ${#args[@]} <= 2)) || die "usage: sasl.sh add-partner [--own-topics] ID [PASSWORD|-]"
  local id=${args[0]} topics=()
  check_partner_id "$id"
  read_password "${args[1]:-}"
  require_running
  mapfile -t topics < <(registry partner-topics)
  ((${#topics[@]})) || die "no partner topics in contracts/topics.py"
  set_scram "$id" "$MECHANISM" "$PASSWORD"
  # Explicit operations, not --producer: that would also grant Create on the topics.
  if ((own)); then
    cmd_create_topics --partner "$id"
    acl --add --allow-principal "User:$id" --operation Write --operation Describe \
      --resource-pattern-type prefixed --topic "partner.$id." >/dev/null
  else
    topic_flags "${topics[@]}"
    acl --add --allow-principal "User:$id" --operation Write --operation Describe \
      --resource-pattern-type literal "${TOPIC_FLAGS[@]}" >/dev/null
  fi
  acl --add --allow-principal "User:$id" --operation IdempotentWrite --cluster >/dev/null
  if ((own)); then
    say "User:$id may Write+Describe every topic named partner.$id.* (PREFIXED) and IdempotentWrite the cluster; nothing else"
  else
    say "User:$id may Write+Describe ${topics[*]} (LITERAL) and IdempotentWrite the cluster; nothing else"
  fi
}

cmd_add_service() {
  (($# >= 1 && $# <= 2)) || die "usage: sasl.sh add-service NAME [PASSWORD|-]"
  local name=$1 user reads=() writes=() known
  known=$(registry services)
  grep -qx -- "$name" <<<"$known" || die "'$name' is not a service of contracts/topics.py ($(tr '\n' ' ' <<<"$known"))"
  user=redthread.$name
  read_password "${2:-}"
  require_running
  mapfile -t reads < <(registry reads "$name")
  mapfile -t writes < <(registry writes "$name")
  set_scram "$user" "$MECHANISM" "$PASSWORD"
  if ((${#reads[@]})); then
    topic_flags "${reads[@]}"
    acl --add --allow-principal "User:$user" --operation Read --operation Describe \
      --resource-pattern-type literal "${TOPIC_FLAGS[@]}" >/dev/null
    acl --add --allow-principal "User:$user" --operation Read \
      --resource-pattern-type literal --group "redthread.$name" >/dev/null
    say "User:$user may Read+Describe ${reads[*]} and Read group redthread.$name"
  fi
  if ((${#writes[@]})); then
    topic_flags "${writes[@]}"
    acl --add --allow-principal "User:$user" --operation Write --operation Describe \
      --resource-pattern-type literal "${TOPIC_FLAGS[@]}" >/dev/null
    acl --add --allow-principal "User:$user" --operation IdempotentWrite --cluster >/dev/null
    say "User:$user may Write+Describe ${writes[*]} and IdempotentWrite the cluster"
  fi
}

cmd_set_password() {
  (($# >= 2 && $# <= 3)) || die "usage: sasl.sh set-password USER MECHANISM [PASSWORD|-]"
  check_mechanism "$2"
  [[ $1 != admin ]] || die "the admin password is fixed at format time (sasl.sh wipe to start over)"
  read_password "${3:-}"
  require_running
  set_scram "$1" "$2" "$PASSWORD"
}

cmd_drop_password() {
  (($# == 2)) || die "usage: sasl.sh drop-password USER MECHANISM"
  check_mechanism "$2"
  [[ $1 != admin ]] || die "deleting the admin credential would lock the broker out of itself"
  configs --alter --entity-type users --entity-name "$1" --delete-config "$2" >/dev/null ||
    die "could not delete the $2 credential of $1"
  say "User:$1: $2 credential deleted"
}

# The mechanisms USER has a SCRAM credential for, one per line.
user_mechanisms() {
  configs --describe --entity-type users --entity-name "$1" 2>/dev/null |
    grep -o 'SCRAM-SHA-[0-9]*' | sort -u || true
}

# camel IDEMPOTENT_WRITE -> IdempotentWrite, the spelling AclCommand's --operation takes.
camel() {
  local word out=
  for word in ${1//_/ }; do
    word=${word,,}
    out+=${word^}
  done
  printf '%s' "$out"
}

# Deletes every ACL of User:ID, whatever granted it, then its SCRAM credentials.
cmd_remove_partner() {
  (($# == 1)) || die "usage: sasl.sh remove-partner ID"
  local id=$1 line kind='' name='' pattern='' removals=() flag m
  check_partner_id "$id"
  require_running
  while IFS= read -r line; do
    if [[ $line =~ resourceType=([A-Z_]+),\ name=(.*),\ patternType=([A-Z]+)\) ]]; then
      kind=${BASH_REMATCH[1]} name=${BASH_REMATCH[2]} pattern=${BASH_REMATCH[3]}
    elif [[ $line =~ principal=([^,]+),\ host=([^,]+),\ operation=([A-Z_]+),\ permissionType=(ALLOW|DENY) ]] &&
      [[ ${BASH_REMATCH[1]} == "User:$id" ]]; then
      case $kind in
        TOPIC) flag=(--topic "$name") ;;
        GROUP) flag=(--group "$name") ;;
        CLUSTER) flag=(--cluster) ;;
        TRANSACTIONAL_ID) flag=(--transactional-id "$name") ;;
        DELEGATION_TOKEN) flag=(--delegation-token "$name") ;;
        USER) flag=(--user-principal "$name") ;;
        *) die "cannot remove an ACL on a $kind resource; see sasl.sh acls $id" ;;
      esac
      local who=--allow-principal where=--allow-host
      if [[ ${BASH_REMATCH[4]} == DENY ]]; then who=--deny-principal where=--deny-host; fi
      removals+=("$who User:$id $where ${BASH_REMATCH[2]} --operation $(camel "${BASH_REMATCH[3]}") --resource-pattern-type ${pattern,,} ${flag[*]}")
    fi
  done < <(acl --list --principal "User:$id")
  for line in "${removals[@]}"; do
    # Each entry was built above from single words (resource names have no spaces);
    # split it, but with globbing off, so host "*" stays "*".
    # shellcheck disable=SC2086
    (set -f && acl --remove --force $line >/dev/null)
  done
  for m in $(user_mechanisms "$id"); do
    configs --alter --entity-type users --entity-name "$id" --delete-config "$m" >/dev/null
  done
  say "User:$id: ${#removals[@]} ACLs and its SCRAM credentials deleted (its own topics, if any, are kept)"
}

cmd_acls() {
  if (($#)); then acl --list --principal "User:$1"; else acl --list; fi
}

cmd_create_topics() {
  local partner=
  if (($#)); then
    [[ $# == 2 && $1 == --partner ]] || die "usage: sasl.sh create-topics [--partner ID]"
    partner=$2
    check_partner_id "$partner"
  fi
  require_running
  [[ -x $PYTHON ]] || die "$PYTHON not found: creating topics needs the project's venv"
  (cd "$REPO_ROOT" && REDTHREAD_SASL_BOOTSTRAP=$BOOTSTRAP REDTHREAD_SASL_ADMIN_PASSWORD=$(admin_password) \
    "$PYTHON" - "$partner" <<'PY'
import asyncio
import os
import sys
from dataclasses import replace

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts.topics import ALL_TOPICS, PARTNERS

partner = sys.argv[1]
if partner:  # the partner's own copies of the partner topics: partner.<id>.needs.v1, ...
    TOPICS = [replace(t, name=f"partner.{partner}.{t.name.removeprefix('partner.')}") for t in ALL_TOPICS if t.writer == PARTNERS]
else:
    TOPICS = list(ALL_TOPICS)


async def main() -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=os.environ["REDTHREAD_SASL_BOOTSTRAP"],
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username="admin",
        sasl_plain_password=os.environ["REDTHREAD_SASL_ADMIN_PASSWORD"],
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t.name, t.partitions, 1) for t in TOPICS if t.name not in existing]
        if missing:
            await admin.create_topics(missing)
        print(f"kafka-sasl: {len(missing)} topics created, {len(TOPICS) - len(missing)} already there")
    finally:
        await admin.close()


asyncio.run(main())
PY
  )
}

main() {
  local cmd=${1:-help}
  (($#)) && shift
  case $cmd in
    start) (($# == 0)) || die "start takes no arguments"; cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    wipe) cmd_wipe ;;
    create-topics) cmd_create_topics "$@" ;;
    add-partner) cmd_add_partner "$@" ;;
    add-service) cmd_add_service "$@" ;;
    set-password) cmd_set_password "$@" ;;
    drop-password) cmd_drop_password "$@" ;;
    remove-partner) cmd_remove_partner "$@" ;;
    users) configs --describe --entity-type users ;;
    acls) cmd_acls "$@" ;;
    kafka-acls) acl "$@" ;;
    kafka-configs) configs "$@" ;;
    kafka-topics) admin_tool org.apache.kafka.tools.TopicCommand "$@" ;;
    check)
      [[ -x $PYTHON ]] || die "$PYTHON not found"
      cd "$REPO_ROOT" && exec "$PYTHON" "$SCRIPT_DIR/sasl_check.py" "$@" ;;
    help | -h | --help) usage ;;
    *) usage >&2; die "unknown command '$cmd'" ;;
  esac
}

main "$@"
