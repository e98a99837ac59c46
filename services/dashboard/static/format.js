// Formatting of numbers, times and URLs for display. Pure functions, no DOM.

const UNITS = ["B", "kB", "MB", "GB", "TB"];

export function bytes(n) {
  if (!(n > 0)) return "0 B";
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${UNITS[unit]}`;
}

export function rate(bytesPerSecond) {
  return bytesPerSecond > 0 ? `${bytes(bytesPerSecond)}/s` : "";
}

const BINARY_UNITS = [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]];

// The streamer's bandwidth limit now (binary units, as transfer.bwlimit is written), and
// the timetable it comes from when there is one: "20 MiB/s (08:00,20M 19:00,off)".
export function bandwidthLimit(bytesPerSecond, schedule) {
  if (!schedule) return "";
  let now = "off";
  if (bytesPerSecond > 0) {
    const [unit, size] = BINARY_UNITS.find(([, size]) => bytesPerSecond >= size) || ["B", 1];
    now = `${+(bytesPerSecond / size).toFixed(2)} ${unit}/s`;
  }
  return schedule.includes(",") ? `${now} (${schedule})` : now;
}

export function connections(count) {
  return count > 0 ? `${count} connection${count === 1 ? "" : "s"}` : "";
}

export function duration(seconds) {
  if (!(seconds >= 0) || !Number.isFinite(seconds)) return "";
  const s = Math.round(seconds);
  const pad = (n) => String(n).padStart(2, "0");
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  return `${s}s`;
}

export function fraction(done, size) {
  return size > 0 ? Math.min(1, Math.max(0, done / size)) : 0;
}

export function dateTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "—" : date.toLocaleString();
}

export function clock(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString();
}

export function timeValue(iso) {
  const value = Date.parse(iso || "");
  return Number.isNaN(value) ? 0 : value;
}

// Only http(s) links are ever rendered as links (never javascript: or data:).
export function safeHttpUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}
