#!/usr/bin/env bash
# Local Apache Kafka (KRaft) for redthread, run from Maven Central jars (no Docker,
# no release tarball). See `kafka.sh help`.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd -P)
REDTHREAD_HOME=${REDTHREAD_HOME:-$REPO_ROOT/.local}
case $REDTHREAD_HOME in /*) ;; *) REDTHREAD_HOME=$PWD/$REDTHREAD_HOME ;; esac

KHOME=$REDTHREAD_HOME/kafka
LIB_DIR=$KHOME/lib
STAMP_FILE=$LIB_DIR/.pom.sha256
RUN_DIR=$KHOME/run
CONF_SRC=$SCRIPT_DIR/conf
START_TIMEOUT=${REDTHREAD_KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${REDTHREAD_KAFKA_STOP_TIMEOUT:-60}
BROKER_HEAP=512M
# sasl-scram (default): clients authenticate and ACLs apply (conf/server.properties);
# plaintext: anyone who connects may do anything (conf/plaintext/server.properties).
SECURITY=${REDTHREAD_KAFKA_SECURITY:-sasl-scram}
CREDENTIALS=$KHOME/credentials
ADMIN_PASSWORD_FILE=$CREDENTIALS/admin
ADMIN_CLIENT_CONF=$KHOME/conf/admin-client.properties
READY_LINE='Kafka Server started'
if [[ -n ${JAVA_HOME:-} ]]; then JAVA=$JAVA_HOME/bin/java; else JAVA=java; fi

usage() {
  cat <<EOF
usage: kafka.sh COMMAND [ARGS]

  install [--force]          resolve Kafka jars into \$REDTHREAD_HOME/kafka/lib (skipped when current)
  start  [--nodes 1|3]       start the single broker (default) or the three-node cluster;
                             nodes already up are left alone, missing ones are started
  stop   [--nodes 1|3]       stop it (SIGTERM, then SIGKILL after ${STOP_TIMEOUT}s)
  status [--nodes 1|3]       show what runs; exit 0 if every node asked about is up, else 3
  wipe   [--nodes 1|3]       delete data, logs and rendered config (must be stopped)
         --nodes 3 --node N  start/stop/status only node N (1-3) of the cluster
  topics ARGS...             org.apache.kafka.tools.TopicCommand
                             (adds --bootstrap-server 127.0.0.1:9092 unless given)
  produce TOPIC [--key K] [--header NAME=VALUE]... < VALUE
                             one record, as admin; stdin is its value (lines joined)
  consume TOPIC              every record from the beginning, with key and headers, as admin
  perf-producer ARGS...      org.apache.kafka.tools.ProducerPerformance
  perf-consumer ARGS...      org.apache.kafka.tools.ConsumerPerformance

Single node: SASL_PLAINTEXT (SCRAM-SHA-512) on 127.0.0.1:9092, controller 9093, ACLs on;
the admin's password is in \$REDTHREAD_HOME/kafka/credentials/admin, the services' are
made there by \`make topics\` (services/common/kafka_provisioning.py).
Three nodes (plaintext only, for fault tests): 127.0.0.1:9092,9094,9096 (controllers 9093,9095,9097).

environment:
  REDTHREAD_HOME                 state directory (default: <repo>/.local, now $REDTHREAD_HOME)
  REDTHREAD_KAFKA_SECURITY       sasl-scram (default) or plaintext (no authentication, no ACLs)
  REDTHREAD_KAFKA_START_TIMEOUT  seconds to wait for "$READY_LINE" (default 90)
  REDTHREAD_KAFKA_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 60)
  JAVA_HOME                      Java 17+ to use (default: java on PATH)
EOF
}

say() { printf 'kafka: %s\n' "$*"; }
die() { printf 'kafka: error: %s\n' "$*" >&2; exit 1; }

case $SECURITY in sasl-scram | plaintext) ;; *) die "REDTHREAD_KAFKA_SECURITY must be sasl-scram or plaintext, not '$SECURITY'" ;; esac

# ---------------------------------------------------------------- install

pom_hash() { sha256sum "$SCRIPT_DIR/pom.xml" | cut -d' ' -f1; }

lib_is_current() {
  [[ -f $STAMP_FILE ]] && [[ $(<"$STAMP_FILE") == "$(pom_hash)" ]] &&
    compgen -G "$LIB_DIR/kafka_2.13-*.jar" >/dev/null
}

kafka_version() {
  local jar
  jar=$(compgen -G "$LIB_DIR/kafka_2.13-*.jar" | head -n1) || return 0
  jar=${jar##*/kafka_2.13-}
  printf '%s' "${jar%.jar}"
}

