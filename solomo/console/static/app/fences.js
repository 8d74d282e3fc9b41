// #/stores/<id>: one store's geofences on a map, and the fence editor. terra-draw holds the shapes being drawn
// and edited (circle, polygon, select); this page keeps, per fence, what the API last said (saved or not,
// active, its error) and talks to /v1. The API judges every shape: its refusals are shown next to the fence
// and, when they say where (a crossing point, an edge, a vertex), marked on the map in red.
import { all, api, ApiError } from "./api.js";
import { TerraDrawMapLibreGLAdapter } from "../vendor/terra-draw-maplibre-gl-adapter/terra-draw-maplibre-gl-adapter.modern.js";
import { describe } from "./errors.js";
import { circleOf, circlePolygon, errorMarks, uuid } from "./geometry.js";
import { formatNumber, t } from "./i18n.js";
import { createMap, fitTo, positionsOf } from "./map.js";
import { download, field, h, message, replace } from "./ui.js";
import {
  TerraDraw,
  TerraDrawCircleMode,
  TerraDrawPolygonMode,
  TerraDrawSelectMode,
} from "../vendor/terra-draw/terra-draw.modern.js";

const BLUE = "#1f6feb";
const GREY = "#8a8f98";
const RED = "#d1242f";
const EMPTY = { type: "FeatureCollection", features: [] };

// Paused fences are grey, so the map says which fences fire.
const fill = (feature) => (feature.properties.active === false ? GREY : BLUE);

export async function renderStore(root, ctx, storeId) {
  replace(root, message(t("loading")));
  let store;
  try {
    store = await api("GET", `/v1/stores/${encodeURIComponent(storeId)}`);
  } catch (error) {
    // Another brand's store, a manager's store out of scope, or no such id: the API answers 403/404 (422 for an
    // id that is not a UUID); the page says the same thing for all of them.
    if (error instanceof ApiError && [403, 404, 422].includes(error.status)) {
      ctx.notAllowed(t("notallowed.store"));
    } else {
      replace(root, message(describe(error), "error"));
    }
    return () => {};
  }
  const editor = new FenceEditor(root, ctx, store);
  await editor.start();
  return () => editor.destroy();
}

class FenceEditor {
  constructor(root, ctx, store) {
    this.root = root;
    this.ctx = ctx;
    this.store = store;
    this.canEdit = ctx.session.role !== "marketer";
    this.fences = new Map(); // terra-draw id (the API's id once saved) → fence state
    this.focusId = null; // the fence the toolbar acts on: the selected one, or the one just drawn
    this.counter = 0;
  }

  async start() {
    this.mapEl = h("div", { class: "map editor-map", role: "region", "aria-label": t("store.fences") });
    this.status = h("p", { class: "message editor-status", role: "status" });
    this.list = h("ul", { class: "fence-list" });
    this.importReport = h("div", { class: "import-report" });
    const heading = h(
      "header",
      { class: "page-head" },
      h("a", { href: "#/stores", class: "back" }, `← ${t("store.back")}`),
      h("h1", {}, this.store.name),
      this.store.address ? h("p", { class: "address" }, this.store.address) : null,
    );
    replace(
      this.root,
      heading,
      this.canEdit ? this.toolbar() : message(t("store.readonly")),
      this.status,
      h(
        "div",
        { class: "split" },
        this.mapEl,
        h("div", { class: "side" }, h("h2", {}, t("store.fences")), this.list, this.importReport),
      ),
    );
    let features;
    try {
      [features, this.map] = await Promise.all([
        all(`/v1/geofences?store_id=${this.store.id}`, "features"),
        createMap(this.mapEl, { center: this.store.location.coordinates, zoom: 16 }),
      ]);
    } catch (error) {
      this.say(describe(error), "error");
      return;
    }
    if (!this.ctx.alive()) {
      this.destroy();
      return;
    }
    this.ctx.setUnsaved(() => [...this.fences.values()].some((fence) => !fence.saved || fence.dirty || fence.renamed));
    this.addStoreLayers();
    this.startDraw();
    this.addErrorLayers();
    this.load(features);
    fitTo(this.map, [this.store.location.coordinates, ...features.flatMap((f) => positionsOf(f.geometry))], 17);
    this.renderList();
  }

