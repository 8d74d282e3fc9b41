// A table sorted by clicking its headers: each header is a button (keyboard and screen readers reach it), and
// the sorted column says so with aria-sort. Rows are sorted as the API gave their values (numbers as numbers,
// empty figures last); nothing is recomputed.
import { lang } from "./i18n.js";
import { h, replace } from "./ui.js";

/**
 * columns: [{key, label, numeric?, value?: (row) => sortable value, cell?: (row) => text or node}]
 * options.sort: the key first sorted by; options.descending (default true for numbers).
 */
export function sortableTable(columns, rows, options = {}) {
  let key = options.sort || columns[0].key;
  let descending = options.descending ?? Boolean(columns.find((c) => c.key === key).numeric);
  const body = h("tbody");
  const headCells = columns.map((column) => {
    const button = h("button", { type: "button", class: "sort" }, column.label, h("span", { class: "arrow", "aria-hidden": "true" }));
    button.addEventListener("click", () => {
      if (key === column.key) descending = !descending;
      else {
        key = column.key;
        descending = Boolean(column.numeric);
      }
      draw();
    });
    return { column, th: h("th", { scope: "col", class: column.numeric ? "num" : null }, button), button };
  });
  const valueOf = (column, row) => (column.value ? column.value(row) : row[column.key]);

  function draw() {
    const column = columns.find((c) => c.key === key);
    const collator = new Intl.Collator(lang());
    const sorted = [...rows].sort((a, b) => {
      const x = valueOf(column, a);
      const y = valueOf(column, b);
      if (x === null || x === undefined) return y === null || y === undefined ? 0 : 1; // empty last, either way
      if (y === null || y === undefined) return -1;
      const order = typeof x === "number" && typeof y === "number" ? x - y : collator.compare(String(x), String(y));
      return descending ? -order : order;
    });
    for (const { column: c, th, button } of headCells) {
      const active = c.key === key;
      if (active) th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
      button.querySelector(".arrow").textContent = active ? (descending ? " ▼" : " ▲") : "";
    }
    replace(
      body,
      sorted.map((row) =>
        h(
          "tr",
          {},
          columns.map((c, i) => {
            const content = c.cell ? c.cell(row) : valueOf(c, row);
            const shown = content === null || content === undefined ? "—" : content;
            return i === 0 ? h("th", { scope: "row" }, shown) : h("td", { class: c.numeric ? "num" : null }, shown);
          }),
        ),
      ),
    );
  }
  draw();
  return h("table", { class: "data sortable" }, h("thead", {}, h("tr", {}, headCells.map((c) => c.th))), body);
}