require_java() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (Kafka 4.x needs Java 17+; set JAVA_HOME)"
  local v major
  v=$("$JAVA" -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -n1)
  major=${v%%.*}
  [[ $major =~ ^[0-9]+$ ]] || die "cannot read the Java version from '$JAVA -version'"
  ((major >= 17)) || die "Java $v found; Kafka 4.x needs Java 17 or newer (set JAVA_HOME)"
}

TMP_LIB=
cleanup_tmp_lib() { if [[ -n $TMP_LIB ]]; then rm -rf "$TMP_LIB"; fi; }

cmd_install() {
  local force=0
  while (($#)); do
    case $1 in
      --force) force=1 ;;
      *) die "install: unknown argument '$1'" ;;
    esac
    shift
  done
  if ((!force)) && lib_is_current; then
    say "jars are current: Kafka $(kafka_version) in $LIB_DIR"
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found: Maven is needed once to fetch the Kafka jars"
  mkdir -p "$KHOME"
  # Resolve into a scratch directory and swap it in at the end, so an interrupted
  # download never leaves a half-filled lib/ that looks installed.
  TMP_LIB=$(mktemp -d "$KHOME/lib.tmp.XXXXXX")
  trap cleanup_tmp_lib EXIT
  say "resolving Kafka jars with Maven (a cold run downloads about 70 MB)..."
  local t0=$SECONDS mvn_log=$KHOME/install.log
  # Maven 3.8 prints bare ANSI resets even with -q and -B, so its output goes to a
  # log that is shown only when something fails.
  if ! mvn -B -q -f "$SCRIPT_DIR/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$TMP_LIB" >"$mvn_log" 2>&1 </dev/null; then
    sed 's/\x1b\[[0-9;]*m//g' "$mvn_log" | tail -n 40 >&2
    die "Maven could not resolve $SCRIPT_DIR/pom.xml (full output: $mvn_log)"
  fi
  # A second SLF4J API (2.x) next to 1.7.36 would silently unbind the log4j binding,
  # and the broker would then log nothing, including the readiness line.
  compgen -G "$TMP_LIB/slf4j-api-1.7.36.jar" >/dev/null || die "slf4j-api-1.7.36.jar missing from the resolved jars"
  if compgen -G "$TMP_LIB/slf4j-api-2.*.jar" >/dev/null; then die "slf4j-api 2.x was resolved; check the pins in pom.xml"; fi
  compgen -G "$TMP_LIB/kafka_2.13-*.jar" >/dev/null || die "kafka_2.13 jar missing from the resolved jars"
  pom_hash >"$TMP_LIB/.pom.sha256"
  rm -rf "$LIB_DIR"
  mv "$TMP_LIB" "$LIB_DIR"
  TMP_LIB=
  local n
  n=$(find "$LIB_DIR" -name '*.jar' | wc -l)
  say "installed Kafka $(kafka_version): $n jars in $LIB_DIR ($((SECONDS - t0)) s)"
}

ensure_installed() {
  if ! lib_is_current; then cmd_install; fi
}

# ---------------------------------------------------------------- nodes

# node_setup MODE N sets the N_* variables describing node N of MODE (single|cluster).
node_setup() {
  local mode=$1 n=$2
  if [[ $mode == single ]]; then
    N_NAME=node1
    if [[ $SECURITY == plaintext ]]; then N_TEMPLATE=$CONF_SRC/plaintext/server.properties; else N_TEMPLATE=$CONF_SRC/server.properties; fi
    N_CONF=$KHOME/conf/node1.properties
    N_DATA=$KHOME/data/node1
    N_LOGS=$KHOME/logs/node1
    N_PID=$RUN_DIR/node1.pid
  else
    N_NAME=cluster-node$n
    N_TEMPLATE=$CONF_SRC/cluster/node$n.properties
    N_CONF=$KHOME/conf/cluster/node$n.properties
    N_DATA=$KHOME/data/cluster/node$n
    N_LOGS=$KHOME/logs/cluster/node$n
    N_PID=$RUN_DIR/cluster-node$n.pid
  fi
  [[ -f $N_TEMPLATE ]] || die "missing config template $N_TEMPLATE"
  # Ports come from the template, so editing it is enough to move a node.
  N_PORT=$(sed -n 's/^listeners=.*PLAINTEXT:\/\/[^:,]*:\([0-9]*\).*/\1/p' "$N_TEMPLATE")
  N_CPORT=$(sed -n 's/^listeners=.*CONTROLLER:\/\/[^:,]*:\([0-9]*\).*/\1/p' "$N_TEMPLATE")
  [[ -n $N_PORT && -n $N_CPORT ]] || die "cannot read the PLAINTEXT/CONTROLLER ports from $N_TEMPLATE"
}

