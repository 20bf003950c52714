#!/usr/bin/env bash
# services.sh: make sure the PostgreSQL and Redis that Switchboard's tests and
# demo need are answering, starting private instances when nothing answers.
#
#   scripts/services.sh up     ensure both services, print the env (DATABASE_URL, REDIS_URL)
#   scripts/services.sh env    print the env of what answers now, start nothing
#   scripts/services.sh down   stop the private instances this script started
#
# Where: DATABASE_URL and REDIS_URL when set, else postgres://…@127.0.0.1:5432/test
# and redis://127.0.0.1:6379. When nothing answers there, a private cluster is
# created under $SB_STATE_DIR (default ~/.cache/switchboard) on the same port (or
# SB_PG_PORT / SB_REDIS_PORT), from the installed binaries, which are installed
# with apt-get when missing. The env is also written to $SB_STATE_DIR/services.env.
set -euo pipefail

state=${SB_STATE_DIR:-$HOME/.cache/switchboard}
mkdir -p "$state"

pg_port=${SB_PG_PORT:-5432}
redis_port=${SB_REDIS_PORT:-6379}
db_url=${DATABASE_URL:-}
redis_url=${REDIS_URL:-}
[ -n "$db_url" ] || db_url="postgres://postgres@127.0.0.1:${pg_port}/test?sslmode=disable"
[ -n "$redis_url" ] || redis_url="redis://127.0.0.1:${redis_port}/0"

log() { echo "services: $*" >&2; }

# host and port out of a URL of the form scheme://[user[:pw]@]host:port/...
url_host() { local u=${1#*://}; u=${u#*@}; u=${u%%/*}; u=${u%%\?*}; echo "${u%:*}"; }
url_port() { local u=${1#*://}; u=${u#*@}; u=${u%%/*}; u=${u%%\?*}; echo "${u##*:}"; }

pg_answers() { pg_isready -q -h "$(url_host "$db_url")" -p "$(url_port "$db_url")" 2>/dev/null; }
redis_answers() { [ "$(redis-cli -h "$(url_host "$redis_url")" -p "$(url_port "$redis_url")" ping 2>/dev/null)" = PONG ]; }

apt_install() {
  log "installing $* with apt-get"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >&2
}

pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

start_pg() {
  local host port bindir dir run
  host=$(url_host "$db_url"); port=$(url_port "$db_url")
  if [ "$host" != 127.0.0.1 ] && [ "$host" != localhost ]; then
    log "PostgreSQL at $host:$port does not answer and is not local: start it yourself"; exit 1
  fi
  command -v pg_isready >/dev/null 2>&1 && bindir=$(pg_bindir) || bindir=
  if [ -z "$bindir" ]; then apt_install postgresql postgresql-client; bindir=$(pg_bindir); fi
  dir="$state/pg-$port"
  run=()
  # initdb and postgres refuse to run as root: run them as the postgres user.
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home "$state" postgres
    run=(runuser -u postgres --)
    chmod 755 "$state" 2>/dev/null || true
    mkdir -p "$dir"; chown postgres "$dir"
    # the home folders above $state must be traversable by postgres
    local p=$state; while [ "$p" != / ]; do chmod o+x "$p" 2>/dev/null || true; p=$(dirname "$p"); done
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    log "creating a private PostgreSQL cluster in $dir"
    "${run[@]}" "$bindir/initdb" -D "$dir" -A trust -U postgres >/dev/null
  fi
  log "starting private PostgreSQL on 127.0.0.1:$port"
  "${run[@]}" "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on -c max_connections=300" start >/dev/null
  local i
  for i in $(seq 1 50); do pg_answers && break; sleep 0.2; done
  local dbname=${db_url##*/}; dbname=${dbname%%\?*}
  "${run[@]}" "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='$dbname'" | grep -q 1 ||
    "${run[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres "$dbname"
  echo "$dir" >"$state/pg-started"
}

start_redis() {
  local host port
  host=$(url_host "$redis_url"); port=$(url_port "$redis_url")
  if [ "$host" != 127.0.0.1 ] && [ "$host" != localhost ]; then
    log "Redis at $host:$port does not answer and is not local: start it yourself"; exit 1
  fi
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  log "starting private Redis on 127.0.0.1:$port"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$state" --logfile "$state/redis-$port.log" --pidfile "$state/redis-$port.pid" >/dev/null
  local i
  for i in $(seq 1 50); do redis_answers && break; sleep 0.1; done
  echo "$port" >"$state/redis-started"
}

print_env() {
  printf 'DATABASE_URL=%s\nREDIS_URL=%s\n' "$db_url" "$redis_url" | tee "$state/services.env"
}

cmd=${1:-up}
case "$cmd" in
  up)
    command -v pg_isready >/dev/null 2>&1 || apt_install postgresql-client
    command -v redis-cli >/dev/null 2>&1 || apt_install redis-tools
    pg_answers || start_pg
    pg_answers || { log "PostgreSQL still does not answer at $db_url"; exit 1; }
    redis_answers || start_redis
    redis_answers || { log "Redis still does not answer at $redis_url"; exit 1; }
    print_env
    ;;
  env) print_env ;;
  down)
    if [ -f "$state/pg-started" ]; then
      dir=$(cat "$state/pg-started"); bindir=$(pg_bindir)
      if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$bindir/pg_ctl" -D "$dir" -m fast stop || true
      else "$bindir/pg_ctl" -D "$dir" -m fast stop || true; fi
      rm -f "$state/pg-started"
    fi
    if [ -f "$state/redis-started" ]; then
      redis-cli -p "$(cat "$state/redis-started")" shutdown nosave >/dev/null 2>&1 || true
      rm -f "$state/redis-started"
    fi
    ;;
  *) echo "usage: $0 up|env|down" >&2; exit 2 ;;
esac
