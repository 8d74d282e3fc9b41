// #/keys (admin): the brand's API keys. Create one (a manager key names its stores): the secret is in the API's
// answer only, so it is shown once, with a copy button and a warning, and is gone when the page is left or
// reloaded (it is never stored). Revoke after a confirmation; the brand's last admin key is refused (409) and
// said so in a sentence.
import { all, api, ApiError } from "./api.js";
import { describe } from "./errors.js";
import { FieldErrors } from "./forms.js";
import { formatDateTime, t } from "./i18n.js";
import { field, h, message, replace } from "./ui.js";

const ROLES = ["admin", "manager", "marketer"];

export async function renderKeys(root, ctx) {
  const status = h("div", { class: "page-status", "aria-live": "polite" });
  const secretBox = h("div", { class: "secret-box" });
  const showRevoked = h("input", { type: "checkbox" });
  const tableBox = h("div", { class: "keys-table" });
  const formBox = h("div");
  replace(
    root,
    h("h1", {}, t("keys.title")),
    status,
    secretBox,
    h("div", { class: "columns" }, h("section", { class: "keys-list" }, h("h2", {}, t("keys.list")), h("label", { class: "check" }, showRevoked, t("keys.showRevoked")), tableBox), formBox),
  );

  let stores = [];
  try {
    stores = await all("/v1/stores");
  } catch (error) {
    replace(status, message(describe(error), "error"));
    return () => {};
  }
  if (!ctx.alive()) return () => {};
  stores.sort((a, b) => a.name.localeCompare(b.name));
  const storeName = (id) => (stores.find((s) => s.id === id) || {}).name || id;

  async function loadKeys() {
    replace(tableBox, message(t("loading")));
    let keys;
    try {
      keys = await all(`/v1/api-keys${showRevoked.checked ? "?include_revoked=true" : ""}`);
    } catch (error) {
      replace(tableBox, message(describe(error), "error"));
      return;
    }
    if (!ctx.alive()) return;
    replace(tableBox, keys.length ? keysTable(keys) : message(t("keys.none")));
  }

  function isMine(key) {
    return key.id === ctx.session.key_id;
  }

  function keysTable(keys) {
    const head = [t("keys.name"), t("keys.role"), t("keys.stores"), t("keys.prefix"), t("keys.created"), t("keys.status"), ""];
    return h(
      "table",
      { class: "data" },
      h("thead", {}, h("tr", {}, head.map((label) => h("th", { scope: "col" }, label)))),
      h(
        "tbody",
        {},
        keys.map((key) =>
          h(
            "tr",
            { class: key.revoked_at ? "revoked" : null, dataset: { keyId: key.id } },
            h("th", { scope: "row" }, key.name, isMine(key) ? h("small", { class: "mine" }, ` ${t("keys.mine")}`) : null),
            h("td", {}, t(`role.${key.role}`)),
            h("td", {}, key.store_ids.map(storeName).join(", ") || "—"),
            h("td", {}, h("code", {}, `${key.prefix}…`)),
            h("td", {}, formatDateTime(key.created_at)),
            h("td", {}, key.revoked_at ? t("keys.revokedAt", { when: formatDateTime(key.revoked_at) }) : t("keys.active")),
            h(
              "td",
              {},
              key.revoked_at
                ? null
                : h("button", { type: "button", "aria-label": t("keys.revokeNamed", { name: key.name }), onclick: () => revoke(key) }, t("keys.revoke")),
            ),
          ),
        ),
      ),
    );
  }

  async function revoke(key) {
    const question = isMine(key) ? t("keys.confirmRevokeMine", { name: key.name }) : t("keys.confirmRevoke", { name: key.name });
    if (!window.confirm(question)) return;
    try {
      await api("DELETE", `/v1/api-keys/${key.id}`);
    } catch (error) {
      if (ctx.alive()) replace(status, message(describe(error), "error"));
      return;
    }
    if (!ctx.alive()) return;
    replace(status, message(t("keys.revoked", { name: key.name }), "success"));
    await loadKeys();
  }

  // ---- create ----
  const nameInput = h("input", { type: "text", name: "name", maxlength: "100", autocomplete: "off", required: true });
  const roleSelect = h("select", { name: "role" }, ROLES.map((role) => h("option", { value: role }, t(`role.${role}`))));
  roleSelect.value = "marketer";
  const storeSearch = h("input", { type: "search", autocomplete: "off", spellcheck: "false" });
  const storeChecks = stores.map((s) => ({ store: s, box: h("input", { type: "checkbox", value: s.id }) }));
  const storeList = h(
    "ul",
    { class: "check-list" },
    storeChecks.map(({ store, box }) => h("li", {}, h("label", {}, box, store.name))),
  );
  const storesSet = h(
    "fieldset",
    { class: "store-picker" },
    h("legend", {}, t("keys.managerStores")),
    stores.length ? field(t("stores.search"), storeSearch) : message(t("stores.none")),
    storeList,
  );
  storeSearch.addEventListener("input", () => {
    const needle = storeSearch.value.trim().toLocaleLowerCase();
    for (const { store, box } of storeChecks) box.closest("li").hidden = Boolean(needle) && !store.name.toLocaleLowerCase().includes(needle);
  });
  const submit = h("button", { type: "submit", class: "primary" }, t("keys.create"));
  const formStatus = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "key-form", novalidate: true },
    h("h2", {}, t("keys.new")),
    field(t("keys.name"), nameInput, t("keys.nameHint")),
    field(t("keys.role"), roleSelect),
    storesSet,
    formStatus,
    submit,
  );
  const errors = new FieldErrors(formStatus);
  errors.register("name", nameInput);
  errors.register("role", roleSelect);
  errors.register("store_ids", storeChecks.length ? storeChecks[0].box : storeSearch, storesSet);
  const syncRole = () => {
    storesSet.hidden = roleSelect.value !== "manager";
  };
  roleSelect.addEventListener("change", syncRole);
  syncRole();
  replace(formBox, h("section", { class: "keys-new" }, form));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: nameInput.value.trim(), role: roleSelect.value };
    if (body.role === "manager") body.store_ids = storeChecks.filter((c) => c.box.checked).map((c) => c.store.id);
    submit.disabled = true;
    errors.clear();
    try {
      const created = await api("POST", "/v1/api-keys", body);
      if (!ctx.alive()) return;
      form.reset();
      roleSelect.value = "marketer";
      syncRole();
      showSecret(created);
      await loadKeys();
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) errors.show(error.errors, describe(error));
      else replace(formStatus, message(describe(error), "error"));
    } finally {
      submit.disabled = false;
    }
  });

  function showSecret(created) {
    // Shown here and nowhere else: the answer is dropped with this box (Done, leaving, reloading).
    const secret = h("input", { type: "text", readonly: true, value: created.secret, spellcheck: "false", class: "secret" });
    const copyStatus = h("span", { "aria-live": "polite" });
    const copy = h("button", { type: "button" }, t("keys.copy"));
    copy.addEventListener("click", async () => {
      secret.select();
      try {
        await navigator.clipboard.writeText(created.secret);
        copyStatus.textContent = t("keys.copied");
      } catch {
        copyStatus.textContent = t("keys.copyByHand");
      }
    });
    const done = h("button", { type: "button", onclick: () => replace(secretBox) }, t("keys.done"));
    replace(
      secretBox,
      h(
        "section",
        { class: "secret-once", "aria-labelledby": "secret-title" },
        h("h2", { id: "secret-title" }, t("keys.createdTitle", { name: created.name })),
        message(t("keys.secretWarning"), "warning"),
        field(t("keys.secret"), secret),
        h("div", { class: "row" }, copy, done, copyStatus),
      ),
    );
    secret.focus();
    secret.select();
  }

  showRevoked.addEventListener("change", loadKeys);
  await loadKeys();
  return () => replace(secretBox);
}
