#!/usr/bin/env bash
# Load benchmark: Kat and pygeoapi on the same million synthetic incidents, same machine,
# same queries, 16 connections. Writes BENCHMARKS.md. Loopback only; every step is bounded.
#
#   bash bench/run.sh            # 1,000,000 incidents, 20 s per query
#   N=100000 SECONDS_PER=10 bash bench/run.sh
#   SKIP_PYGEOAPI=1 bash bench/run.sh    # Kat and the minimal reference server only
#
# Besides Kat and pygeoapi it runs bench/minimal.rs, a minimal actix-web + rstar server with
# pre-serialized features that counts by walking the tree: the floor Kat is compared with.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
SECONDS_PER=${SECONDS_PER:-20}
CONNS=16
OUT=bench/out
KAT_PORT=18080
PYGEOAPI_PORT=18081
MINIMAL_PORT=18082
SKIP_PYGEOAPI=${SKIP_PYGEOAPI:-}
mkdir -p "$OUT"

# --- tools -------------------------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v ogr2ogr >/dev/null || need+=(gdal-bin)
[ -e /usr/lib/x86_64-linux-gnu/mod_spatialite.so ] || need+=(libsqlite3-mod-spatialite)
# pygeoapi reads the GeoPackage through GDAL's OGR provider (its R-tree answers the boxes),
# with Debian's GDAL bindings seen from the virtual environment.
/usr/bin/python3 -c 'import venv' 2>/dev/null || need+=(python3-venv)
/usr/bin/python3 -c 'from osgeo import ogr' 2>/dev/null || need+=(python3-gdal)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
VENV="$OUT/venv-gdal"
if [ ! -x "$VENV/bin/gunicorn" ]; then
  rm -rf "$VENV"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
  "$VENV/bin/pip" install -q pygeoapi gunicorn
fi
cargo build --release --quiet --example synth --example minimal
cargo build --release --quiet

# --- data ----------------------------------------------------------------------------------
DATA="$OUT/data"
if [ ! -f "$DATA/incidents.geojson" ] || [ "$(cat "$OUT/count" 2>/dev/null)" != "$N" ]; then
  rm -rf "$DATA" && cp -r data "$DATA"
  ./target/release/examples/synth --count "$N" --seed 1 --out "$DATA/incidents.geojson"
  rm -f "$OUT/incidents.gpkg"
  echo "$N" > "$OUT/count"
fi
[ -f "$OUT/incidents.gpkg" ] || ogr2ogr -f GPKG "$OUT/incidents.gpkg" "$DATA/incidents.geojson" -nln incidents

# --- queries -------------------------------------------------------------------------------
# Many different boxes and points (fixed seed), so that no cache flatters either server.
python3 - "$OUT" <<'PY'
import random, sys
out = sys.argv[1]
r = random.Random(7)
def box(w):
    x = r.uniform(-73.9, -71.8 - w); y = r.uniform(18.2, 19.9 - min(w, 1.5))
    return f"{x:.4f},{y:.4f},{x + w:.4f},{y + min(w, 1.5):.4f}"
qs = {
  "small_bbox": [f"bbox={box(0.05)}&limit=100" for _ in range(500)],
  "page_1000": [f"bbox={box(0.5)}&limit=1000" for _ in range(200)],
  "large_boxes": ["bbox=-74.5,18.0,-71.6,20.1&limit=100"] + [f"bbox={box(r.uniform(1.2, 2.0))}&limit=100" for _ in range(199)],
  "near_10": [f"near={r.uniform(-73.5, -72.0):.4f},{r.uniform(18.3, 19.8):.4f}&limit=10" for _ in range(500)],
}
import math
def tile(z):
    lon, lat = r.uniform(-74.4, -71.7), r.uniform(18.05, 20.05)
    n = 2 ** z
    col = int((lon + 180) / 360 * n)
    row = int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * n)
    return f"{z}/{row}/{col}"
# Random tiles over Haiti (path suffixes), and the aggregate by department and month.
for z in (5, 8, 11, 14):
    qs[f"tile_z{z}"] = [tile(z) for _ in range(500)]
qs["aggregate"] = ["groupby=department&interval=month"]
# Sorted pages: the whole country, and 0.5° boxes.
qs["sorted_country"] = ["sortby=-event_date&limit=100"]
qs["sorted_box"] = [f"sortby=-event_date&bbox={box(0.5)}&limit=100" for _ in range(200)]
for k, v in qs.items():
    open(f"{out}/q_{k}.txt", "w").write("\n".join(v) + "\n")
