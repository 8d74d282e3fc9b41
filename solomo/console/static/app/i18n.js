// Simplified Chinese and English. The language comes from the browser (navigator.languages) until the user
// picks one with the switch; that choice is the only thing the console keeps in localStorage. Dates and times
// are shown in the BRAND's time zone (from the session), whatever the computer's zone, because a till in
// Shanghai and an office in Paris must read the same expiry.

const STORAGE_KEY = "solomo-console-lang";

const en = {
  "app.title": "SoLoMo Console",
  "lang.switch": "Language",
  "signin.title": "Sign in",
  "signin.intro": "Paste an API key. It is exchanged for a session; the key itself is not kept by this browser.",
  "signin.key": "API key",
  "signin.submit": "Sign in",
  "signin.busy": "Signing in…",
  "signin.invalid": "Unknown or revoked key.",
  "signin.lost": "Your session ended. Sign in again.",
  "signout": "Sign out",
  "role.admin": "Admin",
  "role.manager": "Store manager",
  "role.marketer": "Marketer",
  "nav.label": "Main",
  "nav.stores": "Stores",
  "nav.till": "Till",
  "loading": "Loading…",
  "leave.unsaved": "Some fences are not saved. Leave this page and lose them?",
  "notfound.title": "Page not found",
  "notallowed.title": "Not allowed",
  "notallowed.store": "This store is not one you may open, or it does not exist.",
  "notallowed.page": "Your key's role may not use this page.",
  "stores.title": "Stores",
  "stores.search": "Search stores by name",
  "stores.count": "{shown} of {total} stores",
  "stores.none": "No stores.",
  "stores.open": "Open",
  "store.back": "All stores",
  "store.fences": "Geofences",
  "store.readonly": "Read only: your role may look at fences but not change them.",
  "tool.label": "Fence tools",
  "tool.circle": "Circle",
  "tool.polygon": "Polygon",
  "tool.select": "Select / edit",
  "tool.delete": "Delete",
  "tool.pause": "Pause",
  "tool.resume": "Resume",
  "tool.save": "Save",
  "tool.export": "Export GeoJSON",
  "tool.import": "Import GeoJSON",
  "tool.radius": "Radius (m)",
  "tool.hint.circle": "Click the centre, move, click again. Or type the radius.",
  "tool.hint.polygon": "Click each corner; click the first corner (or press Enter) to close.",
  "tool.hint.select": "Drag a fence to move it, drag a corner to reshape it.",
  "fence.circle": "Circle, {radius} m",
  "fence.polygon": "Polygon, {vertices} corners",
  "fence.name": "Name",
  "fence.new": "not saved",
  "fence.changed": "changed, not saved",
  "fence.active": "active",
  "fence.paused": "paused",
  "fence.none": "No fences yet.",
  "fence.newName.circle": "Circle {n}",
  "fence.newName.polygon": "Polygon {n}",
  "fence.confirmDelete": "Delete the fence “{name}”?",
  "fence.saved": "Saved {count} fence(s).",
  "fence.nothing": "Nothing to save.",
  "fence.notSaved": "{count} fence(s) were not saved: see the messages in the list.",
  "fence.selectFirst": "Select a fence first.",
  "fence.deleted": "Deleted.",
  "import.done": "Imported {count} fence(s).",
  "import.refused": "Nothing was imported: the file has errors.",
  "import.notJson": "This file is not GeoJSON.",
  "import.feature": "Feature {n}",
  "till.title": "Till",
  "till.code": "Coupon code or QR payload",
  "till.lookup": "Look up",
  "till.store": "Store",
  "till.amount": "Order amount (optional)",
  "till.redeem": "Redeem",
  "till.void": "Void this redemption",
  "till.voidReason": "Reason for the void (optional)",
  "till.redeemed": "Redeemed: {title}, at {store}, {when}.",
  "till.voided": "Voided: the coupon can be redeemed again.",
  "till.status.active": "Active",
  "till.status.redeemed": "Redeemed",
  "till.status.expired": "Expired",
  "till.status.cancelled": "Cancelled",
  "till.offer": "Offer",
  "till.terms": "Terms",
  "till.statusLabel": "Status",
  "till.expires": "Expires",
  "till.claimed": "Claimed",
  "till.where": "Redeemable at",
  "till.anyStore": "any store",
  "till.someStores": "{count} store(s)",
  "till.visit": "Needs a check-in at the store within the last hour",
  "till.redemptionLabel": "Redemption",
  "till.redemption": "{when} at {store}",
  "terms.percent": "{value}% off",
  "terms.amount": "{value} off",
  "terms.free_item": "Free: {item}",
  "err.already_redeemed": "This coupon was already redeemed ({when}, {store}).",
  "err.already_redeemed.plain": "This coupon was already redeemed.",
  "err.expired": "This coupon has expired.",
  "err.coupon_cancelled": "This coupon has been cancelled.",
  "err.wrong_store": "This coupon cannot be redeemed at this store.",
  "err.visit_required": "This coupon needs a verified check-in at this store in the last hour.",
  "err.not_found": "No coupon has this code.",
  "err.code_mistyped": "This is not a valid coupon code: check it for typos.",
  "err.too_many_failed_codes": "Too many wrong codes: wait a moment before trying again.",
  "err.store_out_of_scope": "Your key may not act for that store.",
  "err.store_not_found": "No such store.",
  "err.store_archived": "That store is archived.",
  "err.already_voided": "This redemption was already voided.",
  "err.void_window_passed": "Too late to void: the window has passed.",
  "err.rate_limited": "Too many requests: wait a moment.",
  "err.csrf_failed": "The request was refused for safety; reload the page.",
  "err.role_not_allowed": "Your key's role may not do this.",
  "err.network_error": "The server could not be reached.",
  "err.unavailable": "The service is busy; try again in a moment.",
  "err.generic": "Something went wrong ({status}).",
  "nav.keys": "API keys",
  "keys.title": "API keys",
  "keys.list": "Keys",
  "keys.showRevoked": "Show revoked keys",
  "keys.none": "No keys.",
  "keys.name": "Name",
  "keys.nameHint": "What the key is for, e.g. “Till, People's Square”.",
  "keys.role": "Role",
  "keys.stores": "Stores",
  "keys.prefix": "Starts with",
  "keys.created": "Created",
  "keys.status": "Status",
  "keys.active": "Active",
  "keys.revokedAt": "Revoked {when}",
  "keys.mine": "(this session's key)",
  "keys.revoke": "Revoke",
  "keys.revokeNamed": "Revoke “{name}”",
  "keys.confirmRevoke": "Revoke the key “{name}”? Everything using it stops working at once.",
  "keys.confirmRevokeMine": "“{name}” is the key this session uses: revoking it signs you out. Revoke it?",
  "keys.revoked": "Revoked “{name}”.",
  "keys.new": "New key",
  "keys.managerStores": "The manager's stores",
  "keys.create": "Create key",
  "keys.createdTitle": "Key “{name}” created",
  "keys.secretWarning": "Copy this key now and keep it somewhere safe: it is shown only this once. Once you leave or reload this page, nobody can show it again (a lost key is revoked and replaced).",
  "keys.secret": "The new key",
  "keys.copy": "Copy",
  "keys.copied": "Copied.",
  "keys.copyByHand": "The browser would not copy it: the key is selected, press Ctrl+C (⌘C).",
  "keys.done": "Done, I have saved it",
  "err.last_admin_key": "This is the brand's last admin key: create another admin key before revoking it.",
};

