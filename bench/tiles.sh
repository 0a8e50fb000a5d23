#!/usr/bin/env bash
# Tiles benchmark: Kat and martin (crates.io, its GeoJSON source) serving the same synthetic
# incidents as Mapbox Vector Tiles, same machine, same random tiles over Haiti, 16 connections,
# measured with wrk and with oha. Also Kat's department x month aggregate. Loopback only.
#
#   bash bench/tiles.sh                       # 1,000,000 incidents, 10 s per query
#   N=100000 SECONDS_PER=5 bash bench/tiles.sh
#
# Writes bench/out/TILES-$N.part.md. martin is installed with `cargo install martin` (its
# GeoJSON source only) into bench/out/martin unless `martin` is on the PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
SECONDS_PER=${SECONDS_PER:-10}
CONNS=16
OUT=bench/out
KAT_PORT=18090
MARTIN_PORT=18091
MARTIN_VERSION=1.14.0
mkdir -p "$OUT"

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v oha >/dev/null || cargo install oha --locked --quiet
MARTIN=$(command -v martin || echo "$OUT/martin/bin/martin")
[ -x "$MARTIN" ] || cargo install martin --version "$MARTIN_VERSION" --locked --quiet \
  --no-default-features --features geojson --root "$OUT/martin"
cargo build --release --quiet --example synth
cargo build --release --quiet

# --- data: the same file for both ------------------------------------------------------------
DATA="$OUT/tiles-data-$N"
if [ ! -f "$DATA/incidents.geojson" ]; then
  rm -rf "$DATA" && cp -r data "$DATA"
  if [ "$N" = 1000000 ] && [ "$(cat "$OUT/count" 2>/dev/null)" = "$N" ]; then
    ln -f "$OUT/data/incidents.geojson" "$DATA/incidents.geojson"
  else
    ./target/release/examples/synth --count "$N" --seed 1 --out "$DATA/incidents.geojson"
  fi
fi
# martin publishes every GeoJSON file of a directory; give it the incidents alone.
MDIR="$OUT/tiles-martin-$N"
mkdir -p "$MDIR" && ln -f "$DATA/incidents.geojson" "$MDIR/incidents.geojson"

# --- tiles: fixed seed, the same for both; Kat's path is z/row/col, martin's z/x/y ----------
python3 - "$OUT" <<'PY'
import math, random, sys
out = sys.argv[1]
r = random.Random(11)
for z in (5, 8, 11, 14):
    kat, martin = [], []
    for _ in range(300):
        lon, lat = r.uniform(-74.4, -71.7), r.uniform(18.05, 20.05)
        n = 2 ** z
        col = int((lon + 180) / 360 * n)
        row = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        kat.append(f"{z}/{row}/{col}")
        martin.append(f"{z}/{col}/{row}")
    open(f"{out}/t_kat_{z}.txt", "w").write("\n".join(kat) + "\n")
    open(f"{out}/t_martin_{z}.txt", "w").write("\n".join(martin) + "\n")
open(f"{out}/t_kat_agg.txt", "w").write("groupby=department&interval=month\n")
PY
cat > "$OUT/tpaths.lua" <<'LUA'
local paths = {}
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = args[2] .. line end
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
end
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.2f %.2f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.timeout + summary.errors.connect + summary.errors.read))
end
LUA
wrk_() { # list port prefix
  wrk -t2 -c$CONNS -d"${SECONDS_PER}s" --timeout 30s -s "$OUT/tpaths.lua" "http://127.0.0.1:$2" -- "$OUT/$1" "$3" 2>&1 |
    grep '^RESULT' | cut -d' ' -f2- || echo "- - - -"
}
oha_() { # list prefix
  sed "s|^|$2|" "$OUT/$1" > "$OUT/t_urls.txt"
  timeout $((SECONDS_PER + 60)) oha --no-tui -c $CONNS -z "${SECONDS_PER}s" -t 30s --urls-from-file "$OUT/t_urls.txt" --output-format json 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["summary"]; p=d["latencyPercentiles"]; codes=d.get("statusCodeDistribution",{}); bad=sum(v for k,v in codes.items() if not k.startswith("2")) + sum(d.get("errorDistribution",{}).values()); ms=lambda v: "-" if v is None else "%.2f" % (v*1000); ok=sum(v for k,v in codes.items() if k.startswith("2")); print("%.1f %s %s %d" % (ok / s["total"] if s.get("total") else s["requestsPerSec"], ms(p["p50"]), ms(p["p99"]), bad))' ||
    echo "- - - -"
}
mean_bytes() { # list prefix: the mean body of the first 5 tiles, uncompressed
  head -5 "$OUT/$1" | while read -r t; do curl -s -m 120 -o /dev/null -w '%{size_download}\n' "$2$t" || true; done |
    awk '{ s += $1; n++ } END { if (n) printf "%.0f", s / n; else print "-" }'
}
wait_for() { for _ in $(seq 1 900); do curl -sf -m 2 -o /dev/null "$1" && return 0; sleep 0.2; done; return 1; }
ready_after() { python3 -c "print(round($(date +%s.%N) - $1, 1))"; }