PY
cat > "$OUT/paths.lua" <<'LUA'
local paths = {}
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = args[2] .. line end
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
end
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.2f %.2f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status, summary.requests))
end
LUA

measure() { # name url prefix
  wrk -t2 -c"$CONNS" -d"${SECONDS_PER}s" --timeout 10s -s "$OUT/paths.lua" "$2" -- "$OUT/q_$1.txt" "$3" 2>&1 | grep '^RESULT' | cut -d' ' -f2-
}

measure_oha() { # name url prefix: oha over the same URLs, in order, repeated
  command -v oha >/dev/null || cargo install oha --locked --quiet
  sed "s|^|$2$3|" "$OUT/q_$1.txt" > "$OUT/oha_urls.txt"
  timeout $((SECONDS_PER + 60)) oha --no-tui -c "$CONNS" -z "${SECONDS_PER}s" --urls-from-file "$OUT/oha_urls.txt" --output-format json 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["summary"]; p=d["latencyPercentiles"]; codes=d.get("statusCodeDistribution",{}); bad=sum(v for k,v in codes.items() if not k.startswith("2")); ms=lambda v: "-" if v is None else "%.2f" % (v*1000); print("%.1f %s %s %d" % (s["requestsPerSec"], ms(p["p50"]), ms(p["p99"]), bad))' ||
    echo "- - - -"
}

