#!/usr/bin/env bash
# Project-local Kafka + ClickHouse, no Docker needed.
#
#   bash scripts/infra.sh up                 install what is missing, start both, wait until they answer
#   bash scripts/infra.sh down               stop what `up` started (pid files in $INFRA_DIR)
#   bash scripts/infra.sh status             print each service up/down; exit 0 only when both are up
#   bash scripts/infra.sh start  kafka|clickhouse     (also: start-kafka, start-clickhouse)
#   bash scripts/infra.sh stop   kafka|clickhouse     (also: stop-kafka,  stop-clickhouse)
#   bash scripts/infra.sh restart kafka|clickhouse
#
# Kafka:      Apache Kafka 3.9 (jars from Maven Central via infra/kafka/pom.xml), single KRaft
#             node (broker+controller), PLAINTEXT on 127.0.0.1:9092, controller on 127.0.0.1:9093.
# ClickHouse: Debian's clickhouse-server (18.16), HTTP 127.0.0.1:8123, native 127.0.0.1:9000,
#             user `default` without password, loopback only.
# All data, logs and pid files live in $INFRA_DIR (default: <repo>/.infra, git-ignored).
# See docs/howto/run-on-kafka-and-clickhouse.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# ----------------------------------------------------------------------------- settings
INFRA_DIR="${INFRA_DIR:-$ROOT/.infra}"
mkdir -p "$INFRA_DIR"
INFRA_DIR="$(cd "$INFRA_DIR" && pwd)" # absolute: it ends up in config files

KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"

CLICKHOUSE_HOST="${CLICKHOUSE_HOST:-127.0.0.1}"
CLICKHOUSE_HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-8123}"
CLICKHOUSE_TCP_PORT="${CLICKHOUSE_TCP_PORT:-9000}"
CLICKHOUSE_START_TIMEOUT="${CLICKHOUSE_START_TIMEOUT:-60}"

STOP_TIMEOUT="${STOP_TIMEOUT:-30}"

KAFKA_DIR="$INFRA_DIR/kafka"
KAFKA_LIBS="$KAFKA_DIR/libs"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_LOGS="$KAFKA_DIR/logs"
KAFKA_CONF="$KAFKA_DIR/server.properties"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_POM="$ROOT/infra/kafka/pom.xml"
KAFKA_LOG4J="$ROOT/infra/kafka/log4j.properties"

CH_DIR="$INFRA_DIR/clickhouse"
CH_ETC="$CH_DIR/etc"
CH_LOGS="$CH_DIR/logs"
CH_PID="$CH_DIR/clickhouse.pid"
CH_URL="http://$CLICKHOUSE_HOST:$CLICKHOUSE_HTTP_PORT"

# ----------------------------------------------------------------------------- helpers
log() { printf '[infra] %s\n' "$*"; }
err() { printf '[infra] ERROR: %s\n' "$*" >&2; }

# show_log FILE...: point at the log files and tail them (to stderr).
show_log() {
  local f
  for f in "$@"; do
    if [[ -s "$f" ]]; then
      printf '[infra] ---- last lines of %s ----\n' "$f" >&2
      tail -n 40 "$f" >&2 || true
      printf '[infra] ---- end of %s ----\n' "$f" >&2
    else
      printf '[infra] (log %s is empty or missing)\n' "$f" >&2
    fi
  done
}

