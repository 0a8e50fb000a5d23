/* Kat web map: adding and correcting incidents, on a server that takes edits (one with a
 * database declares OGC API - Features Part 4 in /conformance; without one nothing here
 * shows).
 *
 * The token is kept by app.js (sessionStorage, this tab only) and goes out only as
 * `Authorization: Bearer`: never in a URL, the page or the console. Its input has no name,
 * so no form submission can carry it. On a server whose reads need a token (--private) the
 * sign-in shows as soon as a read is refused, whether or not the server takes edits. As in app.js, data reaches the page as text
 * and DOM nodes only, and nothing sets styles from strings (the page's CSP forbids both).
 */
(function () {
  'use strict';

  var K = window.KatMap;
  if (!K) return;
  var el = K.el;
  var map = K.map;

  var ITEMS = '/collections/incidents/items';
  var GEOJSON = 'application/geo+json';
  var MERGE_PATCH = 'application/merge-patch+json';

  /** The properties the form edits, in the order the history lists them. */
  var FIELDS = ['event_date', 'event_type', 'actors', 'fatalities', 'injured', 'kidnapped',
    'location_as_reported', 'commune', 'department', 'source_url', 'notes'];
  var COUNTS = ['fatalities', 'injured', 'kidnapped'];
  var PLACE_FIELDS = ['location_as_reported', 'commune', 'department'];
  var LABELS = {
    event_date: 'Date', event_type: 'Event type', actors: 'Actors', fatalities: 'Fatalities',
    injured: 'Injured', kidnapped: 'Kidnapped', location_as_reported: 'Location as reported',
    commune: 'Commune', department: 'Department', source_url: 'Source', notes: 'Notes',
    geometry: 'Point', geo_precision: 'Precision', section: 'Communal section'
  };
  var ACTIONS = {
    create: 'added', replace: 'replaced', update: 'corrected', delete: 'deleted',
    restore: 'restored', import: 'imported'
  };

  function $(id) { return document.getElementById(id); }

  var els = {
    bar: $('edit-bar'),
    signin: $('edit-signin'),
    add: $('edit-add'),
    signout: $('edit-signout'),
    panel: $('editor'),
    title: $('editor-title'),
    close: $('editor-close'),
    note: $('editor-note'),
    signinForm: $('signin-form'),
    token: $('edit-token'),
    form: $('incident-form'),
    point: $('incident-point'),
    precisionField: $('incident-precision-field'),
    precision: $('incident-precision'),
    department: $('incident-department'),
    type: $('incident-type'),
    actors: $('incident-actors'),
    problem: $('incident-problem'),
    save: $('incident-save'),
    deleteView: $('delete-view'),
    deleteSummary: $('delete-summary'),
    deleteConfirm: $('delete-confirm'),
    history: $('history-view'),
    historySummary: $('history-summary'),
    historyList: $('history-list')
  };

  K.departments.forEach(function (d) { addOption(els.department, d, d); });
  K.eventTypes.forEach(function (t) { addOption(els.type, t[0], t[1]); });

  function addOption(select, value, label) {
    var o = el('option', null, [label]);
    o.value = value;
    select.appendChild(o);
    return o;
  }

  /** A select's option for `value`, added when the list lacks it (a value from the data). */
  function selectValue(select, value) {
    var v = value === null || value === undefined ? '' : String(value);
    var found = false;
    for (var i = 0; i < select.options.length; i++) if (select.options[i].value === v) found = true;
    if (!found) addOption(select, v, v);
    select.value = v;
  }

  // ---------------------------------------------------------------- the token

  var token = K.token;
  var setToken = K.setToken;

  /** Whether the server takes edits (it declares Part 4). */
  var enabled = false;

  /** The signed-in account as GET /account answers it ({name, role, may}), once known. */
  var account = null;

  /**
   * Whether the account may do `op` (create, update, delete, restore). Until the server has
   * said, every action is offered and the server decides at the write.
   */
  function may(op) {
    return !account || account.may.indexOf(op) >= 0;
  }

  /**
   * Asks the server whose the token is. Resolves to {refused: detail} when it does not take
   * the token, and to {} when it cannot say (an older server, no connection).
   */
  function loadAccount() {
    account = null;
    return fetch('/account', { headers: K.withToken({ Accept: 'application/json' }), cache: 'no-store' }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (body) {
        if (res.status === 401) return { refused: body.detail || 'the token is not valid' };
        if (res.ok && body && Array.isArray(body.may)) account = body;
        return {};
      });
    }).catch(function () { return {}; });
  }

  function updateBar() {
    var signedIn = !!token();
    els.signin.hidden = signedIn;
    els.add.hidden = !signedIn || !enabled || !may('create');
    els.signout.hidden = !signedIn;
    if (account) els.signout.title = 'Signed in as ' + account.name + ' (' + account.role + ')';
    else els.signout.removeAttribute('title');
  }

  // ---------------------------------------------------------------- the panel

  /** What the panel shows: 'signin', 'create', 'correct', 'history' or 'note'; null when closed. */
  var view = null;
  var editing = {
    feature: null,   // the incident being corrected, as GET answered it
    etag: null,      // and its ETag, for If-Match
    point: null,     // [lon, lat] placed by clicking
    units: null,     // what /reverse says of that point
    filled: {},      // commune and department as the point filled them in
    busy: false
  };
  /** What to go back to once signed in again. */
  var afterSignIn = null;
  var draft = null;
  var historySeq = 0;

  function show(which, title) {
    view = which;
    els.title.textContent = title;
    els.signinForm.hidden = which !== 'signin';
    els.form.hidden = which !== 'create' && which !== 'correct';
    els.history.hidden = which !== 'history';
    els.deleteView.hidden = which !== 'delete';
    els.panel.hidden = false;
    els.add.setAttribute('aria-expanded', which === 'create' ? 'true' : 'false');
    els.signin.setAttribute('aria-expanded', which === 'signin' ? 'true' : 'false');
    updatePlacing();
  }

  function note(text, warn) {
    els.note.textContent = text || '';
    els.note.classList.toggle('warn', !!warn);
  }

  function closePanel() {
    view = null;
    afterSignIn = null;
    historySeq++;
    els.panel.hidden = true;
    els.add.setAttribute('aria-expanded', 'false');
    els.signin.setAttribute('aria-expanded', 'false');
    note('');
    updatePlacing();
  }

  function isEditing() { return view === 'create' || view === 'correct'; }

  // ---------------------------------------------------------------- signing in

  function startSignIn(message, then, title) {
    afterSignIn = then || null;
    show('signin', title || 'Sign in to edit');
    note(message || '', !!message);
    els.token.value = '';
    els.token.focus();
  }

  els.signinForm.addEventListener('submit', function (e) {
    e.preventDefault();
    var t = els.token.value.trim();
    els.token.value = '';
    if (!t) { note('Paste your token first.', true); els.token.focus(); return; }
    if (!/^[\x21-\x7e]+$/.test(t)) {
      note('That is not a token: a token is one word of letters, digits and punctuation.', true);
      els.token.focus();
      return;
    }
    setToken(t);
    var submit = els.signinForm.querySelector('button[type=submit]');
    submit.disabled = true;
    loadAccount().then(function (r) {
      submit.disabled = false;
      if (r.refused) {
        setToken('');
        updateBar();
        note('The server did not take that token: ' + r.refused + '.', true);
        els.token.focus();
        return;
      }
      updateBar();
      var then = afterSignIn;
      afterSignIn = null;
      if (then) { then(); return; }
      show('note', 'Signed in');
      note(signedInText());
      els.close.focus();
    });
  });

  function signedInText() {
    var who = account ? 'Signed in as ' + account.name + ' (' + account.role + '). ' : 'Signed in. ';
    if (!may('create') && !may('update')) return who + 'This account reads and writes nothing.';
    var text = who + 'Add an incident with “Add incident”, or correct one from its popup on the map.';
    if (account && may('delete')) text += ' As an admin you can also delete one from its popup, and restore any version from its history.';
    return text;
  }

  function signOut() {
    setToken('');
    account = null;
    // Data shown to a member is not left on the screen after they sign out.
    if (K.readsNeedToken()) { window.location.reload(); return; }
    updateBar();
    map.closePopup();
    closePanel();
    els.signin.focus();
  }

  // ---------------------------------------------------------------- placing on the map

  function updatePlacing() {
    var byMap = isEditing() && placing() === 'map';
    els.precisionField.hidden = !byMap;
    map.getContainer().classList.toggle('kat-placing', byMap);
    if (byMap && editing.point) {
      var ll = [editing.point[1], editing.point[0]];
      if (!draft) {
        draft = L.marker(ll, {
          icon: L.divIcon({ className: 'kat-draft', iconSize: [22, 22], iconAnchor: [11, 11] }),
          draggable: true,
          zIndexOffset: 1000,
          title: 'The incident’s point: drag it, or click the map, to move it'
        }).addTo(map);
        draft.on('dragend', function () { placeAt(draft.getLatLng()); });
      } else {
        draft.setLatLng(ll);
      }
    } else if (draft) {
      map.removeLayer(draft);
      draft = null;
    }
    if (!isEditing()) return;
    if (!byMap) {
      els.point.textContent = 'The server places the incident from the location as reported, the commune ' +
        'and the department, and says how precisely it could.';
    } else if (!editing.point) {
      els.point.textContent = 'Click the map where it happened (or focus the map, move it with the arrow ' +
        'keys and press Enter to place it at the centre).';
    }
  }

  function placing() {
    var r = els.form.querySelector('input[name=placing]:checked');
    return r ? r.value : 'map';
  }

  function setPlacing(mode) {
    var r = els.form.querySelector('input[name=placing][value=' + mode + ']');
    if (r) r.checked = true;
    updatePlacing();
  }

  var reverseSeq = 0;

  function round6(v) { return Math.round(v * 1e6) / 1e6; }

  function pointText(p, units) {
    var where = units ? [units.section, units.commune, units.department].filter(Boolean).join(', ') : '';
    return 'Point: ' + p[1].toFixed(5) + ', ' + p[0].toFixed(5) + (where ? ' (' + where + ')' : '') +
      '. Drag it, or click the map again, to move it.';
  }

  /** Puts the incident's point at `latlng`, and its commune and department from /reverse. */
  function placeAt(latlng) {
    var p = [round6(latlng.lng), round6(latlng.lat)];
    editing.point = p;
    editing.units = null;
    clearInvalid();
    updatePlacing();
    els.point.textContent = pointText(p, null);
    var seq = ++reverseSeq;
    K.getJSON('/reverse?lon=' + p[0] + '&lat=' + p[1]).then(function (body) {
      if (seq !== reverseSeq) return;
      var u = (body && body.properties) || {};
      editing.units = u;
      els.point.textContent = pointText(p, u);
      fillUnit('commune', u.commune);
      fillUnit('department', u.department);
    }).catch(function () {
      if (seq !== reverseSeq) return;
      els.point.textContent = pointText(p, null) + ' It lies in no commune the server knows.';
    });
  }

  /** Fills in a unit from the point unless the editor has typed one of their own. */
  function fillUnit(name, value) {
    var input = els.form.elements[name];
    if (!value) return;
    if (input.value && input.value !== editing.filled[name]) return;
    if (input.tagName === 'SELECT') selectValue(input, value); else input.value = value;
    editing.filled[name] = value;
  }

  K.claimClicks(function (latlng) {
    if (!isEditing() || placing() !== 'map') return false;
    placeAt(latlng);
    // A click inside an armed-group area also opened the area's popup.
    window.setTimeout(function () { map.closePopup(); }, 0);
    return true;
  });

  els.form.addEventListener('change', function (e) {
    if (e.target && e.target.name === 'placing') updatePlacing();
  });

  // ---------------------------------------------------------------- the form

  function text(name) {
    var v = String(els.form.elements[name].value || '').trim();
    return v === '' ? null : v;
  }

  /** The properties as the form holds them: null for what is left empty. */
  function readForm() {
    var p = {};
    ['event_date', 'event_type', 'location_as_reported', 'commune', 'department', 'source_url', 'notes']
      .forEach(function (k) { p[k] = text(k); });
    var actors = els.actors.value.split('\n').map(function (s) { return s.trim(); }).filter(Boolean);
    p.actors = actors.length ? actors : null;
    COUNTS.forEach(function (k) {
      var v = els.form.elements[k].value.trim();
      p[k] = v === '' ? null : Number(v);
    });
    return p;
  }

  /** A count that a number input could not read, as a problem of the form's own. */
  function unreadableCount() {
    for (var i = 0; i < COUNTS.length; i++) {
      var input = els.form.elements[COUNTS[i]];
      if (input.validity && input.validity.badInput) {
        return { field: 'properties.' + COUNTS[i], detail: LABELS[COUNTS[i]] + ': a whole number, or empty when not reported' };
      }
    }
    return null;
  }

  function fillForm(f) {
    var p = f.properties || {};
    ['event_date', 'location_as_reported', 'commune', 'source_url', 'notes'].forEach(function (k) {
      els.form.elements[k].value = p[k] === null || p[k] === undefined ? '' : String(p[k]);
    });
    selectValue(els.type, p.event_type);
    selectValue(els.department, p.department);
    els.actors.value = Array.isArray(p.actors) ? p.actors.join('\n') : (p.actors ? String(p.actors) : '');
    COUNTS.forEach(function (k) {
      els.form.elements[k].value = typeof p[k] === 'number' ? String(p[k]) : '';
    });
    var g = f.geometry;
    if (g && g.type === 'Point' && Array.isArray(g.coordinates)) {
      editing.point = [g.coordinates[0], g.coordinates[1]];
      setPlacing('map');
      els.point.textContent = pointText(editing.point, p);
    } else {
      editing.point = null;
      setPlacing('name');
    }
    els.precision.value = String(p.geo_precision >= 1 && p.geo_precision <= 4 ? p.geo_precision : 1);
    editing.units = null;
    editing.filled = {};
  }

  function clearInvalid() {
    els.form.querySelectorAll('[aria-invalid]').forEach(function (n) {
      n.removeAttribute('aria-invalid');
      var d = (n.getAttribute('aria-describedby') || '').split(' ').filter(function (x) { return x && x !== 'incident-problem'; });
      if (d.length) n.setAttribute('aria-describedby', d.join(' ')); else n.removeAttribute('aria-describedby');
    });
  }

  function clearProblem() {
    els.problem.hidden = true;
    els.problem.textContent = '';
    clearInvalid();
  }

  /** Shows a problem beside the form, on the field it names (`properties.NAME`, `geometry`). */
  function showProblem(detail, field) {
    clearInvalid();
    els.problem.textContent = detail;
    els.problem.hidden = false;
    var name = String(field || '').replace(/^properties\./, '');
    var target = name === 'geometry' ? els.point : (name && els.form.elements[name]) || null;
    if (target && target.nodeType === 1) {
      target.setAttribute('aria-invalid', 'true');
      var d = (target.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
      if (d.indexOf('incident-problem') < 0) d.push('incident-problem');
      target.setAttribute('aria-describedby', d.join(' '));
      if (target === els.point) els.point.setAttribute('tabindex', '-1');
      target.focus();
    }
  }

  function resetForm() {
    els.form.reset();
    clearProblem();
    editing.feature = null;
    editing.etag = null;
    editing.point = null;
    editing.units = null;
    editing.filled = {};
    reverseSeq++;
  }

  function startCreate() {
    map.closePopup();
    if (!token()) { startSignIn('', startCreate); return; }
    resetForm();
    note('');
    show('create', 'Add an incident');
    els.save.textContent = 'Add incident';
    els.form.querySelector('input[name=placing]:checked').focus();
  }

  function featureUrl(id) { return ITEMS + '/' + encodeURIComponent(String(id)); }

  /** The incident as stored now, with its ETag. */
  function fetchFeature(id) {
    return fetch(featureUrl(id), { headers: K.withToken({ Accept: GEOJSON }), cache: 'no-store' }).then(function (res) {
      if (!res.ok) {
        return res.json().catch(function () { return {}; }).then(function (b) {
          throw new Error(b.detail || 'HTTP ' + res.status);
        });
      }
      var etag = res.headers.get('ETag');
      return res.json().then(function (f) { return { feature: f, etag: etag }; });
    });
  }

  function startCorrect(id) {
    map.closePopup();
    if (!token()) { startSignIn('', function () { startCorrect(id); }); return; }
    resetForm();
    show('correct', 'Correct incident ' + id);
    note('Loading the incident…');
    els.save.textContent = 'Save correction';
    els.save.disabled = true;
    return loadForCorrect(id).then(function (ok) {
      if (ok) { note(''); els.form.elements.event_date.focus(); }
    });
  }

  function loadForCorrect(id) {
    return fetchFeature(id).then(function (r) {
      if (view !== 'correct') return false;
      editing.feature = r.feature;
      editing.etag = r.etag;
      fillForm(r.feature);
      els.save.disabled = false;
      return true;
    }).catch(function (e) {
      note('Could not load incident ' + id + ' (' + e.message + ').', true);
      return false;
    });
  }

  /** Section and P-codes from /reverse for a point placed by clicking, where they agree. */
  function unitProperties(want) {
    var u = editing.units || {};
    var commune = !!u.commune && u.commune === want.commune;
    var dept = !!u.department && u.department === want.department;
    return {
      section: commune && u.section ? u.section : null,
      section_pcode: commune && u.section_pcode ? u.section_pcode : null,
      commune_pcode: commune && u.commune_pcode ? u.commune_pcode : null,
      department_pcode: dept && u.department_pcode ? u.department_pcode : null
    };
  }

  function pointGeometry() {
    return { type: 'Point', coordinates: [editing.point[0], editing.point[1]] };
  }

  /** The new incident's body, or a problem of the form's own. */
  function createBody(want) {
    var props = {};
    FIELDS.forEach(function (k) { if (want[k] !== null) props[k] = want[k]; });
    if (placing() === 'map') {
      if (!editing.point) {
        return { problem: { field: 'geometry', detail: 'Click the map where it happened, or choose “Type a place name”.' } };
      }
      var units = unitProperties(want);
      Object.keys(units).forEach(function (k) { if (units[k] !== null) props[k] = units[k]; });
      props.geo_precision = Number(els.precision.value);
      return { body: { type: 'Feature', geometry: pointGeometry(), properties: props } };
    }
    if (!PLACE_FIELDS.some(function (k) { return want[k] !== null; })) {
      return { problem: { field: 'properties.location_as_reported', detail: 'Give the location as reported, a commune or a department, or choose “Click the map”.' } };
    }
    return { body: { type: 'Feature', geometry: null, properties: props } };
  }

  function empty(v) {
    return v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0);
  }

  function same(a, b) {
    if (empty(a) && empty(b)) return true;
    return JSON.stringify(a) === JSON.stringify(b);
  }

  /** The merge patch (RFC 7396) of what the editor changed; null when nothing did. */
  function correctionPatch(want) {
    var f = editing.feature;
    var have = f.properties || {};
    var props = {};
    var patch = {};
    FIELDS.forEach(function (k) { if (!same(have[k], want[k])) props[k] = want[k]; });
    var g = f.geometry;
    var before = g && g.type === 'Point' && Array.isArray(g.coordinates) ? g.coordinates : null;
    if (placing() === 'map') {
      if (!editing.point) {
        return { problem: { field: 'geometry', detail: 'Click the map where it happened, or choose “Type a place name”.' } };
      }
      var moved = !before || before[0] !== editing.point[0] || before[1] !== editing.point[1];
      if (moved) {
        patch.geometry = pointGeometry();
        var units = unitProperties(want);
        Object.keys(units).forEach(function (k) { if (!same(have[k], units[k])) props[k] = units[k]; });
      }
      var precision = Number(els.precision.value);
      if (moved || precision !== have.geo_precision) props.geo_precision = precision;
    } else if (before) {
      // Without a point the server places the incident anew from its place names.
      patch.geometry = null;
    }
    if (Object.keys(props).length) patch.properties = props;
    return Object.keys(patch).length ? { body: patch } : { body: null };
  }

  /** A write as the API answers it: status, ETag and the body, parsed when it is JSON. */
  function send(method, url, body, type, ifMatch) {
    var headers = {
      Accept: 'application/geo+json, application/problem+json;q=0.9',
      Authorization: 'Bearer ' + token()
    };
    if (type) headers['Content-Type'] = type;
    if (ifMatch) headers['If-Match'] = ifMatch;
    var init = { method: method, headers: headers, cache: 'no-store' };
    if (body !== null) init.body = JSON.stringify(body);
    return fetch(url, init)
      .then(function (res) {
        return res.text().then(function (t) {
          var json = null;
          try { json = JSON.parse(t); } catch (e) { json = null; }
          return { status: res.status, ok: res.ok, etag: res.headers.get('ETag'), body: json };
        });
      });
  }

  function precisionText(p) {
    return K.precision[p.geo_precision] ? K.precision[p.geo_precision] + ' (geo_precision ' + p.geo_precision + ')' : 'precision unknown';
  }

  /** What the server made of the place, for a note after a write. */
  function placedText(f, byName) {
    var p = f.properties || {};
    if (!f.geometry) {
      return ' The server could not place it from its place names, so it has no point and does not show on the map.';
    }
    var c = f.geometry.coordinates;
    var where = [p.section, p.commune, p.department].filter(Boolean).join(', ');
    return (byName ? ' The server placed it from its place names, ' : ' Its point is ') +
      precisionText(p) + (where ? ', in ' + where : '') +
      ' (' + Number(c[1]).toFixed(5) + ', ' + Number(c[0]).toFixed(5) + ').';
  }

  function written(f, message) {
    var fromName = placing() === 'name';
    resetForm();
    show('note', view === 'correct' ? 'Correction saved' : 'Incident saved');
    note(message + placedText(f, fromName));
    K.refresh(f.id).then(function () { K.openIncident(f); });
  }

  /** A refused write: a sign-in that resumes with `retry` for a 401, else the problem, shown
   * beside the form or, for an action without one (`inNote`), in the panel's note. */
  function failed(res, retry, inNote) {
    var b = res.body || {};
    var detail = b.detail || b.title || 'HTTP ' + res.status;
    if (res.status === 401) {
      setToken('');
      account = null;
      updateBar();
      startSignIn('The server did not take your token: ' + detail + '. Sign in again' +
        (inNote ? ' to carry on.' : '; what you entered in the form is kept.'), retry);
      return;
    }
    var text = (b.title ? b.title + ': ' : '') + detail;
    if (inNote) note(text, true);
    else showProblem(text, b.field);
  }

  els.form.addEventListener('submit', function (e) {
    e.preventDefault();
    if (editing.busy || !isEditing()) return;
    clearProblem();
    var bad = unreadableCount();
    if (bad) { showProblem(bad.detail, bad.field); return; }
    var want = readForm();
    var plan = view === 'create' ? createBody(want) : correctionPatch(want);
    if (plan.problem) { showProblem(plan.problem.detail, plan.problem.field); return; }
    if (!plan.body) { showProblem('Nothing has changed: there is nothing to save.', null); return; }
    if (!token()) { startSignIn('', resume(view)); return; }
    var mode = view;
    var request = mode === 'create'
      ? send('POST', ITEMS, plan.body, GEOJSON, null)
      : send('PATCH', featureUrl(editing.feature.id), plan.body, MERGE_PATCH, editing.etag);
    editing.busy = true;
    els.save.disabled = true;
    request.then(function (res) {
      editing.busy = false;
      els.save.disabled = false;
      if (view !== mode) return;
      if (res.ok && res.body) {
        var id = String(res.body.id);
        if (mode === 'create') written(res.body, 'Added incident ' + id + '.');
        else written(res.body, 'Saved your correction to incident ' + id + (res.etag ? ' (now ' + res.etag.replace(/"/g, '') + ').' : '.'));
        return;
      }
      if (res.status === 412 && mode === 'correct') {
        var id412 = editing.feature.id;
        loadForCorrect(id412).then(function (ok) {
          showProblem('Someone else changed this incident after you opened it. ' +
            (ok ? 'The form now shows it as they left it: check it and make your correction again.'
              : 'Reload it to see their change.'), null);
        });
        return;
      }
      failed(res, resume(mode));
    }).catch(function (err) {
      editing.busy = false;
      els.save.disabled = false;
      showProblem('The server could not be reached (' + err.message + '). Nothing was saved; try again.', null);
    });
  });

  /** Back to the form as it was, after signing in again. */
  function resume(mode) {
    return function () {
      show(mode, mode === 'create' ? 'Add an incident' : 'Correct incident ' + (editing.feature ? editing.feature.id : ''));
      note('Signed in again: save once more.');
      els.save.focus();
    };
  }

  // ---------------------------------------------------------------- history

  function valueText(v) {
    if (v === null || v === undefined || v === '') return '—';
    if (Array.isArray(v)) return v.length ? v.map(String).join('; ') : '—';
    if (typeof v === 'object') {
      if (v.type === 'Point' && Array.isArray(v.coordinates)) {
        return Number(v.coordinates[1]).toFixed(5) + ', ' + Number(v.coordinates[0]).toFixed(5);
      }
      return JSON.stringify(v);
    }
    return String(v);
  }

  /** The fields whose values differ between two versions (null: none), the form's first. */
  function changes(before, after) {
    var b = (before && before.properties) || {};
    var a = (after && after.properties) || {};
    var out = [];
    var bg = before ? before.geometry : null, ag = after ? after.geometry : null;
    if (!same(bg, ag)) out.push({ field: 'geometry', from: bg, to: ag });
    var keys = FIELDS.slice();
    Object.keys(b).concat(Object.keys(a)).sort().forEach(function (k) {
      if (keys.indexOf(k) < 0) keys.push(k);
    });
    keys.forEach(function (k) {
      if (!same(b[k], a[k])) out.push({ field: k, from: b[k], to: a[k] });
    });
    return out;
  }

  function whenText(at) {
    var s = String(at || '');
    return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(s) ? s.slice(0, 10) + ' ' + s.slice(11, 16) + ' UTC' : s;
  }

  function versionItem(v, id, newest) {
    var action = ACTIONS[v.action] || String(v.action || 'changed');
    var head = el('p', 'history-head', [
      'Revision ' + String(v.revision) + ': ' + action + ' by ' + String(v.actor || 'unknown') + ' ',
      el('span', 'history-when', [whenText(v.at)])
    ]);
    var li = el('li', null, [head]);
    li.setAttribute('data-revision', String(v.revision));
    var list = el('ul', 'history-changes');
    changes(v.before, v.after).forEach(function (c) {
      var item = el('li', null, [el('span', 'history-field', [LABELS[c.field] || c.field]), ': ']);
      item.setAttribute('data-field', c.field);
      if (v.before) item.appendChild(el('span', 'history-old', [valueText(c.from)]));
      if (v.before && v.after) item.appendChild(document.createTextNode(' → '));
      if (v.after) item.appendChild(el('span', 'history-new', [valueText(c.to)]));
      list.appendChild(item);
    });
    if (!list.childNodes.length) list.appendChild(el('li', null, ['no field changed']));
    li.appendChild(list);
    // Any version but the newest can be made the newest again, unless it is a deletion.
    if (token() && account && may('restore') && v.after && v.revision !== newest) {
      var p = el('p', 'history-restore');
      p.appendChild(popupButton('Restore revision ' + String(v.revision), function () { restore(id, v.revision); }));
      li.appendChild(p);
    }
    return li;
  }

  /** POST …/history/{revision}/restore: that version becomes the incident's newest. */
  function restore(id, revision) {
    note('Restoring revision ' + revision + '…');
    var url = featureUrl(id) + '/history/' + encodeURIComponent(String(revision)) + '/restore';
    send('POST', url, null, null, null).then(function (res) {
      if (res.ok && res.body) {
        var f = res.body;
        showHistory(id, 'Restored revision ' + revision + ' of incident ' + id + (res.etag ? ' (now ' + res.etag.replace(/"/g, '') + ').' : '.'));
        K.refresh(id).then(function () { K.openIncident(f); });
        return;
      }
      failed(res, function () { showHistory(id, 'Signed in again: restore once more.'); }, true);
    }).catch(function (e) { note('The restore did not reach the server (' + e.message + ').', true); });
  }

  // ---------------------------------------------------------------- deleting

  /** Asks to confirm the deletion, with the incident as stored now and its ETag. */
  function startDelete(id) {
    map.closePopup();
    show('delete', 'Delete incident ' + id);
    note('');
    els.deleteSummary.textContent = 'Loading the incident…';
    els.deleteConfirm.disabled = true;
    editing.etag = null;
    fetchFeature(id).then(function (got) {
      if (view !== 'delete') return;
      var p = got.feature.properties || {};
      editing.etag = got.etag;
      els.deleteSummary.textContent = 'Delete incident ' + id + ': ' + K.typeLabel(p.event_type) + ', ' +
        (p.event_date || 'date unknown') + ', ' + (p.location_as_reported || p.commune || 'place not given') + '?';
      els.deleteConfirm.disabled = false;
      els.deleteConfirm.setAttribute('data-id', id);
      els.deleteConfirm.focus();
    }).catch(function (e) {
      els.deleteSummary.textContent = 'The incident could not be loaded (' + e.message + ').';
    });
  }

  els.deleteConfirm.addEventListener('click', function () {
    var id = els.deleteConfirm.getAttribute('data-id');
    if (!id || view !== 'delete') return;
    els.deleteConfirm.disabled = true;
    send('DELETE', featureUrl(id), null, null, editing.etag).then(function (res) {
      els.deleteConfirm.disabled = false;
      if (res.status === 204) {
        K.refresh(id);
        showHistory(id, 'Deleted incident ' + id + '. Its history stays below: restore a version to bring it back.');
        return;
      }
      if (res.status === 412) {
        note('Someone changed this incident since it was loaded: look at it again before deleting.', true);
        startDelete(id);
        return;
      }
      failed(res, function () { startDelete(id); }, true);
    }).catch(function (e) {
      els.deleteConfirm.disabled = false;
      note('The deletion did not reach the server (' + e.message + ').', true);
    });
  });

  function showHistory(id, message) {
    var seq = ++historySeq;
    show('history', 'History of incident ' + id);
    note(message || '');
    els.historyList.textContent = '';
    els.historySummary.textContent = 'Loading the versions…';
    K.getJSON(featureUrl(id) + '/history').then(function (body) {
      if (seq !== historySeq) return;
      var versions = Array.isArray(body.versions) ? body.versions : [];
      els.historySummary.textContent = versions.length === 1 ? '1 version.' : versions.length + ' versions, the newest first.';
      var newest = versions.length ? versions[0].revision : null;
      versions.forEach(function (v) { els.historyList.appendChild(versionItem(v, id, newest)); });
      els.panel.focus();
    }).catch(function (e) {
      if (seq !== historySeq) return;
      els.historySummary.textContent = 'The history is unavailable (' + e.message + ').';
    });
  }

  // ---------------------------------------------------------------- popups and wiring

  function popupButton(label, action) {
    var b = el('button', null, [label]);
    b.type = 'button';
    b.addEventListener('click', action);
    return b;
  }

  K.addPopupExtra(function (feature, box) {
    if (!enabled || feature.id === null || feature.id === undefined) return;
    var id = String(feature.id);
    var actions = el('p', 'kat-edit-actions');
    if (token() && may('update')) actions.appendChild(popupButton('Correct', function () { startCorrect(id); }));
    actions.appendChild(popupButton('History', function () { showHistory(id); }));
    if (token() && account && may('delete')) actions.appendChild(popupButton('Delete', function () { startDelete(id); }));
    box.appendChild(actions);
  });

  els.signin.addEventListener('click', function () { startSignIn('', null); });
  els.add.addEventListener('click', startCreate);
  els.signout.addEventListener('click', signOut);
  els.close.addEventListener('click', closePanel);
  els.panel.querySelectorAll('[data-close]').forEach(function (b) { b.addEventListener('click', closePanel); });
  els.panel.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') { e.stopPropagation(); closePanel(); }
  });

  // Reads refused: the map is for members only. Once signed in the page starts again, with
  // the token on every request; the view is in the URL, so it comes back as it was.
  K.onSignInNeeded(function (detail, hadToken) {
    els.bar.hidden = false;
    els.signin.textContent = 'Sign in';
    updateBar();
    startSignIn(hadToken
      ? 'The server did not take your token' + (detail ? ': ' + detail : '') + '. Sign in again to see the map.'
      : 'This server shows its map to members only. Paste the token you were given to see it.',
    function () {
      if (setToken(token())) { window.location.reload(); return; }
      show('note', 'Signed in');
      note('This browser does not keep the token for this tab (a private window refuses it), so the map cannot load with it. Open the map in an ordinary window.', true);
    }, 'Sign in to see the map');
  });

  K.capsReady.then(function () {
    if (!K.caps.edits) return;
    enabled = true;
    els.bar.hidden = false;
    updateBar();
    // Signed in before this page loaded (in this tab): whose token is it, and may it write?
    if (!token()) return;
    loadAccount().then(function (r) {
      if (r.refused) setToken('');
      updateBar();
    });
  });
})();
