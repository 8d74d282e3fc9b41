// An API refusal as one sentence in the chosen language: the problem's code picks the sentence (the API's own
// English detail is the fallback, so a new code still says something true).
import { formatDateTime, has, t } from "./i18n.js";

export function describe(error, context = {}) {
  if (!error || error.status === undefined) return String(error && error.message ? error.message : error);
  const code = error.code;
  if (code === "already_redeemed") {
    const when = error.problem.redeemed_at ? formatDateTime(error.problem.redeemed_at) : "";
    const storeId = error.problem.store_id;
    const store = storeId && context.storeName ? context.storeName(storeId) : "";
    return when && store ? t("err.already_redeemed", { when, store }) : t("err.already_redeemed.plain");
  }
  if (error.status === 503 || code.startsWith("database_") || code === "commit_failed") return t("err.unavailable");
  if (has(`err.${code}`)) return t(`err.${code}`);
  if (error.errors.length) return error.errors.map((e) => e.message).join("; ");
  return error.detail || t("err.generic", { status: error.status });
}