declare -A R
KAT_URL="http://127.0.0.1:$KAT_PORT/collections/incidents/tiles/WebMercatorQuad/"
MARTIN_URL="http://127.0.0.1:$MARTIN_PORT/incidents/"

# --- Kat: its rendered tiles are kept (64 MiB), as martin keeps its own ----------------------
start=$(date +%s.%N)
KAT_LOG=warn ./target/release/kat serve --bind 127.0.0.1:$KAT_PORT --data "$DATA" --no-watch 2>"$OUT/tiles-kat.log" &
KAT=$!
MART=
trap 'kill $KAT $MART 2>/dev/null || true' EXIT
wait_for "http://127.0.0.1:$KAT_PORT/health"
kat_ready=$(ready_after "$start")
for z in 5 8 11 14; do
  R[kat_bytes_$z]=$(mean_bytes t_kat_$z.txt "$KAT_URL")
  R[kat_wrk_$z]=$(wrk_ t_kat_$z.txt $KAT_PORT "/collections/incidents/tiles/WebMercatorQuad/")
  R[kat_oha_$z]=$(oha_ t_kat_$z.txt "$KAT_URL")
done
R[kat_wrk_agg]=$(wrk_ t_kat_agg.txt $KAT_PORT "/collections/incidents/aggregate?")
R[kat_oha_agg]=$(oha_ t_kat_agg.txt "http://127.0.0.1:$KAT_PORT/collections/incidents/aggregate?")
kat_peak_kb=$(grep VmHWM /proc/$KAT/status | awk '{print $2}' || echo 0)
kill $KAT; wait $KAT 2>/dev/null || true

# --- martin ----------------------------------------------------------------------------------
start=$(date +%s.%N)
RUST_LOG=warn "$MARTIN" -l 127.0.0.1:$MARTIN_PORT "$MDIR" >"$OUT/tiles-martin.log" 2>&1 &
MART=$!
wait_for "http://127.0.0.1:$MARTIN_PORT/catalog"
martin_ready=$(ready_after "$start")
for z in 5 8 11 14; do
  R[martin_bytes_$z]=$(mean_bytes t_martin_$z.txt "$MARTIN_URL")
  R[martin_wrk_$z]=$(wrk_ t_martin_$z.txt $MARTIN_PORT "/incidents/")
  R[martin_oha_$z]=$(oha_ t_martin_$z.txt "$MARTIN_URL")
done
# martin may not survive the run (at a million features the kernel's OOM killer stopped it).
if martin_peak_kb=$(grep VmHWM /proc/$MART/status 2>/dev/null | awk '{print $2}') && [ -n "$martin_peak_kb" ]; then
  martin_state="peak RSS $((martin_peak_kb / 1024)) MB"
else
  martin_state="exited during the run: $(dmesg 2>/dev/null | grep -o "Killed process $MART ([a-z]*) total-vm:[0-9]*kB, anon-rss:[0-9]*kB" | tail -1 || true)"
fi
kill $MART 2>/dev/null || true; wait $MART 2>/dev/null || true

# --- report ----------------------------------------------------------------------------------
row() { # label tool kat martin kat-bytes martin-bytes
  read -r kr kp50 kp99 kerr <<<"$3"
  read -r mr mp50 mp99 merr <<<"${4:-- - - -}"
  ratio=$(awk -v a="$kr" -v b="$mr" 'BEGIN { if (b + 0 > 0) printf "%.0f×", a / b; else print "-" }')
  echo "| $1 | $2 | $kr | $kp50 | $kp99 | $kerr | $mr | $mp50 | $mp99 | $merr | $ratio | ${5:--} | ${6:--} |"
}
{
  echo "Measured by \`N=$N SECONDS_PER=$SECONDS_PER bash bench/tiles.sh\` ($CONNS connections) on $(date -u +%Y-%m-%d)."
  echo
  echo "- Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM"
  echo "- Kat $(./target/release/kat --version | cut -d' ' -f2) (release); martin $("$MARTIN" --version | cut -d' ' -f2) (crates.io, GeoJSON source); $(rustc --version)"
  echo "- Data: $N synthetic incidents, one GeoJSON file served by both. Kat answering after ${kat_ready} s (peak RSS $((kat_peak_kb / 1024)) MB); martin after ${martin_ready} s (${martin_state})."
  echo "- Errors count non-2xx answers and timeouts (30 s)."
  echo
  echo "| query | tool | Kat req/s | Kat p50 ms | Kat p99 ms | Kat errors | martin req/s | martin p50 ms | martin p99 ms | martin errors | Kat / martin | Kat mean tile bytes | martin mean tile bytes |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for z in 5 8 11 14; do
    row "tile z$z (300 random over Haiti)" wrk "${R[kat_wrk_$z]}" "${R[martin_wrk_$z]}" "${R[kat_bytes_$z]}" "${R[martin_bytes_$z]}"
    row "tile z$z" oha "${R[kat_oha_$z]}" "${R[martin_oha_$z]}"
  done
  row "aggregate department × month" wrk "${R[kat_wrk_agg]}" ""
  row "aggregate department × month" oha "${R[kat_oha_agg]}" ""
} > "$OUT/TILES-$N.part.md"
cat "$OUT/TILES-$N.part.md"
