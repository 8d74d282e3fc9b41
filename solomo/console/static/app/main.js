// The console's entry point: restores the session (GET /console/session) or shows the sign-in form, then
// draws the header and the page the hash names (#/stores, #/stores/<id>, #/till, #/offers, #/offers/<id>,
// #/dashboard, #/keys). Pages are plain functions render(root, ctx, …params) that return a clean-up function
// (maps must be removed when a page is left).
import { api, ApiError, setCsrfToken, setSessionLostHandler } from "./api.js";
import { describe } from "./errors.js";
import { LANGUAGES, lang, onLangChange, setLang, setTimeZone, t } from "./i18n.js";
import { field, h, message, replace } from "./ui.js";

const app = document.getElementById("app");
let session = null;
let cleanup = () => {};
let generation = 0; // bumps on every navigation, so a slow page that finishes late knows it was left
let unsaved = null; // the current page's "is there work that leaving would lose?" (the fence editor sets it)
let shownHash = "";

/** True when the user may leave the page: nothing unsaved, or they said so. */
function mayLeave() {
  return !(unsaved && unsaved()) || window.confirm(t("leave.unsaved"));
}

// Which pages each role sees; the API enforces the same rules, this only keeps the menu honest.
const NAV = {
  admin: ["stores", "till", "offers", "dashboard", "keys"],
  manager: ["stores", "till", "dashboard"],
  marketer: ["stores", "offers", "dashboard"],
};