# render_conf: the node's template with its data directory and, with security on, the
# admin password (so the rendered file is readable by its owner only).
render_conf() {
  mkdir -p "$(dirname "$N_CONF")"
  local line out=$N_CONF.tmp pw=
  if grep -qF @ADMIN_PASSWORD@ "$N_TEMPLATE"; then pw=$(admin_password); fi
  (umask 077 && : >"$out")
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line//@DATA_DIR@/$N_DATA}
    printf '%s\n' "${line//@ADMIN_PASSWORD@/$pw}" >>"$out"
  done <"$N_TEMPLATE"
  mv "$out" "$N_CONF"
}

# The admin's password, made once per data directory: the broker's only super user.
admin_password() {
  if [[ ! -s $ADMIN_PASSWORD_FILE ]]; then
    mkdir -p "$CREDENTIALS"
    chmod 700 "$CREDENTIALS"
    (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$ADMIN_PASSWORD_FILE")
  fi
  cat "$ADMIN_PASSWORD_FILE"
}

# A data directory is formatted for one security mode; the other cannot use it.
check_security_of_data() {
  local marker=$N_DATA/redthread-security have
  [[ -f $N_DATA/meta.properties ]] || return 0
  have=$(cat "$marker" 2>/dev/null || echo plaintext)
  if [[ $have != "$SECURITY" ]]; then
    die "$N_NAME: $N_DATA was formatted for security '$have', not '$SECURITY' (REDTHREAD_KAFKA_SECURITY). Its data are local only: \`make clean\` (or kafka.sh wipe) deletes them, or set REDTHREAD_KAFKA_SECURITY=$have"
  fi
  if [[ $have == sasl-scram && ! -s $ADMIN_PASSWORD_FILE ]]; then
    die "$N_NAME: $N_DATA is formatted with an admin password that is gone from $ADMIN_PASSWORD_FILE: \`make clean\` (or kafka.sh wipe) and start again"
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints the pid of this node's broker if it is alive. The command line is checked
# so that a pid reused by another process after a crash is never signalled.
node_pid() {
  [[ -f $N_PID ]] || return 1
  local pid
  pid=$(<"$N_PID")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "kafka.Kafka $N_CONF" || return 1
  printf '%s' "$pid"
}

tools_java() {
  "$JAVA" -Xmx256M -Dlog4j2.configurationFile="$CONF_SRC/tools-log4j2.yaml" -cp "$LIB_DIR/*" "$@"
}

cluster_id_for() {
  local mode=$1 file
  if [[ $mode == single ]]; then
    tools_java kafka.tools.StorageTool random-uuid
    return
  fi
  # All three nodes must share one cluster id, also when one node is re-formatted later.
  file=$KHOME/data/cluster/cluster.id
  if [[ ! -s $file ]]; then
    mkdir -p "$(dirname "$file")"
    tools_java kafka.tools.StorageTool random-uuid >"$file"
  fi
  cat "$file"
}

format_if_needed() {
  local mode=$1 cid=$2
  if [[ -f $N_DATA/meta.properties ]]; then return 0; fi
  mkdir -p "$N_DATA"
  local flags=()
  # The single node uses a dynamic quorum (controller.quorum.bootstrap.servers) and must
  # be formatted --standalone; the cluster's static voters must be formatted without it.
  [[ $mode == single ]] && flags=(--standalone)
  # KRaft reads SCRAM credentials from its metadata log, so the admin's (which the broker
  # itself uses between its listeners) must be in it before the first start.
  if [[ $mode == single && $SECURITY == sasl-scram ]]; then
    flags+=(--add-scram "SCRAM-SHA-512=[name=admin,password=$(admin_password)]")
  fi
  say "$N_NAME: formatting storage in $N_DATA (cluster id $cid, security $([[ $mode == single ]] && echo "$SECURITY" || echo plaintext))"
  tools_java kafka.tools.StorageTool format "${flags[@]}" -t "$cid" -c "$N_CONF" >/dev/null ||
    die "$N_NAME: storage format failed"
  [[ $mode == single ]] && printf '%s\n' "$SECURITY" >"$N_DATA/redthread-security"
  return 0
}

launch_node() {
  mkdir -p "$N_LOGS" "$RUN_DIR"
  rm -f "$N_PID"
  # setsid + nohup: the broker gets its own session, so it outlives the calling shell
  # and a Ctrl-C there. The inner shell records its own pid, which exec hands to java.
  # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
  setsid bash -c 'echo $$ >"$0"; exec nohup "$@"' "$N_PID" \
    "$JAVA" -Xms$BROKER_HEAP -Xmx$BROKER_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true \
    -Dkafka.logs.dir="$N_LOGS" -Dlog4j2.configurationFile="$CONF_SRC/log4j2.yaml" \
    -cp "$LIB_DIR/*" kafka.Kafka "$N_CONF" \
    >>"$N_LOGS/stdout.log" 2>&1 </dev/null &
  # Wait until the pid file names the java process, not the shell before its exec.
  local i
  for ((i = 0; i < 100; i++)); do
    if node_pid >/dev/null; then return 0; fi
    sleep 0.1
  done
  die "$N_NAME: the broker process did not start (see $N_LOGS/stdout.log)"
}

show_log_tail() {
  local offset=$1
  printf '\n--- %s/server.log (this start, last 40 lines) ---\n' "$N_LOGS" >&2
  if [[ -f $N_LOGS/server.log ]]; then tail -c +"$((offset + 1))" "$N_LOGS/server.log" | tail -n 40 >&2; fi
  printf -- '--- %s/stdout.log (last 20 lines) ---\n' "$N_LOGS" >&2
  if [[ -f $N_LOGS/stdout.log ]]; then tail -n 20 "$N_LOGS/stdout.log" >&2; fi
  printf -- '---\n' >&2
}

# stop_nodes MODE N...: SIGTERM to each running node, wait, then SIGKILL what is left.
stop_nodes() {
  local mode=$1 n pid pids=() names=()
  shift
  for n in "$@"; do
    node_setup "$mode" "$n"
    if pid=$(node_pid); then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      names+=("$N_NAME")
      say "$N_NAME: stopping (pid $pid)"
    else
      rm -f "$N_PID"
    fi
  done
  if ((${#pids[@]} == 0)); then
    say "$(mode_label "$mode") is not running"
    if [[ $mode == single ]] && mode_running cluster; then
      say "(the three-node cluster is: kafka.sh stop --nodes 3)"
    fi
    return 0
  fi
  local deadline=$((SECONDS + STOP_TIMEOUT)) alive i
  while :; do
    alive=0
    for pid in "${pids[@]}"; do if kill -0 "$pid" 2>/dev/null; then alive=1; fi; done
    ((alive)) || break
    if ((SECONDS >= deadline)); then
      for i in "${!pids[@]}"; do
        if kill -0 "${pids[i]}" 2>/dev/null; then
          say "${names[i]}: still up ${STOP_TIMEOUT}s after SIGTERM, sending SIGKILL"
          kill -KILL "${pids[i]}" 2>/dev/null || true
        fi
      done
      sleep 1
      break
    fi
    sleep 0.5
  done
  for n in "$@"; do
    node_setup "$mode" "$n"
    rm -f "$N_PID"
  done
  say "stopped ${names[*]}"
}

mode_label() { [[ $1 == single ]] && echo 'single node' || echo 'three-node cluster'; }
other_mode() { [[ $1 == single ]] && echo cluster || echo single; }
all_nodes() { [[ $1 == single ]] && echo 1 || echo 1 2 3; }

mode_running() {
  local mode=$1 n
  for n in $(all_nodes "$mode"); do
    node_setup "$mode" "$n"
    if node_pid >/dev/null; then return 0; fi
  done
  return 1
}

# cmd_start MODE N...: starts the given nodes that are not running (so a node killed
# in a fault test is restarted by running start again) and waits until all are ready.
cmd_start() {
  local mode=$1 n
  shift
  if mode_running "$(other_mode "$mode")"; then
    if [[ $mode == single ]]; then
      die "the three-node cluster is running on the same ports; stop it first: kafka.sh stop --nodes 3"
    else
      die "the single node is running on the same ports; stop it first: kafka.sh stop"
    fi
  fi

  local launch=() starting=()
  for n in "$@"; do
    node_setup "$mode" "$n"
    if node_pid >/dev/null; then
      port_open "$N_PORT" || starting+=("$n")
    else
      launch+=("$n")
    fi
  done
  if ((${#launch[@]} == 0 && ${#starting[@]} == 0)); then
    say "already running and accepting connections on $(bootstrap_of "$mode" "$@")"
    return 0
  fi

  if ((${#launch[@]})); then
    require_java
    ensure_installed
  fi
  for n in "${launch[@]}"; do
    node_setup "$mode" "$n"
    if port_open "$N_PORT" || port_open "$N_CPORT"; then
      die "$N_NAME: port $N_PORT or $N_CPORT is already in use by another process"
    fi
  done

  local cid=
  for n in "${launch[@]}"; do
    node_setup "$mode" "$n"
    [[ $mode == single ]] && check_security_of_data
    render_conf
    if [[ ! -f $N_DATA/meta.properties ]]; then
      [[ -n $cid ]] || cid=$(cluster_id_for "$mode")
      format_if_needed "$mode" "$cid"
    fi
  done

  # A cluster node waits for the controller quorum, so all nodes start before any wait.
  local offsets=()
  for n in "${launch[@]}"; do
    node_setup "$mode" "$n"
    offsets[n]=$(stat -c %s "$N_LOGS/server.log" 2>/dev/null || echo 0)
    launch_node
    say "$N_NAME: started pid $(<"$N_PID"), logs in $N_LOGS"
  done

  say "waiting up to ${START_TIMEOUT}s for \"$READY_LINE\"..."
  local deadline=$((SECONDS + START_TIMEOUT)) pending=("${launch[@]}" "${starting[@]}") still ok
  while ((${#pending[@]})); do
    still=()
    for n in "${pending[@]}"; do
      node_setup "$mode" "$n"
      ok=0
      if [[ -n ${offsets[n]:-} ]]; then
        # Not grep -q: it would stop reading at the match, tail would die of SIGPIPE
        # and pipefail would call the pipeline failed once the log has grown past a pipe.
        if [[ -f $N_LOGS/server.log ]] &&
          tail -c +"$((offsets[n] + 1))" "$N_LOGS/server.log" | grep -F "$READY_LINE" >/dev/null; then ok=1; fi
      elif port_open "$N_PORT"; then
        ok=1 # started earlier by another invocation; its log offset is unknown
      fi
      if ((ok)); then
        say "$N_NAME: ready on 127.0.0.1:$N_PORT"
      elif ! node_pid >/dev/null; then
        printf 'kafka: error: %s exited during startup\n' "$N_NAME" >&2
        show_log_tail "${offsets[n]:-0}"
        stop_nodes "$mode" "${launch[@]}" >&2
        exit 1
      else
        still+=("$n")
      fi
    done
    pending=("${still[@]}")
    ((${#pending[@]})) || break
    if ((SECONDS >= deadline)); then
      for n in "${pending[@]}"; do
        node_setup "$mode" "$n"
        printf 'kafka: error: %s did not log "%s" within %ss\n' "$N_NAME" "$READY_LINE" "$START_TIMEOUT" >&2
        show_log_tail "${offsets[n]:-0}"
      done
      say "stopping the nodes this command started" >&2
      stop_nodes "$mode" "${launch[@]}" >&2
      exit 1
    fi
    sleep 1
  done
  say "Kafka $(kafka_version) running: bootstrap servers $(bootstrap_of "$mode" "$@")"
}

bootstrap_of() {
  local mode=$1 n list=()
  shift
  for n in "$@"; do
    node_setup "$mode" "$n"
    list+=("127.0.0.1:$N_PORT")
  done
  (IFS=,; printf '%s' "${list[*]}")
}

# status_nodes MODE N...: prints one line per node; true only if all accept connections.
status_nodes() {
  local mode=$1 n up=0 pid label
  shift
  label=$(mode_label "$mode")
  for n in "$@"; do
    node_setup "$mode" "$n"
    if pid=$(node_pid); then
      if port_open "$N_PORT"; then
        say "$label $N_NAME: running (pid $pid) on 127.0.0.1:$N_PORT"
        up=$((up + 1))
      else
        say "$label $N_NAME: process up (pid $pid) but 127.0.0.1:$N_PORT not accepting connections"
      fi
    else
      say "$label $N_NAME: stopped"
    fi
  done
  ((up == $#))
}

cmd_status() {
  local mode=$1
  shift
  if [[ -n $mode ]]; then
    status_nodes "$mode" "$@" || return 3
    return 0
  fi
  # No --nodes: show the single node, and the cluster too if any of it runs.
  local rc=3
  if status_nodes single 1; then rc=0; fi
  if mode_running cluster; then
    if status_nodes cluster 1 2 3; then rc=0; fi
  fi
  return $rc
}

cmd_wipe() {
  local mode=$1 n
  if mode_running "$mode"; then
    die "still running; stop it first: kafka.sh stop$([[ $mode == cluster ]] && echo ' --nodes 3')"
  fi
  for n in $(all_nodes "$mode"); do
    node_setup "$mode" "$n"
    rm -rf "$N_DATA" "$N_LOGS" "$N_CONF" "$N_PID"
  done
  if [[ $mode == cluster ]]; then
    rm -rf "$KHOME/data/cluster" "$KHOME/logs/cluster" "$KHOME/conf/cluster"
  else
    # The credentials belong to the metadata log just deleted.
    rm -rf "$CREDENTIALS"
  fi
  say "deleted the data, logs and rendered config of the $(mode_label "$mode")"
}

# The same, without exec: for the end of a pipe.
run_tool_piped() {
  local heap=$1 class=$2
  shift 2
  require_java
  ensure_installed >&2
  "$JAVA" -Xmx"$heap" -Dlog4j2.configurationFile="$CONF_SRC/tools-log4j2.yaml" -cp "$LIB_DIR/*" "$class" "$@"
}

run_tool() {
  local heap=$1 class=$2
  shift 2
  require_java
  ensure_installed >&2
  exec "$JAVA" -Xmx"$heap" -Dlog4j2.configurationFile="$CONF_SRC/tools-log4j2.yaml" \
    -cp "$LIB_DIR/*" "$class" "$@"
}

# Client settings for Kafka's own tools acting as admin (mode 600: the password).
admin_client_flags() {
  ADMIN_FLAGS=()
  [[ $SECURITY == sasl-scram ]] || return 0
  mkdir -p "$(dirname "$ADMIN_CLIENT_CONF")"
  (
    umask 077
    printf '%s\n' "security.protocol=SASL_PLAINTEXT" "sasl.mechanism=SCRAM-SHA-512" \
      "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$(admin_password)\";" \
      >"$ADMIN_CLIENT_CONF"
  )
  ADMIN_FLAGS=(--command-config "$ADMIN_CLIENT_CONF")
}

# One record onto a topic, as admin: the value is read from stdin (a JSON document over
# several lines is joined into one line, as JSON allows), the key and headers are given:
#   kafka.sh produce <topic> [--key K] [--header name=value]... < value.json
cmd_produce() {
  local topic=${1:-} key="" headers=() value
  [[ -n $topic ]] || die "produce: which topic? (kafka.sh produce <topic> [--key K] [--header name=value]... < value)"
  shift
  while (($#)); do
    case $1 in
      --key) key=${2:?--key needs a value}; shift ;;
      --header) [[ ${2:-} == *=* ]] || die "produce: --header takes name=value, not '${2:-}'"
        [[ $2 != *,* ]] || die "produce: a header may not hold a comma: '$2'"
        headers+=("${2%%=*}:${2#*=}"); shift ;;
      *) die "produce: unknown argument '$1'" ;;
    esac
    shift
  done
  value=$(cat)
  value=${value//$'\r'/}
  value=${value//$'\n'/ }
  [[ -n ${value// /} ]] || die "produce: nothing on stdin to send"
  admin_client_flags
  local joined
  joined=$(IFS=,; echo "${headers[*]}")
  printf '%s\t%s\t%s\n' "${joined:-}" "$key" "$value" |
    run_tool_piped 256M org.apache.kafka.tools.ConsoleProducer --bootstrap-server 127.0.0.1:9092 --topic "$topic" \
      "${ADMIN_FLAGS[@]/--command-config/--producer.config}" \
      --property parse.key=true --property parse.headers=true \
      --property headers.key.separator=: --sync
}

# The records of a topic from the beginning, with key and headers, as admin; stops when
# no record has come for a few seconds.
cmd_consume() {
  local topic=${1:-}
  [[ -n $topic ]] || die "consume: which topic? (kafka.sh consume <topic>)"
  admin_client_flags
  run_tool 256M org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server 127.0.0.1:9092 --topic "$topic" \
    "${ADMIN_FLAGS[@]/--command-config/--consumer.config}" --from-beginning --timeout-ms 5000 \
    --property print.key=true --property print.headers=true 2>&1 |
    grep -v -e '^Processed a total of' -e 'TimeoutException' -e 'Error processing message, terminating consumer process' -e '^\s*at ' || true
}

cmd_topics() {
  local a
  admin_client_flags
  for a in "$@"; do
    case $a in
      --bootstrap-server | --bootstrap-server=* | --bootstrap-controller | --bootstrap-controller=*)
        run_tool 256M org.apache.kafka.tools.TopicCommand "${ADMIN_FLAGS[@]}" "$@" ;;
    esac
  done
  run_tool 256M org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 "${ADMIN_FLAGS[@]}" "$@"
}

# parse_selection CMD DEFAULT_MODE ARGS...: reads "--nodes 1|3" and "--node N" into
# SEL_MODE and SEL_NODES. An empty DEFAULT_MODE means "not given" (status shows all).
parse_selection() {
  local cmd=$1 node=
  SEL_MODE=$2
  shift 2
  while (($#)); do
    case $1 in
      --nodes | --node)
        (($# >= 2)) || die "$cmd: $1 needs a value"
        set -- "$1=$2" "${@:3}"
        continue ;;
      --nodes=1) SEL_MODE=single ;;
      --nodes=3) SEL_MODE=cluster ;;
      --nodes=*) die "$cmd: --nodes must be 1 or 3, not '${1#*=}'" ;;
      --node=[123]) node=${1#*=} ;;
      --node=*) die "$cmd: --node must be 1, 2 or 3, not '${1#*=}'" ;;
      *) die "$cmd: unknown argument '$1' (see kafka.sh help)" ;;
    esac
    shift
  done
  if [[ -n $node ]]; then
    [[ $SEL_MODE == cluster ]] || die "$cmd: --node N applies to the three-node cluster: add --nodes 3"
    SEL_NODES=("$node")
  elif [[ -n $SEL_MODE ]]; then
    read -r -a SEL_NODES <<<"$(all_nodes "$SEL_MODE")"
  else
    SEL_NODES=()
  fi
}

main() {
  local cmd=${1:-help}
  (($#)) && shift
  case $cmd in
    install) cmd_install "$@" ;;
    start) parse_selection start single "$@"; cmd_start "$SEL_MODE" "${SEL_NODES[@]}" ;;
    stop) parse_selection stop single "$@"; stop_nodes "$SEL_MODE" "${SEL_NODES[@]}" ;;
    status) parse_selection status "" "$@"; cmd_status "$SEL_MODE" "${SEL_NODES[@]}" ;;
    wipe)
      parse_selection wipe single "$@"
      ((${#SEL_NODES[@]} == $(all_nodes "$SEL_MODE" | wc -w))) || die "wipe: works on a whole cluster, not --node"
      cmd_wipe "$SEL_MODE" ;;
    topics) cmd_topics "$@" ;;
    produce) cmd_produce "$@" ;;
    consume) cmd_consume "$@" ;;
    perf-producer) run_tool 512M org.apache.kafka.tools.ProducerPerformance "$@" ;;
    perf-consumer) run_tool 512M org.apache.kafka.tools.ConsumerPerformance "$@" ;;
    help | -h | --help) usage ;;
    *) usage >&2; die "unknown command '$cmd'" ;;
  esac
}

main "$@"
