#!/bin/sh
# Copies the pinned front-end libraries from npm into static/vendor/, so that the map
# needs no CDN and `cargo run` needs no npm. Run from anywhere; commit static/vendor/.
set -eu

root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"

npm ci --no-audit --no-fund

leaflet=node_modules/leaflet
cluster=node_modules/leaflet.markercluster
dest=static/vendor

rm -rf "$dest/leaflet" "$dest/leaflet.markercluster"
mkdir -p "$dest/leaflet/images" "$dest/leaflet.markercluster"

cp "$leaflet/dist/leaflet.js" "$leaflet/dist/leaflet.js.map" "$leaflet/dist/leaflet.css" "$dest/leaflet/"
cp "$leaflet/dist/images/"*.png "$dest/leaflet/images/"
cp "$leaflet/LICENSE" "$dest/leaflet/LICENSE"

cp "$cluster/dist/leaflet.markercluster.js" "$cluster/dist/leaflet.markercluster.js.map" \
   "$cluster/dist/MarkerCluster.css" "$cluster/dist/MarkerCluster.Default.css" "$dest/leaflet.markercluster/"
cp "$cluster/MIT-LICENCE.txt" "$dest/leaflet.markercluster/LICENSE"

for pkg in leaflet leaflet.markercluster; do
    version=$(node -p "require('./node_modules/$pkg/package.json').version")
    printf '%s %s (npm), copied by scripts/vendor-static.sh\n' "$pkg" "$version" > "$dest/$pkg/VERSION"
done

echo "vendored into $dest:"
find "$dest" -type f | sort
