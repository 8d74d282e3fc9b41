// The console's maps. MapLibre is the vendored UMD build (global `maplibregl`), loaded by a classic <script> the
// first time a page asks for a map, so the sign-in page and the till never fetch or run its megabyte; it builds
// its worker from a blob, which the page's CSP allows (worker-src blob:).
// The default basemap is offline: a background plus world-atlas's countries (Natural Earth, 1:110m) turned into
// GeoJSON with topojson-client (global `topojson`). A deployment may name its own style (mapStyleUrl) instead.
// No layer draws text: text needs glyph files (fonts) that an offline console does not have.

const COUNTRIES_URL = new URL("../vendor/world-atlas/countries-110m.json", import.meta.url);
const SCRIPTS = [
  new URL("../vendor/maplibre-gl/maplibre-gl.js", import.meta.url),
  new URL("../vendor/topojson-client/topojson-client.min.js", import.meta.url),
];
let countries = null;
let libraries = null;

function script(src) {
  return new Promise((resolve, reject) => {
    const element = document.createElement("script");
    element.src = src;
    element.onload = resolve;
    element.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(element);
  });
}

/** MapLibre and topojson-client, loaded once (resolves when both globals exist). */
export function mapLibraries() {
  if (!libraries) libraries = Promise.all(SCRIPTS.map((src) => script(src.href)));
  return libraries;
}

export function settings() {
  const el = document.getElementById("solomo-settings");
  try {
    return JSON.parse(el ? el.textContent : "{}") || {};
  } catch {
    return {};
  }
}

async function countriesGeoJSON() {
  if (!countries) {
    countries = fetch(COUNTRIES_URL)
      .then((response) => response.json())
      .then((topology) => globalThis.topojson.feature(topology, topology.objects.countries));
  }
  return countries;
}

async function offlineStyle() {
  return {
    version: 8,
    sources: { countries: { type: "geojson", data: await countriesGeoJSON() } },
    layers: [
      { id: "background", type: "background", paint: { "background-color": "#dbe9f4" } },
      { id: "countries-fill", type: "fill", source: "countries", paint: { "fill-color": "#f5f3ee" } },
      { id: "countries-line", type: "line", source: "countries", paint: { "line-color": "#a9a49a", "line-width": 0.8 } },
    ],
  };
}

/** A map in container, resolved once its style is loaded (so sources and layers can be added). */
export async function createMap(container, options = {}) {
  await mapLibraries();
  const { mapStyleUrl, mapAttribution } = settings();
  const style = mapStyleUrl || (await offlineStyle());
  const map = new globalThis.maplibregl.Map({
    container,
    style,
    center: options.center || [105, 35],
    zoom: options.zoom ?? 3,
    attributionControl: false,
    cooperativeGestures: false,
  });
  map.addControl(
    new globalThis.maplibregl.AttributionControl({
      compact: false,
      customAttribution: mapAttribution || (mapStyleUrl ? undefined : "Natural Earth"),
    }),
  );
  map.addControl(new globalThis.maplibregl.NavigationControl({ showCompass: false }), "top-right");
  await new Promise((resolve) => (map.loaded() ? resolve() : map.once("load", resolve)));
  // Marks the map as drawn, with what the page adds right after this resolves (bench/console_load.py waits on it).
  map.once("idle", () => {
    container.dataset.drawn = "true";
  });
  return map;
}

/** The brand's stores as dots (a "stores" source and circle layer), and the map fitted to them: the stores page
 * and the dashboard's heatmap both show them, each in its own size and colour. */
export function addStores(map, data, paint, maxZoom) {
  map.addSource("stores", { type: "geojson", data });
  map.addLayer({ id: "stores", type: "circle", source: "stores", paint });
  fitTo(map, data.features.map((feature) => feature.geometry.coordinates), maxZoom);
}

/** Fits the map to [lon, lat] positions; one position gets a street-level zoom. */
export function fitTo(map, positions, maxZoom = 15) {
  if (!positions.length) return;
  const bounds = new globalThis.maplibregl.LngLatBounds(positions[0], positions[0]);
  for (const position of positions) bounds.extend(position);
  map.fitBounds(bounds, { padding: 60, maxZoom, duration: 0 });
}

/** Every position of a GeoJSON geometry, for fitting. */
export function positionsOf(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Point") return [geometry.coordinates];
  if (geometry.type === "Polygon") return geometry.coordinates.flat();
  if (geometry.type === "MultiPolygon") return geometry.coordinates.flat(2);
  return [];
}
