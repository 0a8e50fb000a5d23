/* Kat web map: incidents, armed-group areas and department boundaries over OpenStreetMap.
 *
 * Plain script, no build step. Leaflet and Leaflet.markercluster are vendored in
 * /static/vendor/ (see scripts/vendor-static.sh). Every piece of data is put into the page
 * with textContent or DOM nodes, never as HTML, and nothing sets inline styles from
 * strings, so the page runs under the server's strict Content-Security-Policy.
 */
(function () {
  'use strict';

  // ---------------------------------------------------------------- constants

  /** The most incidents one view loads; beyond it the page asks to zoom in. */
  var CAP = 5000;
  /** Features asked for per request; rel=next links bring the rest. */
  var PAGE = 1000;
  /** Nearby list length. */
  var NEAR_LIMIT = 50;
  /** Wait after the last pan, zoom or filter change before asking the server. */
  var DEBOUNCE_MS = 300;
  /** Without a single tile after this long, the base map counts as unavailable. */
  var TILE_TIMEOUT_MS = 6000;

  var HAITI = [[18.0, -74.5], [20.1, -71.6]];
  var MAX_BOUNDS = [[14.5, -78.5], [23.5, -67.5]];

  var EVENT_TYPES = [
    ['armed_clash', 'Armed clash'],
    ['attack_on_civilians', 'Attack on civilians'],
    ['massacre', 'Massacre'],
    ['kidnapping', 'Kidnapping'],
    ['police_operation', 'Police operation'],
    ['prison_break', 'Prison break'],
    ['arson_looting', 'Arson or looting'],
    ['attack_on_infrastructure', 'Attack on infrastructure'],
    ['lynching_vigilante', 'Lynching or vigilante violence'],
    ['sexual_violence', 'Sexual violence'],
    ['displacement', 'Displacement'],
    ['other', 'Other']
  ];
  var TYPE_LABEL = {};
  EVENT_TYPES.forEach(function (t) { TYPE_LABEL[t[0]] = t[1]; });

  var DEPARTMENTS = ['Artibonite', 'Centre', "Grand'Anse", 'Nippes', 'Nord', 'Nord-Est',
    'Nord-Ouest', 'Ouest', 'Sud', 'Sud-Est'];

  var AREA_STATUS = [
    ['controlled', 'Controlled'],
    ['contested', 'Contested'],
    ['influence', 'Under influence']
  ];
  var STATUS_LABEL = {};
  AREA_STATUS.forEach(function (s) { STATUS_LABEL[s[0]] = s[1]; });
  var AREA_STYLE = {
    controlled: { color: '#a50f15', weight: 1.5, fillColor: '#de2d26', fillOpacity: 0.32 },
    contested: { color: '#b35806', weight: 1.5, fillColor: '#fdb863', fillOpacity: 0.32, dashArray: '6 4' },
    influence: { color: '#54278f', weight: 1.2, fillColor: '#9e9ac8', fillOpacity: 0.2, dashArray: '2 5' }
  };
  var APPROXIMATE_LEVELS = { section: 'communal sections', commune: 'communes', department: 'departments' };

  var PRECISION = {
    1: 'placed at locality level',
    2: 'placed at communal-section level',
    3: 'placed at commune level',
    4: 'placed at department level'
  };

  /** Collections the map draws in a layer of its own; every other one gets a generic layer. */
  var BUILT_IN_LAYERS = ['incidents', 'gang_areas', 'departments', 'communes', 'sections'];

  var RADII = ['1', '5', '10', '25', '50'];
  var DEFAULT_RADIUS = '5';

  var numberFormat = new Intl.NumberFormat('en-US');
  function fmt(n) { return numberFormat.format(n); }
  function plural(n, one, many) { return fmt(n) + ' ' + (n === 1 ? one : many); }

  // ---------------------------------------------------------------- DOM helpers

  function $(id) { return document.getElementById(id); }

  /** An element with a class and children (strings become text nodes). */
  function el(tag, className, children) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }

  /** A link to an http(s) URL, or plain text when the URL is anything else. */
  function safeLink(url, text) {
    var ok = false;
    try {
      var u = new URL(String(url), window.location.href);
      ok = u.protocol === 'http:' || u.protocol === 'https:';
    } catch (e) { ok = false; }
    if (!ok) return el('span', null, [String(text || url || '')]);
    var a = el('a', null, [String(text || url)]);
    a.href = String(url);
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    return a;
  }

  function row(dl, term, value) {
    if (value === null || value === undefined || value === '') return;
    dl.appendChild(el('dt', null, [term]));
    dl.appendChild(el('dd', null, [value]));
  }

  function typeOf(p) {
    var t = p && p.event_type;
    return Object.prototype.hasOwnProperty.call(TYPE_LABEL, t) ? t : 'other';
  }

  function typeLabel(t) {
    return TYPE_LABEL[t] || String(t || 'Unknown type');
  }

  function placeText(p) {
    var parts = [];
    if (p.location_as_reported) parts.push(String(p.location_as_reported));
    var admin = [p.commune, p.department].filter(Boolean).join(', ');
    if (admin && admin !== p.location_as_reported) parts.push(parts.length ? '(' + admin + ')' : admin);
    return parts.join(' ') || 'Place not given';
  }

  function countText(v) {
    return v === null || v === undefined ? 'not reported' : fmt(v);
  }

  // ---------------------------------------------------------------- popups

  function incidentPopup(feature) {
    var p = feature.properties || {};
    var t = typeOf(p);
    var box = el('div', 'kat-popup');
    var head = el('p', 'kat-popup-title', [
      el('span', 'swatch kat-t-' + t),
      ' ' + typeLabel(p.event_type) + ', ' + (p.event_date || 'date unknown')
    ]);
    box.appendChild(head);
    var dl = el('dl', 'kat-facts');
    row(dl, 'Date', p.event_date || 'unknown');
    row(dl, 'Type', typeLabel(p.event_type));
    var actors = Array.isArray(p.actors) ? p.actors.filter(Boolean).map(String) : [];
    row(dl, 'Actors', actors.length ? actors.join('; ') : 'not named');
    row(dl, 'Fatalities', countText(p.fatalities));
    if (p.injured !== null && p.injured !== undefined) row(dl, 'Injured', countText(p.injured));
    if (p.kidnapped !== null && p.kidnapped !== undefined) row(dl, 'Kidnapped', countText(p.kidnapped));
    row(dl, 'Location as reported', p.location_as_reported ? String(p.location_as_reported) : 'not given');
    var admin = [p.section, p.commune, p.department].filter(Boolean).join(', ');
    row(dl, 'Area', admin);
    row(dl, 'Precision', PRECISION[p.geo_precision] || 'precision unknown');
    box.appendChild(dl);
    if (p.summary) box.appendChild(el('p', 'kat-summary', [String(p.summary)]));
    var src = el('p', 'kat-source', ['Source: ']);
    if (p.source_url) {
      src.appendChild(safeLink(p.source_url, p.source_name || p.source_url));
    } else {
      src.appendChild(document.createTextNode(p.source_name ? String(p.source_name) : 'not given'));
    }
    box.appendChild(src);
    var more = Array.isArray(p.corroborating_urls) ? p.corroborating_urls.filter(Boolean) : [];
    if (more.length) {
      var also = el('p', 'kat-source', ['Also reported: ']);
      more.forEach(function (u, i) {
        if (i) also.appendChild(document.createTextNode(', '));
        also.appendChild(safeLink(u, hostOf(u) || 'link ' + (i + 1)));
      });
      box.appendChild(also);
    }
    box.appendChild(el('p', 'kat-id', ['Record ' + String(feature.id || '')]));
    popupExtras.forEach(function (extra) { extra(feature, box); });
    return box;
  }

  /** What other scripts add to an incident's popup (edit.js: Correct, History). */
  var popupExtras = [];

  function hostOf(u) {
    try { return new URL(String(u)).hostname.replace(/^www\./, ''); } catch (e) { return ''; }
  }

  function isApproximate(p) {
    return Object.prototype.hasOwnProperty.call(APPROXIMATE_LEVELS, p.basis_level);
  }

  function areaTitle(p) {
    var text = String(p.group || 'Armed group') + ': ' + (STATUS_LABEL[p.status] || String(p.status || 'status unknown')).toLowerCase();
    if (isApproximate(p)) text += ' (approximate)';
    return text;
  }

  function areaPopup(feature) {
    var p = feature.properties || {};
    var box = el('div', 'kat-popup');
    box.appendChild(el('p', 'kat-popup-title', [areaTitle(p)]));
    var dl = el('dl', 'kat-facts');
    row(dl, 'Group', String(p.group || 'not named'));
    if (p.leader_as_reported) row(dl, 'Leader as reported', String(p.leader_as_reported));
    row(dl, 'Status', STATUS_LABEL[p.status] || String(p.status || 'unknown'));
    row(dl, 'As of', p.as_of ? String(p.as_of) : 'date not given');
    if (p.localities) row(dl, 'Localities', String(p.localities));
    row(dl, 'Basis', p.basis ? String(p.basis) : 'not given');
    box.appendChild(dl);
    if (isApproximate(p)) {
      box.appendChild(el('p', 'kat-approx', [
        'Approximate: drawn from whole ' + APPROXIMATE_LEVELS[p.basis_level] +
        ', not from the exact area the group holds.'
      ]));
    }
    if (p.summary) box.appendChild(el('p', 'kat-summary', [String(p.summary)]));
    var src = el('p', 'kat-source', ['Source: ']);
    src.appendChild(p.source_url ? safeLink(p.source_url, hostOf(p.source_url) || p.source_url) : document.createTextNode('not given'));
    box.appendChild(src);
    return box;
  }

  // ---------------------------------------------------------------- the token

  /*
   * A member's token, kept in sessionStorage for this tab only. It goes out as
   * `Authorization: Bearer` on every request the page makes, never in a URL: writes need it,
   * and on a server started with --private so do reads. Where sessionStorage is refused (some
   * private browsing modes) it lives in this page only, until the page is left.
   */
  var TOKEN_KEY = 'kat.token';
  /** Set once a read was refused for want of a token: downloads then carry it too. */
  var PRIVATE_KEY = 'kat.readsNeedToken';
  var memoryToken = '';
  var memoryPrivate = false;

  function token() {
    try { return window.sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return memoryToken; }
  }

  /** Keeps t (or forgets the token, for ''); whether it will outlive a reload of the page. */
  function setToken(t) {
    memoryToken = t || '';
    try {
      if (t) window.sessionStorage.setItem(TOKEN_KEY, t);
      else window.sessionStorage.removeItem(TOKEN_KEY);
      return true;
    } catch (e) { return false; }
  }

  function readsNeedToken() {
    try { return memoryPrivate || window.sessionStorage.getItem(PRIVATE_KEY) === '1'; } catch (e) { return memoryPrivate; }
  }

  /** Request headers with the token, when there is one. */
  function withToken(headers) {
    var t = token();
    if (t) headers.Authorization = 'Bearer ' + t;
    return headers;
  }

  var signInNeeded = [];
  var refusedOnce = false;

  /**
   * A read was answered 401: the server shares its data with members only, and this page
   * has no token it takes. The token is forgotten and whoever listens (edit.js) asks for
   * one, once however many requests were refused.
   */
  function readRefused(detail) {
    memoryPrivate = true;
    try { window.sessionStorage.setItem(PRIVATE_KEY, '1'); } catch (e) { /* kept in memory */ }
    if (refusedOnce) return;
    refusedOnce = true;
    var had = !!token();
    setToken('');
    signInNeeded.forEach(function (fn) { fn(detail, had); });
  }

  // ---------------------------------------------------------------- HTTP

  function getJSON(url, signal) {
    return fetch(url, {
      headers: withToken({ Accept: 'application/geo+json, application/json;q=0.9' }),
      signal: signal
    }).then(function (res) {
      if (!res.ok) {
        return res.text().then(function (body) {
          var detail = '';
          try { detail = JSON.parse(body).detail || ''; } catch (e) { detail = ''; }
          var err = new Error('HTTP ' + res.status + (detail ? ': ' + detail : ''));
          err.status = res.status;
          if (res.status === 401) readRefused(detail);
          throw err;
        });
      }
      return res.json();
    });
  }

  /** The same-origin path of a rel link in a links[] array, or null. */
  function linkHref(links, rel) {
    if (!Array.isArray(links)) return null;
    for (var i = 0; i < links.length; i++) {
      var l = links[i];
      if (l && l.rel === rel && l.href) {
        try {
          var u = new URL(l.href, window.location.href);
          if (u.origin !== window.location.origin) return null;
          return u.pathname + u.search;
        } catch (e) { return null; }
      }
    }
    return null;
  }

  function isAbort(e) { return e && e.name === 'AbortError'; }

  /** Popups fit a phone's width. */
  function popupOptions() {
    var phone = window.matchMedia('(max-width: 480px)').matches;
    var o = { maxWidth: phone ? 250 : 320, minWidth: phone ? 200 : 240, autoPanPaddingTopLeft: [16, 76], autoPanPaddingBottomRight: [16, 24] };
    if (phone) o.maxHeight = 240;
    return o;
  }

  // ---------------------------------------------------------------- state

  var els = {
    status: $('status'),
    from: $('from'),
    to: $('to'),
    type: $('event-type'),
    fmin: $('min-fatalities'),
    dept: $('department'),
    radius: $('radius'),
    form: $('filters'),
    panel: $('filters-panel'),
    toggle: $('panel-toggle'),
    panelClose: $('panel-close'),
    download: $('download-view'),
    downloadFormat: $('download-format'),
    downloads: $('download-layers'),
    tileNotice: $('tile-notice'),
    nearby: $('nearby'),
    nearbyClose: $('nearby-close'),
    nearbySummary: $('nearby-summary'),
    nearbyList: $('nearby-list'),
    legendTypes: $('legend-types'),
    search: $('place-search'),
    searchOptions: $('place-options'),
    placeNote: $('place-note'),
    chart: $('chart'),
    chartSummary: $('chart-summary'),
    interval: $('chart-interval'),
    play: $('chart-play'),
    byUnit: $('choropleth-unit'),
    byMeasure: $('choropleth-measure'),
    choroLegend: $('choropleth-legend'),
    choroDetails: $('choropleth-details'),
    choroTable: document.querySelector('#choropleth-table tbody'),
    legendAreas: $('legend-areas')
  };

  EVENT_TYPES.forEach(function (t) {
    var o = el('option', null, [t[1]]);
    o.value = t[0];
    els.type.appendChild(o);
  });
  DEPARTMENTS.forEach(function (d) {
    var o = el('option', null, [d]);
    o.value = d;
    els.dept.appendChild(o);
  });
  EVENT_TYPES.forEach(function (t) {
    els.legendTypes.appendChild(el('li', null, [el('span', 'swatch kat-t-' + t[0]), ' ' + t[1]]));
  });
  AREA_STATUS.forEach(function (s) {
    els.legendAreas.appendChild(el('li', null, [el('span', 'swatch area kat-area-' + s[0]), ' Armed-group area: ' + s[1].toLowerCase()]));
  });

  /** The event types chosen in the list; none chosen (or "All") means every type. */
  function selectedTypes() {
    var out = [];
    for (var i = 0; i < els.type.options.length; i++) {
      var o = els.type.options[i];
      if (o.selected && o.value) out.push(o.value);
    }
    return out;
  }

  function setSelectedTypes(types) {
    for (var i = 0; i < els.type.options.length; i++) {
      var o = els.type.options[i];
      o.selected = o.value ? types.indexOf(o.value) >= 0 : types.length === 0;
    }
  }

  /** The minimum number of fatalities, or null for none. */
  function minFatalities() {
    var v = els.fmin.value.trim();
    if (!/^\d{1,6}$/.test(v)) return null;
    var n = Number(v);
    return n > 0 ? n : null;
  }

  /** The filters as the form holds them. */
  function readFilters() {
    var from = els.from.value, to = els.to.value;
    if (from && to && from > to) { var x = from; from = to; to = x; }
    return { from: from, to: to, types: selectedTypes(), fmin: minFatalities(), dept: els.dept.value };
  }

  function datetimeOf(f) {
    if (!f.from && !f.to) return null;
    return f.from && f.from === f.to ? f.from : (f.from || '..') + '/' + (f.to || '..');
  }

  /** A CQL2 text string literal. */
  function cqlString(v) { return "'" + String(v).replace(/'/g, "''") + "'"; }

  /**
   * How the active filters go to the API. Each entry of `variants` is one query's
   * parameters; their answers are disjoint and together make the view. Where the server
   * speaks CQL2 there is one query and `filter` carries several types and the minimum
   * toll. Otherwise each chosen type is its own query, and `keep` drops, on this side,
   * the features under the minimum toll (`exact` is then false: numberMatched counts them).
   */
  function queryPlan(base) {
    var f = readFilters();
    var common = new URLSearchParams(base ? base.toString() : '');
    var dt = datetimeOf(f);
    if (dt) common.set('datetime', dt);
    if (f.dept) common.set('department', f.dept);
    var keep = function () { return true; };
    var exact = true;
    var variants = [];
    if (caps.cql2 && (f.types.length > 1 || f.fmin !== null)) {
      var parts = [];
      if (f.types.length) {
        parts.push('(' + f.types.map(function (t) { return 'event_type = ' + cqlString(t); }).join(' OR ') + ')');
      }
      if (f.fmin !== null) parts.push('fatalities >= ' + f.fmin);
      var q = new URLSearchParams(common.toString());
      q.set('filter', parts.join(' AND '));
      q.set('filter-lang', 'cql2-text');
      variants.push(q);
    } else {
      if (f.types.length === 0) variants.push(common);
      f.types.forEach(function (t) {
        var v = new URLSearchParams(common.toString());
        v.set('event_type', t);
        variants.push(v);
      });
      if (f.fmin !== null) {
        var min = f.fmin;
        keep = function (feature) {
          var n = feature && feature.properties ? feature.properties.fatalities : null;
          return typeof n === 'number' && n >= min;
        };
        exact = false;
      }
    }
    return { variants: variants, keep: keep, exact: exact, filters: f };
  }


  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }

  /** The map's bounds as a bbox, rounded outwards to 4 decimals. */
  function bboxParam() {
    var b = map.getBounds();
    var down = function (v) { return Math.floor(v * 1e4) / 1e4; };
    var up = function (v) { return Math.ceil(v * 1e4) / 1e4; };
    var w = down(clamp(b.getWest(), -180, 180));
    var s = down(clamp(b.getSouth(), -90, 90));
    var e = up(clamp(b.getEast(), -180, 180));
    var n = up(clamp(b.getNorth(), -90, 90));
    return [w, s, e, n].join(',');
  }

  function viewPlan() {
    var params = new URLSearchParams();
    params.set('bbox', bboxParam());
    return queryPlan(params);
  }

  /**
   * What the server can do beyond OGC API - Features Part 1: CQL2 filters from
   * /conformance, counts (/aggregate) and vector tiles from the paths /api declares. The
   * page asks only for what is declared, so an older server gives no failed requests.
   */
  var caps = { cql2: false, aggregate: false, tiles: false, edits: false };
  var capsReady = Promise.all([
    getJSON('/conformance').then(function (body) {
      var list = Array.isArray(body.conformsTo) ? body.conformsTo : [];
      caps.cql2 = list.some(function (c) { return /\/conf\/cql2-text$/.test(String(c)); }) &&
        list.some(function (c) { return /ogcapi-features-3\/[\d.]+\/conf\/filter$/.test(String(c)); });
      // OGC API - Features Part 4: the server takes edits (it has a database).
      caps.edits = list.some(function (c) { return /ogcapi-features-4\/[\d.]+\/conf\/create-replace-delete$/.test(String(c)); });
    }).catch(function () { caps.cql2 = false; caps.edits = false; }),
    getJSON('/api').then(function (body) {
      var paths = Object.keys((body && body.paths) || {});
      var has = function (re) { return paths.some(function (p) { return re.test(p); }); };
      caps.aggregate = has(/^\/collections\/(incidents|\{collectionId\})\/aggregate$/);
      caps.tiles = has(/^\/collections\/(incidents|\{collectionId\})\/tiles\/(WebMercatorQuad|\{tileMatrixSetId\})\/\{tileMatrix\}\/\{tileRow\}\/\{tileCol\}$/);
    }).catch(function () { caps.aggregate = false; caps.tiles = false; })
  ]);

  function NoAggregate() {
    this.name = 'NoAggregate';
    this.message = 'too many incidents to count without the server\'s /aggregate';
  }

  // ---------------------------------------------------------------- map

  var map = L.map('map', {
    zoomControl: true,
    minZoom: 6,
    maxZoom: 18,
    maxBounds: MAX_BOUNDS,
    maxBoundsViscosity: 0.7,
    worldCopyJump: false,
    preferCanvas: false
  });
  map.attributionControl.setPrefix(false);

  map.createPane('kat-departments');
  map.getPane('kat-departments').style.zIndex = 405;
  map.getPane('kat-departments').style.pointerEvents = 'none';
  map.createPane('kat-nearby');
  map.getPane('kat-nearby').style.zIndex = 410;
  map.getPane('kat-nearby').style.pointerEvents = 'none';

  var tiles = L.tileLayer('https://tile.openstreetmap.org/{z}/{x}/{y}.png', {
    maxZoom: 19,
    attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
  });

  var incidents = L.markerClusterGroup({
    chunkedLoading: true,
    chunkInterval: 100,
    chunkDelay: 20,
    maxClusterRadius: 50,
    spiderfyOnMaxZoom: true,
    showCoverageOnHover: false,
    removeOutsideVisibleBounds: true,
    attribution: 'Incidents: cited news pages; place names: GeoNames, CC BY 4.0'
  });

  var areas = L.geoJSON(null, {
    attribution: 'Armed-group areas: cited news pages',
    style: function (f) {
      var p = f.properties || {};
      var s = AREA_STYLE[p.status] || AREA_STYLE.influence;
      return L.extend({ className: 'kat-area kat-area-' + (AREA_STYLE[p.status] ? p.status : 'other') }, s);
    },
    onEachFeature: function (f, layer) {
      var p = f.properties || {};
      layer.bindTooltip(el('span', null, [areaTitle(p)]), { sticky: true, className: 'kat-tooltip' });
      layer.bindPopup(function () { return areaPopup(f); }, popupOptions());
    }
  });

  var departments = L.geoJSON(null, {
    pane: 'kat-departments',
    interactive: false,
    attribution: 'Boundaries: CNIGS / OCHA (COD-AB Haiti), CC BY 3.0 IGO',
    style: function () {
      return { className: 'kat-dept', color: '#2b2b2b', weight: 1.6, opacity: 0.85, fill: false, interactive: false };
    }
  });

  tiles.addTo(map);
  departments.addTo(map);
  areas.addTo(map);
  // Holds the incidents as drawn: the clustered markers, or the vector tiles where the
  // server has them. The layer control switches this group, whichever it holds.
  var incidentLayer = L.layerGroup([incidents]).addTo(map);

  // The nearby list (below the map on phones) and the window change the map's size.
  if (window.ResizeObserver) {
    new ResizeObserver(function () { map.invalidateSize(); }).observe(map.getContainer());
  }

  var narrow = window.matchMedia('(max-width: 700px)');
  var layersControl = L.control.layers(
    { 'OpenStreetMap': tiles },
    {
      'Incidents': incidentLayer,
      'Armed-group areas': areas,
      'Department boundaries': departments
    },
    { collapsed: narrow.matches, position: 'topright' }
  ).addTo(map);
  L.control.scale({ imperial: false, position: 'bottomleft' }).addTo(map);

  // ---------------------------------------------------------------- base map availability

  var tileLoaded = false;
  function showTileNotice(show) { els.tileNotice.hidden = !show; }
  tiles.on('tileload', function () { tileLoaded = true; showTileNotice(false); });
  tiles.on('tileerror', function () { if (!tileLoaded) showTileNotice(true); });
  window.setTimeout(function () {
    if (!tileLoaded && map.hasLayer(tiles)) showTileNotice(true);
  }, TILE_TIMEOUT_MS);
  map.on('baselayerchange overlayremove', function () {
    if (!map.hasLayer(tiles)) showTileNotice(false);
  });

  // ---------------------------------------------------------------- incidents

  var markersById = new Map();   // id -> marker currently in the cluster group
  var iconCache = {};
  var loadSeq = 0;
  var loadCtrl = null;

  function iconFor(t) {
    if (!iconCache[t]) {
      iconCache[t] = L.divIcon({ className: 'kat-incident kat-t-' + t, iconSize: [16, 16], iconAnchor: [8, 8], popupAnchor: [0, -8] });
    }
    return iconCache[t];
  }

  function markerFor(f) {
    var c = f.geometry.coordinates;
    var p = f.properties || {};
    var t = typeOf(p);
    var m = L.marker([c[1], c[0]], {
      icon: iconFor(t),
      title: typeLabel(p.event_type) + ', ' + (p.event_date || 'date unknown') + ', ' + placeText(p),
      riseOnHover: true
    });
    m.feature = f;
    m.bindPopup(function () { return incidentPopup(f); }, popupOptions());
    return m;
  }

  function hasPoint(f) {
    return f && f.geometry && f.geometry.type === 'Point' && Array.isArray(f.geometry.coordinates) &&
      isFinite(f.geometry.coordinates[0]) && isFinite(f.geometry.coordinates[1]);
  }

  function setStatus(text, busy) {
    els.status.textContent = text;
    els.status.setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  function loadFailure(e) {
    if (e && e.status === 401) return 'This server shows its incidents to members only: sign in with your token to see them.';
    return 'Could not load incidents (' + e.message + '). Move the map to try again.';
  }

  function loadIncidents() {
    var seq = ++loadSeq;
    if (loadCtrl) loadCtrl.abort();
    var ctrl = new AbortController();
    loadCtrl = ctrl;
    setStatus('Loading incidents…', true);
    return capsReady.then(function () {
      if (seq !== loadSeq) return;
      return loadView(seq, ctrl);
    }).catch(function (e) {
      // A newer load took over.
      if (!isAbort(e)) throw e;
    });
  }

  function loadView(seq, ctrl) {
    var plan = viewPlan();
    if (caps.tiles && plan.exact) {
      if (drawMode === 'tiles') return loadTiledView(seq, ctrl, plan);
      // Markers while the view holds few enough to load; tiles beyond, where nothing is capped.
      return viewCount(plan, ctrl).then(function (n) {
        if (seq !== loadSeq) return null;
        if (n !== null && n > CAP) return loadTiledView(seq, ctrl, plan);
        return loadMarkers(seq, ctrl, plan);
      });
    }
    return loadMarkers(seq, ctrl, plan);
  }

  /** How many incidents the view holds, from /aggregate (null when it cannot say). */
  function viewCount(plan, ctrl) {
    if (!caps.aggregate) return Promise.resolve(null);
    return Promise.all(plan.variants.map(function (v) {
      var q = new URLSearchParams(v.toString());
      q.set('groupby', 'event_type');
      return getJSON(AGGREGATE_URL + '?' + q.toString(), ctrl.signal);
    })).then(function (bodies) {
      var n = 0;
      bodies.forEach(function (b) { n += typeof b.numberMatched === 'number' ? b.numberMatched : 0; });
      return n;
    }, function (e) {
      if (isAbort(e)) throw e;
      return null;
    });
  }

  function loadMarkers(seq, ctrl, plan) {
    showDrawn(incidents);
    var seen = new Set();
    var matched = 0;
    var kept = 0;
    var loaded = 0;
    var capped = false;
    var viewFeatures = [];

    function page(u, first) {
      return getJSON(u, ctrl.signal).then(function (body) {
        if (seq !== loadSeq) return null;
        if (first && typeof body.numberMatched === 'number') matched += body.numberMatched;
        var fresh = [];
        var features = Array.isArray(body.features) ? body.features : [];
        for (var i = 0; i < features.length; i++) {
          if (loaded >= CAP) { capped = true; break; }
          var f = features[i];
          loaded++;
          if (!plan.keep(f)) continue;
          kept++;
          viewFeatures.push(f);
          if (!hasPoint(f)) continue;
          var id = f.id !== undefined && f.id !== null ? String(f.id) : 'anon-' + seq + '-' + loaded;
          seen.add(id);
          if (!markersById.has(id)) {
            var m = markerFor(f);
            markersById.set(id, m);
            fresh.push(m);
          }
        }
        if (fresh.length) incidents.addLayers(fresh);
        var next = linkHref(body.links, 'next');
        if (next && loaded >= CAP) capped = true;
        if (next && !capped) {
          setStatus('Loading incidents… ' + fmt(loaded) + (matched ? ' of ' + fmt(matched) : ''), true);
          return page(next, false);
        }
        return true;
      });
    }

    // One query after another: their counts add up, and the cap holds over all of them.
    var chain = Promise.resolve(true);
    plan.variants.forEach(function (v) {
      chain = chain.then(function (ok) {
        if (!ok || capped || seq !== loadSeq) return ok;
        var params = new URLSearchParams(v.toString());
        params.set('limit', String(PAGE));
        return page('/collections/incidents/items?' + params.toString(), true);
      });
    });

    return chain.then(function (done) {
      if (!done || seq !== loadSeq) return;
      var stale = [];
      markersById.forEach(function (m, id) {
        if (!seen.has(id)) { stale.push(m); markersById.delete(id); }
      });
      if (stale.length) incidents.removeLayers(stale);
      lastView = { features: viewFeatures, complete: !capped };
      updateDownload();
      var total = plan.exact ? matched : kept;
      if (capped || (plan.exact && total > loaded)) {
        setStatus('showing ' + fmt(kept) + ' of ' + (plan.exact ? '' : 'at least ') + fmt(plan.exact ? total : kept) + ' incidents in view — zoom in', false);
        els.status.classList.add('capped');
      } else {
        setStatus(plural(total, 'incident', 'incidents') + ' in view', false);
        els.status.classList.remove('capped');
      }
    }).catch(function (e) {
      if (isAbort(e) || seq !== loadSeq) return;
      setStatus(loadFailure(e), false);
    });
  }

  // ---------------------------------------------------------------- incidents from vector tiles

  /** 'tiles' draws from tiles at any count (draw=tiles in the URL); otherwise only beyond CAP. */
  var drawMode = '';
  var TILE_URL = '/collections/incidents/tiles/WebMercatorQuad/';
  var tileGrid = null;
  var tileGridKey = null;
  /** The side of the square into which a tile's aggregated cells are merged, in pixels. */
  var BUBBLE_PX = 32;

  function showDrawn(layer) {
    if (incidentLayer.hasLayer(layer)) return;
    incidentLayer.clearLayers();
    incidentLayer.addLayer(layer);
  }

  function bubbleSize(count) {
    return count < 10 ? 30 : count < 100 ? 36 : count < 1000 ? 42 : count < 10000 ? 48 : 54;
  }

  /** Draws one tile feature: a bubble with its count for an aggregated cell, else a dot. */
  function tilePoint(tile, f, x, y) {
    var p = f.properties || {};
    var count = typeof p.count === 'number' ? p.count : 1;
    var node;
    if (count > 1) {
      var d = bubbleSize(count);
      node = el('div', 'kat-tile-point marker-cluster kat-tile-cluster', [el('div', null, [el('span', null, [fmt(count)])])]);
      node.style.width = d + 'px';
      node.style.height = d + 'px';
      node.style.left = (x - d / 2) + 'px';
      node.style.top = (y - d / 2) + 'px';
      node.setAttribute('data-count', String(count));
      node.setAttribute('role', 'button');
      node.setAttribute('aria-label', plural(count, 'incident', 'incidents') + ' here; zoom in');
    } else {
      var t = typeOf(p);
      node = el('div', 'kat-tile-point leaflet-marker-icon leaflet-interactive kat-incident kat-t-' + t);
      node.style.left = (x - 8) + 'px';
      node.style.top = (y - 8) + 'px';
      node.setAttribute('data-count', '1');
      node.setAttribute('role', 'button');
      node.setAttribute('aria-label', typeLabel(p.event_type) + ', ' + (p.event_date || 'date unknown'));
    }
    node.tabIndex = -1;
    L.DomEvent.on(node, 'click', function (e) {
      L.DomEvent.stop(e);
      var ll = map.unproject(tile.origin.add(L.point(x, y)), tile.z);
      if (count > 1) {
        map.setView(ll, Math.min(map.getMaxZoom(), map.getZoom() + 2));
        return;
      }
      var id = p.id !== undefined && p.id !== null ? p.id : f.id;
      if (id === null || id === undefined) return;
      getJSON('/collections/incidents/items/' + encodeURIComponent(String(id))).then(function (feature) {
        L.popup(popupOptions()).setLatLng(ll).setContent(incidentPopup(feature)).openOn(map);
      }).catch(function (err) {
        L.popup(popupOptions()).setLatLng(ll).setContent(el('p', null, ['Could not load this incident (' + err.message + ').'])).openOn(map);
      });
    });
    tile.el.appendChild(node);
  }

  /** A grid of 256-pixel tiles, each the points of one MVT tile per query variant. */
  var IncidentTiles = L.GridLayer.extend({
    initialize: function (variants, options) {
      this._variants = variants;
      L.GridLayer.prototype.initialize.call(this, options);
    },
    createTile: function (coords, done) {
      var div = L.DomUtil.create('div', 'kat-tile');
      var size = this.getTileSize();
      // The tile's top-left corner in world pixels at its zoom, to place a click.
      var tile = { el: div, origin: coords.scaleBy(size), z: coords.z };
      var z = coords.z;
      var n = Math.pow(2, z);
      if (coords.y < 0 || coords.y >= n) { window.setTimeout(function () { done(null, div); }, 0); return div; }
      var x = ((coords.x % n) + n) % n;
      Promise.all(this._variants.map(function (v) {
        var q = v.toString();
        return fetch(TILE_URL + z + '/' + coords.y + '/' + x + (q ? '?' + q : ''), {
          headers: withToken({ Accept: 'application/vnd.mapbox-vector-tile' })
        }).then(function (res) {
          if (res.status === 204) return new ArrayBuffer(0);
          if (res.status === 401) readRefused('');
          if (!res.ok) throw new Error('HTTP ' + res.status);
          return res.arrayBuffer();
        });
      })).then(function (buffers) {
        var total = 0;
        // Aggregated cells are a few pixels wide, far finer than a bubble: they are merged
        // into BUBBLE_PX squares (counts summed, placed at their weighted centre), so that a
        // tile draws at most a few dozen bubbles rather than hundreds of overlapping ones.
        var buckets = {};
        buffers.forEach(function (buf) {
          var layers = window.KatMVT.decode(new Uint8Array(buf));
          var layer = layers.incidents;
          if (!layer) return;
          var scale = size.x / (layer.extent || 4096);
          layer.features.forEach(function (f) {
            var p = f.properties || {};
            var count = typeof p.count === 'number' ? p.count : 1;
            f.points.forEach(function (pt) {
              var px = pt[0] * scale, py = pt[1] * scale;
              // A point on the tile's far edge belongs to the next tile.
              if (px < 0 || py < 0 || px >= size.x || py >= size.y) return;
              if (p.aggregated !== true) {
                tilePoint(tile, f, px, py);
                total += count;
                return;
              }
              var k = Math.floor(px / BUBBLE_PX) + ',' + Math.floor(py / BUBBLE_PX);
              var b = buckets[k] || (buckets[k] = { n: 0, x: 0, y: 0, f: f });
              b.n += count;
              b.x += px * count;
              b.y += py * count;
              total += count;
            });
          });
        });
        Object.keys(buckets).forEach(function (k) {
          var b = buckets[k];
          // One cell alone keeps its own properties (its sums); merged cells carry the count.
          var f = b.n === b.f.properties.count ? b.f : { properties: { count: b.n } };
          tilePoint(tile, f, b.x / b.n, b.y / b.n);
        });
        div.setAttribute('data-count', String(total));
        done(null, div);
      }).catch(function (e) {
        div.setAttribute('data-error', e.message);
        done(null, div);
      });
      return div;
    }
  });

  map.createPane('kat-incident-tiles');
  map.getPane('kat-incident-tiles').style.zIndex = 600;

  /**
   * The view from the tiles: every matching incident is in some tile, aggregated where a
   * tile would hold too many, so nothing is capped; the count is numberMatched of the
   * items query for the view.
   */
  function loadTiledView(seq, ctrl, plan) {
    var variants = plan.variants.map(function (v) {
      var q = new URLSearchParams(v.toString());
      q.delete('bbox');
      return q;
    });
    var key = variants.map(String).join('|');
    if (!tileGrid || key !== tileGridKey) {
      var grid = new IncidentTiles(variants, {
        pane: 'kat-incident-tiles', tileSize: 256, updateWhenZooming: false, keepBuffer: 1,
        className: 'kat-incident-tiles', attribution: 'Incidents: cited news pages; place names: GeoNames, CC BY 4.0'
      });
      if (tileGrid) incidentLayer.removeLayer(tileGrid);
      tileGrid = grid;
      tileGridKey = key;
    }
    if (incidentLayer.hasLayer(incidents)) {
      incidents.clearLayers();
      markersById.clear();
    }
    showDrawn(tileGrid);
    return Promise.all(plan.variants.map(function (v) {
      var q = new URLSearchParams(v.toString());
      q.set('limit', '1');
      return getJSON('/collections/incidents/items?' + q.toString(), ctrl.signal);
    })).then(function (bodies) {
      if (seq !== loadSeq) return;
      var total = 0;
      bodies.forEach(function (b) { total += typeof b.numberMatched === 'number' ? b.numberMatched : 0; });
      lastView = { features: [], complete: false };
      setStatus(plural(total, 'incident', 'incidents') + ' in view', false);
      els.status.classList.remove('capped');
    }).catch(function (e) {
      if (isAbort(e) || seq !== loadSeq) return;
      setStatus(loadFailure(e), false);
    });
  }

  /** The features of the last complete view, for a download the API cannot express. */
  var lastView = { features: [], complete: false };

  // ---------------------------------------------------------------- reference layers

  function loadAllPages(url, onPage) {
    return getJSON(url).then(function (body) {
      onPage(Array.isArray(body.features) ? body.features : []);
      var next = linkHref(body.links, 'next');
      return next ? loadAllPages(next, onPage) : null;
    });
  }

  getJSON('/simplified/departments.geojson').then(function (data) {
    departments.addData(data);
  }).catch(function (e) {
    console.warn('Kat: department boundaries unavailable:', e.message);
  });

  var areaFeatures = [];
  loadAllPages('/collections/gang_areas/items?limit=1000', function (features) {
    areaFeatures = areaFeatures.concat(features.filter(function (f) { return f && f.geometry; }));
  }).then(function () {
    var order = { influence: 0, contested: 1, controlled: 2 };
    areaFeatures.sort(function (a, b) {
      return (order[(a.properties || {}).status] || 0) - (order[(b.properties || {}).status] || 0);
    });
    areas.addData({ type: 'FeatureCollection', features: areaFeatures });
  }).catch(function (e) {
    console.warn('Kat: armed-group areas unavailable:', e.message);
  });

  /** A popup listing a feature's properties, as text. */
  function propertiesPopup(feature) {
    var props = feature.properties || {};
    var rows = Object.keys(props).filter(function (k) { return props[k] !== null && props[k] !== ''; })
      .map(function (k) {
        var v = props[k];
        var text = Array.isArray(v) ? v.join('; ') : (typeof v === 'object' ? JSON.stringify(v) : String(v));
        return el('tr', null, [el('th', null, [k]), el('td', null, [text])]);
      });
    var box = el('div', 'kat-popup', [el('p', 'kat-popup-title', [String(feature.id)])]);
    box.appendChild(el('table', 'kat-props', rows));
    return box;
  }

  /** An overlay for a collection declared in the config, loaded when first shown. */
  function collectionLayer(c) {
    var loaded = false;
    var layer = L.geoJSON(null, {
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, { radius: 6, color: '#1f4e79', weight: 2, fillOpacity: 0.6 });
      },
      style: function () { return { color: '#1f4e79', weight: 2, fillOpacity: 0.15 }; },
      onEachFeature: function (f, l) { l.bindPopup(function () { return propertiesPopup(f); }); }
    });
    layer.on('add', function () {
      if (loaded) return;
      loaded = true;
      loadAllPages('/collections/' + encodeURIComponent(c.id) + '/items?limit=1000', function (features) {
        layer.addData({ type: 'FeatureCollection', features: features.filter(function (f) { return f && f.geometry; }) });
      }).catch(function (e) {
        loaded = false;
        console.warn('Kat: layer ' + c.id + ' unavailable:', e.message);
      });
    });
    return layer;
  }

  getJSON('/collections').then(function (body) {
    (body.collections || []).forEach(function (c) {
      if (!c || BUILT_IN_LAYERS.indexOf(c.id) >= 0) return;
      layersControl.addOverlay(collectionLayer(c), String(c.title || c.id));
    });
    (body.collections || []).forEach(function (c) {
      if (!c) return;
      var enclosures = {};
      (c.links || []).forEach(function (l) {
        if (!l || l.rel !== 'enclosure' || !l.href) return;
        var format = formatOfType(l.type);
        if (format && !enclosures[format]) enclosures[format] = l.href;
      });
      if (!enclosures.geojson) return;
      var a = el('a', 'download', []);
      a.setAttribute('data-layer', String(c.id));
      layerDownloads.push({ link: a, title: String(c.title || c.id), id: String(c.id), hrefs: enclosures });
      els.downloads.appendChild(el('li', null, [a]));
    });
    updateLayerDownloads();
  }).catch(function (e) {
    els.downloads.appendChild(el('li', 'hint', ['Layer downloads are unavailable (' + e.message + ').']));
  });

  // ---------------------------------------------------------------- downloads

  /** The formats a download is offered in, by the value of the format select. */
  var DOWNLOAD_FORMATS = {
    geojson: { label: 'GeoJSON', extension: 'geojson', type: 'application/geo+json' },
    csv: { label: 'CSV', extension: 'csv', type: 'text/csv' },
    gpkg: { label: 'GeoPackage', extension: 'gpkg', type: 'application/geopackage+sqlite3' }
  };

  /** The format a link's media type names, if it is one the select offers. */
  function formatOfType(type) {
    var base = String(type || '').split(';')[0].trim().toLowerCase();
    var found = null;
    Object.keys(DOWNLOAD_FORMATS).forEach(function (k) {
      if (DOWNLOAD_FORMATS[k].type === base) found = k;
    });
    return found;
  }

  /** Each layer's whole-layer link, with its enclosure link per format. */
  var layerDownloads = [];

  function updateLayerDownloads() {
    var want = els.downloadFormat.value;
    layerDownloads.forEach(function (d) {
      var format = d.hrefs[want] ? want : 'geojson';
      d.link.href = d.hrefs[format];
      d.link.setAttribute('download', d.id + '.' + DOWNLOAD_FORMATS[format].extension);
      d.link.textContent = 'Download ' + d.title + ' (whole layer, ' + DOWNLOAD_FORMATS[format].label + ')';
    });
  }

  /**
   * On a server whose reads need a token, a link cannot carry one: the file is fetched with
   * the token instead and handed to the browser as a file made here. Elsewhere links stay
   * plain links, which the browser streams to disk however large the layer.
   */
  function downloadWithToken(e) {
    var a = e.target && e.target.closest ? e.target.closest('a.download') : null;
    if (!a || !readsNeedToken() || !token()) return;
    var href = a.getAttribute('href') || '';
    if (/^blob:/.test(href)) return;
    var u;
    try { u = new URL(href, window.location.href); } catch (err) { return; }
    if (u.origin !== window.location.origin) return;
    e.preventDefault();
    if (a.getAttribute('aria-busy') === 'true') return;
    var name = a.getAttribute('download') || 'download';
    a.setAttribute('aria-busy', 'true');
    setStatus('Downloading ' + name + '…', true);
    fetch(u.pathname + u.search, { headers: withToken({}) }).then(function (res) {
      if (res.status === 401) readRefused('');
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var file = el('a', null, []);
      file.href = url;
      file.setAttribute('download', name);
      file.hidden = true;
      document.body.appendChild(file);
      file.click();
      document.body.removeChild(file);
      window.setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
      setStatus('Downloaded ' + name + '.', false);
    }).catch(function (err) {
      setStatus('The download of ' + name + ' failed (' + err.message + ').', false);
    }).then(function () {
      a.removeAttribute('aria-busy');
    });
  }
  els.download.addEventListener('click', downloadWithToken);
  els.downloads.addEventListener('click', downloadWithToken);

  // ---------------------------------------------------------------- nearby

  var nearSeq = 0;
  var nearCtrl = null;
  var nearPoint = null;
  var nearCircle = null;

  function radiusMetres() {
    var km = RADII.indexOf(els.radius.value) >= 0 ? Number(els.radius.value) : Number(DEFAULT_RADIUS);
    return km * 1000;
  }

  function closeNearby() {
    nearSeq++;
    if (nearCtrl) nearCtrl.abort();
    nearPoint = null;
    if (nearCircle) { map.removeLayer(nearCircle); nearCircle = null; }
    var hadFocus = els.nearby.contains(document.activeElement);
    els.nearby.hidden = true;
    document.body.classList.remove('nearby-open');
    if (hadFocus) map.getContainer().focus();
  }

  function openIncident(f) {
    var id = f.id !== undefined && f.id !== null ? String(f.id) : null;
    var m = id ? markersById.get(id) : null;
    if (m && incidents.hasLayer(m)) {
      incidents.zoomToShowLayer(m, function () { m.openPopup(); });
      return;
    }
    var c = f.geometry.coordinates;
    L.popup(popupOptions())
      .setLatLng([c[1], c[0]])
      .setContent(incidentPopup(f))
      .openOn(map);
  }

  function showNearby(latlng) {
    var seq = ++nearSeq;
    if (nearCtrl) nearCtrl.abort();
    var ctrl = new AbortController();
    nearCtrl = ctrl;
    nearPoint = latlng;
    var metres = radiusMetres();
    var km = metres / 1000;
    if (nearCircle) map.removeLayer(nearCircle);
    nearCircle = L.circle(latlng, {
      radius: metres, pane: 'kat-nearby', interactive: false, className: 'kat-near-circle',
      color: '#0b5fa5', weight: 2, fillColor: '#0b5fa5', fillOpacity: 0.06
    }).addTo(map);
    els.nearby.hidden = false;
    document.body.classList.add('nearby-open');
    els.nearbyList.textContent = '';
    els.nearbySummary.textContent = 'Looking for incidents within ' + fmt(km) + ' km…';
    els.nearby.setAttribute('aria-busy', 'true');

    var base = new URLSearchParams();
    base.set('near', latlng.lng.toFixed(6) + ',' + latlng.lat.toFixed(6));
    base.set('within', String(metres));
    var plan = queryPlan(base);
    // Without the minimum toll on the server, ask for every incident in the circle and
    // keep those that reach it here.
    var limit = plan.exact ? NEAR_LIMIT : 10000;
    Promise.all(plan.variants.map(function (v) {
      var params = new URLSearchParams(v.toString());
      params.set('limit', String(limit));
      return getJSON('/collections/incidents/items?' + params.toString(), ctrl.signal);
    })).then(function (bodies) {
      if (seq !== nearSeq) return;
      var features = [];
      var matched = 0;
      bodies.forEach(function (body) {
        var fs = Array.isArray(body.features) ? body.features : [];
        matched += typeof body.numberMatched === 'number' ? body.numberMatched : fs.length;
        fs.forEach(function (f) { if (plan.keep(f)) features.push(f); });
      });
      if (!plan.exact) matched = features.length;
      features.sort(function (a, b) {
        return ((a.properties || {}).distance_m || 0) - ((b.properties || {}).distance_m || 0);
      });
      features = features.filter(hasPoint).slice(0, NEAR_LIMIT);
      var text = plural(matched, 'incident', 'incidents') + ' within ' + fmt(km) + ' km of ' +
        latlng.lat.toFixed(4) + ', ' + latlng.lng.toFixed(4);
      if (matched > features.length) text += ' (the nearest ' + fmt(features.length) + ' are listed)';
      els.nearbySummary.textContent = text;
      features.forEach(function (f) {
        var p = f.properties || {};
        var t = typeOf(p);
        var d = typeof p.distance_m === 'number' ? (p.distance_m / 1000).toFixed(1) + ' km' : '';
        var b = el('button', 'nearby-item', [
          el('span', 'swatch kat-t-' + t),
          el('span', 'nearby-main', [
            el('span', 'nearby-line', [(p.event_date || 'date unknown') + ' · ' + typeLabel(p.event_type)]),
            el('span', 'nearby-place', [placeText(p)])
          ]),
          el('span', 'nearby-dist', [d])
        ]);
        b.type = 'button';
        b.setAttribute('data-id', String(f.id));
        b.addEventListener('click', function () { openIncident(f); });
        els.nearbyList.appendChild(el('li', null, [b]));
      });
      els.nearby.setAttribute('aria-busy', 'false');
    }).catch(function (e) {
      if (isAbort(e) || seq !== nearSeq) return;
      els.nearbySummary.textContent = 'Could not load nearby incidents (' + e.message + ').';
      els.nearby.setAttribute('aria-busy', 'false');
    });
  }

  /** Set by another script that wants map clicks for itself (edit.js placing an incident). */
  var clickClaim = null;
  function onMapClick(latlng) {
    if (clickClaim && clickClaim(latlng)) return;
    showNearby(latlng);
  }

  map.on('click', function (e) { onMapClick(e.latlng); });
  // Leaflet gives a click on a shape to the shape alone; inside an armed-group area the
  // nearby list opens beside the area's popup.
  areas.on('click', function (e) { onMapClick(e.latlng); });
  // From the keyboard: Enter on the focused map lists the incidents near its centre (or
  // places an incident there, while one is being placed).
  map.on('keypress', function (e) {
    var ev = e.originalEvent;
    if (ev && ev.key === 'Enter' && ev.target === map.getContainer()) onMapClick(map.getCenter());
  });
  els.nearbyClose.addEventListener('click', closeNearby);

  // ---------------------------------------------------------------- find a place

  /** Suggestions shown at once. */
  var SUGGEST_LIMIT = 6;
  /** Wait after the last key before asking for suggestions. */
  var SUGGEST_DEBOUNCE_MS = 180;
  /** The zoom that shows a place found at each precision. */
  var PLACE_ZOOM = { 1: 14, 2: 12, 3: 11, 4: 9 };
  var PLACE_PRECISION = {
    1: 'locality: the point is the place itself',
    2: 'communal section: the point lies inside the section, not at the place itself',
    3: 'commune: the point lies inside the commune, not at the place itself',
    4: 'department: the point lies inside the department, not at the place itself'
  };
  var PLACE_LEVEL = { 1: 'Locality', 2: 'Communal section', 3: 'Commune', 4: 'Department' };

  var suggestTimer = null;
  var suggestSeq = 0;
  var suggestCtrl = null;
  var suggestions = [];
  var activeSuggestion = -1;
  var placeMarker = null;

  function placeWhere(p) {
    return [p.section, p.commune, p.department].filter(function (x, i, all) {
      return x && all.indexOf(x) === i && x !== p.name;
    }).join(', ');
  }

  function closeSuggestions() {
    els.searchOptions.hidden = true;
    els.searchOptions.textContent = '';
    els.search.setAttribute('aria-expanded', 'false');
    els.search.removeAttribute('aria-activedescendant');
    suggestions = [];
    activeSuggestion = -1;
  }

  function setActiveSuggestion(i) {
    var items = els.searchOptions.querySelectorAll('[role=option]');
    if (!items.length) return;
    activeSuggestion = (i + items.length) % items.length;
    for (var k = 0; k < items.length; k++) {
      items[k].setAttribute('aria-selected', k === activeSuggestion ? 'true' : 'false');
    }
    els.search.setAttribute('aria-activedescendant', items[activeSuggestion].id);
    items[activeSuggestion].scrollIntoView({ block: 'nearest' });
  }

  function showSuggestions(features, query) {
    els.searchOptions.textContent = '';
    suggestions = features;
    activeSuggestion = -1;
    els.search.removeAttribute('aria-activedescendant');
    if (!features.length) {
      var none = el('li', 'search-none', ['No place called “' + query + '” is known']);
      none.setAttribute('aria-disabled', 'true');
      els.searchOptions.appendChild(none);
    }
    features.forEach(function (f, i) {
      var p = f.properties || {};
      var li = el('li', 'search-option', [
        el('span', 'search-name', [String(p.name || '')]),
        el('span', 'search-where', [[PLACE_LEVEL[p.precision] || '', placeWhere(p)].filter(Boolean).join(' · ')])
      ]);
      li.id = 'place-option-' + i;
      li.setAttribute('role', 'option');
      li.setAttribute('aria-selected', 'false');
      // mousedown, not click: the input keeps its focus and does not close the list first.
      li.addEventListener('mousedown', function (e) { e.preventDefault(); choosePlace(f); });
      els.searchOptions.appendChild(li);
    });
    els.searchOptions.hidden = false;
    els.search.setAttribute('aria-expanded', 'true');
  }

  function fetchSuggestions(query, then) {
    var seq = ++suggestSeq;
    if (suggestCtrl) suggestCtrl.abort();
    var ctrl = new AbortController();
    suggestCtrl = ctrl;
    var params = new URLSearchParams();
    params.set('q', query);
    params.set('suggest', 'true');
    params.set('limit', String(SUGGEST_LIMIT));
    getJSON('/geocode?' + params.toString(), ctrl.signal).then(function (body) {
      if (seq !== suggestSeq) return;
      var features = (Array.isArray(body.features) ? body.features : []).filter(hasPoint);
      if (then) then(features);
      else if (document.activeElement === els.search) showSuggestions(features, query);
    }).catch(function (e) {
      if (isAbort(e) || seq !== suggestSeq) return;
      closeSuggestions();
      els.placeNote.textContent = 'Place search is unavailable (' + e.message + ').';
    });
  }

  function onSearchInput() {
    if (suggestTimer) window.clearTimeout(suggestTimer);
    var query = els.search.value.trim();
    if (query.length < 2) { suggestSeq++; closeSuggestions(); return; }
    suggestTimer = window.setTimeout(function () {
      suggestTimer = null;
      fetchSuggestions(query, null);
    }, SUGGEST_DEBOUNCE_MS);
  }

  function placePopup(p) {
    var box = el('div', 'kat-popup');
    box.appendChild(el('p', 'kat-popup-title', [String(p.name || 'Place')]));
    var dl = el('dl', 'kat-facts');
    row(dl, 'Where', placeWhere(p) || String(p.department || ''));
    row(dl, 'Precision', PLACE_PRECISION[p.precision] || 'unknown');
    box.appendChild(dl);
    if (p.source) {
      var src = el('p', 'kat-source', ['Source: ']);
      String(p.source).split(' ; ').forEach(function (u, i) {
        if (i) src.appendChild(document.createTextNode(', '));
        src.appendChild(safeLink(u, hostOf(u) || u));
      });
      box.appendChild(src);
    }
    return box;
  }

  /** Moves the map to a place found and says how precisely it is known. */
  function choosePlace(f) {
    var p = f.properties || {};
    var c = f.geometry.coordinates;
    closeSuggestions();
    els.search.value = String(p.name || '');
    var note = String(p.name || 'Place') + ' (' + (placeWhere(p) || p.department || '') + '): ' +
      (PLACE_PRECISION[p.precision] || 'precision unknown') + '.';
    els.placeNote.textContent = note;
    if (placeMarker) map.removeLayer(placeMarker);
    placeMarker = L.circleMarker([c[1], c[0]], {
      radius: 9, color: '#0b5fa5', weight: 3, fillColor: '#fff', fillOpacity: 0.9,
      className: 'kat-place kat-place-p' + (p.precision || 0)
    }).addTo(map);
    placeMarker.bindPopup(placePopup(p), popupOptions());
    map.setView([c[1], c[0]], PLACE_ZOOM[p.precision] || 11);
    placeMarker.openPopup();
  }

  els.search.addEventListener('input', onSearchInput);
  els.search.addEventListener('keydown', function (e) {
    var open = !els.searchOptions.hidden && suggestions.length > 0;
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      if (open) setActiveSuggestion(activeSuggestion + 1);
      else if (els.search.value.trim().length >= 2) fetchSuggestions(els.search.value.trim(), null);
    } else if (e.key === 'ArrowUp') {
      if (open) { e.preventDefault(); setActiveSuggestion(activeSuggestion - 1); }
    } else if (e.key === 'Enter') {
      e.preventDefault();
      if (open && activeSuggestion >= 0) { choosePlace(suggestions[activeSuggestion]); return; }
      var query = els.search.value.trim();
      if (!query) return;
      if (suggestTimer) { window.clearTimeout(suggestTimer); suggestTimer = null; }
      // Enter on the typed text goes to its best match.
      fetchSuggestions(query, function (features) {
        if (features.length) choosePlace(features[0]);
        else showSuggestions([], query);
      });
    } else if (e.key === 'Escape') {
      if (!els.searchOptions.hidden) {
        e.preventDefault();
        e.stopPropagation();
        closeSuggestions();
      } else if (els.search.value) {
        els.search.value = '';
      }
    }
  });
  els.search.addEventListener('blur', function () { window.setTimeout(closeSuggestions, 0); });

  // ---------------------------------------------------------------- counts from /aggregate

  var AGGREGATE_URL = '/collections/incidents/aggregate';

  function groupKey(g, keys) {
    return keys.map(function (k) { return g[k] === null || g[k] === undefined ? '' : String(g[k]); }).join('\u0000');
  }

  /**
   * Counts for the active filters grouped by `groupby` (and `interval`). Where the server
   * cannot filter on several event types or a minimum toll, the query is also grouped by
   * event type or fatalities, the groups that do not qualify are dropped here and the rest
   * added up again: the result is the same as the server filtering itself.
   */
  function fetchAggregate(groupby, interval, withDatetime, signal) {
    if (!caps.aggregate) return aggregateFromItems(groupby, interval, withDatetime, signal);
    var f = readFilters();
    var params = new URLSearchParams();
    var dt = withDatetime ? datetimeOf(f) : null;
    if (dt) params.set('datetime', dt);
    if (f.dept) params.set('department', f.dept);
    var extra = [];
    var keepGroup = function () { return true; };
    if (caps.cql2 && (f.types.length > 1 || f.fmin !== null)) {
      var parts = [];
      if (f.types.length) {
        parts.push('(' + f.types.map(function (t) { return 'event_type = ' + cqlString(t); }).join(' OR ') + ')');
      }
      if (f.fmin !== null) parts.push('fatalities >= ' + f.fmin);
      params.set('filter', parts.join(' AND '));
      params.set('filter-lang', 'cql2-text');
    } else {
      if (f.types.length === 1) params.set('event_type', f.types[0]);
      if (f.types.length > 1) extra.push('event_type');
      if (f.fmin !== null) extra.push('fatalities');
      var types = f.types, min = f.fmin;
      keepGroup = function (g) {
        if (types.length > 1 && types.indexOf(g.event_type) < 0) return false;
        if (min !== null && !(typeof g.fatalities === 'number' && g.fatalities >= min)) return false;
        return true;
      };
    }
    var all = groupby.concat(extra.filter(function (k) { return groupby.indexOf(k) < 0; }));
    if (all.length) params.set('groupby', all.join(','));
    if (interval) params.set('interval', interval);
    return getJSON(AGGREGATE_URL + '?' + params.toString(), signal).then(function (body) {
      var groups = Array.isArray(body.groups) ? body.groups : [];
      if (!extra.length) return { numberMatched: body.numberMatched, groups: groups };
      var keys = groupby.concat(interval ? ['period'] : []);
      var merged = new Map();
      var total = 0;
      groups.forEach(function (g) {
        if (!keepGroup(g)) return;
        var k = groupKey(g, keys);
        var m = merged.get(k);
        if (!m) {
          m = { count: 0, sum_fatalities: 0 };
          keys.forEach(function (key) { m[key] = g[key]; });
          merged.set(k, m);
        }
        m.count += g.count || 0;
        m.sum_fatalities += g.sum_fatalities || 0;
        total += g.count || 0;
      });
      return { numberMatched: total, groups: Array.from(merged.values()) };
    });
  }

  /** Beyond this many incidents, counting them here is too slow: a server with /aggregate is needed. */
  var ITEMS_COUNT_MAX = 20000;

  function periodOfDay(day, interval) {
    var d = String(day || '');
    if (!/^\d{4}-\d{2}-\d{2}/.test(d)) return null;
    if (interval === 'week') return isoWeekOf(new Date(Date.UTC(Number(d.slice(0, 4)), Number(d.slice(5, 7)) - 1, Number(d.slice(8, 10)))));
    if (interval === 'month') return d.slice(0, 7);
    if (interval === 'year') return d.slice(0, 4);
    return d.slice(0, 10);
  }

  /**
   * The same counts as /aggregate, made here from /items for a server without it: every
   * matching incident is fetched (up to ITEMS_COUNT_MAX) and counted.
   */
  function aggregateFromItems(groupby, interval, withDatetime, signal) {
    var plan = queryPlan(null);
    if (!withDatetime) {
      plan.variants.forEach(function (v) { v.delete('datetime'); });
    }
    var groups = new Map();
    var total = 0;
    function page(u) {
      return getJSON(u, signal).then(function (body) {
        (Array.isArray(body.features) ? body.features : []).forEach(function (f) {
          if (!plan.keep(f)) return;
          var p = f.properties || {};
          var g = {};
          groupby.forEach(function (k) { g[k] = p[k] === undefined ? null : p[k]; });
          if (interval) {
            g.period = periodOfDay(p.event_date, interval);
            if (!g.period) return;
          }
          var key = groupKey(g, groupby.concat(interval ? ['period'] : []));
          var acc = groups.get(key);
          if (!acc) { acc = g; acc.count = 0; acc.sum_fatalities = 0; groups.set(key, acc); }
          acc.count += 1;
          acc.sum_fatalities += typeof p.fatalities === 'number' ? p.fatalities : 0;
          total += 1;
        });
        var next = linkHref(body.links, 'next');
        return next ? page(next) : null;
      });
    }
    // First how many there are, so that a large layer is never downloaded for this.
    var chain = Promise.all(plan.variants.map(function (v) {
      var q = new URLSearchParams(v.toString());
      q.set('limit', '1');
      return getJSON('/collections/incidents/items?' + q.toString(), signal);
    })).then(function (bodies) {
      var n = 0;
      bodies.forEach(function (b) { n += typeof b.numberMatched === 'number' ? b.numberMatched : 0; });
      if (n > ITEMS_COUNT_MAX) throw new NoAggregate();
    });
    plan.variants.forEach(function (v) {
      chain = chain.then(function () {
        var q = new URLSearchParams(v.toString());
        q.set('limit', '10000');
        return page('/collections/incidents/items?' + q.toString());
      });
    });
    return chain.then(function () { return { numberMatched: total, groups: Array.from(groups.values()) }; });
  }

  // ---------------------------------------------------------------- time chart

  var CHART_HEIGHT = 132;
  var CHART_PAD = { left: 30, right: 6, top: 8, bottom: 22 };
  var PLAY_STEP_MS = 1500;
  var SVG_NS = 'http://www.w3.org/2000/svg';

  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }

  function pad2(n) { return (n < 10 ? '0' : '') + n; }
  function isoDay(d) { return d.getUTCFullYear() + '-' + pad2(d.getUTCMonth() + 1) + '-' + pad2(d.getUTCDate()); }
  function addDays(d, n) { return new Date(d.getTime() + n * 86400000); }

  /** The Monday of ISO week `w` of `year`. */
  function isoWeekStart(year, w) {
    var jan4 = new Date(Date.UTC(year, 0, 4));
    var monday1 = addDays(jan4, -((jan4.getUTCDay() + 6) % 7));
    return addDays(monday1, (w - 1) * 7);
  }

  function isoWeekOf(d) {
    var thursday = addDays(d, 3 - ((d.getUTCDay() + 6) % 7));
    var year = thursday.getUTCFullYear();
    var week = 1 + Math.round((thursday - isoWeekStart(year, 1) - 3 * 86400000) / (7 * 86400000));
    return year + '-W' + pad2(week);
  }

  /** The first and last day of a period as /aggregate names it, or null. */
  function periodRange(period) {
    var s = String(period || ''), m;
    if ((m = /^(\d{4})-(\d{2})$/.exec(s))) {
      var y = Number(m[1]), mo = Number(m[2]);
      return { start: new Date(Date.UTC(y, mo - 1, 1)), end: new Date(Date.UTC(y, mo, 0)) };
    }
    if ((m = /^(\d{4})-W(\d{2})$/.exec(s))) {
      var st = isoWeekStart(Number(m[1]), Number(m[2]));
      return { start: st, end: addDays(st, 6) };
    }
    if ((m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s))) {
      var d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
      return { start: d, end: addDays(d, 6) };
    }
    return null;
  }

  /** Every period from the first to the last, gaps included, with its count. */
  function periodsBetween(groups, interval) {
    var byPeriod = new Map();
    var first = null, last = null, weekStyle = 'iso';
    groups.forEach(function (g) {
      var r = periodRange(g.period);
      if (!r) return;
      if (/^\d{4}-\d{2}-\d{2}$/.test(String(g.period))) weekStyle = 'day';
      var key = isoDay(r.start);
      var prev = byPeriod.get(key) || { count: 0, sum_fatalities: 0 };
      prev.count += g.count || 0;
      prev.sum_fatalities += g.sum_fatalities || 0;
      byPeriod.set(key, prev);
      if (!first || r.start < first) first = r.start;
      if (!last || r.start > last) last = r.start;
    });
    var out = [];
    if (!first) return out;
    for (var d = first; d <= last && out.length < 2000;) {
      var next, end, label;
      if (interval === 'week') {
        next = addDays(d, 7); end = addDays(d, 6);
        label = weekStyle === 'day' ? isoDay(d) : isoWeekOf(d);
      } else {
        next = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
        end = addDays(next, -1);
        label = d.getUTCFullYear() + '-' + pad2(d.getUTCMonth() + 1);
      }
      var v = byPeriod.get(isoDay(d)) || { count: 0, sum_fatalities: 0 };
      out.push({ period: label, start: isoDay(d), end: isoDay(end), count: v.count, sum_fatalities: v.sum_fatalities });
      d = next;
    }
    return out;
  }

  var chart = { periods: [], key: null, seq: 0, ctrl: null, playing: null, brush: null };

  function chartQueryKey() {
    var f = readFilters();
    return [els.interval.value, f.types.join(','), f.fmin, f.dept, caps.cql2].join('|');
  }

  function loadChart(force) {
    var key = chartQueryKey();
    if (!force && key === chart.key) { drawChart(); return; }
    chart.key = key;
    var seq = ++chart.seq;
    if (chart.ctrl) chart.ctrl.abort();
    var ctrl = new AbortController();
    chart.ctrl = ctrl;
    els.chart.setAttribute('aria-busy', 'true');
    capsReady.then(function () {
      return fetchAggregate([], els.interval.value, false, ctrl.signal);
    }).then(function (body) {
      if (seq !== chart.seq) return;
      chart.periods = periodsBetween(body.groups, els.interval.value);
      els.chart.setAttribute('aria-busy', 'false');
      drawChart();
    }).catch(function (e) {
      if (isAbort(e) || seq !== chart.seq) return;
      chart.key = null;
      chart.periods = [];
      els.chart.setAttribute('aria-busy', 'false');
      els.chart.textContent = '';
      els.chartSummary.textContent = 'Counts over time are unavailable (' + e.message + ').';
    });
  }

  function chartWidth() {
    return Math.max(240, Math.floor(els.chart.clientWidth || 280));
  }

  /** The bar under a horizontal position in the chart, clamped to the first and last. */
  function barAt(x, width) {
    var n = chart.periods.length;
    var inner = width - CHART_PAD.left - CHART_PAD.right;
    return clamp(Math.floor((x - CHART_PAD.left) / inner * n), 0, n - 1);
  }

  function drawChart() {
    var periods = chart.periods;
    els.chart.textContent = '';
    if (!periods.length) {
      els.chartSummary.textContent = 'No incidents match the filters.';
      return;
    }
    var width = chartWidth();
    var height = CHART_HEIGHT;
    var inner = width - CHART_PAD.left - CHART_PAD.right;
    var innerH = height - CHART_PAD.top - CHART_PAD.bottom;
    var max = 1;
    periods.forEach(function (p) { if (p.count > max) max = p.count; });
    var bw = inner / periods.length;
    var f = readFilters();
    var ranged = !!(f.from || f.to);
    var root = svg('svg', { width: width, height: height, viewBox: '0 0 ' + width + ' ' + height, class: 'chart-svg', focusable: 'false', 'aria-hidden': 'true' });
    root.appendChild(svg('line', { x1: CHART_PAD.left, x2: width - CHART_PAD.right, y1: CHART_PAD.top + innerH + 0.5, y2: CHART_PAD.top + innerH + 0.5, class: 'chart-axis' }));
    root.appendChild(svg('text', { x: CHART_PAD.left - 4, y: CHART_PAD.top + 8, class: 'chart-label', 'text-anchor': 'end' }, [fmt(max)]));
    root.appendChild(svg('text', { x: CHART_PAD.left - 4, y: CHART_PAD.top + innerH, class: 'chart-label', 'text-anchor': 'end' }, ['0']));
    var lastYear = null;
    var total = 0, inRange = 0;
    periods.forEach(function (p, i) {
      total += p.count;
      var on = !ranged || ((!f.from || p.end >= f.from) && (!f.to || p.start <= f.to));
      if (on) inRange += p.count;
      var h = p.count ? Math.max(1.5, p.count / max * innerH) : 0;
      var x = CHART_PAD.left + i * bw;
      var bar = svg('rect', {
        x: (x + Math.min(1, bw * 0.15)).toFixed(2), y: (CHART_PAD.top + innerH - h).toFixed(2),
        width: Math.max(0.8, bw - Math.min(2, bw * 0.3)).toFixed(2), height: h.toFixed(2),
        class: 'chart-bar' + (on ? '' : ' chart-bar-out'),
        'data-period': p.period, 'data-count': p.count
      }, [svg('title', {}, [p.period + ': ' + plural(p.count, 'incident', 'incidents')])]);
      root.appendChild(bar);
      var year = p.start.slice(0, 4);
      if (year !== lastYear) {
        if (lastYear !== null) {
          root.appendChild(svg('line', { x1: x.toFixed(1), x2: x.toFixed(1), y1: CHART_PAD.top, y2: CHART_PAD.top + innerH + 4, class: 'chart-tick' }));
        }
        if (x < width - 30) root.appendChild(svg('text', { x: (x + 2).toFixed(1), y: height - 6, class: 'chart-label' }, [year]));
        lastYear = year;
      }
    });
    var brush = svg('rect', { x: 0, y: CHART_PAD.top, width: 0, height: innerH, class: 'chart-brush', visibility: 'hidden' });
    root.appendChild(brush);
    // The whole plot takes the pointer, so that a drag may start between bars.
    var overlay = svg('rect', { x: CHART_PAD.left, y: 0, width: inner, height: height, class: 'chart-overlay' });
    root.appendChild(overlay);
    els.chart.appendChild(root);
    wireBrush(root, overlay, brush, width, bw);
    var first = periods[0].period, last = periods[periods.length - 1].period;
    els.chartSummary.textContent = plural(total, 'incident', 'incidents') + ', ' + first + ' to ' + last +
      (ranged ? '; ' + fmt(inRange) + ' in the chosen range. ' : '. ') + 'Drag across the chart to set From and To.';
  }

  function wireBrush(root, overlay, brush, width, bw) {
    function localX(e) {
      var r = root.getBoundingClientRect();
      return (e.clientX - r.left) * (width / r.width);
    }
    function show(a, b) {
      var lo = Math.min(a, b), hi = Math.max(a, b);
      brush.setAttribute('x', (CHART_PAD.left + lo * bw).toFixed(2));
      brush.setAttribute('width', ((hi - lo + 1) * bw).toFixed(2));
      brush.setAttribute('visibility', 'visible');
    }
    overlay.addEventListener('pointerdown', function (e) {
      if (e.button !== 0) return;
      e.preventDefault();
      var start = barAt(localX(e), width);
      chart.brush = { start: start, end: start };
      if (overlay.setPointerCapture) overlay.setPointerCapture(e.pointerId);
      show(start, start);
    });
    overlay.addEventListener('pointermove', function (e) {
      if (!chart.brush) return;
      chart.brush.end = barAt(localX(e), width);
      show(chart.brush.start, chart.brush.end);
    });
    function finish(e) {
      if (!chart.brush) return;
      chart.brush.end = barAt(localX(e), width);
      var lo = Math.min(chart.brush.start, chart.brush.end), hi = Math.max(chart.brush.start, chart.brush.end);
      chart.brush = null;
      stopPlay();
      setDateRange(chart.periods[lo].start, chart.periods[hi].end);
    }
    overlay.addEventListener('pointerup', finish);
    overlay.addEventListener('pointercancel', function () { chart.brush = null; drawChart(); });
  }

  function setDateRange(from, to) {
    els.from.value = from;
    els.to.value = to;
    onFiltersChanged();
  }

  /** The months of the chart, one after another, as the date filter. */
  function monthsOfChart() {
    if (!chart.periods.length) return [];
    var first = chart.periods[0].start, last = chart.periods[chart.periods.length - 1].end;
    var out = [];
    var d = new Date(Date.UTC(Number(first.slice(0, 4)), Number(first.slice(5, 7)) - 1, 1));
    while (isoDay(d) <= last && out.length < 1200) {
      var next = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
      out.push({ start: isoDay(d), end: isoDay(addDays(next, -1)) });
      d = next;
    }
    return out;
  }

  function stopPlay() {
    if (!chart.playing) return;
    window.clearInterval(chart.playing.timer);
    chart.playing = null;
    els.play.textContent = 'Play';
    els.play.setAttribute('aria-pressed', 'false');
  }

  function startPlay() {
    var months = monthsOfChart();
    if (!months.length) return;
    // Resume from the month shown, if one is.
    var i = 0;
    for (var k = 0; k < months.length; k++) {
      if (months[k].start === els.from.value && months[k].end === els.to.value) { i = (k + 1) % months.length; break; }
    }
    chart.playing = { months: months, i: i, timer: null };
    els.play.textContent = 'Pause';
    els.play.setAttribute('aria-pressed', 'true');
    var step = function () {
      var pl = chart.playing;
      if (!pl) return;
      if (pl.i >= pl.months.length) { stopPlay(); return; }
      var m = pl.months[pl.i++];
      setDateRange(m.start, m.end);
    };
    step();
    chart.playing.timer = window.setInterval(step, PLAY_STEP_MS);
  }

  els.play.addEventListener('click', function () {
    if (chart.playing) stopPlay(); else startPlay();
  });
  els.interval.addEventListener('change', function () {
    writeHistory(false);
    loadChart(true);
  });
  if (window.ResizeObserver) {
    var chartW = 0;
    new ResizeObserver(function () {
      var w = chartWidth();
      if (w !== chartW) { chartW = w; if (chart.periods.length) drawChart(); }
    }).observe(els.chart);
  }

  // ---------------------------------------------------------------- choropleth

  var CHORO_COLOURS = ['#fee5d9', '#fcae91', '#fb6a4a', '#de2d26', '#a50f15'];
  var CHORO_ZERO = '#f4f4f2';

  map.createPane('kat-choropleth');
  map.getPane('kat-choropleth').style.zIndex = 350;

  // The legend sits on the map, where the shading is, on phones too.
  var ChoroLegend = L.Control.extend({
    options: { position: 'bottomright' },
    onAdd: function () {
      var box = L.DomUtil.create('div', 'leaflet-control kat-choro-control');
      box.appendChild(els.choroLegend);
      L.DomEvent.disableClickPropagation(box);
      return box;
    }
  });
  new ChoroLegend().addTo(map);

  var boundaryData = { department: null, commune: null };
  var choro = { seq: 0, ctrl: null, layer: null };

  /** A name as the boundaries and the incidents both write it, case and accents aside. */
  function nameKey(s) {
    return String(s || '').normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]/g, '');
  }

  function boundaries(unit) {
    if (boundaryData[unit]) return Promise.resolve(boundaryData[unit]);
    var url = unit === 'commune' ? '/simplified/communes.geojson' : '/simplified/departments.geojson';
    return getJSON(url).then(function (data) { boundaryData[unit] = data; return data; });
  }

  /** Up to five classes with round limits, each holding about as many units. */
  function classBreaks(values) {
    var v = values.filter(function (x) { return x > 0; }).sort(function (a, b) { return a - b; });
    if (!v.length) return [];
    var breaks = [];
    for (var k = 1; k <= CHORO_COLOURS.length; k++) {
      var q = v[Math.min(v.length - 1, Math.ceil(k / CHORO_COLOURS.length * v.length) - 1)];
      if (!breaks.length || q > breaks[breaks.length - 1]) breaks.push(q);
    }
    return breaks;
  }

  function classOf(value, breaks) {
    if (!(value > 0)) return -1;
    for (var i = 0; i < breaks.length; i++) if (value <= breaks[i]) return i;
    return breaks.length - 1;
  }

  function colourOf(cls, breaks) {
    if (cls < 0) return CHORO_ZERO;
    // Fewer classes than colours take the darker end evenly.
    var idx = breaks.length <= 1 ? CHORO_COLOURS.length - 1 : Math.round(cls * (CHORO_COLOURS.length - 1) / (breaks.length - 1));
    return CHORO_COLOURS[idx];
  }

  function clearChoropleth() {
    if (choro.layer) { map.removeLayer(choro.layer); choro.layer = null; }
    els.choroLegend.hidden = true;
    els.choroDetails.hidden = true;
    els.choroTable.textContent = '';
  }

  function loadChoropleth() {
    var unit = els.byUnit.value;
    var seq = ++choro.seq;
    if (choro.ctrl) choro.ctrl.abort();
    if (!unit) { clearChoropleth(); return; }
    var ctrl = new AbortController();
    choro.ctrl = ctrl;
    var measure = els.byMeasure.value;
    els.choroLegend.hidden = false;
    els.choroLegend.textContent = 'Loading counts…';
    capsReady.then(function () {
      return Promise.all([boundaries(unit), fetchAggregate([unit], null, true, ctrl.signal)]);
    }).then(function (res) {
      if (seq !== choro.seq) return;
      drawChoropleth(unit, measure, res[0], res[1]);
    }).catch(function (e) {
      if (isAbort(e) || seq !== choro.seq) return;
      clearChoropleth();
      els.choroLegend.hidden = false;
      els.choroLegend.textContent = 'Counts by place are unavailable (' + e.message + ').';
    });
  }

  function drawChoropleth(unit, measure, data, agg) {
    var byName = new Map();
    agg.groups.forEach(function (g) {
      var k = nameKey(g[unit]);
      var prev = byName.get(k) || { count: 0, sum_fatalities: 0 };
      prev.count += g.count || 0;
      prev.sum_fatalities += g.sum_fatalities || 0;
      byName.set(k, prev);
    });
    var valueOf = function (n) { return measure === 'fatalities' ? n.sum_fatalities : n.count; };
    var features = Array.isArray(data.features) ? data.features : [];
    var numbers = features.map(function (f) {
      return byName.get(nameKey((f.properties || {}).name)) || { count: 0, sum_fatalities: 0 };
    });
    var breaks = classBreaks(numbers.map(valueOf));
    if (choro.layer) map.removeLayer(choro.layer);
    var i = 0;
    var unitWord = unit === 'commune' ? 'commune' : 'department';
    choro.layer = L.geoJSON(data, {
      pane: 'kat-choropleth',
      style: function (f) {
        var n = byName.get(nameKey((f.properties || {}).name)) || { count: 0, sum_fatalities: 0 };
        return {
          className: 'kat-choro', color: '#6b6b6b', weight: unit === 'commune' ? 0.6 : 1,
          fillColor: colourOf(classOf(valueOf(n), breaks), breaks), fillOpacity: 0.72
        };
      },
      onEachFeature: function (f, layer) {
        var p = f.properties || {};
        var n = numbers[i++];
        var text = String(p.name || '') + (unit === 'commune' && p.department ? ' (' + p.department + ')' : '') + ': ' +
          plural(n.count, 'incident', 'incidents') + ', ' + plural(n.sum_fatalities, 'fatality', 'fatalities');
        layer.bindTooltip(el('span', null, [text]), { sticky: true, className: 'kat-tooltip' });
        layer.on('add', function () {
          var path = layer.getElement && layer.getElement();
          if (!path) return;
          path.setAttribute('data-unit', unitWord);
          path.setAttribute('data-name', String(p.name || ''));
          path.setAttribute('data-count', String(n.count));
          path.setAttribute('data-sum-fatalities', String(n.sum_fatalities));
        });
        // A click on a shaded unit still lists what happened near that point.
        layer.on('click', function (e) { onMapClick(e.latlng); });
      }
    }).addTo(map);
    drawChoroLegend(measure, breaks, unit);
    els.choroTable.textContent = '';
    var rows = features.map(function (f, k) { return { name: String((f.properties || {}).name || ''), dept: String((f.properties || {}).department || ''), n: numbers[k] }; });
    rows.sort(function (a, b) { return valueOf(b.n) - valueOf(a.n) || a.name.localeCompare(b.name); });
    rows.forEach(function (r) {
      if (!r.n.count) return;
      var tr = el('tr', null, [
        el('th', null, [r.name + (unit === 'commune' && r.dept ? ' (' + r.dept + ')' : '')]),
        el('td', null, [fmt(r.n.count)]),
        el('td', null, [fmt(r.n.sum_fatalities)])
      ]);
      tr.querySelector('th').setAttribute('scope', 'row');
      tr.setAttribute('data-name', r.name);
      els.choroTable.appendChild(tr);
    });
    els.choroDetails.hidden = false;
  }

  function drawChoroLegend(measure, breaks, unit) {
    els.choroLegend.textContent = '';
    var what = measure === 'fatalities' ? 'Fatalities' : 'Incidents';
    els.choroLegend.appendChild(el('p', 'choro-title', [what + ' by ' + (unit === 'commune' ? 'commune' : 'department') + ', for the filters']));
    var list = el('ul', 'legend choro-list');
    var zero = el('li', null, [el('span', 'swatch area choro-swatch choro-zero'), ' none']);
    list.appendChild(zero);
    var lo = 1;
    breaks.forEach(function (b, k) {
      var sw = el('span', 'swatch area choro-swatch choro-c' + CHORO_COLOURS.indexOf(colourOf(k, breaks)));
      list.appendChild(el('li', null, [sw, ' ' + (lo === b ? fmt(b) : fmt(lo) + '–' + fmt(b))]));
      lo = b + 1;
    });
    els.choroLegend.appendChild(list);
    els.choroLegend.hidden = false;
  }

  [els.byUnit, els.byMeasure].forEach(function (s) {
    s.addEventListener('change', function () { writeHistory(false); loadChoropleth(); });
  });

  // ---------------------------------------------------------------- permalink

  function stateFromForm() {
    var c = map.getCenter();
    return {
      z: map.getZoom(),
      lat: Number(c.lat.toFixed(5)),
      lon: Number(c.lng.toFixed(5)),
      from: els.from.value,
      to: els.to.value,
      types: selectedTypes(),
      fmin: minFatalities(),
      dept: els.dept.value,
      r: els.radius.value,
      by: els.byUnit.value,
      m: els.byMeasure.value,
      iv: els.interval.value,
      draw: drawMode
    };
  }

  function hashOf(s) {
    var p = new URLSearchParams();
    p.set('z', String(s.z));
    p.set('lat', String(s.lat));
    p.set('lon', String(s.lon));
    if (s.from) p.set('from', s.from);
    if (s.to) p.set('to', s.to);
    if (s.types && s.types.length) p.set('type', s.types.join(','));
    if (s.fmin) p.set('fmin', String(s.fmin));
    if (s.dept) p.set('dept', s.dept);
    if (s.r && s.r !== DEFAULT_RADIUS) p.set('r', s.r);
    if (s.by) p.set('by', s.by);
    if (s.by && s.m && s.m !== 'count') p.set('m', s.m);
    if (s.iv && s.iv !== 'month') p.set('iv', s.iv);
    if (s.draw) p.set('draw', s.draw);
    return '#' + p.toString();
  }

  var DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

  /** The state a hash names; anything missing or invalid is left out. */
  function parseHash(hash) {
    var p = new URLSearchParams(String(hash || '').replace(/^#/, ''));
    var s = {};
    var z = Number(p.get('z')), lat = Number(p.get('lat')), lon = Number(p.get('lon'));
    if (p.get('z') !== null && p.get('lat') !== null && p.get('lon') !== null &&
        isFinite(z) && isFinite(lat) && isFinite(lon) && Math.abs(lat) <= 90 && Math.abs(lon) <= 180) {
      s.z = clamp(Math.round(z), 6, 18);
      s.lat = lat;
      s.lon = lon;
    }
    var from = p.get('from') || '', to = p.get('to') || '';
    s.from = DATE_RE.test(from) ? from : '';
    s.to = DATE_RE.test(to) ? to : '';
    s.types = (p.get('type') || '').split(',').filter(function (t, i, all) {
      return Object.prototype.hasOwnProperty.call(TYPE_LABEL, t) && all.indexOf(t) === i;
    });
    var fmin = p.get('fmin') || '';
    s.fmin = /^\d{1,6}$/.test(fmin) && Number(fmin) > 0 ? Number(fmin) : null;
    var by = p.get('by') || '';
    s.by = by === 'department' || by === 'commune' ? by : '';
    s.m = p.get('m') === 'fatalities' ? 'fatalities' : 'count';
    s.iv = p.get('iv') === 'week' ? 'week' : 'month';
    s.draw = p.get('draw') === 'tiles' ? 'tiles' : '';
    var dept = p.get('dept') || '';
    s.dept = DEPARTMENTS.indexOf(dept) >= 0 ? dept : '';
    var r = p.get('r') || DEFAULT_RADIUS;
    s.r = RADII.indexOf(r) >= 0 ? r : DEFAULT_RADIUS;
    return s;
  }

  function applyState(s) {
    els.from.value = s.from;
    els.to.value = s.to;
    setSelectedTypes(s.types);
    els.fmin.value = s.fmin ? String(s.fmin) : '';
    els.dept.value = s.dept;
    els.byUnit.value = s.by;
    els.byMeasure.value = s.m;
    els.interval.value = s.iv;
    drawMode = s.draw;
    els.radius.value = s.r;
    syncDateBounds();
    if (s.z !== undefined) {
      map.setView([s.lat, s.lon], s.z, { animate: false });
    } else {
      map.fitBounds(HAITI, { animate: false });
    }
  }

  function writeHistory(push) {
    var h = hashOf(stateFromForm());
    if (h === window.location.hash) return;
    var url = window.location.pathname + window.location.search + h;
    if (push) window.history.pushState(null, '', url);
    else window.history.replaceState(null, '', url);
  }

  // ---------------------------------------------------------------- wiring

  var timer = null;
  function scheduleLoad() {
    if (timer) window.clearTimeout(timer);
    timer = window.setTimeout(function () { timer = null; loadIncidents(); }, DEBOUNCE_MS);
  }

  var downloadBlobUrl = null;
  /**
   * The view's download: the API's own link where one query carries the filters, or else
   * the features this page loaded, as a file made here.
   */
  function updateDownload() {
    var format = DOWNLOAD_FORMATS[els.downloadFormat.value] ? els.downloadFormat.value : 'geojson';
    var plan = viewPlan();
    if (downloadBlobUrl) { URL.revokeObjectURL(downloadBlobUrl); downloadBlobUrl = null; }
    els.download.setAttribute('download', 'incidents-view.' + DOWNLOAD_FORMATS[format].extension);
    els.download.textContent = 'Download this view (' + DOWNLOAD_FORMATS[format].label + ')';
    if (plan.variants.length === 1 && plan.exact) {
      var params = plan.variants[0];
      if (format !== 'geojson') params.set('f', format);
      els.download.href = '/collections/incidents/download?' + params.toString();
      return;
    }
    var fc = { type: 'FeatureCollection', features: lastView.features };
    downloadBlobUrl = URL.createObjectURL(new Blob([JSON.stringify(fc)], { type: 'application/geo+json' }));
    els.download.href = downloadBlobUrl;
    els.download.setAttribute('download', 'incidents-view.geojson');
    els.download.textContent = 'Download this view (GeoJSON)';
  }

  function syncDateBounds() {
    els.to.min = els.from.value || '1990-01-01';
    els.from.max = els.to.value || '2100-12-31';
  }

  function onFiltersChanged() {
    syncDateBounds();
    updateDownload();
    writeHistory(true);
    scheduleLoad();
    scheduleAggregates();
    if (nearPoint) showNearby(nearPoint);
  }

  var aggTimer = null;
  function scheduleAggregates() {
    if (aggTimer) window.clearTimeout(aggTimer);
    aggTimer = window.setTimeout(function () { aggTimer = null; loadChart(false); loadChoropleth(); }, DEBOUNCE_MS);
  }

  els.type.addEventListener('change', function () {
    // "All event types" beside chosen types means the chosen ones.
    setSelectedTypes(selectedTypes());
  });
  [els.from, els.to, els.type, els.dept, els.fmin].forEach(function (input) {
    input.addEventListener('change', onFiltersChanged);
  });
  els.downloadFormat.addEventListener('change', function () {
    updateDownload();
    updateLayerDownloads();
  });
  els.radius.addEventListener('change', function () {
    writeHistory(false);
    if (nearPoint) showNearby(nearPoint);
  });
  els.form.addEventListener('submit', function (e) { e.preventDefault(); });
  [els.from, els.to].forEach(function (input) {
    input.addEventListener('input', stopPlay);
  });
  els.form.addEventListener('reset', function () {
    stopPlay();
    // The form resets its controls after this event; read them once it has.
    window.setTimeout(function () {
      els.radius.value = DEFAULT_RADIUS;
      onFiltersChanged();
    }, 0);
  });

  map.on('moveend', function () {
    updateDownload();
    writeHistory(false);
    scheduleLoad();
  });

  window.addEventListener('popstate', function () {
    applyState(parseHash(window.location.hash));
    updateDownload();
    scheduleLoad();
    scheduleAggregates();
    if (nearPoint) showNearby(nearPoint);
  });

  // Filters panel (a drawer on narrow screens).
  function setPanel(open, focusBack) {
    els.panel.classList.toggle('open', open);
    document.body.classList.toggle('panel-open', open);
    els.toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
    if (open) els.from.focus();
    else if (focusBack) els.toggle.focus();
    window.setTimeout(function () { map.invalidateSize(); }, 0);
  }
  els.toggle.addEventListener('click', function () {
    setPanel(!els.panel.classList.contains('open'), false);
  });
  els.panelClose.addEventListener('click', function () { setPanel(false, true); });

  document.addEventListener('keydown', function (e) {
    if (e.key !== 'Escape') return;
    // On a narrow screen the open filters panel covers the rest: it closes first.
    if (els.panel.classList.contains('open') && narrow.matches) {
      setPanel(false, true);
      return;
    }
    if (!els.nearby.hidden) {
      var inNearby = els.nearby.contains(document.activeElement);
      closeNearby();
      if (inNearby) map.getContainer().focus();
    }
  });

  narrow.addEventListener('change', function () {
    if (!narrow.matches) setPanel(false, false);
    map.invalidateSize();
  });

  // ---------------------------------------------------------------- for edit.js

  /**
   * After a write: the written incident is drawn anew (a marker is otherwise kept while its
   * id stays in view), and the view, the chart and the counts are asked for again.
   */
  function refreshAfterWrite(id) {
    if (id !== undefined && id !== null) {
      var m = markersById.get(String(id));
      if (m) { incidents.removeLayer(m); markersById.delete(String(id)); }
    }
    if (tileGrid) tileGrid.redraw();
    loadChart(true);
    loadChoropleth();
    if (timer) { window.clearTimeout(timer); timer = null; }
    return loadIncidents();
  }

  window.KatMap = {
    map: map,
    el: el,
    getJSON: getJSON,
    token: token,
    setToken: setToken,
    withToken: withToken,
    readsNeedToken: readsNeedToken,
    /** fn(detail, hadToken) runs once when a read is refused for want of a token. */
    onSignInNeeded: function (fn) { signInNeeded.push(fn); },
    popupOptions: popupOptions,
    eventTypes: EVENT_TYPES,
    departments: DEPARTMENTS,
    precision: PRECISION,
    typeLabel: typeLabel,
    caps: caps,
    capsReady: capsReady,
    addPopupExtra: function (fn) { popupExtras.push(fn); },
    claimClicks: function (fn) { clickClaim = fn; },
    refresh: refreshAfterWrite,
    /** Opens the popup of an incident in view (its marker's), or at its point. */
    openIncident: function (feature) {
      var m = markersById.get(String(feature.id));
      if (m) { openIncident(m.feature); return; }
      if (hasPoint(feature)) openIncident(feature);
    }
  };

  applyState(parseHash(window.location.hash));
  updateDownload();
  writeHistory(false);
  // Setting the view scheduled a load; start it now instead.
  if (timer) { window.clearTimeout(timer); timer = null; }
  loadIncidents();
  loadChart(true);
  loadChoropleth();
})();
