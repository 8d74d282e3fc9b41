// Dates and times in the brand's time zone, whatever the computer's: a campaign that starts at 09:00 starts at
// 09:00 in the brand's zone, and the dashboard's "last 30 days" are the brand's days (as /v1/stats counts them).

function wallClock(instant, zone) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(new Date(instant));
  const get = (type) => Number(parts.find((p) => p.type === type).value);
  return { year: get("year"), month: get("month"), day: get("day"), hour: get("hour"), minute: get("minute"), second: get("second") };
}

function pad(n, width = 2) {
  return String(n).padStart(width, "0");
}

/** How far the zone's clock is ahead of UTC at that instant, in ms. */
function offsetAt(instant, zone) {
  const w = wallClock(instant, zone);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(instant / 1000) * 1000;
}

/** Today's date in the zone, "YYYY-MM-DD". */
export function todayIn(zone) {
  const w = wallClock(Date.now(), zone);
  return `${w.year}-${pad(w.month)}-${pad(w.day)}`;
}

/** "YYYY-MM-DD" plus n days. */
export function addDays(isoDate, n) {
  const [y, m, d] = isoDate.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** Every date from start to end, both included. */
export function daysBetween(start, end) {
  const out = [];
  for (let day = start; day <= end && out.length < 1000; day = addDays(day, 1)) out.push(day);
  return out;
}

/** A datetime-local value ("YYYY-MM-DDTHH:MM") read in the zone → an ISO instant with Z. */
export function zonedToIso(local, zone) {
  const [date, time = "00:00"] = local.split("T");
  const [y, m, d] = date.split("-").map(Number);
  const [hh, mm] = time.split(":").map(Number);
  const wall = Date.UTC(y, m - 1, d, hh, mm);
  let instant = wall - offsetAt(wall, zone);
  instant = wall - offsetAt(instant, zone); // once more, in case the guess crossed a DST change
  return new Date(instant).toISOString();
}

/** An ISO instant → the zone's datetime-local value ("YYYY-MM-DDTHH:MM"). */
export function isoToZoned(iso, zone) {
  const w = wallClock(Date.parse(iso), zone);
  return `${w.year}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}`;
}
