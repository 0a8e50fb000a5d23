#!/usr/bin/env bash
# Database benchmark: Kat on PostgreSQL/PostGIS against Kat on files, and tipg on the same
# database, on the same synthetic incidents. Also creates per second with 16 clients, and how
# long a change takes to reach a second server. Writes bench/out/DATABASE.part.md.
#
#   bash bench/database.sh                 # 100,000 incidents, 15 s per query
#   N=1000000 SECONDS_PER=20 bash bench/database.sh
#
# The cluster is a throwaway one (initdb in bench/out/pg), on loopback; every step is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
SECONDS_PER=${SECONDS_PER:-15}
CONNS=16
OUT=bench/out
PG_PORT=18190 FILE_PORT=18191 DB_PORT=18192 DB2_PORT=18193 TIPG_PORT=18194
mkdir -p "$OUT"

# --- tools -------------------------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || need+=(postgresql-15-postgis-3)
/usr/bin/python3 -c 'import venv' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v oha >/dev/null || cargo install oha --locked --quiet
VENV="$OUT/venv-tipg"
if [ ! -x "$VENV/bin/uvicorn" ] || ! "$VENV/bin/python" -c 'import tipg' 2>/dev/null; then
  rm -rf "$VENV"; /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q tipg uvicorn
fi
cargo build --release --quiet --example synth
cargo build --release --quiet
KAT=./target/release/kat

# --- data and database ------------------------------------------------------------------
DATA="$OUT/db-data"
if [ ! -f "$DATA/incidents.geojson" ] || [ "$(cat "$OUT/db-count" 2>/dev/null)" != "$N" ]; then
  rm -rf "$DATA" && cp -r data "$DATA"
  ./target/release/examples/synth --count "$N" --seed 1 --out "$DATA/incidents.geojson"
  echo "$N" > "$OUT/db-count"
fi
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort | tail -1)
PGDIR="$OUT/pg"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  as_pg "$BIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
rm -rf "$PGDIR"; mkdir -p "$PGDIR"
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$PGDIR"
as_pg "$BIN/initdb" -D "$PGDIR/data" -U kat --auth=trust -E UTF8 >/dev/null
as_pg "$BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
  -o "-p $PG_PORT -k $(realpath "$PGDIR") -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c max_connections=200" start >/dev/null
"$BIN/psql" -h 127.0.0.1 -p $PG_PORT -U kat -d postgres -qAt -c 'CREATE DATABASE kat'
URL="postgres://kat@127.0.0.1:$PG_PORT/kat"
psql_() { "$BIN/psql" -h 127.0.0.1 -p $PG_PORT -U kat -d kat -qAt -c "$1"; }
$KAT db init --database "$URL" >/dev/null
t0=$(date +%s.%N)
KAT_LOG=warn $KAT db import --database "$URL" --data "$DATA" > "$OUT/db-import.txt"
import_s=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
# tipg reads the table as any PostGIS table: the properties it can filter on as columns.
psql_ "ALTER TABLE kat.incidents ADD COLUMN IF NOT EXISTS fatalities integer,
         ADD COLUMN IF NOT EXISTS event_type text, ADD COLUMN IF NOT EXISTS event_date date;
       UPDATE kat.incidents SET fatalities = (feature->'properties'->>'fatalities')::integer,
         event_type = feature->'properties'->>'event_type',
         event_date = (feature->'properties'->>'event_date')::date;
       CREATE INDEX IF NOT EXISTS incidents_event_date ON kat.incidents (event_date);
       CREATE INDEX IF NOT EXISTS incidents_fatalities ON kat.incidents (fatalities);
       ANALYZE kat.incidents;"
TOKEN=$($KAT token create --database "$URL" --role editor --name bench 2>/dev/null | tail -1)