run_root() {
  if [[ "$(id -u)" -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# port_open HOST PORT: something accepts TCP connections there.
port_open() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

who_listens() {
  if command -v ss >/dev/null 2>&1; then
    ss -ltnpH "sport = :$1" 2>/dev/null || true
  fi
}

# pid_alive PIDFILE PATTERN: prints the pid when the pid file names a live process whose
# command line contains PATTERN (guards against pid reuse after a reboot / rm -rf).
pid_alive() {
  local pidfile="$1" pattern="$2" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(tr -dc '0-9' <"$pidfile")"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern" || return 1
  printf '%s\n' "$pid"
}

# stop_pid NAME PIDFILE PATTERN: SIGTERM, wait up to STOP_TIMEOUT s, then SIGKILL.
stop_pid() {
  local name="$1" pidfile="$2" pattern="$3" pid i
  if ! pid="$(pid_alive "$pidfile" "$pattern")"; then
    if [[ -f "$pidfile" ]]; then
      log "$name: not running (removing stale pid file $pidfile)"
      rm -f "$pidfile"
    else
      log "$name: not running"
    fi
    return 0
  fi
  log "$name: stopping pid $pid (SIGTERM, up to ${STOP_TIMEOUT}s)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 4; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name: still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
  fi
  rm -f "$pidfile"
  log "$name: stopped"
}

# spawn PIDFILE STDOUT_LOG CMD...: start CMD detached (own session, immune to SIGHUP and to
# the caller's process group being killed) and record its pid. In a non-interactive shell a
# background job is not a process-group leader, so setsid execs in place and $! is the pid.
spawn() {
  local pidfile="$1" out="$2"
  shift 2
  setsid nohup "$@" >>"$out" 2>&1 </dev/null &
  printf '%s\n' "$!" >"$pidfile"
}

# ----------------------------------------------------------------------------- prerequisites
CH_BIN=""
find_clickhouse() {
  CH_BIN="$(command -v clickhouse-server 2>/dev/null || true)"
  if [[ -z "$CH_BIN" && -x /usr/sbin/clickhouse-server ]]; then CH_BIN=/usr/sbin/clickhouse-server; fi
  [[ -n "$CH_BIN" ]]
}

# Install from Debian whatever is missing. `apt-get update` runs at most once per call.
ensure_packages() {
  local pkgs=()
  find_clickhouse || pkgs+=(clickhouse-server)
  command -v clickhouse-client >/dev/null 2>&1 || pkgs+=(clickhouse-client)
  command -v kcat >/dev/null 2>&1 || pkgs+=(kcat)
  command -v curl >/dev/null 2>&1 || pkgs+=(curl)
  command -v java >/dev/null 2>&1 || pkgs+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
  command -v setsid >/dev/null 2>&1 || pkgs+=(util-linux)
  ((${#pkgs[@]} == 0)) && return 0

  log "installing from Debian: ${pkgs[*]}"
  # The clickhouse-server package's postinst starts the system-wide service (on 8123/9000,
  # as user clickhouse) unless policy-rc.d forbids it. We want only our own instance, so
  # install under a temporary "deny all service starts" policy when none is in place.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [[ ! -e "$policy" ]]; then
    run_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    added_policy=1
    trap 'run_root rm -f /usr/sbin/policy-rc.d' EXIT # also when interrupted
  fi
  local rc=0
  run_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=$?
  if ((rc == 0)); then
    run_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${pkgs[@]}" || rc=$?
  fi
  if ((added_policy)); then
    run_root rm -f "$policy"
    trap - EXIT
  fi
  if ((rc != 0)); then
    err "apt-get failed (exit $rc) installing: ${pkgs[*]}"
    return "$rc"
  fi
  find_clickhouse || {
    err "clickhouse-server still not found after installing"
    return 1
  }
}

# Copy the Kafka jars from Maven Central (through ~/.m2) into $KAFKA_LIBS, once per pom.xml.
ensure_kafka_jars() {
  local stamp="$KAFKA_LIBS/.pom.sha256" want
  want="$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  local pid
  if compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null && pid="$(kafka_running)"; then
    # Never swap the jars under a running JVM.
    log "kafka: infra/kafka/pom.xml changed but Kafka (pid $pid) is running on the old jars;"
    log "       'bash scripts/infra.sh restart kafka' picks up the new ones"
    return 0
  fi
  log "kafka: fetching broker jars with Maven (infra/kafka/pom.xml -> $KAFKA_LIBS)"
  local tmp="$KAFKA_DIR/libs.tmp"
  rm -rf "$tmp"
  mkdir -p "$KAFKA_DIR"
  # -q still prints errors; the sed strips the colour codes Debian's mvn emits even with -B.
  if ! mvn -B -q -ntp -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1 | sed -e 's/\x1b\[[0-9;]*m//g' >&2; then
    err "mvn dependency:copy-dependencies failed (see the output above; network to Maven Central?)"
    rm -rf "$tmp"
    return 1
  fi
  if ! compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null; then
    err "mvn did not produce kafka_2.13-*.jar in $tmp"
    return 1
  fi
  printf '%s\n' "$want" >"$tmp/.pom.sha256"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  log "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars in $KAFKA_LIBS"
}

# ----------------------------------------------------------------------------- ClickHouse
ch_pattern() { printf '%s' "--config-file=$CH_ETC/config.xml"; }
ch_running() { pid_alive "$CH_PID" "$(ch_pattern)"; }
ch_answering() { [[ "$(curl -fsS --max-time 2 "$CH_URL/ping" 2>/dev/null)" == "Ok." ]]; }

ch_query() { curl -fsS --max-time 10 "$CH_URL/" --data-binary "$1"; }

ch_render_config() {
  mkdir -p "$CH_ETC" "$CH_LOGS" "$CH_DIR/data" "$CH_DIR/tmp" "$CH_DIR/user_files" "$CH_DIR/format_schemas"
  sed -e "s#@CH_DIR@#$CH_DIR#g" \
    -e "s#@CH_HOST@#$CLICKHOUSE_HOST#g" \
    -e "s#@CH_HTTP_PORT@#$CLICKHOUSE_HTTP_PORT#g" \
    -e "s#@CH_TCP_PORT@#$CLICKHOUSE_TCP_PORT#g" \
    "$ROOT/infra/clickhouse/config.xml" >"$CH_ETC/config.xml"
  cp "$ROOT/infra/clickhouse/users.xml" "$CH_ETC/users.xml"
}

# ch_spawn: start ClickHouse unless ours is already running. Returns 1 on a port conflict.
ch_spawn() {
  local pid port
  if pid="$(ch_running)"; then
    log "clickhouse: already running (pid $pid)"
    return 0
  fi
  rm -f "$CH_PID"
  for port in "$CLICKHOUSE_HTTP_PORT" "$CLICKHOUSE_TCP_PORT"; do
    if port_open "$CLICKHOUSE_HOST" "$port"; then
      err "clickhouse: $CLICKHOUSE_HOST:$port is already in use by a process this script did not start:"
      who_listens "$port" >&2
      err "stop it (e.g. a system-wide clickhouse-server: 'service clickhouse-server stop') or set CLICKHOUSE_HTTP_PORT/CLICKHOUSE_TCP_PORT"
      return 1
    fi
  done
  find_clickhouse || {
    err "clickhouse-server is not installed (run 'bash scripts/infra.sh up')"
    return 1
  }
  ch_render_config || return 1
  log "clickhouse: starting $CH_BIN (logs in $CH_LOGS)"
  # Foreground mode under setsid+nohup rather than `--daemon`: with --daemon, 18.16 detaches
  # before reading its config and config errors vanish; this way they land in stdout.log.
  # (18.16 ignores --pid-file unless daemonized, so the pid file is written by spawn.)
  (cd "$CH_DIR" && spawn "$CH_PID" "$CH_LOGS/stdout.log" "$CH_BIN" "$(ch_pattern)")
}

ch_wait() {
  local deadline=$((SECONDS + CLICKHOUSE_START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ch_answering; then
      local version db="infra_smoke_$$"
      if ! version="$(ch_query 'SELECT version()')"; then
        err "clickhouse: /ping answers but SELECT version() fails"
        show_log "$CH_LOGS/clickhouse-server.err.log"
        return 1
      fi
      if ! ch_query "CREATE DATABASE IF NOT EXISTS $db" >/dev/null || ! ch_query "DROP DATABASE $db" >/dev/null; then
        err "clickhouse: CREATE/DROP DATABASE as user default failed"
        show_log "$CH_LOGS/clickhouse-server.err.log"
        return 1
      fi
      log "clickhouse: up, version $version, at $CH_URL (native tcp $CLICKHOUSE_HOST:$CLICKHOUSE_TCP_PORT)"
      return 0
    fi
    if ! ch_running >/dev/null; then
      err "clickhouse: process exited during startup; look at $CH_LOGS/"
      show_log "$CH_LOGS/stdout.log" "$CH_LOGS/clickhouse-server.err.log"
      return 1
    fi
    sleep 0.5
  done
  err "clickhouse: no 'Ok.' from $CH_URL/ping within ${CLICKHOUSE_START_TIMEOUT}s; look at $CH_LOGS/ (the process is left running for inspection; 'down' stops it)"
  show_log "$CH_LOGS/stdout.log" "$CH_LOGS/clickhouse-server.err.log"
  return 1
}

ch_stop() { stop_pid clickhouse "$CH_PID" "$(ch_pattern)"; }

# ----------------------------------------------------------------------------- Kafka
kafka_pattern() { printf '%s' "kafka.Kafka $KAFKA_CONF"; }
kafka_running() { pid_alive "$KAFKA_PID" "$(kafka_pattern)"; }
kafka_answering() {
  command -v kcat >/dev/null 2>&1 || return 1
  timeout 10 kcat -b "$KAFKA_HOST:$KAFKA_PORT" -L -m 3 2>/dev/null | grep -qE '^ +broker [0-9]+ at '
}

# The JVM command line for a Kafka main class (same GC flags as Kafka's kafka-run-class.sh).
kafka_java_cmd() {
  local heap
  read -r -a heap <<<"$KAFKA_HEAP_OPTS"
  KAFKA_JAVA=(java "${heap[@]}" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
    -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$KAFKA_LOG4J" "-Dkafka.logs.dir=$KAFKA_LOGS"
    -cp "$KAFKA_LIBS/*")
}

kafka_java() {
  kafka_java_cmd
  "${KAFKA_JAVA[@]}" "$@"
}

kafka_render_config() {
  mkdir -p "$KAFKA_DATA" "$KAFKA_LOGS"
  sed -e "s#@KAFKA_HOST@#$KAFKA_HOST#g" \
    -e "s#@KAFKA_PORT@#$KAFKA_PORT#g" \
    -e "s#@KAFKA_CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
    -e "s#@KAFKA_DATA_DIR@#$KAFKA_DATA#g" \
    "$ROOT/infra/kafka/server.properties" >"$KAFKA_CONF"
}

# Format the KRaft storage once, with a random cluster id (kept in cluster.id).
kafka_format() {
  [[ -f "$KAFKA_DATA/meta.properties" ]] && return 0
  local id
  if [[ -s "$KAFKA_DIR/cluster.id" ]]; then
    id="$(cat "$KAFKA_DIR/cluster.id")"
  else
    id="$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$KAFKA_LOGS/stdout.log" | tail -n 1)"
    [[ -n "$id" ]] || {
      err "kafka: StorageTool random-uuid printed nothing"
      show_log "$KAFKA_LOGS/stdout.log"
      return 1
    }
    printf '%s\n' "$id" >"$KAFKA_DIR/cluster.id"
  fi
  log "kafka: formatting $KAFKA_DATA (cluster id $id)"
  if ! kafka_java kafka.tools.StorageTool format --ignore-formatted -t "$id" -c "$KAFKA_CONF" \
    >>"$KAFKA_LOGS/stdout.log" 2>&1; then
    err "kafka: storage format failed"
    show_log "$KAFKA_LOGS/stdout.log" "$KAFKA_LOGS/server.log"
    return 1
  fi
}

kafka_spawn() {
  local pid port
  if pid="$(kafka_running)"; then
    log "kafka: already running (pid $pid)"
    return 0
  fi
  rm -f "$KAFKA_PID"
  for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if port_open "$KAFKA_HOST" "$port"; then
      err "kafka: $KAFKA_HOST:$port is already in use by a process this script did not start:"
      who_listens "$port" >&2
      err "stop it or set KAFKA_PORT/KAFKA_CONTROLLER_PORT"
      return 1
    fi
  done
  command -v java >/dev/null 2>&1 || {
    err "java not found"
    return 1
  }
  compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null || {
    err "kafka: no jars in $KAFKA_LIBS (run 'bash scripts/infra.sh up')"
    return 1
  }
  kafka_render_config || return 1
  kafka_format || return 1
  log "kafka: starting kafka.Kafka (logs in $KAFKA_LOGS)"
  kafka_java_cmd
  (cd "$KAFKA_DIR" && spawn "$KAFKA_PID" "$KAFKA_LOGS/stdout.log" "${KAFKA_JAVA[@]}" kafka.Kafka "$KAFKA_CONF")
}

kafka_wait() {
  local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if kafka_answering; then
      log "kafka: up, KRaft broker+controller at $KAFKA_HOST:$KAFKA_PORT (controller $KAFKA_HOST:$KAFKA_CONTROLLER_PORT)"
      return 0
    fi
    if ! kafka_running >/dev/null; then
      err "kafka: process exited during startup; look at $KAFKA_LOGS/server.log"
      show_log "$KAFKA_LOGS/stdout.log" "$KAFKA_LOGS/server.log"
      return 1
    fi
    sleep 1
  done
  err "kafka: no metadata from $KAFKA_HOST:$KAFKA_PORT within ${KAFKA_START_TIMEOUT}s; look at $KAFKA_LOGS/server.log (the process is left running for inspection; 'down' stops it)"
  show_log "$KAFKA_LOGS/stdout.log" "$KAFKA_LOGS/server.log"
  return 1
}

kafka_stop() { stop_pid kafka "$KAFKA_PID" "$(kafka_pattern)"; }

# ----------------------------------------------------------------------------- commands
cmd_up() {
  local t0=$SECONDS rc=0
  ensure_packages
  ensure_kafka_jars
  # Start both, then wait for both: the JVM and ClickHouse boot in parallel.
  ch_spawn || rc=1
  kafka_spawn || rc=1
  if ((rc == 0)); then
    ch_wait || rc=1
    kafka_wait || rc=1
  fi
  if ((rc != 0)); then
    err "infra up FAILED after $((SECONDS - t0))s. Logs: $CH_LOGS/ and $KAFKA_LOGS/"
    return 1
  fi
  log "infra up in $((SECONDS - t0))s:"
  log "  KAFKA_BROKERS=$KAFKA_HOST:$KAFKA_PORT"
  log "  CLICKHOUSE_URL=$CH_URL"
}

cmd_down() {
  local rc=0
  kafka_stop || rc=1
  ch_stop || rc=1
  return "$rc"
}

cmd_status() {
  local ok=0 pid
  if pid="$(kafka_running)" && kafka_answering; then
    log "kafka:      up   pid $pid  $KAFKA_HOST:$KAFKA_PORT  logs $KAFKA_LOGS/server.log"
  elif pid="$(kafka_running)"; then
    log "kafka:      down (pid $pid alive but $KAFKA_HOST:$KAFKA_PORT gives no metadata)  logs $KAFKA_LOGS/server.log"
    ok=1
  else
    log "kafka:      down"
    ok=1
  fi
  if pid="$(ch_running)" && ch_answering; then
    log "clickhouse: up   pid $pid  $CH_URL  logs $CH_LOGS/clickhouse-server.log"
  elif pid="$(ch_running)"; then
    log "clickhouse: down (pid $pid alive but $CH_URL/ping does not answer)  logs $CH_LOGS/clickhouse-server.err.log"
    ok=1
  else
    log "clickhouse: down"
    ok=1
  fi
  return "$ok"
}

cmd_start() {
  case "${1:-}" in
    clickhouse)
      ensure_packages
      ch_spawn
      ch_wait
      ;;
    kafka)
      ensure_packages
      ensure_kafka_jars
      kafka_spawn
      kafka_wait
      ;;
    *) usage ;;
  esac
}

cmd_stop() {
  case "${1:-}" in
    clickhouse) ch_stop ;;
    kafka) kafka_stop ;;
    *) usage ;;
  esac
}

usage() {
  cat >&2 <<EOF
usage: bash scripts/infra.sh up | down | status
       bash scripts/infra.sh start|stop|restart kafka|clickhouse
       (start-kafka, stop-kafka, start-clickhouse, stop-clickhouse also work)
env:   INFRA_DIR ($INFRA_DIR)
       KAFKA_PORT ($KAFKA_PORT) KAFKA_CONTROLLER_PORT ($KAFKA_CONTROLLER_PORT) KAFKA_HEAP_OPTS ($KAFKA_HEAP_OPTS)
       CLICKHOUSE_HTTP_PORT ($CLICKHOUSE_HTTP_PORT) CLICKHOUSE_TCP_PORT ($CLICKHOUSE_TCP_PORT)
       KAFKA_START_TIMEOUT ($KAFKA_START_TIMEOUT) CLICKHOUSE_START_TIMEOUT ($CLICKHOUSE_START_TIMEOUT) STOP_TIMEOUT ($STOP_TIMEOUT)
EOF
  exit 2
}

main() {
  local cmd="${1:-}"
  shift || true
  case "$cmd" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    start) cmd_start "${1:-}" ;;
    stop) cmd_stop "${1:-}" ;;
    restart)
      cmd_stop "${1:-}"
      cmd_start "${1:-}"
      ;;
    start-kafka | start-clickhouse) cmd_start "${cmd#start-}" ;;
    stop-kafka | stop-clickhouse) cmd_stop "${cmd#stop-}" ;;
    *) usage ;;
  esac
}

main "$@"
