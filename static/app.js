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
    return box;
  }

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

  // ---------------------------------------------------------------- HTTP

  function getJSON(url, signal) {
    return fetch(url, {
      headers: { Accept: 'application/geo+json, application/json;q=0.9' },
      signal: signal
    }).then(function (res) {
      if (!res.ok) {
        return res.text().then(function (body) {
          var detail = '';
          try { detail = JSON.parse(body).detail || ''; } catch (e) { detail = ''; }
          var err = new Error('HTTP ' + res.status + (detail ? ': ' + detail : ''));
          err.status = res.status;
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

  /** The filters as the form holds them. */
  function readFilters() {
    var from = els.from.value, to = els.to.value;
    if (from && to && from > to) { var x = from; from = to; to = x; }
    return { from: from, to: to, type: els.type.value, dept: els.dept.value };
  }

  /** API parameters for the active filters; a filter that is not set is left out. */
  function filterParams(params) {
    var f = readFilters();
    if (f.from || f.to) {
      params.set('datetime', f.from && f.from === f.to ? f.from : (f.from || '..') + '/' + (f.to || '..'));
    }
    if (f.type) params.set('event_type', f.type);
    if (f.dept) params.set('department', f.dept);
    return params;
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

  function viewParams() {
    var params = new URLSearchParams();
    params.set('bbox', bboxParam());
    return filterParams(params);
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
  incidents.addTo(map);

  // The nearby list (below the map on phones) and the window change the map's size.
  if (window.ResizeObserver) {
    new ResizeObserver(function () { map.invalidateSize(); }).observe(map.getContainer());
  }

  var narrow = window.matchMedia('(max-width: 700px)');
  var layersControl = L.control.layers(
    { 'OpenStreetMap': tiles },
    {
      'Incidents': incidents,
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

  function loadIncidents() {
    var seq = ++loadSeq;
    if (loadCtrl) loadCtrl.abort();
    var ctrl = new AbortController();
    loadCtrl = ctrl;
    var params = viewParams();
    params.set('limit', String(PAGE));
    var url = '/collections/incidents/items?' + params.toString();
    var seen = new Set();
    var matched = null;
    var loaded = 0;
    var capped = false;
    setStatus('Loading incidents…', true);

    function page(u) {
      return getJSON(u, ctrl.signal).then(function (body) {
        if (seq !== loadSeq) return null;
        if (matched === null && typeof body.numberMatched === 'number') matched = body.numberMatched;
        var fresh = [];
        var features = Array.isArray(body.features) ? body.features : [];
        for (var i = 0; i < features.length; i++) {
          if (loaded >= CAP) { capped = true; break; }
          var f = features[i];
          loaded++;
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
          setStatus('Loading incidents… ' + fmt(loaded) + (matched !== null ? ' of ' + fmt(matched) : ''), true);
          return page(next);
        }
        return true;
      });
    }

    return page(url).then(function (done) {
      if (!done || seq !== loadSeq) return;
      var stale = [];
      markersById.forEach(function (m, id) {
        if (!seen.has(id)) { stale.push(m); markersById.delete(id); }
      });
      if (stale.length) incidents.removeLayers(stale);
      var total = matched !== null ? matched : loaded;
      if (capped || total > loaded) {
        setStatus('showing ' + fmt(loaded) + ' of ' + fmt(total) + ' incidents in view — zoom in', false);
        els.status.classList.add('capped');
      } else {
        setStatus(plural(total, 'incident', 'incidents') + ' in view', false);
        els.status.classList.remove('capped');
      }
    }).catch(function (e) {
      if (isAbort(e) || seq !== loadSeq) return;
      setStatus('Could not load incidents (' + e.message + '). Move the map to try again.', false);
    });
  }

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

    var params = filterParams(new URLSearchParams());
    params.set('near', latlng.lng.toFixed(6) + ',' + latlng.lat.toFixed(6));
    params.set('within', String(metres));
    params.set('limit', String(NEAR_LIMIT));
    var url = '/collections/incidents/items?' + params.toString();
    getJSON(url, ctrl.signal).then(function (body) {
      if (seq !== nearSeq) return;
      var features = (Array.isArray(body.features) ? body.features : []).filter(hasPoint);
      var matched = typeof body.numberMatched === 'number' ? body.numberMatched : features.length;
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

  map.on('click', function (e) { showNearby(e.latlng); });
  // Leaflet gives a click on a shape to the shape alone; inside an armed-group area the
  // nearby list opens beside the area's popup.
  areas.on('click', function (e) { showNearby(e.latlng); });
  // From the keyboard: Enter on the focused map lists the incidents near its centre.
  map.on('keypress', function (e) {
    var ev = e.originalEvent;
    if (ev && ev.key === 'Enter' && ev.target === map.getContainer()) showNearby(map.getCenter());
  });
  els.nearbyClose.addEventListener('click', closeNearby);

  // ---------------------------------------------------------------- permalink

  function stateFromForm() {
    var c = map.getCenter();
    return {
      z: map.getZoom(),
      lat: Number(c.lat.toFixed(5)),
      lon: Number(c.lng.toFixed(5)),
      from: els.from.value,
      to: els.to.value,
      type: els.type.value,
      dept: els.dept.value,
      r: els.radius.value
    };
  }

  function hashOf(s) {
    var p = new URLSearchParams();
    p.set('z', String(s.z));
    p.set('lat', String(s.lat));
    p.set('lon', String(s.lon));
    if (s.from) p.set('from', s.from);
    if (s.to) p.set('to', s.to);
    if (s.type) p.set('type', s.type);
    if (s.dept) p.set('dept', s.dept);
    if (s.r && s.r !== DEFAULT_RADIUS) p.set('r', s.r);
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
    var type = p.get('type') || '';
    s.type = Object.prototype.hasOwnProperty.call(TYPE_LABEL, type) ? type : '';
    var dept = p.get('dept') || '';
    s.dept = DEPARTMENTS.indexOf(dept) >= 0 ? dept : '';
    var r = p.get('r') || DEFAULT_RADIUS;
    s.r = RADII.indexOf(r) >= 0 ? r : DEFAULT_RADIUS;
    return s;
  }

  function applyState(s) {
    els.from.value = s.from;
    els.to.value = s.to;
    els.type.value = s.type;
    els.dept.value = s.dept;
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

  function updateDownload() {
    var format = DOWNLOAD_FORMATS[els.downloadFormat.value] ? els.downloadFormat.value : 'geojson';
    var params = viewParams();
    if (format !== 'geojson') params.set('f', format);
    els.download.href = '/collections/incidents/download?' + params.toString();
    els.download.setAttribute('download', 'incidents-view.' + DOWNLOAD_FORMATS[format].extension);
    els.download.textContent = 'Download this view (' + DOWNLOAD_FORMATS[format].label + ')';
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
    if (nearPoint) showNearby(nearPoint);
  }

  [els.from, els.to, els.type, els.dept].forEach(function (input) {
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
  els.form.addEventListener('reset', function () {
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

  applyState(parseHash(window.location.hash));
  updateDownload();
  writeHistory(false);
  // Setting the view scheduled a load; start it now instead.
  if (timer) { window.clearTimeout(timer); timer = null; }
  loadIncidents();
})();