const zh = {
  "app.title": "SoLoMo 控制台",
  "lang.switch": "语言",
  "signin.title": "登录",
  "signin.intro": "粘贴 API 密钥。它会换成一个会话；浏览器不会保存密钥本身。",
  "signin.key": "API 密钥",
  "signin.submit": "登录",
  "signin.busy": "正在登录…",
  "signin.invalid": "密钥未知或已被吊销。",
  "signin.lost": "会话已结束，请重新登录。",
  "signout": "退出登录",
  "role.admin": "管理员",
  "role.manager": "店长",
  "role.marketer": "营销人员",
  "nav.label": "主导航",
  "nav.stores": "门店",
  "nav.till": "收银台",
  "loading": "加载中…",
  "leave.unsaved": "有围栏尚未保存。离开此页面将丢失它们，确定吗？",
  "notfound.title": "页面不存在",
  "notallowed.title": "无权访问",
  "notallowed.store": "您无权打开此门店，或门店不存在。",
  "notallowed.page": "您的密钥角色不能使用此页面。",
  "stores.title": "门店",
  "stores.search": "按名称搜索门店",
  "stores.count": "显示 {shown} / 共 {total} 家门店",
  "stores.none": "没有门店。",
  "stores.open": "打开",
  "store.back": "全部门店",
  "store.fences": "地理围栏",
  "store.readonly": "只读：您的角色可以查看围栏，但不能修改。",
  "tool.label": "围栏工具",
  "tool.circle": "圆形",
  "tool.polygon": "多边形",
  "tool.select": "选择 / 编辑",
  "tool.delete": "删除",
  "tool.pause": "暂停",
  "tool.resume": "恢复",
  "tool.save": "保存",
  "tool.export": "导出 GeoJSON",
  "tool.import": "导入 GeoJSON",
  "tool.radius": "半径（米）",
  "tool.hint.circle": "点击圆心，移动鼠标，再点击一次。也可以直接输入半径。",
  "tool.hint.polygon": "依次点击各个顶点；点击第一个顶点（或按回车）闭合。",
  "tool.hint.select": "拖动围栏可移动，拖动顶点可改变形状。",
  "fence.circle": "圆形，{radius} 米",
  "fence.polygon": "多边形，{vertices} 个顶点",
  "fence.name": "名称",
  "fence.new": "未保存",
  "fence.changed": "已修改，未保存",
  "fence.active": "启用中",
  "fence.paused": "已暂停",
  "fence.none": "还没有围栏。",
  "fence.newName.circle": "圆形 {n}",
  "fence.newName.polygon": "多边形 {n}",
  "fence.confirmDelete": "删除围栏“{name}”？",
  "fence.saved": "已保存 {count} 个围栏。",
  "fence.nothing": "没有需要保存的内容。",
  "fence.notSaved": "{count} 个围栏未保存：请查看列表中的提示。",
  "fence.selectFirst": "请先选择一个围栏。",
  "fence.deleted": "已删除。",
  "import.done": "已导入 {count} 个围栏。",
  "import.refused": "未导入任何内容：文件有错误。",
  "import.notJson": "此文件不是 GeoJSON。",
  "import.feature": "第 {n} 个要素",
  "till.title": "收银台",
  "till.code": "券码或二维码内容",
  "till.lookup": "查询",
  "till.store": "门店",
  "till.amount": "订单金额（可选）",
  "till.redeem": "核销",
  "till.void": "撤销此次核销",
  "till.voidReason": "撤销原因（可选）",
  "till.redeemed": "已核销：{title}，门店 {store}，{when}。",
  "till.voided": "已撤销：此券可以再次核销。",
  "till.status.active": "可用",
  "till.status.redeemed": "已核销",
  "till.status.expired": "已过期",
  "till.status.cancelled": "已作废",
  "till.offer": "优惠",
  "till.terms": "条款",
  "till.statusLabel": "状态",
  "till.expires": "到期时间",
  "till.claimed": "领取时间",
  "till.where": "可核销门店",
  "till.anyStore": "任意门店",
  "till.someStores": "{count} 家门店",
  "till.visit": "需在过去一小时内于本店签到",
  "till.redemptionLabel": "核销记录",
  "till.redemption": "{when}，{store}",
  "terms.percent": "{value}% 折扣",
  "terms.amount": "立减 {value}",
  "terms.free_item": "免费：{item}",
  "err.already_redeemed": "此券已被核销（{when}，{store}）。",
  "err.already_redeemed.plain": "此券已被核销。",
  "err.expired": "此券已过期。",
  "err.coupon_cancelled": "此券已作废。",
  "err.wrong_store": "此券不能在本店核销。",
  "err.visit_required": "此券需要会员在过去一小时内于本店完成签到。",
  "err.not_found": "没有这个券码。",
  "err.code_mistyped": "券码无效：请检查是否输错。",
  "err.too_many_failed_codes": "错误券码过多：请稍后再试。",
  "err.store_out_of_scope": "您的密钥不能代表该门店操作。",
  "err.store_not_found": "没有这家门店。",
  "err.store_archived": "该门店已归档。",
  "err.already_voided": "此次核销已被撤销。",
  "err.void_window_passed": "已超过可撤销的时限。",
  "err.rate_limited": "请求过于频繁，请稍候。",
  "err.csrf_failed": "出于安全原因请求被拒绝，请刷新页面。",
  "err.role_not_allowed": "您的密钥角色不能执行此操作。",
  "err.network_error": "无法连接服务器。",
  "err.unavailable": "服务繁忙，请稍后再试。",
  "err.generic": "出错了（{status}）。",
  "nav.keys": "API 密钥",
  "keys.title": "API 密钥",
  "keys.list": "密钥",
  "keys.showRevoked": "显示已吊销的密钥",
  "keys.none": "没有密钥。",
  "keys.name": "名称",
  "keys.nameHint": "密钥的用途，例如“人民广场店收银台”。",
  "keys.role": "角色",
  "keys.stores": "门店",
  "keys.prefix": "开头",
  "keys.created": "创建时间",
  "keys.status": "状态",
  "keys.active": "有效",
  "keys.revokedAt": "已于 {when} 吊销",
  "keys.mine": "（本次会话使用的密钥）",
  "keys.revoke": "吊销",
  "keys.revokeNamed": "吊销“{name}”",
  "keys.confirmRevoke": "吊销密钥“{name}”？所有使用它的地方将立即失效。",
  "keys.confirmRevokeMine": "“{name}”是本次会话使用的密钥：吊销后您将被登出。确定吊销吗？",
  "keys.revoked": "已吊销“{name}”。",
  "keys.new": "新建密钥",
  "keys.managerStores": "店长负责的门店",
  "keys.create": "创建密钥",
  "keys.createdTitle": "密钥“{name}”已创建",
  "keys.secretWarning": "请立即复制此密钥并妥善保存：它只显示这一次。离开或刷新此页面后，任何人都无法再次查看（丢失的密钥只能吊销后重新创建）。",
  "keys.secret": "新密钥",
  "keys.copy": "复制",
  "keys.copied": "已复制。",
  "keys.copyByHand": "浏览器未能复制：密钥已选中，请按 Ctrl+C（⌘C）。",
  "keys.done": "完成，我已保存",
  "err.last_admin_key": "这是本品牌最后一个管理员密钥：请先创建另一个管理员密钥，再吊销它。",
};

