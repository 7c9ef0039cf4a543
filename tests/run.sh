#!/usr/bin/env bash
# The one test command: installs what the suite drives (if missing), starts a
# private PostgreSQL and Redis for the run, runs `cargo test "$@"`, stops them.
#
# Usage: bash tests/run.sh [cargo test args...]   e.g. bash tests/run.sh --test server_api_http
#
# What it installs, each only when missing or out of date (a second run takes
# a couple of seconds before cargo starts):
#   - tests/node_modules: `npm ci` when missing or older than package-lock.json;
#   - tests/.venv: a virtualenv with tests/requirements.txt, rebuilt when the
#     requirements change;
#   - Debian packages chromium, postgresql, redis-server (and nodejs, npm,
#     python3-venv if those are missing): one `apt-get update` and one
#     `apt-get install` of the missing ones, only as root with apt. Otherwise
#     it prints one line naming the packages to install and runs the rest; the
#     tests needing them say `SKIPPED` (or fail when CI=true).
#
# What it exports to the tests (each only when the service could be started):
#   LOCUS_TEST_POSTGRES_URL  postgres://locus:locus@127.0.0.1:PORT/postgres, a
#                            private server (superuser locus/locus, password
#                            auth, 127.0.0.1 only); tests create their own
#                            databases in it.
#   LOCUS_TEST_PG_BINDIR     the directory holding initdb, postgres, pg_isready.
#   LOCUS_TEST_PG_USER       the OS user a test must run its own PostgreSQL as
#                            (`postgres` when run as root, empty otherwise).
#   LOCUS_TEST_REDIS_URL     redis://127.0.0.1:PORT/, a private Redis without
#                            persistence.
#   LOCUS_TEST_REDIS_SERVER  the redis-server binary, for tests that start
#                            their own instance.
# Both servers and their temporary directories are removed on every exit.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TESTS="$ROOT/tests"
# Seconds to wait for a private server to answer before giving up.
SERVER_WAIT_SECONDS=30

PG_PID=""
PG_DIR=""
REDIS_PID=""
REDIS_DIR=""