wait_for() { for _ in $(seq 1 900); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done; return 1; }
serve() { # port extra-args...; sets ready to the seconds until /health answers
  local port=$1; shift
  local start; start=$(date +%s.%N)
  KAT_LOG=warn $KAT serve --bind 127.0.0.1:"$port" --data "$DATA" --no-watch "$@" >/dev/null 2>>"$OUT/db-kat.log" &
  pids+=($!)
  wait_for "http://127.0.0.1:$port/health"
  ready=$(python3 -c "print(round($(date +%s.%N) - $start, 2))")
}
serve $FILE_PORT; file_ready=$ready
serve $DB_PORT --database "$URL"; db_ready=$ready
serve $DB2_PORT --database "$URL"; db2_ready=$ready
db_rss=$(grep VmRSS /proc/${pids[1]}/status | awk '{print int($2 / 1024)}')
file_rss=$(grep VmRSS /proc/${pids[0]}/status | awk '{print int($2 / 1024)}')
TIPG_DB_SCHEMAS='["kat"]' DATABASE_URL="$URL" TIPG_MAX_FEATURES_PER_QUERY=10000 \
  "$VENV/bin/uvicorn" tipg.main:app --host 127.0.0.1 --port $TIPG_PORT --workers 2 --log-level error >/dev/null 2>"$OUT/tipg.log" &
pids+=($!)
wait_for "http://127.0.0.1:$TIPG_PORT/collections/kat.incidents/items?limit=1" || { echo "tipg did not start"; cat "$OUT/tipg.log"; exit 1; }

# --- queries -------------------------------------------------------------------------------
python3 - "$OUT" "$DATA" <<'PY'
import json, random, sys, urllib.parse
out, data = sys.argv[1], sys.argv[2]
r = random.Random(11)
q = lambda s: urllib.parse.quote(s, safe="")
def box(w):
    x = r.uniform(-73.9, -71.8 - w); y = r.uniform(18.2, 19.9 - w)
    return f"{x:.4f},{y:.4f},{x + w:.4f},{y + w:.4f}"
