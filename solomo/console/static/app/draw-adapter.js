// terra-draw's MapLibre adapter, adapted from terra-draw-maplibre-gl-adapter 1.4.1
// (https://github.com/JamesLMilner/terra-draw, MIT licence, Copyright (c) 2021 James Milner; the licence text is
// in ../vendor/terra-draw-maplibre-gl-adapter/LICENSE).
//
// Why a copy: the vendored adapter imports the bare specifier "terra-draw", which a browser resolves only
// through an import map, and the console's Content-Security-Policy (script-src 'self') refuses the inline
// <script type="importmap"> that would need. This module is the same adapter importing terra-draw by a
// relative path. Differences: no marker (icon) layer, which needs images the console never uses.
// If vendoring ever rewrites the adapter's import to a relative path, import the vendored file instead.

import { TerraDrawExtend } from "../vendor/terra-draw/terra-draw.modern.js";

const KINDS = ["Point", "LineString", "Polygon"];

export class MapLibreDrawAdapter extends TerraDrawExtend.TerraDrawBaseAdapter {
  constructor(config) {
    super(config);
    this._map = config.map;
    this._container = this._map.getContainer();
    this._prefixId = config.prefixId || "td";
    this._initialDragPan = this._map.dragPan.isEnabled();
    this._initialDragRotate = this._map.dragRotate.isEnabled();
    this._nextRender = undefined;
    this._resetChanged();
  }

  _resetChanged() {
    this.changedIds = { deletion: false, points: false, linestrings: false, polygons: false, styling: false };
  }

  _sourceId(kind) {
    return `${this._prefixId}-${kind.toLowerCase()}`;
  }

  _addLayers(kind) {
    const id = this._sourceId(kind);
    this._map.addSource(id, { type: "geojson", data: { type: "FeatureCollection", features: [] }, tolerance: 0 });
    if (kind === "Point") {
      this._map.addLayer({
        id,
        source: id,
        type: "circle",
        layout: { "circle-sort-key": ["get", "zIndex"] },
        paint: {
          "circle-radius": ["get", "pointWidth"],
          "circle-color": ["get", "pointColor"],
          "circle-opacity": ["get", "pointOpacity"],
          "circle-stroke-color": ["get", "pointOutlineColor"],
          "circle-stroke-width": ["get", "pointOutlineWidth"],
          "circle-stroke-opacity": ["get", "pointOutlineOpacity"],
        },
      });
    } else if (kind === "LineString") {
      this._map.addLayer({
        id,
        source: id,
        type: "line",
        layout: { "line-sort-key": ["get", "zIndex"] },
        paint: {
          "line-width": ["get", "lineStringWidth"],
          "line-color": ["get", "lineStringColor"],
          "line-opacity": ["get", "lineStringOpacity"],
        },
      });
    } else {
      this._map.addLayer({
        id,
        source: id,
        type: "fill",
        layout: { "fill-sort-key": ["get", "zIndex"] },
        paint: { "fill-color": ["get", "polygonFillColor"], "fill-opacity": ["get", "polygonFillOpacity"] },
      });
      this._map.addLayer({
        id: `${id}-outline`,
        source: id,
        type: "line",
        layout: { "line-sort-key": ["get", "zIndex"] },
        paint: {
          "line-width": ["get", "polygonOutlineWidth"],
          "line-color": ["get", "polygonOutlineColor"],
          "line-opacity": ["get", "polygonOutlineOpacity"],
        },
      });
    }
  }

  _setData(kind, features) {
    const source = this._map.getSource(this._sourceId(kind));
    if (source) source.setData({ type: "FeatureCollection", features });
  }

  updateChangedIds(changes) {
    for (const feature of [...changes.updated, ...changes.created]) {
      const type = feature.geometry.type;
      if (type === "Point") this.changedIds.points = true;
      else if (type === "LineString") this.changedIds.linestrings = true;
      else if (type === "Polygon") this.changedIds.polygons = true;
    }
    if (changes.deletedIds.length > 0) this.changedIds.deletion = true;
    if (!changes.created.length && !changes.updated.length && !changes.deletedIds.length) {
      this.changedIds.styling = true;
    }
  }

