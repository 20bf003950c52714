#!/usr/bin/env bash
# backlog.sh: how a deep backlog is served across sender numbers when the
# carrier account is the bottleneck (docs/scaling.md, "A deep backlog").
#
#   scripts/backlog.sh [SWITCHBOARD [SMSCSIM]]
#
# Creates a database of NUMBERS dedicated numbers of one workspace with
# CONTACTS queued messages each (one campaign per number, queued one number
# after another, an hour ago), migrated by SWITCHBOARD (default
# bin/switchboard), starts smscsim (default bin/smscsim) as a strict
# carrier (RATE segments/s for the account, 10 per number, in any sliding
# second) and one engine for SECONDS, then prints how many numbers had a
# segment at the carrier and when. Environment: NUMBERS (2000), CONTACTS
# (200), RATE (2000), BACKLOG_SECONDS (60), DATABASE_URL and REDIS_URL (as
# scripts/services.sh prints them), KEEP=1 keeps the database, OUT=DIR
# keeps the engine's and the simulator's logs and the run's top statements
# (pg_stat_statements, when loaded) in DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
sb=${1:-bin/switchboard}
sim=${2:-bin/smscsim}
numbers=${NUMBERS:-2000}
contacts=${CONTACTS:-200}
rate=${RATE:-2000}
secs=${BACKLOG_SECONDS:-60}
eval "$(scripts/services.sh up)"
db=backlog_$$
dir=$(mktemp -d)
admin=${DATABASE_URL%/*}/postgres
psql "$admin" -qc "CREATE DATABASE $db"
cleanup() {
	kill "${eng:-}" "${simpid:-}" 2>/dev/null || true
	wait 2>/dev/null || true
	[ "${KEEP:-}" = 1 ] || psql "$admin" -qc "DROP DATABASE IF EXISTS $db" || true
	rm -rf "$dir"
}
trap cleanup EXIT
port=$((20000 + $$ % 20000))
sed -e "s#^  listen: 127.0.0.1:8080#  listen: 127.0.0.1:$((port + 1))#" \
	-e "s#^    port: 2775#    port: $port#" \
	-e "s#^    tps: 500 .*#    tps: $rate#" \
	-e "s#^    registered_delivery: 1#    registered_delivery: 0#" \
	-e "s#^  prefix: \"sb:\".*#  prefix: \"backlog$$:\"#" \
	configs/switchboard.yaml >"$dir/cfg.yaml"
export BACKLOG_DB_URL="${DATABASE_URL%/*}/$db" SIM_PASSWORD=backlog SWITCHBOARD_OPERATOR_TOKEN=backlog-operator-token-0123456789
# The config's empty URLs mean the environment's: put them in the file.
sed -i -e "0,/^  url: \"\"/s##  url: \"$BACKLOG_DB_URL\"#" "$dir/cfg.yaml"
sed -i -e "0,/^  url: \"\"/s##  url: \"$REDIS_URL\"#" "$dir/cfg.yaml"
"$sb" migrate --config "$dir/cfg.yaml" >/dev/null
"$sb" workspace create --config "$dir/cfg.yaml" --name backlog --sms-addon >/dev/null
psql "$BACKLOG_DB_URL" -q <<SQL
INSERT INTO numbers (e164, kind, rate_class, carrier, workspace_id)
SELECT '+1415' || lpad(g::text, 7, '0'), 'dedicated', 'dedicated', 'sim', 1 FROM generate_series(1, $numbers) g;
INSERT INTO number_connections (workspace_id, number_id) SELECT 1, id FROM numbers;
INSERT INTO threads (workspace_id, number_id, contact, last_message_at, last_outbound_at, out_seq, out_next)
SELECT 1, n.id, '+4479' || lpad(c::text, 8, '0'), now(), now(), 1, 1
FROM numbers n, generate_series(1, $contacts) c;
INSERT INTO messages (workspace_id, thread_id, number_id, contact, direction, body, encoding, segments, status,
                      thread_seq, due_at, pending_since, created_at, queued_at)
SELECT 1, t.id, t.number_id, t.contact, 'out', 'campaign', 'GSM7', 1, 'queued', 1,
       now() - interval '1 hour' + (row_number() OVER (ORDER BY t.number_id, t.id)) * interval '1 millisecond',
       now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour'
FROM threads t;
ANALYZE;
SQL
echo "backlog: $((numbers * contacts)) messages over $numbers numbers; account $rate/s, 10/s per number; ${secs}s"
"$sim" --listen "127.0.0.1:$port" --system-id switchboard --password backlog --rate "$rate" --rate-mode sliding \
	--source-rate 10 --log "$dir/sim.log" >"$dir/sim.out" 2>&1 &
simpid=$!
sleep 0.5
start=$(date +%s.%N)
"$sb" serve --config "$dir/cfg.yaml" >"$dir/engine.log" 2>&1 &
eng=$!
sleep "$secs"
grep VmRSS "/proc/$eng/status" | tr -s ' \t' ' '
if [ -n "${OUT:-}" ]; then
	mkdir -p "$OUT"
	psql "$BACKLOG_DB_URL" -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null 2>&1 || true
	psql "$BACKLOG_DB_URL" -qAt -F ' | ' -c "SELECT calls, round(total_exec_time) AS ms, round(mean_exec_time::numeric, 2) AS mean_ms, left(regexp_replace(query, '\s+', ' ', 'g'), 120)
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY total_exec_time DESC LIMIT 15" >"$OUT/statements.txt" 2>&1 || true
fi
kill "$eng"
wait "$eng" || true
kill "$simpid"
wait "$simpid" || true
# First segment per source number at the carrier, in seconds after start.
TZ=UTC awk -v start="$start" -v secs="$secs" -v numbers="$numbers" '
	match($0, /"t":"[^"]*"/) {
		t = substr($0, RSTART + 5, RLENGTH - 6)
		match($0, /"src":"[0-9]*"/); src = substr($0, RSTART + 7, RLENGTH - 8)
		split(t, p, /[-T:Z]/)
		at = mktime(p[1] " " p[2] " " p[3] " " p[4] " " p[5] " " int(p[6])) + (p[6] - int(p[6])) - start
		n++; if (!(src in first) || at < first[src]) first[src] = at
	}
	END {
		k = 0; for (s in first) v[++k] = first[s]
		asort(v)
		printf "segments at the carrier: %d (%.0f/s)\n", n, n / secs
		printf "numbers that sent within %ds: %d of %d\n", secs, k, numbers
		if (k) printf "first submit per number after start: first %.1fs, median %.1fs, last %.1fs\n", v[1], v[int((k + 1) / 2)], v[k]
	}' "$dir/sim.log"
if [ -n "${OUT:-}" ]; then
	cp "$dir/engine.log" "$dir/sim.log" "$OUT/"
fi