  destroy() {
    if (this.draw) {
      try {
        this.draw.stop();
      } catch {
        // the map may already be gone
      }
    }
    if (this.map) this.map.remove();
    this.map = null;
  }

  say(text, kind = "info") {
    this.status.textContent = text;
    this.status.className = `message editor-status ${kind}`;
    this.status.setAttribute("role", kind === "error" ? "alert" : "status");
  }

  // ---- map layers -------------------------------------------------------------------------------------------

  addStoreLayers() {
    this.map.addSource("store", { type: "geojson", data: { type: "Feature", geometry: this.store.location, properties: {} } });
    this.map.addSource("fixed-fences", { type: "geojson", data: EMPTY });
    // Shapes terra-draw cannot edit (MultiPolygons, polygons with holes) are drawn here, read-only.
    this.map.addLayer({ id: "fixed-fill", type: "fill", source: "fixed-fences", paint: { "fill-color": BLUE, "fill-opacity": 0.2 } });
    this.map.addLayer({ id: "fixed-line", type: "line", source: "fixed-fences", paint: { "line-color": BLUE, "line-width": 2 } });
  }

  addErrorLayers() {
    // Added after terra-draw's layers, so the marks sit on top of the fences they point into.
    this.map.addSource("fence-errors", { type: "geojson", data: EMPTY });
    this.map.addLayer({
      id: "fence-error-edges",
      type: "line",
      source: "fence-errors",
      filter: ["==", ["geometry-type"], "LineString"],
      paint: { "line-color": RED, "line-width": 5 },
    });
    this.map.addLayer({
      id: "fence-error-points",
      type: "circle",
      source: "fence-errors",
      filter: ["==", ["geometry-type"], "Point"],
      paint: { "circle-radius": 9, "circle-color": RED, "circle-opacity": 0.85, "circle-stroke-color": "#ffffff", "circle-stroke-width": 2 },
    });
    this.map.addLayer({
      id: "store-point",
      type: "circle",
      source: "store",
      paint: { "circle-radius": 5, "circle-color": "#24292f", "circle-stroke-color": "#ffffff", "circle-stroke-width": 2 },
    });
  }

  showErrorMarks() {
    const features = [...this.fences.values()].flatMap((fence) => (fence.error ? fence.error.marks : []));
    features.push(...(this.importMarks || []));
    this.map.getSource("fence-errors").setData({ type: "FeatureCollection", features });
  }

  // ---- terra-draw -------------------------------------------------------------------------------------------

  startDraw() {
    const shape = { fillColor: fill, outlineColor: fill, outlineWidth: 2, fillOpacity: 0.25 };
    this.draw = new TerraDraw({
      adapter: new TerraDrawMapLibreGLAdapter({ map: this.map, coordinatePrecision: 9 }),
      // Saved fences keep the API's UUID as their terra-draw id; new ones get a random one until saved.
      idStrategy: { isValidId: (id) => typeof id === "string" && id.length > 0, getId: () => uuid() },
      modes: [
        new TerraDrawCircleMode({ styles: shape, drawInteraction: "click-move-or-drag" }),
        new TerraDrawPolygonMode({
          styles: { ...shape, closingPointColor: BLUE, closingPointOutlineColor: "#ffffff", closingPointWidth: 6 },
        }),
        new TerraDrawSelectMode({
          flags: {
            polygon: {
              feature: { draggable: true, coordinates: { midpoints: true, draggable: true, deletable: true } },
            },
            circle: { feature: { draggable: true, coordinates: { resizable: "center-fixed" } } },
          },
          styles: {
            selectedPolygonColor: "#f0a202",
            selectedPolygonOutlineColor: "#f0a202",
            selectedPolygonFillOpacity: 0.3,
            selectionPointColor: "#f0a202",
            midPointColor: "#ffffff",
          },
        }),
      ],
    });
    this.draw.start();
    this.draw.on("change", (ids, type) => this.onChange(ids, type));
    this.draw.on("finish", (id, context) => this.onFinish(id, context));
    this.draw.on("select", (id) => this.setFocus(id));
    this.draw.on("deselect", () => this.setFocus(null));
  }