  getLngLatFromEvent(event) {
    const { left, top } = this._container.getBoundingClientRect();
    return this.unproject(event.clientX - left, event.clientY - top);
  }

  getMapEventElement() {
    return this._map.getCanvas();
  }

  setDraggability(enabled) {
    if (enabled) {
      if (this._initialDragRotate) this._map.dragRotate.enable();
      if (this._initialDragPan) this._map.dragPan.enable();
    } else {
      if (this._initialDragRotate) this._map.dragRotate.disable();
      if (this._initialDragPan) this._map.dragPan.disable();
    }
  }

  project(lng, lat) {
    const { x, y } = this._map.project({ lng, lat });
    return { x, y };
  }

  unproject(x, y) {
    const { lng, lat } = this._map.unproject({ x, y });
    return { lng, lat };
  }

  setCursor(cursor) {
    const canvas = this._map.getCanvas();
    if (cursor === "unset") canvas.style.removeProperty("cursor");
    else canvas.style.cursor = cursor;
  }

  setDoubleClickToZoom(enabled) {
    if (enabled) this._map.doubleClickZoom.enable();
    else this._map.doubleClickZoom.disable();
  }

  // terra-draw hands over the features with the styling functions of each mode; MapLibre reads the styles
  // from the features' properties (data-driven paint), so each feature carries its own colours.
  render(changes, styling) {
    this.updateChangedIds(changes);
    if (this._nextRender) cancelAnimationFrame(this._nextRender);
    this._nextRender = requestAnimationFrame(() => {
      if (!this._currentModeCallbacks) return;
      const byKind = { Point: [], LineString: [], Polygon: [] };
      for (const feature of [...changes.created, ...changes.updated, ...changes.unchanged]) {
        const props = feature.properties;
        const style = styling[props.mode](feature);
        props.zIndex = style.zIndex;
        const type = feature.geometry.type;
        if (type === "Point") {
          props.pointColor = style.pointColor;
          props.pointOutlineColor = style.pointOutlineColor;
          props.pointOutlineWidth = style.pointOutlineWidth;
          props.pointOutlineOpacity = style.pointOutlineOpacity ?? 1;
          props.pointWidth = style.pointWidth;
          props.pointOpacity = style.pointOpacity ?? 1;
        } else if (type === "LineString") {
          props.lineStringColor = style.lineStringColor;
          props.lineStringWidth = style.lineStringWidth;
          props.lineStringOpacity = style.lineStringOpacity ?? 1;
        } else if (type === "Polygon") {
          props.polygonFillColor = style.polygonFillColor;
          props.polygonFillOpacity = style.polygonFillOpacity;
          props.polygonOutlineColor = style.polygonOutlineColor;
          props.polygonOutlineWidth = style.polygonOutlineWidth;
          props.polygonOutlineOpacity = style.polygonOutlineOpacity ?? 1;
        }
        if (byKind[type]) byKind[type].push(feature);
      }
      const all = this.changedIds.deletion || this.changedIds.styling;
      if (all || this.changedIds.points) this._setData("Point", byKind.Point);
      if (all || this.changedIds.linestrings) this._setData("LineString", byKind.LineString);
      if (all || this.changedIds.polygons) this._setData("Polygon", byKind.Polygon);
      this._resetChanged();
    });
  }

  clear() {
    if (!this._currentModeCallbacks) return;
    this._currentModeCallbacks.onClear();
    if (this._nextRender) {
      cancelAnimationFrame(this._nextRender);
      this._nextRender = undefined;
    }
    for (const kind of KINDS) this._setData(kind, []);
  }

  getCoordinatePrecision() {
    return super.getCoordinatePrecision();
  }

  register(callbacks) {
    super.register(callbacks);
    // Polygons under lines under points, so vertices stay clickable.
    for (const kind of ["Polygon", "LineString", "Point"]) this._addLayers(kind);
    if (this._currentModeCallbacks && this._currentModeCallbacks.onReady) this._currentModeCallbacks.onReady();
  }

  unregister() {
    super.unregister();
    this._resetChanged();
    for (const kind of KINDS) {
      const id = this._sourceId(kind);
      if (kind === "Polygon") this._map.removeLayer(`${id}-outline`);
      this._map.removeLayer(id);
      this._map.removeSource(id);
    }
  }
}
