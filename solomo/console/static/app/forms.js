// The API's field errors shown on the fields. A 422 names each bad field by its path in the body
// (`coupon.percent_off`, `when.weekly_hours[1].end`, `store_ids[0]`); a form registers its inputs under those
// paths, and each message goes next to the input it names, which is marked invalid and described by it (so a
// screen reader reads the message with the field). A path with no input of its own falls back to its nearest
// registered parent (`where.store_ids[3]` → `where.store_ids`), and whatever is still unplaced is listed above the
// form's button, so no message of the API is ever dropped.
import { h, newId, replace } from "./ui.js";

/** The path without its last step: `a.b[2].c` → `a.b[2]` → `a.b` → `a` → "". */
function parentPath(path) {
  const cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
  return cut > 0 ? path.slice(0, cut) : "";
}

export class FieldErrors {
  /** formStatus: the element that lists the errors no field claims. */
  constructor(formStatus) {
    this.status = formStatus;
    this.fields = new Map(); // path → {input, box}
    this.shown = [];
  }

  /**
   * Registers the input for a path. box is where the message goes (the input's .field wrapper by default; a
   * fieldset for a group of checkboxes); input is what is marked invalid and focused.
   */
  register(path, input, box) {
    this.fields.set(path, { input, box: box || input.closest(".field") || input.parentElement });
    return input;
  }

  /** Forgets the paths under a prefix (a weekly-hours row removed, say). */
  unregister(prefix) {
    for (const path of [...this.fields.keys()]) {
      if (path === prefix || path.startsWith(`${prefix}.`) || path.startsWith(`${prefix}[`)) this.fields.delete(path);
    }
  }

  clear() {
    for (const { input, box, note } of this.shown) {
      note.remove();
      input.removeAttribute("aria-invalid");
      const described = (input.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== note.id);
      if (described.length) input.setAttribute("aria-describedby", described.join(" "));
      else input.removeAttribute("aria-describedby");
      box.classList.remove("has-error");
    }
    this.shown = [];
    replace(this.status);
  }

  /** The registered field for a path, or for its nearest registered parent. */
  find(path) {
    for (let p = path; p; p = parentPath(p)) {
      if (this.fields.has(p)) return this.fields.get(p);
    }
    return null;
  }

  /**
   * Shows each {field, message} of a 422 next to its input; the rest (and a 422 with no errors[]) above the
   * submit button. Focuses the first bad field. Returns how many messages were placed on fields.
   */
  show(errors, fallback) {
    this.clear();
    const loose = [];
    let first = null;
    for (const error of errors) {
      const found = this.find(error.field || "");
      if (!found) {
        loose.push(error.field ? `${error.field}: ${error.message}` : error.message);
        continue;
      }
      const note = h("small", { class: "field-error", id: newId("err") }, error.message);
      found.box.append(note);
      found.box.classList.add("has-error");
      found.input.setAttribute("aria-invalid", "true");
      const described = found.input.getAttribute("aria-describedby");
      found.input.setAttribute("aria-describedby", described ? `${described} ${note.id}` : note.id);
      this.shown.push({ ...found, note });
      first = first || found.input;
    }
    if (!errors.length && fallback) loose.push(fallback);
    if (loose.length) {
      replace(this.status, h("div", { class: "message error", role: "alert" }, loose.length === 1 ? loose[0] : h("ul", {}, loose.map((text) => h("li", {}, text)))));
    }
    if (first) first.focus();
    return this.shown.length;
  }
}
