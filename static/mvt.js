/* A reader of Mapbox Vector Tiles (spec 2.1) for point layers: the protobuf wire format,
 * the layers' keys and values, and MoveTo geometry. Polygons and lines are skipped: the
 * map draws only incident points from tiles. No build step; it defines window.KatMVT.
 *
 *   var layers = KatMVT.decode(new Uint8Array(buffer));
 *   layers.incidents.features[0] // { id, properties: { count: 12, ... }, points: [[x, y]] }
 *   layers.incidents.extent      // 4096: points are in 0..extent over the tile
 */
(function () {
  'use strict';

  function Reader(buf, start, end) {
    this.buf = buf;
    this.pos = start || 0;
    this.end = end === undefined ? buf.length : end;
  }

  Reader.prototype.varint = function () {
    var b = this.buf, v = 0, shift = 1, byte;
    do {
      if (this.pos >= this.end) throw new Error('MVT: truncated varint');
      byte = b[this.pos++];
      v += (byte & 0x7f) * shift;
      shift *= 128;
    } while (byte & 0x80);
    return v;
  };

  Reader.prototype.skip = function (wire) {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.pos += this.varint();
    else if (wire === 5) this.pos += 4;
    else throw new Error('MVT: unknown wire type ' + wire);
  };

  Reader.prototype.sub = function () {
    var len = this.varint();
    var r = new Reader(this.buf, this.pos, this.pos + len);
    this.pos += len;
    if (this.pos > this.end) throw new Error('MVT: truncated field');
    return r;
  };

  Reader.prototype.string = function () {
    var r = this.sub();
    return new TextDecoder().decode(this.buf.subarray(r.pos, r.end));
  };

  Reader.prototype.packed = function () {
    var r = this.sub(), out = [];
    while (r.pos < r.end) out.push(r.varint());
    return out;
  };

  function zigzag(n) { return n % 2 === 1 ? -(n + 1) / 2 : n / 2; }

  function readValue(r) {
    var v = null;
    while (r.pos < r.end) {
      var tag = r.varint(), field = Math.floor(tag / 8), wire = tag & 7;
      if (field === 1) v = r.string();
      else if (field === 2) { v = new DataView(r.buf.buffer, r.buf.byteOffset + r.pos, 4).getFloat32(0, true); r.pos += 4; }
      else if (field === 3) { v = new DataView(r.buf.buffer, r.buf.byteOffset + r.pos, 8).getFloat64(0, true); r.pos += 8; }
      else if (field === 4 || field === 5) v = r.varint();
      else if (field === 6) v = zigzag(r.varint());
      else if (field === 7) v = r.varint() !== 0;
      else r.skip(wire);
    }
    return v;
  }

  /** The points of a geometry: MoveTo commands only (LineTo and ClosePath belong to shapes). */
  function readPoints(cmds) {
    var pts = [], x = 0, y = 0, i = 0;
    while (i < cmds.length) {
      var c = cmds[i++], id = c & 7, n = c >> 3;
      if (id === 7) continue;
      for (var k = 0; k < n && i + 1 < cmds.length; k++) {
        x += zigzag(cmds[i++]);
        y += zigzag(cmds[i++]);
        if (id === 1) pts.push([x, y]);
      }
    }
    return pts;
  }

  function readLayer(r) {
    var name = '', extent = 4096, keys = [], values = [], raw = [];
    while (r.pos < r.end) {
      var tag = r.varint(), field = Math.floor(tag / 8), wire = tag & 7;
      if (field === 1) name = r.string();
      else if (field === 2) raw.push(r.sub());
      else if (field === 3) keys.push(r.string());
      else if (field === 4) values.push(readValue(r.sub()));
      else if (field === 5) extent = r.varint();
      else r.skip(wire);
    }
    var features = [];
    raw.forEach(function (fr) {
      var f = { id: null, type: 0, properties: {}, points: [] }, tags = [], geom = [];
      while (fr.pos < fr.end) {
        var tag = fr.varint(), field = Math.floor(tag / 8), wire = tag & 7;
        if (field === 1) f.id = fr.varint();
        else if (field === 2) tags = fr.packed();
        else if (field === 3) f.type = fr.varint();
        else if (field === 4) geom = fr.packed();
        else fr.skip(wire);
      }
      for (var i = 0; i + 1 < tags.length; i += 2) f.properties[keys[tags[i]]] = values[tags[i + 1]];
      if (f.type === 1) f.points = readPoints(geom);
      features.push(f);
    });
    return { name: name, extent: extent, features: features };
  }

  /** Every layer of a tile, by name. */
  function decode(bytes) {
    var r = new Reader(bytes), layers = {};
    while (r.pos < r.end) {
      var tag = r.varint(), field = Math.floor(tag / 8), wire = tag & 7;
      if (field === 3) { var l = readLayer(r.sub()); layers[l.name] = l; } else r.skip(wire);
    }
    return layers;
  }

  window.KatMVT = { decode: decode };
})();
