#!/usr/bin/env bash
# Soak test: N seconds (default 60) of mixed load against a Kat started on 127.0.0.1 with a
# private copy of data/, while the data files are rewritten every 2 s, alternating good and
# bad versions. Reports the requests made, the errors, the 5xx answers and the server's RSS at
# start and end; exits non-zero on any error, any 5xx, or RSS more than doubling.
#
#   bash bench/soak.sh [SECONDS]
#
# Environment: KAT_BIN (default target/release/kat, built if missing), KAT_SOAK_CONNECTIONS
# (default 8). Needs wrk and curl.
set -euo pipefail

DURATION="${1:-60}"
CONNECTIONS="${KAT_SOAK_CONNECTIONS:-8}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAT_BIN="${KAT_BIN:-}"

if ! [[ "$DURATION" =~ ^[0-9]+$ ]] || [ "$DURATION" -lt 1 ]; then
  echo "usage: bash bench/soak.sh [SECONDS]" >&2
  exit 2
fi
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "soak: $tool is required" >&2; exit 3; }
done
if [ -z "$KAT_BIN" ]; then
  KAT_BIN="$ROOT/target/release/kat"
  if [ ! -x "$KAT_BIN" ]; then
    (cd "$ROOT" && cargo build --release --bin kat)
  fi
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/kat-soak.XXXXXX")"
KAT_PID=""
WRITER_PID=""
PROBE_PID=""
cleanup() {
  for pid in "$WRITER_PID" "$PROBE_PID" "$KAT_PID"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

cp -r "$ROOT/data" "$WORK/data"
DATA="$WORK/data"
mkdir -p "$WORK/versions"

# The versions of incidents.geojson (one feature per line between a header and a footer line).
SRC="$ROOT/data/incidents.geojson"
V="$WORK/versions"
cp "$SRC" "$V/incidents.all"
{ head -n -2 "$SRC" | sed '$ s/,$//'; tail -n 1 "$SRC"; } > "$V/incidents.one_fewer"
head -c "$(( $(wc -c < "$SRC") / 2 ))" "$SRC" > "$V/incidents.truncated"
{ head -n -1 "$SRC" | sed '$ s/$/,/'; sed -n '2 s/,$//p' "$SRC"; tail -n 1 "$SRC"; } > "$V/incidents.duplicate_id"
sed '2 s/"coordinates":\[[^]]*\]/"coordinates":[2.35,48.85]/' "$SRC" > "$V/incidents.outside_haiti"
cp "$ROOT/data/gang_areas.geojson" "$V/gang_areas.good"
head -c 1000 "$ROOT/data/gang_areas.geojson" > "$V/gang_areas.truncated"
TOTAL=$(( $(wc -l < "$SRC") - 2 ))

# A free port on the loopback, below the kernel's range for outgoing connections: a port in
# that range can be taken by a client's socket (or one in TIME_WAIT) between the check and the
# bind. Should the bind still fail, another port is tried.
read -r EPHEMERAL_LOW _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || EPHEMERAL_LOW=32768
[ "$EPHEMERAL_LOW" -gt 12000 ] 2>/dev/null || EPHEMERAL_LOW=32768
free_port() {
  local candidate
  for _ in $(seq 1 50); do
    candidate=$(( 10000 + RANDOM % (EPHEMERAL_LOW - 10000) ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

STARTED=""
for attempt in 1 2 3 4 5; do
  PORT=$(free_port) || { echo "soak: no free port" >&2; exit 3; }
  BASE="http://127.0.0.1:$PORT"
  KAT_LOG="${KAT_LOG:-warn}" "$KAT_BIN" serve --bind "127.0.0.1:$PORT" --data "$DATA" --static "$ROOT/static" \
    >"$WORK/kat.out" 2>"$WORK/kat.err" &
  KAT_PID=$!
  for _ in $(seq 1 1200); do
    if curl -fs -o /dev/null --max-time 2 "$BASE/health"; then STARTED=1; break; fi
    if ! kill -0 "$KAT_PID" 2>/dev/null; then break; fi
    sleep 0.25
  done
  [ -n "$STARTED" ] && break
  if kill -0 "$KAT_PID" 2>/dev/null || ! grep -q "Address already in use" "$WORK/kat.err"; then
    break
  fi
  echo "soak: port $PORT was taken when kat bound it (attempt $attempt); trying another" >&2
done
if [ -z "$STARTED" ] && ! kill -0 "$KAT_PID" 2>/dev/null; then
  echo "soak: kat exited during startup:" >&2
  tail -n 20 "$WORK/kat.err" >&2
  exit 1
fi
curl -fs -o /dev/null "$BASE/health" || { echo "soak: kat did not start" >&2; exit 1; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$KAT_PID/status"; }
health_field() { curl -fs --max-time 30 "$BASE/health" | sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p"; }

# Warm up every route once, so that the starting RSS counts what serving needs.
for path in / /collections /api /conformance "/collections/incidents/items?limit=1000" \
  "/collections/sections/items?limit=1000" /collections/incidents/download "/geocode?q=jacmel" \
  "/reverse?lon=-72.33&lat=18.54" /simplified/sections.geojson /static/app.js /metrics; do
  curl -fs -o /dev/null --max-time 60 "$BASE$path"
done
RSS_START=$(rss_kb)
RELOADS_START=$(health_field reloads)
FAILURES_START=$(health_field reload_failures)

# The writer: every 2 s, a good version, then a bad one; half of the writes in place,
# half by rename.
put() { # put SOURCE DEST N
  if [ $(( $3 % 2 )) -eq 0 ]; then
    cp "$1" "$2.tmp" && mv -f "$2.tmp" "$2"
  else
    cat "$1" > "$2"
  fi
}
writer() {
  local n=0 good=(all one_fewer) bad=(truncated duplicate_id outside_haiti)
  while true; do
    put "$V/incidents.${good[$(( (n / 2) % 2 ))]}" "$DATA/incidents.geojson" "$n"
    put "$V/gang_areas.good" "$DATA/gang_areas.geojson" "$n"
    sleep 2
    n=$(( n + 1 ))
    if [ $(( n % 3 )) -eq 0 ]; then
      put "$V/gang_areas.truncated" "$DATA/gang_areas.geojson" "$n"
    fi
    put "$V/incidents.${bad[$(( (n / 2) % 3 ))]}" "$DATA/incidents.geojson" "$n"
    sleep 2
    n=$(( n + 1 ))
  done
}

# The prober: bad requests, each of which must get its own 4xx.
PROBES=(
  "400 /collections/incidents/items?bbox=1,2,3"
  "400 /collections/incidents/items?limit=0"
  "400 /collections/incidents/items?datetime=../.."
  "400 /collections/sections/items?near=-72.3,91"
  "400 /geocode?q="
  "400 /reverse?lon=nan&lat=18"
  "404 /collections/nope/items"
  "404 /static/..%2fCargo.toml"
  "406 /collections?f=xml"
  "404 /reverse?lon=-73.5&lat=19.5"
)
prober() {
  local n=0 made=0 errors=0 fivexx=0
  trap 'echo "$made $errors $fivexx" > "$WORK/probe.result"; exit 0' TERM
  while true; do
    local probe="${PROBES[$(( n % ${#PROBES[@]} ))]}"
    local want="${probe%% *}" path="${probe#* }"
    local got
    got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$BASE$path") || true
    got=${got:-000}
    made=$(( made + 1 ))
    if [ "$got" != "$want" ]; then
      errors=$(( errors + 1 ))
      echo "probe $path: $got (expected $want)" >> "$WORK/probe.errors"
    fi
    if [ "${got:0:1}" = 5 ]; then fivexx=$(( fivexx + 1 )); fi
    n=$(( n + 1 ))
    echo "$made $errors $fivexx" > "$WORK/probe.result"
    sleep 0.05
  done
}

cat > "$WORK/mixed.lua" <<'LUA'
local paths = {
  "/collections/incidents/items?limit=50",
  "/collections/incidents/items?bbox=-72.5,18.3,-72.1,18.7",
  "/collections/incidents/items?datetime=2024-01-01/2024-12-31&limit=20",
  "/collections/incidents/items?near=-72.33,18.54&within=25000&limit=10",
  "/collections/incidents/items?department=Ouest&limit=5&offset=5",
  "/collections/incidents/items/HT-2023-001",
  "/collections/gang_areas/items?limit=5",
  "/collections/communes/items?limit=3&bbox=-72.4,18.5,-72.3,18.6",
  "/collections/sections/items?near=-72.7,19.0&limit=3",
  "/collections/incidents/download",
  "/collections",
  "/collections/incidents",
  "/",
  "/conformance",
  "/api",
  "/health",
  "/metrics",
  "/geocode?q=Cap-Haitien",
  "/reverse?lon=-72.33&lat=18.54",
  "/simplified/departments.geojson",
  "/static/app.js",
}
local threads = {}
local counter = 1
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  n = id
  fivexx = 0
  unexpected = 0
end
function request()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1])
end
function response(status, headers, body)
  if status >= 500 then fivexx = fivexx + 1 end
  if status ~= 200 and status ~= 304 then unexpected = unexpected + 1 end
end
function done(summary, latency, requests)
  local f, u = 0, 0
  for _, t in ipairs(threads) do
    f = f + t:get("fivexx")
    u = u + t:get("unexpected")
  end
  io.write(string.format("soak-lua %d %d\n", f, u))
end
LUA

writer &
WRITER_PID=$!
prober &
PROBE_PID=$!

wrk -t 2 -c "$CONNECTIONS" -d "${DURATION}s" --timeout 30s -s "$WORK/mixed.lua" "$BASE" > "$WORK/wrk.out" 2>&1 || true

kill "$WRITER_PID" 2>/dev/null || true
wait "$WRITER_PID" 2>/dev/null || true
WRITER_PID=""
kill -TERM "$PROBE_PID" 2>/dev/null || true
wait "$PROBE_PID" 2>/dev/null || true
PROBE_PID=""

# Good files last: they must end up served.
cp "$V/incidents.all" "$DATA/incidents.geojson.tmp" && mv -f "$DATA/incidents.geojson.tmp" "$DATA/incidents.geojson"
cp "$V/gang_areas.good" "$DATA/gang_areas.geojson.tmp" && mv -f "$DATA/gang_areas.geojson.tmp" "$DATA/gang_areas.geojson"
FINAL_OK=0
for _ in $(seq 1 1200); do
  matched=$(curl -fs --max-time 30 "$BASE/collections/incidents/items?limit=1" | sed -n 's/.*"numberMatched":\([0-9]*\).*/\1/p')
  if [ "$(health_field last_reload_error)" = "null" ] && [ "$matched" = "$TOTAL" ]; then FINAL_OK=1; break; fi
  sleep 0.25
done
RSS_END=$(rss_kb)
RELOADS_END=$(health_field reloads)
FAILURES_END=$(health_field reload_failures)
ALIVE=1
kill -0 "$KAT_PID" 2>/dev/null || ALIVE=0

WRK_REQUESTS=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$WORK/wrk.out")
SOCKET_ERRORS=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$WORK/wrk.out" | awk '{print $1+$2+$3+$4}')
read -r LUA_5XX LUA_UNEXPECTED < <(sed -n 's/^soak-lua \([0-9]*\) \([0-9]*\)$/\1 \2/p' "$WORK/wrk.out")
read -r PROBES_MADE PROBE_ERRORS PROBE_5XX < "$WORK/probe.result"
if [ -z "${WRK_REQUESTS:-}" ] || [ -z "${LUA_5XX:-}" ]; then
  echo "soak: could not read wrk's report:" >&2
  cat "$WORK/wrk.out" >&2
  exit 1
fi
SOCKET_ERRORS=${SOCKET_ERRORS:-0}

REQUESTS=$(( WRK_REQUESTS + PROBES_MADE ))
ERRORS=$(( SOCKET_ERRORS + LUA_UNEXPECTED + PROBE_ERRORS ))
FIVEXX=$(( LUA_5XX + PROBE_5XX ))

echo "Kat soak: ${DURATION} s on 127.0.0.1:$PORT, $CONNECTIONS connections, data rewritten every 2 s (good/bad)"
echo "  requests:      $REQUESTS ($WRK_REQUESTS mixed good, $PROBES_MADE bad probes)"
echo "  errors:        $ERRORS (socket $SOCKET_ERRORS, unexpected status $LUA_UNEXPECTED, wrong probe answers $PROBE_ERRORS)"
echo "  5xx:           $FIVEXX"
echo "  reloads:       $(( RELOADS_END - RELOADS_START )) swapped in, $(( FAILURES_END - FAILURES_START )) refused"
echo "  RSS:           start ${RSS_START} kB, end ${RSS_END} kB"
grep -E "Latency|Requests/sec" "$WORK/wrk.out" | sed 's/^ */  wrk: /'
if [ -s "$WORK/probe.errors" ]; then head -n 5 "$WORK/probe.errors" | sed 's/^/  /'; fi

STATUS=0
if [ "$ERRORS" -ne 0 ]; then echo "FAIL: $ERRORS errors"; STATUS=1; fi
if [ "$FIVEXX" -ne 0 ]; then echo "FAIL: $FIVEXX 5xx answers"; STATUS=1; fi
if [ "$RSS_END" -gt $(( RSS_START * 2 )) ]; then echo "FAIL: RSS grew from $RSS_START kB to $RSS_END kB"; STATUS=1; fi
if [ "$FINAL_OK" -ne 1 ]; then echo "FAIL: the good data was not served again at the end"; STATUS=1; fi
if [ "$ALIVE" -ne 1 ]; then echo "FAIL: kat died"; STATUS=1; fi
if [ "$STATUS" -eq 0 ]; then echo "PASS"; fi
exit "$STATUS"