log() { echo "tests/run.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

# ---------------------------------------------------------------- packages

# The directory with PostgreSQL's server binaries, or nothing.
pg_bindir() {
  local dir
  if command -v pg_config >/dev/null 2>&1; then
    dir="$(pg_config --bindir 2>/dev/null || true)"
    if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then echo "$dir"; return; fi
  fi
  for dir in $(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then echo "$dir"; return; fi
  done
}

# Debian packages the suite needs that are not installed, space-separated.
missing_packages() {
  local missing=()
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  [ -n "$(pg_bindir)" ] || missing+=(postgresql)
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 \
    || missing+=(redis-server)
  echo "${missing[*]}"
}

install_system_packages() {
  local missing
  missing="$(missing_packages)"
  [ -n "$missing" ] || return 0
  if is_root && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian packages: $missing"
    apt-get update -qq
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "missing Debian packages (install them for the full suite): $missing" >&2
  fi
}

install_node_modules() {
  local stamp="$TESTS/node_modules/.locus-installed"
  command -v npm >/dev/null 2>&1 || return 0
  if [ -f "$stamp" ] && [ "$stamp" -nt "$TESTS/package-lock.json" ]; then return 0; fi
  log "npm ci in tests/"
  (cd "$TESTS" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$stamp"
}

install_venv() {
  local venv="$TESTS/.venv" stamp="$TESTS/.venv/.locus-requirements"
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || return 0
  if "$venv/bin/python" -c '' >/dev/null 2>&1 && cmp -s "$stamp" "$TESTS/requirements.txt"; then
    return 0
  fi
  log "building tests/.venv from tests/requirements.txt"
  python3 -m venv --clear "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$TESTS/requirements.txt"
  cp "$TESTS/requirements.txt" "$stamp"
}

# ---------------------------------------------------------------- services

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Sets AS_USER to the command prefix that runs a program as user $1 (nothing
# for the current user). setpriv execs the program, so `$!` of a backgrounded
# "${AS_USER[@]}" call is the program itself.
as_user_prefix() {
  AS_USER=()
  [ -z "$1" ] || AS_USER=(setpriv --reuid="$1" --regid="$1" --init-groups --)
}

# Polls "$@" until it succeeds or SERVER_WAIT_SECONDS pass.
wait_until() {
  local tries=$((SERVER_WAIT_SECONDS * 10))
  while ! "$@" >/dev/null 2>&1; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || return 1
    sleep 0.1
  done
}

start_postgres() {
  local bindir user="" port
  bindir="$(pg_bindir)"
  [ -n "$bindir" ] || return 0
  if is_root; then
    id -u postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user to run PostgreSQL as"
    user=postgres
  fi
  PG_DIR="$(mktemp -d -t locus-pg.XXXXXX)"
  [ -z "$user" ] || chown "$user:" "$PG_DIR"
  printf 'locus\n' >"$PG_DIR/password"
  as_user_prefix "$user"
  # Both run from the temporary directory: the checkout may not be readable
  # by the postgres user.
  (cd "$PG_DIR" && "${AS_USER[@]}" "$bindir/initdb" -D "$PG_DIR/data" -U locus \
    --pwfile="$PG_DIR/password" --auth=scram-sha-256 --encoding=UTF8 --no-sync) \
    >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  port="$(free_port)"
  (cd "$PG_DIR" && exec "${AS_USER[@]}" "$bindir/postgres" -D "$PG_DIR/data" -p "$port" \
    -c listen_addresses=127.0.0.1 -c unix_socket_directories="$PG_DIR") \
    >"$PG_DIR/postgres.log" 2>&1 &
  PG_PID=$!
  if ! wait_until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    tail -n 20 "$PG_DIR/postgres.log" >&2 || true
    die "PostgreSQL did not answer on 127.0.0.1:$port within ${SERVER_WAIT_SECONDS}s"
  fi
  export LOCUS_TEST_POSTGRES_URL="postgres://locus:locus@127.0.0.1:$port/postgres"
  export LOCUS_TEST_PG_BINDIR="$bindir"
  export LOCUS_TEST_PG_USER="$user"
  log "PostgreSQL on 127.0.0.1:$port"
}

start_redis() {
  local server port
  server="$(command -v redis-server || true)"
  [ -n "$server" ] && command -v redis-cli >/dev/null 2>&1 || return 0
  REDIS_DIR="$(mktemp -d -t locus-redis.XXXXXX)"
  port="$(free_port)"
  "$server" --port "$port" --bind 127.0.0.1 --dir "$REDIS_DIR" --save '' --appendonly no \
    --daemonize no >"$REDIS_DIR/redis.log" 2>&1 &
  REDIS_PID=$!
  if ! wait_until redis_answers "$port"; then
    tail -n 20 "$REDIS_DIR/redis.log" >&2 || true
    die "Redis did not answer on 127.0.0.1:$port within ${SERVER_WAIT_SECONDS}s"
  fi
  export LOCUS_TEST_REDIS_URL="redis://127.0.0.1:$port/"
  export LOCUS_TEST_REDIS_SERVER="$server"
  log "Redis on 127.0.0.1:$port"
}

redis_answers() {
  [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
}

# Signals process $1 with $2, then waits (bounded) for it to exit, then kills it.
stop_process() {
  local pid="$1" signal="$2" tries=100
  kill -0 "$pid" 2>/dev/null || return 0
  kill "-$signal" "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ "$tries" -gt 0 ]; do
    sleep 0.1
    tries=$((tries - 1))
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Stops both servers and removes their directories; runs on every exit.
cleanup() {
  # SIGINT is PostgreSQL's fast shutdown (it does not wait for clients).
  [ -z "$PG_PID" ] || stop_process "$PG_PID" INT
  [ -z "$REDIS_PID" ] || stop_process "$REDIS_PID" TERM
  [ -z "$PG_DIR" ] || rm -rf "$PG_DIR"
  [ -z "$REDIS_DIR" ] || rm -rf "$REDIS_DIR"
  PG_PID="" REDIS_PID="" PG_DIR="" REDIS_DIR=""
}

# ---------------------------------------------------------------- main

main() {
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  install_system_packages
  install_node_modules
  install_venv
  start_postgres
  start_redis
  local status=0
  (cd "$ROOT" && cargo test "$@") || status=$?
  exit "$status"
}

# Sourced (e.g. by tests/bench/cluster.sh for its private PostgreSQL and
# Redis), it only defines the functions above.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