  load(features) {
    const drawable = [];
    const fixed = [];
    for (const feature of features) {
      const p = feature.properties;
      const state = {
        id: feature.id,
        kind: p.kind,
        name: p.name,
        active: p.active,
        radiusM: p.radius_m,
        vertices: p.vertex_count,
        saved: true,
        dirty: false,
        error: null,
        editable: true,
      };
      const td = this.toDraw(feature);
      if (td) drawable.push([state, td]);
      else {
        state.editable = false;
        fixed.push(feature);
      }
      this.fences.set(feature.id, state);
    }
    const results = drawable.length ? this.draw.addFeatures(drawable.map(([, td]) => td)) : [];
    results.forEach((result, i) => {
      if (!result.valid) {
        const [state] = drawable[i];
        state.editable = false;
        fixed.push(features.find((f) => f.id === state.id));
      }
    });
    this.map.getSource("fixed-fences").setData({
      type: "FeatureCollection",
      features: fixed.map((f) => ({ type: "Feature", geometry: f.properties.kind === "circle" ? circlePolygon(f.geometry.coordinates, f.properties.radius_m) : f.geometry, properties: {} })),
    });
  }

  /** A saved fence as a terra-draw feature (null when terra-draw cannot edit its shape). */
  toDraw(feature) {
    const p = feature.properties;
    if (feature.geometry.type === "Point" && p.radius_m) {
      return {
        id: feature.id,
        type: "Feature",
        geometry: circlePolygon(feature.geometry.coordinates, p.radius_m),
        properties: { mode: "circle", radiusKilometers: p.radius_m / 1000, active: p.active },
      };
    }
    if (feature.geometry.type === "Polygon" && feature.geometry.coordinates.length === 1) {
      const ring = feature.geometry.coordinates[0].map(([lon, lat]) => [Math.round(lon * 1e9) / 1e9, Math.round(lat * 1e9) / 1e9]);
      return { id: feature.id, type: "Feature", geometry: { type: "Polygon", coordinates: [ring] }, properties: { mode: "polygon", active: p.active } };
    }
    return null;
  }

  onChange(ids, type) {
    // While a circle is drawn or resized, its radius is shown live in the radius field.
    if (type !== "update" || !this.radiusInput) return;
    for (const id of ids) {
      const feature = this.draw.getSnapshotFeature(id);
      if (feature && feature.properties.mode === "circle" && feature.properties.radiusKilometers) {
        this.radiusInput.value = String(Math.round(feature.properties.radiusKilometers * 1000));
      }
    }
  }

  onFinish(id, context) {
    const feature = this.draw.getSnapshotFeature(id);
    if (!feature) return;
    const mode = feature.properties.mode;
    if (mode !== "circle" && mode !== "polygon") return;
    let fence = this.fences.get(id);
    if (!fence) {
      // A shape just drawn: a fence of its own, with a name the user may change before saving.
      this.counter += 1;
      fence = {
        id,
        kind: mode,
        name: t(`fence.newName.${mode}`, { n: this.counter }),
        active: true,
        saved: false,
        dirty: true,
        error: null,
        editable: true,
      };
      this.fences.set(id, fence);
    } else if (context && context.action !== "draw") {
      fence.dirty = true;
    }
    this.describeShape(fence);
    this.setFocus(id);
  }

  describeShape(fence) {
    const feature = this.draw.getSnapshotFeature(fence.id);
    if (!feature) return;
    if (fence.kind === "circle") fence.radiusM = circleOf(feature.geometry).radiusM;
    else fence.vertices = feature.geometry.coordinates[0].length;
  }

  setFocus(id) {
    this.focusId = id && this.fences.has(id) ? id : null;
    const fence = this.focusId ? this.fences.get(this.focusId) : null;
    if (this.radiusInput) {
      this.radiusInput.disabled = !(fence && fence.kind === "circle" && fence.editable);
      if (fence && fence.kind === "circle" && fence.radiusM) this.radiusInput.value = String(Math.round(fence.radiusM));
    }
    if (this.pauseButton) {
      this.pauseButton.textContent = fence && fence.active === false ? t("tool.resume") : t("tool.pause");
      this.pauseButton.disabled = !(fence && fence.saved);
    }
    if (this.deleteButton) this.deleteButton.disabled = !fence;
    this.renderList();
  }

