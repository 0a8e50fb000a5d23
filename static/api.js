/* Kat API documentation: reads the OpenAPI definition at /api and lists each path with
 * its parameters. All text goes in with textContent. */
(function () {
  'use strict';

  function el(tag, className, children) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }

  function code(text) { return el('code', null, [String(text)]); }

  /** Follows a local "#/components/..." reference. */
  function resolve(doc, obj) {
    var seen = 0;
    while (obj && typeof obj.$ref === 'string' && obj.$ref.indexOf('#/') === 0 && seen++ < 10) {
      var target = doc;
      obj.$ref.slice(2).split('/').forEach(function (part) {
        var key = part.replace(/~1/g, '/').replace(/~0/g, '~');
        target = target && typeof target === 'object' ? target[key] : undefined;
      });
      obj = target;
    }
    return obj;
  }

  function schemaText(doc, schema) {
    schema = resolve(doc, schema);
    if (!schema) return '';
    var parts = [];
    var type = schema.type || '';
    if (type === 'array' && schema.items) {
      var inner = resolve(doc, schema.items) || {};
      type = 'array of ' + (inner.type || 'values');
      if (schema.minItems !== undefined && schema.minItems === schema.maxItems) type += ' (' + schema.minItems + ')';
      else if (schema.minItems !== undefined || schema.maxItems !== undefined) {
        type += ' (' + (schema.minItems !== undefined ? schema.minItems : 0) + '–' + (schema.maxItems !== undefined ? schema.maxItems : '∞') + ')';
      }
    }
    if (type) parts.push(type);
    if (Array.isArray(schema.enum)) parts.push('one of: ' + schema.enum.join(', '));
    if (schema.minimum !== undefined) parts.push((schema.exclusiveMinimum ? '> ' : '≥ ') + schema.minimum);
    if (schema.maximum !== undefined) parts.push('≤ ' + schema.maximum);
    if (schema.default !== undefined) parts.push('default ' + schema.default);
    return parts.join('; ');
  }

  function slug(path) { return 'path-' + path.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, ''); }

  function render(doc) {
    var info = doc.info || {};
    var infoBox = document.getElementById('api-info');
    infoBox.appendChild(el('p', null, [
      el('strong', null, [String(info.title || 'API') + (info.version ? ' ' + info.version : '')]),
      doc.openapi ? ' (OpenAPI ' + doc.openapi + ')' : ''
    ]));
    if (info.description) infoBox.appendChild(el('p', 'description', [String(info.description)]));
    if (info.license && info.license.name) infoBox.appendChild(el('p', 'description', ['Licence: ' + String(info.license.name)]));

    var paths = doc.paths || {};
    var names = Object.keys(paths).sort();
    var toc = el('ul', 'toc');
    var out = document.getElementById('api-paths');
    names.forEach(function (path) {
      var a = el('a', null, [code(path)]);
      a.href = '#' + slug(path);
      toc.appendChild(el('li', null, [a]));

      var item = paths[path] || {};
      ['get', 'head', 'post', 'put', 'patch', 'delete', 'options'].forEach(function (method) {
        var op = item[method];
        if (!op) return;
        var h = el('h2', null, [el('span', 'method', [method.toUpperCase()]), path]);
        h.id = slug(path);
        out.appendChild(h);
        if (op.summary) out.appendChild(el('p', 'summary', [String(op.summary)]));
        if (op.description) out.appendChild(el('p', 'description', [String(op.description)]));
        var params = (item.parameters || []).concat(op.parameters || []).map(function (p) { return resolve(doc, p); }).filter(Boolean);
        if (!params.length) {
          out.appendChild(el('p', 'none', ['No parameters.']));
          return;
        }
        var table = el('table');
        var head = el('tr', null, [el('th', null, ['Parameter']), el('th', null, ['In']), el('th', null, ['Required']), el('th', null, ['Type']), el('th', null, ['Description'])]);
        head.querySelectorAll('th').forEach(function (th) { th.scope = 'col'; });
        table.appendChild(el('thead', null, [head]));
        var body = el('tbody');
        params.forEach(function (p) {
          body.appendChild(el('tr', null, [
            el('td', null, [code(p.name || '')]),
            el('td', null, [String(p.in || '')]),
            el('td', null, [p.required ? 'yes' : 'no']),
            el('td', null, [schemaText(doc, p.schema)]),
            el('td', null, [String(p.description || '')])
          ]));
        });
        table.appendChild(body);
        out.appendChild(el('div', 'table-wrap', [table]));
      });
    });
    document.getElementById('api-toc').appendChild(toc);
    document.getElementById('api-status').textContent = names.length + ' paths.';
  }

  // On a server whose reads need a token, the map's sign-in (in this tab) lends it here.
  var headers = { Accept: 'application/vnd.oai.openapi+json;version=3.0, application/json;q=0.9' };
  var token = '';
  try { token = window.sessionStorage.getItem('kat.token') || ''; } catch (e) { token = ''; }
  if (token) headers.Authorization = 'Bearer ' + token;

  fetch('/api', { headers: headers })
    .then(function (res) {
      if (res.status === 401) {
        throw new Error('this server shows its API to members only: sign in on the map, in this tab, then come back');
      }
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.json();
    })
    .then(render)
    .catch(function (e) {
      document.getElementById('api-status').textContent = 'Could not load the API definition (' + e.message + '). It is at /api.';
    });
})();
