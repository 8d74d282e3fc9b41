// Small DOM helpers. Everything on screen is built with createElement and textContent: API data (store names,
// coupon titles, error messages) never goes through innerHTML, so none of it can become markup.

/** An element: h("button", {type: "button", onclick: fn, class: "primary"}, "Save", child, …). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name in el && typeof value !== "string") {
      el[name] = value; // properties such as checked, disabled, value as numbers
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends strings (as text) and nodes, skipping null/false, flattening arrays. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces everything inside el. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let uniqueId = 0;
/** A fresh id for label/for and aria-describedby pairs. */
export function newId(prefix = "f") {
  uniqueId += 1;
  return `${prefix}-${uniqueId}`;
}

/** A labelled form field: the label names the input for screen readers and for clicks. */
export function field(labelText, input, hint) {
  if (!input.id) input.id = newId();
  const parts = [h("label", { for: input.id }, labelText), input];
  if (hint) {
    const hintEl = h("small", { id: newId("hint"), class: "hint" }, hint);
    input.setAttribute("aria-describedby", hintEl.id);
    parts.push(hintEl);
  }
  return h("div", { class: "field" }, parts);
}

/** A message line; role=alert makes screen readers announce errors when they appear. */
export function message(text, kind = "info") {
  return h("p", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** Offers a file to the user, built in the browser (no server round trip). */
export function download(filename, text, type = "application/json") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