qs = {
  "small_bbox": [f"bbox={box(0.05)}&limit=10" for _ in range(500)],
  "half_degree": [f"bbox={box(0.5)}&limit=100" for _ in range(300)],
  "filter_bbox": [f"bbox={box(0.5)}&filter=fatalities%3E%3D5&limit=100" for _ in range(300)],
}
# The same questions in tipg's names: its geometry column is geom, and it filters on columns.
tipg = {k: list(v) for k, v in qs.items()}
tipg["filter_bbox"] = [u.replace("fatalities%3E%3D5", q("fatalities>=5")) for u in qs["filter_bbox"]]
boxes = [box(0.5) for _ in range(300)]
cond = "fatalities>=5 AND event_type IN ('massacre','armed_clash')"
qs["filter_in"] = [f"bbox={b}&filter={q(cond)}&limit=100" for b in boxes]
tipg["filter_in"] = qs["filter_in"]
qs["sortby"] = [f"bbox={b}&sortby=-event_date&limit=10" for b in boxes]
tipg["sortby"] = qs["sortby"]
# Inside a commune: its outline, cut to at most 60 vertices so that the URL stays short.
communes = json.load(open(f"{data}/admin/communes.geojson"))["features"]
rings = []
for f in communes:
    g = f["geometry"]
    ring = g["coordinates"][0] if g["type"] == "Polygon" else max((p[0] for p in g["coordinates"]), key=len)
    step = max(1, len(ring) // 60)
    ring = ring[::step]
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    if len(ring) >= 4:
        rings.append(",".join(f"{x:.4f} {y:.4f}" for x, y in ring))
picked = [rings[r.randrange(len(rings))] for _ in range(200)]
qs["intersects"] = [f"filter={q(f'S_INTERSECTS(geometry,POLYGON(({w})))')}&limit=100" for w in picked]
tipg["intersects"] = [f"filter={q(f'S_INTERSECTS(geom,POLYGON(({w})))')}&limit=100" for w in picked]
for k, v in qs.items():
    open(f"{out}/dq_{k}.txt", "w").write("\n".join(v) + "\n")
for k, v in tipg.items():
    open(f"{out}/dqt_{k}.txt", "w").write("\n".join(v) + "\n")
PY
cat > "$OUT/dpaths.lua" <<'LUA'
local paths = {}
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = args[2] .. line end
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
end
request = function() return wrk.format("GET", paths[math.random(#paths)]) end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.2f %.2f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status))
end
LUA
qfile() { # port query: tipg's spelling of the query for tipg
  if [ "$1" = "$TIPG_PORT" ]; then echo "$OUT/dqt_$2.txt"; else echo "$OUT/dq_$2.txt"; fi
}
wrk_() { # port query prefix
  wrk -t2 -c$CONNS -d"${SECONDS_PER}s" --timeout 10s -s "$OUT/dpaths.lua" "http://127.0.0.1:$1" -- "$(qfile "$1" "$2")" "$3" 2>&1 | grep '^RESULT' | cut -d' ' -f2-
}
oha_() { # port query prefix: oha over the same URLs, in order, repeated
  sed "s|^|http://127.0.0.1:$1$3|" "$(qfile "$1" "$2")" > "$OUT/oha_urls.txt"
  oha --no-tui -c $CONNS -z "${SECONDS_PER}s" --urls-from-file "$OUT/oha_urls.txt" --output-format json 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["summary"]; p=d["latencyPercentiles"]; codes=d.get("statusCodeDistribution",{}); bad=sum(v for k,v in codes.items() if not k.startswith("2")); ms=lambda v: "-" if v is None else "%.2f" % (v*1000); print("%.1f %s %s %d" % (s["requestsPerSec"], ms(p["p50"]), ms(p["p99"]), bad))'
}
declare -A R
QUERIES="small_bbox half_degree filter_bbox filter_in intersects sortby"
for q in $QUERIES; do
  R[file_$q]=$(wrk_ $FILE_PORT $q "/collections/incidents/items?")
  R[db_$q]=$(wrk_ $DB_PORT $q "/collections/incidents/items?")
  R[tipg_$q]=$(wrk_ $TIPG_PORT $q "/collections/kat.incidents/items?")
  R[ohafile_$q]=$(oha_ $FILE_PORT $q "/collections/incidents/items?")
  R[ohadb_$q]=$(oha_ $DB_PORT $q "/collections/incidents/items?")
  R[ohatipg_$q]=$(oha_ $TIPG_PORT $q "/collections/kat.incidents/items?")
done

# --- writes ----------------------------------------------------------------------------------
cat > "$OUT/create.json" <<'JSON'
{"type":"Feature","geometry":{"type":"Point","coordinates":[-72.33,18.54]},"properties":{"event_date":"2026-11-30","event_type":"armed_clash","actors":["SYNTHETIC benchmark"],"fatalities":1,"synthetic":true,"notes":"SYNTHETIC benchmark record"}}
JSON
creates=$(oha --no-tui -c 16 -z "${SECONDS_PER}s" -m POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/geo+json" \
  -D "$OUT/create.json" --output-format json "http://127.0.0.1:$DB_PORT/collections/incidents/items" 2>/dev/null |
  python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["summary"]; p=d["latencyPercentiles"]; c=d.get("statusCodeDistribution",{}); ms=lambda v: "-" if v is None else "%.2f" % (v*1000); print("%.1f %s %s %s" % (s["requestsPerSec"], ms(p["p50"]), ms(p["p99"]), c.get("201",0)))')
# How long a write through one server takes to be served by the other.
converge=$(python3 - "$DB_PORT" "$DB2_PORT" "$TOKEN" <<'PY'
import http.client, json, sys, time
a, b, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ca, cb = http.client.HTTPConnection("127.0.0.1", a), http.client.HTTPConnection("127.0.0.1", b)
waits = []
for n in range(200):
    body = json.dumps({"type": "Feature", "geometry": {"type": "Point", "coordinates": [-72.3, 18.5]},
        "properties": {"event_date": "2026-11-30", "event_type": "armed_clash", "synthetic": True,
                       "notes": f"SYNTHETIC convergence record {n}"}})
    ca.request("POST", "/collections/incidents/items", body,
               {"Authorization": "Bearer " + token, "Content-Type": "application/geo+json"})
    r = ca.getresponse(); r.read()
    assert r.status == 201, r.status
    path = "/collections/incidents/items/" + r.getheader("Location").rsplit("/", 1)[1]
    t = time.perf_counter()
    while True:
        cb.request("GET", path); g = cb.getresponse(); g.read()
        if g.status == 200: break
        time.sleep(0.0005)
    waits.append((time.perf_counter() - t) * 1000)
waits.sort()
print("%.1f %.1f %.1f" % (waits[len(waits) // 2], waits[int(len(waits) * 0.99) - 1], waits[-1]))
PY
)

# --- report --------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
row() { # label file db tipg tool
  read -r fr fp50 fp99 ferr <<<"$2"; read -r dr dp50 dp99 derr <<<"$3"; read -r tr tp50 tp99 terr <<<"$4"
  echo "| $1 | $5 | $fr | $fp99 | $dr | $dp50 | $dp99 | $derr | $(ratio "$dr" "$fr") | $tr | $tp50 | $tp99 | $terr | $(ratio "$dr" "$tr") |"
}
{
  echo "## Kat on PostgreSQL"
  echo
  echo "Measured by \`bash bench/database.sh\` (N=$N synthetic incidents, ${SECONDS_PER} s per query, $CONNS connections) on $(date -u +%Y-%m-%d)."
  echo
  echo "- Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM; everything on loopback, on this one machine"
  echo "- PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') with PostGIS $(psql_ 'SELECT postgis_lib_version()'), shared_buffers 1 GB"
  echo "- Kat $($KAT --version | cut -d' ' -f2) (release); tipg $("$VENV/bin/python" -c 'import tipg; print(tipg.__version__)') under uvicorn with 2 workers, on the same table (\`kat.incidents\`, GiST index on \`geom\`; \`fatalities\`, \`event_type\` and \`event_date\` as columns, the first and last indexed)"
  echo "- \`kat db import\` of the $N incidents: ${import_s} s ($(tail -1 "$OUT/db-import.txt" | head -c 0)$(grep incidents "$OUT/db-import.txt"))"
  echo "- First answer after start: files ${file_ready} s, database ${db_ready} s (second server ${db2_ready} s); RSS once loaded: files ${file_rss} MB, database ${db_rss} MB"
  echo
  echo "| query | tool | files req/s | files p99 ms | database req/s | database p50 ms | database p99 ms | database non-2xx | database / files | tipg req/s | tipg p50 ms | tipg p99 ms | tipg non-2xx | Kat / tipg |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for q in $QUERIES; do
    case $q in
      small_bbox) label="bbox 0.05°, limit 10";;
      half_degree) label="bbox 0.5°, limit 100";;
      filter_bbox) label="bbox 0.5° + CQL2 fatalities >= 5, limit 100";;
      filter_in) label="bbox 0.5° + CQL2 fatalities >= 5 AND event_type IN (2 values), limit 100";;
      intersects) label="CQL2 S_INTERSECTS a commune's outline (≤ 60 vertices), limit 100";;
      sortby) label="bbox 0.5°, sortby=-event_date, limit 10";;
    esac
    row "$label" "${R[file_$q]}" "${R[db_$q]}" "${R[tipg_$q]}" wrk
    row "$label" "${R[ohafile_$q]}" "${R[ohadb_$q]}" "${R[ohatipg_$q]}" oha
  done
  echo
  read -r cr cp50 cp99 c201 <<<"$creates"
  read -r w50 w99 wmax <<<"$converge"
  echo "Creates (POST, 16 clients, oha): ${cr} per second, p50 ${cp50} ms, p99 ${cp99} ms, ${c201} answered 201."
  echo
  echo "A create through one server, until the other serves it (200 in a row): p50 ${w50} ms, p99 ${w99} ms, max ${wmax} ms (target p99 < 1000 ms)."
} > "$OUT/DATABASE.part.md"
cat "$OUT/DATABASE.part.md"