wait_for() { for _ in $(seq 1 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done; return 1; }

# --- Kat -----------------------------------------------------------------------------------
# First start: the layer is read from its GeoJSON, then written to the cache in the
# background (<data>/.kat-cache). Second start: read back from the cache. Both are reported;
# the queries run against the second.
kat_start() { # log file; sets KAT, ready, load_ms, all_ms
  local start
  start=$(date +%s.%N)
  KAT_LOG=info ./target/release/kat serve --bind 127.0.0.1:$KAT_PORT --data "$DATA" --no-watch 2>"$1" &
  KAT=$!
  wait_for "http://127.0.0.1:$KAT_PORT/health"
  ready=$(python3 -c "print(round($(date +%s.%N) - $start, 2))")
  load_ms=$(sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -o 'layer loaded[a-z ]* layer="incidents" features=[0-9]* ms=[0-9]*' | grep -o 'ms=[0-9]*' | cut -d= -f2)
  all_ms=$(sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -o 'data loaded ms=[0-9]*' | grep -o '[0-9]*$')
}
rm -rf "$DATA/.kat-cache"
PYG=
kat_start "$OUT/kat-first.log"
trap 'kill $KAT $PYG 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do grep -q 'cache written\|cache not written' "$OUT/kat-first.log" && break; sleep 0.2; done
first_ready=$ready first_load_ms=$load_ms first_all_ms=$all_ms
first_peak_kb=$(grep VmHWM /proc/$KAT/status | awk '{print $2}')
cache_mb=$(du -m "$DATA/.kat-cache/incidents.bin" 2>/dev/null | cut -f1 || echo "-")
kill $KAT; wait $KAT 2>/dev/null || true
kat_start "$OUT/kat.log"
peak_kb=$(grep VmHWM /proc/$KAT/status | awk '{print $2}')
declare -A KATR
for q in small_bbox page_1000 large_boxes near_10 sorted_country sorted_box; do
  KATR[$q]=$(measure $q "http://127.0.0.1:$KAT_PORT" "/collections/incidents/items?")
done
for z in 5 8 11 14; do
  KATR[tile_z$z]=$(measure tile_z$z "http://127.0.0.1:$KAT_PORT" "/collections/incidents/tiles/WebMercatorQuad/")
done
KATR[aggregate]=$(measure aggregate "http://127.0.0.1:$KAT_PORT" "/collections/incidents/aggregate?")
for q in small_bbox large_boxes; do
  KATR[oha_$q]=$(measure_oha $q "http://127.0.0.1:$KAT_PORT" "/collections/incidents/items?")
done
kill $KAT; wait $KAT 2>/dev/null || true

# The same features as Python's json.dump writes them (the whole collection on one line,
# every non-ASCII character escaped), loaded from the file (no cache).
ONE_LINE="$OUT/data-one-line"
if [ ! -s "$ONE_LINE/incidents.geojson" ] || [ "$ONE_LINE/incidents.geojson" -ot "$DATA/incidents.geojson" ]; then
  rm -rf "$ONE_LINE"; mkdir -p "$ONE_LINE"
  for f in "$DATA"/*; do [ "$(basename "$f")" = incidents.geojson ] || ln -s "$(realpath "$f")" "$ONE_LINE/"; done
  python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1])), open(sys.argv[2], "w"))' \
    "$DATA/incidents.geojson" "$ONE_LINE/incidents.geojson"
fi
start=$(date +%s.%N)
KAT_LOG=info ./target/release/kat serve --bind 127.0.0.1:$KAT_PORT --data "$ONE_LINE" --no-watch --no-cache 2>"$OUT/kat-one-line.log" &
KAT=$!
wait_for "http://127.0.0.1:$KAT_PORT/health"
one_ready=$(python3 -c "print(round($(date +%s.%N) - $start, 2))")
one_load_ms=$(sed 's/\x1b\[[0-9;]*m//g' "$OUT/kat-one-line.log" | grep -o 'layer loaded[a-z ]* layer="incidents" features=[0-9]* ms=[0-9]*' | grep -o 'ms=[0-9]*' | cut -d= -f2)
one_all_ms=$(sed 's/\x1b\[[0-9;]*m//g' "$OUT/kat-one-line.log" | grep -o 'data loaded ms=[0-9]*' | grep -o '[0-9]*$')
one_peak_kb=$(grep VmHWM /proc/$KAT/status | awk '{print $2}')
kill $KAT; wait $KAT 2>/dev/null || true

# --- the minimal reference server ------------------------------------------------------------
mstart=$(date +%s.%N)
./target/release/examples/minimal "$DATA/incidents.geojson" 127.0.0.1:$MINIMAL_PORT 2>"$OUT/minimal.log" &
MIN=$!
trap 'kill $KAT $PYG $MIN 2>/dev/null || true' EXIT
wait_for "http://127.0.0.1:$MINIMAL_PORT/collections/incidents/items?limit=1"
mready=$(python3 -c "print(round($(date +%s.%N) - $mstart, 2))")
mpeak_kb=$(grep VmHWM /proc/$MIN/status | awk '{print $2}')
declare -A MINR
for q in small_bbox page_1000 large_boxes; do
  MINR[$q]=$(measure $q "http://127.0.0.1:$MINIMAL_PORT" "/collections/incidents/items?")
done
for q in small_bbox large_boxes; do
  MINR[oha_$q]=$(measure_oha $q "http://127.0.0.1:$MINIMAL_PORT" "/collections/incidents/items?")
done
kill $MIN; wait $MIN 2>/dev/null || true

# --- pygeoapi ------------------------------------------------------------------------------
cat > "$OUT/pygeoapi.yml" <<YML
server:
  bind: {host: 127.0.0.1, port: $PYGEOAPI_PORT}
  url: http://127.0.0.1:$PYGEOAPI_PORT
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  languages: [en-US]
  limits: {default_items: 100, max_items: 10000}
  map: {url: 'https://tile.openstreetmap.org/{z}/{x}/{y}.png', attribution: 'OpenStreetMap'}
logging: {level: ERROR}
metadata:
  identification: {title: bench, description: synthetic benchmark, keywords: [bench], keywords_type: theme, terms_of_service: none, url: 'http://127.0.0.1'}
  license: {name: CC-BY 4.0, url: 'https://creativecommons.org/licenses/by/4.0/'}
  provider: {name: bench, url: 'http://127.0.0.1'}
  contact: {name: bench}
resources:
  incidents:
    type: collection
    title: incidents
    description: SYNTHETIC incidents
    keywords: [synthetic]
    extents: {spatial: {bbox: [-74.5, 18.0, -71.6, 20.1], crs: 'http://www.opengis.net/def/crs/OGC/1.3/CRS84'}}
    providers:
      - type: feature
        name: OGR
        data:
          source_type: GPKG
          source: $PWD/$OUT/incidents.gpkg
          source_capabilities: {paging: true}
        id_field: id
        layer: incidents
YML
export PYGEOAPI_CONFIG="$OUT/pygeoapi.yml" PYGEOAPI_OPENAPI="$OUT/pygeoapi-openapi.yml"
"$VENV/bin/pygeoapi" openapi generate "$PYGEOAPI_CONFIG" --output-file "$PYGEOAPI_OPENAPI" >/dev/null
"$VENV/bin/gunicorn" -w 2 -b 127.0.0.1:$PYGEOAPI_PORT pygeoapi.flask_app:APP 2>"$OUT/pygeoapi.log" &
PYG=$!
declare -A PYR
if [ -z "$SKIP_PYGEOAPI" ] && wait_for "http://127.0.0.1:$PYGEOAPI_PORT/collections/incidents/items?limit=1"; then
  for q in small_bbox page_1000 large_boxes; do
    PYR[$q]=$(measure $q "http://127.0.0.1:$PYGEOAPI_PORT" "/collections/incidents/items?f=json&")
  done
fi
kill $PYG 2>/dev/null; wait $PYG 2>/dev/null || true

# --- report --------------------------------------------------------------------------------
row() { # label kat minimal pyg
  read -r kr kp50 kp99 kerr _ <<<"${2:-- - - - -}"
  read -r mr mp50 mp99 merr _ <<<"${3:-- - - - -}"
  read -r pr pp50 pp99 perr _ <<<"${4:-- - - - -}"
  ratio=$(awk -v a="$kr" -v b="$mr" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }')
  echo "| $1 | $kr | $kp50 | $kp99 | $kerr | $mr | $mp50 | $mp99 | $ratio | $pr | $pp50 | $pp99 | $perr |"
}
{
  echo "# Benchmarks"
  echo
  echo "Measured by \`bash bench/run.sh\` (N=$N, ${SECONDS_PER} s per query, wrk, $CONNS connections, 2 threads) on $(date -u +%Y-%m-%d)."
  echo
  echo "- Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM"
  echo "- Kat $(./target/release/kat --version | cut -d' ' -f2) (release), $(rustc --version)"
  echo "- pygeoapi $("$VENV/bin/python" -c 'import pygeoapi; print(pygeoapi.__version__)') with gunicorn (2 workers), OGR provider on a GeoPackage of the same data"
  echo "- Data: $N synthetic incidents (\`cargo run --release --example synth -- --count $N\`), every record marked synthetic"
  echo
  echo "| query | Kat req/s | Kat p50 ms | Kat p99 ms | Kat non-2xx | minimal req/s | minimal p50 ms | minimal p99 ms | Kat / minimal | pygeoapi req/s | pygeoapi p50 ms | pygeoapi p99 ms | pygeoapi non-2xx |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  row "small bbox (0.05°), limit 100" "${KATR[small_bbox]}" "${MINR[small_bbox]}" "${PYR[small_bbox]:-}"
  row "1,000-feature page, 0.5° box" "${KATR[page_1000]}" "${MINR[page_1000]}" "${PYR[page_1000]:-}"
  row "large boxes (country, 1.2–2°), limit 100" "${KATR[large_boxes]}" "${MINR[large_boxes]}" "${PYR[large_boxes]:-}"
  row "small bbox (0.05°), limit 100, with oha" "${KATR[oha_small_bbox]}" "${MINR[oha_small_bbox]}" ""
  row "large boxes, limit 100, with oha" "${KATR[oha_large_boxes]}" "${MINR[oha_large_boxes]}" ""
  row "near + limit 10" "${KATR[near_10]}" "" ""
  row "sortby=-event_date, the whole country, limit 100" "${KATR[sorted_country]}" "" ""
  row "sortby=-event_date, 0.5° box, limit 100" "${KATR[sorted_box]}" "" ""
  for z in 5 8 11 14; do row "tile z$z (random over Haiti)" "${KATR[tile_z$z]}" "" ""; done
  row "aggregate department x month" "${KATR[aggregate]}" "" ""
  echo
  echo "Kat load and index of $N incidents ($(du -m "$DATA/incidents.geojson" | cut -f1) MB file):"
  echo
  echo "| start | incidents layer ms | \`data loaded\` ms (every layer and the gazetteer) | answering /health after s | peak RSS MB |"
  echo "|---|---|---|---|---|"
  echo "| first, from the GeoJSON (then writes the ${cache_mb} MB cache) | ${first_load_ms} | ${first_all_ms} | ${first_ready} | $((first_peak_kb / 1024)) |"
  echo "| restart, from the cache | ${load_ms} | ${all_ms} | ${ready} | $((peak_kb / 1024)) |"
  echo "| first, the same features as json.dump writes them ($(du -m "$ONE_LINE/incidents.geojson" | cut -f1) MB on one line, \\u escapes), no cache | ${one_load_ms} | ${one_all_ms} | ${one_ready} | $((one_peak_kb / 1024)) |"
  echo
  echo "Minimal reference server (bench/minimal.rs): answering after ${mready} s; peak RSS $((mpeak_kb / 1024)) MB."
} > "$OUT/BENCHMARKS.part.md"
cat "$OUT/BENCHMARKS.part.md"
exit 0