// Page modules load on first use (dynamic import is not eval: the CSP allows it), so the sign-in page does not
// wait for the fence editor's drawing library.
const ROUTES = [
  { pattern: /^#\/stores\/?$/, page: "stores", render: async (root, ctx) => (await import("./stores.js")).renderStores(root, ctx) },
  {
    pattern: /^#\/stores\/([^/]+)$/,
    page: "stores",
    render: async (root, ctx, id) => (await import("./fences.js")).renderStore(root, ctx, decodeURIComponent(id)),
  },
  { pattern: /^#\/till\/?$/, page: "till", render: async (root, ctx) => (await import("./till.js")).renderTill(root, ctx) },
  { pattern: /^#\/offers\/?$/, page: "offers", render: async (root, ctx) => (await import("./offers.js")).renderOffers(root, ctx) },
  {
    pattern: /^#\/offers\/new(?:\/([^/]+))?$/,
    page: "offers",
    render: async (root, ctx, campaignId) => (await import("./offers.js")).renderOfferForm(root, ctx, null, campaignId && decodeURIComponent(campaignId)),
  },
  {
    pattern: /^#\/offers\/([^/]+)$/,
    page: "offers",
    render: async (root, ctx, id) => (await import("./offers.js")).renderOfferForm(root, ctx, decodeURIComponent(id)),
  },
  { pattern: /^#\/dashboard\/?$/, page: "dashboard", render: async (root, ctx) => (await import("./dashboard.js")).renderDashboard(root, ctx) },
  { pattern: /^#\/keys\/?$/, page: "keys", render: async (root, ctx) => (await import("./keys.js")).renderKeys(root, ctx) },
];

function languageSwitch() {
  // Buttons, not a select: each language names itself in its own script, one press switches.
  return h(
    "div",
    { class: "lang", role: "group", "aria-label": t("lang.switch") },
    Object.entries(LANGUAGES).map(([code, { label }]) =>
      h(
        "button",
        { type: "button", lang: code, "aria-pressed": String(code === lang()), onclick: () => code !== lang() && mayLeave() && setLang(code) },
        label,
      ),
    ),
  );
}

// ---- sign-in -------------------------------------------------------------------------------------------------

function showSignIn(note) {
  cleanup();
  cleanup = () => {};
  session = null;
  setCsrfToken(null);
  document.title = t("app.title");
  const keyInput = h("input", { type: "password", autocomplete: "off", spellcheck: "false", required: true, name: "api_key" });
  const button = h("button", { type: "submit", class: "primary" }, t("signin.submit"));
  const status = h("div", { "aria-live": "polite" }, note ? message(note, "error") : null);
  const form = h(
    "form",
    { class: "signin", novalidate: true },
    h("h1", {}, t("signin.title")),
    h("p", {}, t("signin.intro")),
    field(t("signin.key"), keyInput),
    button,
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key) {
      keyInput.focus();
      return;
    }
    button.disabled = true;
    replace(status, message(t("signin.busy")));
    try {
      const started = await api("POST", "/console/session", { api_key: key }, { quiet401: true });
      keyInput.value = ""; // the key leaves the page as soon as it has been exchanged
      startSession(started);
    } catch (error) {
      const text = error instanceof ApiError && (error.status === 401 || error.status === 422) ? t("signin.invalid") : describe(error);
      replace(status, message(text, "error"));
      button.disabled = false;
      keyInput.select();
    }
  });
  replace(app, h("header", { class: "top" }, h("span", { class: "brand" }, t("app.title")), languageSwitch()), h("main", { id: "main" }, form));
  keyInput.focus();
}

function startSession(started) {
  session = started;
  setCsrfToken(session.csrf_token);
  setTimeZone(session.timezone);
  if (!location.hash || location.hash === "#" || location.hash === "#/") {
    history.replaceState(null, "", `#/${NAV[session.role][0]}`);
  }
  route();
}

async function signOut() {
  if (!mayLeave()) return;
  unsaved = null;
  try {
    await api("DELETE", "/console/session", undefined, { quiet401: true });
  } catch {
    // Signed out already (expired or revoked): the sign-in form is the right place either way.
  }
  history.replaceState(null, "", "#/");
  showSignIn();
}

// ---- shell and routing ---------------------------------------------------------------------------------------

function shell(current) {
  const nav = h(
    "nav",
    { "aria-label": t("nav.label") },
    h(
      "ul",
      {},
      NAV[session.role].map((page) =>
        h("li", {}, h("a", { href: `#/${page}`, "aria-current": page === current ? "page" : false }, t(`nav.${page}`))),
      ),
    ),
  );
  const header = h(
    "header",
    { class: "top" },
    h("span", { class: "brand" }, session.brand_name),
    h("span", { class: "role" }, t(`role.${session.role}`)),
    nav,
    h("span", { class: "spacer" }),
    languageSwitch(),
    h("button", { type: "button", class: "signout", onclick: signOut }, t("signout")),
  );
  const main = h("main", { id: "main", tabindex: "-1" });
  replace(app, header, main);
  return main;
}

function notAllowedPage(root, text) {
  replace(
    root,
    h("section", { class: "not-allowed" }, h("h1", {}, t("notallowed.title")), message(text, "error"), h("a", { href: "#/stores" }, t("store.back"))),
  );
}

async function route() {
  if (!session) return;
  cleanup();
  unsaved = null;
  shownHash = location.hash;
  cleanup = () => {};
  generation += 1;
  const mine = generation;
  const hash = location.hash || `#/${NAV[session.role][0]}`;
  const match = ROUTES.map((r) => ({ r, m: r.pattern.exec(hash) })).find((x) => x.m);
  const main = shell(match ? match.r.page : null);
  document.title = `${t("app.title")} · ${session.brand_name}`;
  const ctx = {
    session,
    navigate: (to) => {
      location.hash = to;
    },
    alive: () => mine === generation,
    setUnsaved: (check) => {
      if (mine === generation) unsaved = check;
    },
    notAllowed: (text) => notAllowedPage(main, text),
  };
  if (!match) {
    replace(main, h("h1", {}, t("notfound.title")));
    return;
  }
  if (!NAV[session.role].includes(match.r.page)) {
    notAllowedPage(main, t("notallowed.page"));
    return;
  }
  try {
    const done = await match.r.render(main, ctx, ...match.m.slice(1));
    if (mine === generation) cleanup = done || (() => {});
    else if (done) done();
  } catch (error) {
    if (mine === generation) replace(main, message(describe(error), "error"));
  }
}

// ---- boot ----------------------------------------------------------------------------------------------------

setSessionLostHandler(() => {
  if (session) showSignIn(t("signin.lost"));
});
window.addEventListener("hashchange", () => {
  if (location.hash === shownHash) return;
  if (!mayLeave()) {
    history.replaceState(null, "", shownHash); // stay: put the address back without another hashchange
    return;
  }
  route();
});
window.addEventListener("beforeunload", (event) => {
  if (unsaved && unsaved()) event.preventDefault();
});
// A new language redraws the page (the switch asked first if that would drop unsaved fences).
onLangChange(() => (session ? route() : showSignIn()));

(async () => {
  try {
    startSession(await api("GET", "/console/session", undefined, { quiet401: true }));
  } catch (error) {
    showSignIn(error instanceof ApiError && error.status !== 401 ? describe(error) : undefined);
  }
})();