  // ---- toolbar ----------------------------------------------------------------------------------------------

  toolbar() {
    this.hint = h("p", { class: "hint", id: "tool-hint" });
    const modeButton = (mode, label, hint) => {
      const button = h("button", { type: "button", "aria-pressed": "false", dataset: { mode }, "aria-describedby": "tool-hint" }, label);
      button.addEventListener("click", () => this.setMode(mode, hint));
      return button;
    };
    this.modeButtons = [
      modeButton("circle", t("tool.circle"), t("tool.hint.circle")),
      modeButton("polygon", t("tool.polygon"), t("tool.hint.polygon")),
      modeButton("select", t("tool.select"), t("tool.hint.select")),
    ];
    this.radiusInput = h("input", { type: "number", min: "10", max: "50000", step: "1", inputmode: "numeric", disabled: true });
    this.radiusInput.addEventListener("change", () => this.applyRadius());
    this.radiusInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter") this.applyRadius();
    });
    this.deleteButton = h("button", { type: "button", disabled: true, onclick: () => this.deleteFocused() }, t("tool.delete"));
    this.pauseButton = h("button", { type: "button", disabled: true, onclick: () => this.togglePause() }, t("tool.pause"));
    const save = h("button", { type: "button", class: "primary", onclick: () => this.save() }, t("tool.save"));
    const exportButton = h("button", { type: "button", onclick: () => this.exportFences() }, t("tool.export"));
    const file = h("input", { type: "file", accept: ".geojson,.json,application/geo+json,application/json", class: "visually-hidden", id: "fence-import" });
    file.addEventListener("change", () => {
      if (file.files && file.files[0]) this.importFile(file.files[0]);
      file.value = "";
    });
    const importLabel = h("label", { for: "fence-import", class: "button" }, t("tool.import"));
    return h(
      "div",
      { class: "toolbar-wrap" },
      h(
        "div",
        { class: "toolbar", role: "toolbar", "aria-label": t("tool.label") },
        this.modeButtons,
        field(t("tool.radius"), this.radiusInput),
        this.deleteButton,
        this.pauseButton,
        save,
        exportButton,
        importLabel,
        file,
      ),
      this.hint,
    );
  }

  setMode(mode, hint) {
    if (!this.draw) return;
    this.draw.setMode(mode);
    for (const button of this.modeButtons) button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
    this.hint.textContent = hint;
    if (mode === "circle" && this.radiusInput) this.radiusInput.disabled = false;
  }

  applyRadius() {
    const fence = this.focusId && this.fences.get(this.focusId);
    const radius = Number(this.radiusInput.value);
    if (!fence || fence.kind !== "circle" || !fence.editable || !Number.isFinite(radius) || radius <= 0) return;
    const feature = this.draw.getSnapshotFeature(fence.id);
    const { center } = circleOf(feature.geometry);
    this.draw.updateFeatureGeometry(fence.id, circlePolygon(center, radius));
    fence.radiusM = radius;
    fence.dirty = true;
    this.renderList();
  }

  async deleteFocused() {
    const fence = this.focusId && this.fences.get(this.focusId);
    if (!fence) {
      this.say(t("fence.selectFirst"));
      return;
    }
    if (fence.saved) {
      if (!window.confirm(t("fence.confirmDelete", { name: fence.name }))) return;
      try {
        await api("DELETE", `/v1/geofences/${fence.id}`);
      } catch (error) {
        this.say(describe(error), "error");
        return;
      }
    }
    this.forget(fence.id);
    this.say(t("fence.deleted"));
  }

  forget(id) {
    try {
      this.draw.deselectFeature(id);
    } catch {
      // not selected, or not in select mode
    }
    if (this.draw.hasFeature(id)) this.draw.removeFeatures([id]);
    this.fences.delete(id);
    this.setFocus(null);
    this.showErrorMarks();
  }

  async togglePause() {
    const fence = this.focusId && this.fences.get(this.focusId);
    if (!fence || !fence.saved) return;
    try {
      const answer = await api("PATCH", `/v1/geofences/${fence.id}`, { active: !fence.active });
      fence.active = answer.properties.active;
      if (this.draw.hasFeature(fence.id)) this.draw.updateFeatureProperties(fence.id, { active: fence.active });
      this.setFocus(fence.id);
    } catch (error) {
      this.say(describe(error), "error");
    }
  }

  // ---- saving -----------------------------------------------------------------------------------------------

  /** The API body for a fence as drawn now (a circle travels as its centre Point and radius_m). */
  body(fence) {
    const feature = this.draw.getSnapshotFeature(fence.id);
    if (fence.kind === "circle") {
      const { center, radiusM } = circleOf(feature.geometry);
      return { name: fence.name, geometry: { type: "Point", coordinates: center }, radius_m: Math.round(radiusM * 10) / 10 };
    }
    return { name: fence.name, geometry: feature.geometry };
  }

  async save() {
    const pending = [...this.fences.values()].filter((fence) => fence.editable && (!fence.saved || fence.dirty));
    const renamed = [...this.fences.values()].filter((fence) => !fence.editable && fence.renamed);
    if (!pending.length && !renamed.length) {
      this.say(t("fence.nothing"));
      return;
    }
    let saved = 0;
    let failed = 0;
    for (const fence of renamed) {
      try {
        await api("PATCH", `/v1/geofences/${fence.id}`, { name: fence.name });
        fence.renamed = false;
        saved += 1;
      } catch (error) {
        fence.error = { message: describe(error), marks: [] };
        failed += 1;
      }
    }
    for (const fence of pending) {
      const body = this.body(fence);
      try {
        const answer = fence.saved
          ? await api("PATCH", `/v1/geofences/${fence.id}`, body)
          : await api("POST", `/v1/stores/${this.store.id}/geofences`, body);
        this.replaceWithSaved(fence, answer);
        saved += 1;
      } catch (error) {
        fence.error = {
          message: error instanceof ApiError && error.errors.length ? error.errors.map((e) => e.message).join("; ") : describe(error),
          marks: error instanceof ApiError ? error.errors.flatMap((e) => errorMarks(e, body.geometry)) : [],
        };
        failed += 1;
      }
    }
    this.showErrorMarks();
    this.renderList();
    if (failed) this.say(t("fence.notSaved", { count: failed }), "error");
    else this.say(t("fence.saved", { count: saved }), "success");
  }

  /** The API's answer becomes the fence: a new fence takes the API's id (its terra-draw feature is re-added). */
  replaceWithSaved(fence, answer) {
    const p = answer.properties;
    const state = { ...fence, id: answer.id, saved: true, dirty: false, error: null, active: p.active, radiusM: p.radius_m, vertices: p.vertex_count, name: p.name };
    const wasFocused = this.focusId === fence.id;
    if (answer.id !== fence.id) {
      try {
        this.draw.deselectFeature(fence.id);
      } catch {
        // not selected
      }
      this.draw.removeFeatures([fence.id]);
      this.fences.delete(fence.id);
      const td = this.toDraw(answer);
      if (td) this.draw.addFeatures([td]);
    }
    this.fences.set(answer.id, state);
    if (wasFocused) this.focusId = answer.id;
  }

  // ---- list -------------------------------------------------------------------------------------------------

  renderList() {
    const items = [...this.fences.values()].map((fence) => {
      const shape =
        fence.kind === "circle"
          ? t("fence.circle", { radius: formatNumber(Math.round(fence.radiusM || 0)) })
          : t("fence.polygon", { vertices: Math.max(0, (fence.vertices || 1) - 1) });
      const flags = [fence.active === false ? t("fence.paused") : t("fence.active")];
      if (!fence.saved) flags.push(t("fence.new"));
      else if (fence.dirty) flags.push(t("fence.changed"));
      let nameEl;
      if (this.canEdit) {
        nameEl = h("input", { type: "text", value: fence.name, maxlength: "200", "aria-label": t("fence.name") });
        nameEl.addEventListener("change", () => {
          fence.name = nameEl.value;
          if (fence.editable) fence.dirty = true;
          else fence.renamed = true;
        });
      } else {
        nameEl = h("strong", {}, fence.name);
      }
      const pick = h("button", { type: "button", class: "link", onclick: () => this.pick(fence.id) }, shape);
      return h(
        "li",
        { class: `fence${fence.id === this.focusId ? " focused" : ""}${fence.error ? " has-error" : ""}`, dataset: { fenceId: fence.id } },
        nameEl,
        h("div", { class: "fence-meta" }, pick, h("span", {}, flags.join(" · "))),
        fence.error ? h("p", { class: "message error fence-error", role: "alert" }, fence.error.message) : null,
      );
    });
    replace(this.list, items.length ? items : h("li", { class: "empty" }, t("fence.none")));
  }

  /** From the list: select the fence on the map (when it can be edited) and bring it into view. */
  pick(id) {
    const fence = this.fences.get(id);
    if (!fence) return;
    const feature = this.draw.hasFeature(id) ? this.draw.getSnapshotFeature(id) : null;
    if (feature) {
      fitTo(this.map, positionsOf(feature.geometry), 18);
      if (this.canEdit) {
        this.setMode("select", t("tool.hint.select"));
        this.draw.selectFeature(id);
      }
    }
    this.setFocus(id);
  }

  // ---- export and import ------------------------------------------------------------------------------------

  async exportFences() {
    try {
      const features = await all(`/v1/geofences?store_id=${this.store.id}`, "features");
      const collection = {
        type: "FeatureCollection",
        features: features.map((f) => ({
          type: "Feature",
          id: f.id,
          geometry: f.geometry,
          properties: {
            store_id: f.properties.store_id,
            name: f.properties.name,
            radius_m: f.properties.radius_m,
            dwell_seconds: f.properties.dwell_seconds,
            active: f.properties.active,
          },
        })),
      };
      const safeName = this.store.name.replace(/[^\p{L}\p{N}_-]+/gu, "-");
      download(`${safeName}-fences.geojson`, JSON.stringify(collection, null, 2), "application/geo+json");
    } catch (error) {
      this.say(describe(error), "error");
    }
  }

  async importFile(file) {
    let collection;
    try {
      const parsed = JSON.parse(await file.text());
      collection = parsed.type === "Feature" ? { type: "FeatureCollection", features: [parsed] } : parsed;
      if (collection.type !== "FeatureCollection" || !Array.isArray(collection.features)) throw new Error("not GeoJSON");
    } catch {
      this.say(t("import.notJson"), "error");
      return;
    }
    // Features that name no store are this store's: importing from this page means importing into it.
    for (const feature of collection.features) {
      if (feature && typeof feature === "object") {
        feature.properties = feature.properties || {};
        if (!feature.properties.store_id && !feature.properties.store_external_ref) feature.properties.store_id = this.store.id;
      }
    }
    this.importMarks = [];
    try {
      const result = await api("POST", "/v1/geofences/import", collection);
      replace(this.importReport);
      this.say(t("import.done", { count: result.imported }), "success");
      const fresh = await all(`/v1/geofences?store_id=${this.store.id}`, "features");
      const known = new Set(this.fences.keys());
      this.load(fresh.filter((f) => !known.has(f.id)));
      this.renderList();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      this.say(t("import.refused"), "error");
      const lines = (error.errors.length ? error.errors : [{ field: "", message: describe(error) }]).map((e) => {
        const index = /^features\[(\d+)\]/.exec(e.field || "");
        const feature = index ? collection.features[Number(index[1])] : null;
        if (feature && feature.geometry) this.importMarks.push(...errorMarks({ ...e, field: e.field.replace(/^features\[\d+\]\./, "") }, feature.geometry));
        const name = feature && feature.properties && feature.properties.name ? ` (${feature.properties.name})` : "";
        const label = index ? `${t("import.feature", { n: Number(index[1]) + 1 })}${name}` : e.field || "";
        return h("li", {}, label ? h("strong", {}, `${label}: `) : null, e.message);
      });
      replace(this.importReport, h("h3", {}, t("import.refused")), h("ul", { role: "alert" }, lines));
    }
    this.showErrorMarks();
  }
}