export const LANGUAGES = { "zh-CN": { label: "中文", dict: zh }, en: { label: "English", dict: en } };

let current = pickLanguage();
let timeZone = "UTC";
const listeners = new Set();

function pickLanguage() {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved && LANGUAGES[saved]) return saved;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const lower = String(tag).toLowerCase();
    if (lower.startsWith("zh")) return "zh-CN";
    if (lower.startsWith("en")) return "en";
  }
  return "en";
}

export function lang() {
  return current;
}

export function setLang(code) {
  if (!LANGUAGES[code] || code === current) return;
  current = code;
  localStorage.setItem(STORAGE_KEY, code);
  document.documentElement.lang = code;
  for (const listener of listeners) listener(code);
}

/** Re-render when the language changes. */
export function onLangChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** t("stores.count", {shown: 3, total: 9}); an unknown key falls back to English, then to the key itself. */
export function t(key, params = {}) {
  const text = LANGUAGES[current].dict[key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

export function has(key) {
  return key in LANGUAGES[current].dict || key in en;
}

export function setTimeZone(zone) {
  timeZone = zone || "UTC";
}

/** A date and time in the brand's zone, in the chosen language's style. */
export function formatDateTime(iso) {
  if (!iso) return "";
  try {
    return new Intl.DateTimeFormat(current, {
      dateStyle: "medium",
      timeStyle: "short",
      timeZone,
    }).format(new Date(iso));
  } catch {
    return String(iso);
  }
}

export function formatNumber(value, options = {}) {
  return new Intl.NumberFormat(current, options).format(value);
}

/** Money in the coupon's currency when it names one. */
export function formatMoney(value, currency) {
  if (currency) {
    try {
      return new Intl.NumberFormat(current, { style: "currency", currency }).format(value);
    } catch {
      // an unknown currency code: the number alone, with the code after it
    }
    return `${formatNumber(value)} ${currency}`;
  }
  return formatNumber(value);
}

document.documentElement.lang = current;
