// Geometry the fence editor needs in the browser: circles (the API keeps a circle as a centre and a radius in
// metres; terra-draw draws one as a polygon) and reading WHERE the API says a polygon is wrong, so the place
// can be marked on the map. The API stays the judge of validity: nothing here refuses a shape.

const EARTH_RADIUS_M = 6371008.8;
const toRad = (deg) => (deg * Math.PI) / 180;
const toDeg = (rad) => (rad * 180) / Math.PI;
// terra-draw refuses coordinates with more decimals than its precision (9).
const round9 = (x) => Math.round(x * 1e9) / 1e9;

/** Great-circle distance in metres between two [lon, lat] positions. */
export function distanceM([lon1, lat1], [lon2, lat2]) {
  const dLat = toRad(lat2 - lat1);
  const dLon = toRad(lon2 - lon1);
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(toRad(lat1)) * Math.cos(toRad(lat2)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** The position distanceM metres from [lon, lat] on the given bearing (degrees clockwise from north). */
export function destination([lon, lat], distance, bearingDeg) {
  const delta = distance / EARTH_RADIUS_M;
  const theta = toRad(bearingDeg);
  const phi1 = toRad(lat);
  const phi2 = Math.asin(Math.sin(phi1) * Math.cos(delta) + Math.cos(phi1) * Math.sin(delta) * Math.cos(theta));
  const lambda2 =
    toRad(lon) + Math.atan2(Math.sin(theta) * Math.sin(delta) * Math.cos(phi1), Math.cos(delta) - Math.sin(phi1) * Math.sin(phi2));
  return [((toDeg(lambda2) + 540) % 360) - 180, toDeg(phi2)];
}

/** A geodesic circle as a closed GeoJSON Polygon ring (what the API means by centre + radius). */
export function circlePolygon(center, radiusM, steps = 64) {
  const ring = [];
  for (let i = 0; i < steps; i += 1) {
    const [lon, lat] = destination(center, radiusM, (360 * i) / steps);
    ring.push([round9(lon), round9(lat)]);
  }
  ring.push(ring[0]);
  return { type: "Polygon", coordinates: [ring] };
}

// Web Mercator, where terra-draw builds its circles: their centre is the mean of the vertices there.
const mercator = ([lon, lat]) => [toRad(lon), Math.log(Math.tan(Math.PI / 4 + toRad(lat) / 2))];
const unmercator = ([x, y]) => [toDeg(x), toDeg(2 * Math.atan(Math.exp(y)) - Math.PI / 2)];

/** Centre and radius (metres) of a circle drawn as a polygon ring. */
export function circleOf(polygon) {
  const ring = polygon.coordinates[0].slice(0, -1);
  let sx = 0;
  let sy = 0;
  for (const position of ring) {
    const [x, y] = mercator(position);
    sx += x;
    sy += y;
  }
  const center = unmercator([sx / ring.length, sy / ring.length]);
  const radius = ring.reduce((sum, position) => sum + distanceM(center, position), 0) / ring.length;
  return { center: [round9(center[0]), round9(center[1])], radiusM: radius };
}

/** Indices in a field path: "features[2].geometry.coordinates[0][3]" → {feature: 2, coords: [0, 3]}. */
export function parseField(field) {
  const out = { feature: null, coords: null, field: field || "" };
  const feature = /^features\[(\d+)\]/.exec(out.field);
  if (feature) out.feature = Number(feature[1]);
  const coords = /coordinates((?:\[\d+\])+)/.exec(out.field);
  if (coords) out.coords = [...coords[1].matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1]));
  return out;
}

function ringAt(geometry, indices) {
  // Polygon: coordinates[ring][position]; MultiPolygon: coordinates[polygon][ring][position].
  let node = geometry.coordinates;
  for (const index of indices) {
    if (!Array.isArray(node) || node[index] === undefined) return null;
    node = node[index];
  }
  return node;
}

/**
 * What to mark on the map for one API field error about a geometry the console sent: GeoJSON features (a point
 * where GEOS found a self-intersection, the edge that is too long, the vertex at fault), possibly none.
 * The API says where in two ways (solomo/geo/validate.py): "… at lon X, lat Y" in the message, and the field
 * path down to a ring or a position, with "between positions k and k+1" for edges.
 */
export function errorMarks(error, geometry) {
  const marks = [];
  const text = error.message || "";
  const at = /at lon (-?[\d.]+), lat (-?[\d.]+)/.exec(text);
  if (at) {
    marks.push({ type: "Feature", properties: { kind: "point" }, geometry: { type: "Point", coordinates: [Number(at[1]), Number(at[2])] } });
    return marks;
  }
  if (!geometry || !geometry.coordinates) return marks;
  const { coords } = parseField(error.field);
  if (!coords) return marks;
  const depth = geometry.type === "MultiPolygon" ? 2 : 1; // indices that name a ring
  const edge = /between positions (\d+) and (\d+)/.exec(text);
  if (edge && coords.length >= depth) {
    const ring = ringAt(geometry, coords.slice(0, depth));
    const a = ring && ring[Number(edge[1])];
    const b = ring && ring[Number(edge[2])];
    if (a && b) marks.push({ type: "Feature", properties: { kind: "edge" }, geometry: { type: "LineString", coordinates: [a, b] } });
    return marks;
  }
  if (coords.length >= depth + 1) {
    const position = ringAt(geometry, coords.slice(0, depth + 1));
    if (Array.isArray(position) && position.length >= 2 && position.every(Number.isFinite)) {
      marks.push({ type: "Feature", properties: { kind: "point" }, geometry: { type: "Point", coordinates: position.slice(0, 2) } });
    }
  }
  return marks;
}

/** A random UUID v4, also where crypto.randomUUID is missing (pages served over plain http to another host). */
export function uuid() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
