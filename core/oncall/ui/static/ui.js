// What every page's script shares: times in the reader's zone, the live region, the stream's words.

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "3 minutes ago" / "in 2 minutes" for a time within a day, else the date and time in the reader's zone. */
function describe(date) {
  const seconds = (date.getTime() - Date.now()) / 1000;
  const size = Math.abs(seconds);
  if (size < 86400) {
    const [unit, per] = size >= 3600 ? ["hour", 3600] : size >= 60 ? ["minute", 60] : ["second", 1];
    return relative.format(Math.round(seconds / per), unit);
  }
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** Show every <time datetime> under root relative to now, with the full local time as its title. */
export function showTimes(root = document) {
  for (const el of root.querySelectorAll("time[datetime]")) {
    const value = el.getAttribute("datetime");
    if (!value) continue;
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) continue;
    el.title = date.toLocaleString();
    el.textContent = describe(date);
  }
}

/** Say something to screen readers, politely (the layout's live region). */
export function announce(text) {
  const region = document.getElementById("live-status");
  if (region) region.textContent = text;
}

/** An IncidentStatus as the REST API writes it (its enum name) → the word the pages use. */
export function statusWord(value) {
  const names = { INCIDENT_STATUS_TRIGGERED: "triggered", INCIDENT_STATUS_ACKNOWLEDGED: "acknowledged",
                  INCIDENT_STATUS_RESOLVED: "resolved", 1: "triggered", 2: "acknowledged", 3: "resolved" };
  return names[value] || "unknown";
}

/** Open the incidents' event stream; call onIncident(incident, snapshot) for each message. */
export function watchIncidents(url, onIncident) {
  if (!window.EventSource) return null;
  const source = new EventSource(url);
  const badge = document.getElementById("live");
  // open: the server answered once the watch was live, so what commits from now on arrives
  source.addEventListener("open", () => {
    window.oncallLive = true;
    if (badge) { badge.hidden = false; badge.textContent = "Live"; badge.classList.remove("off"); }
  });
  source.addEventListener("error", () => {
    window.oncallLive = false;
    if (badge) {
      badge.hidden = false;
      badge.classList.add("off");
      badge.textContent = source.readyState === EventSource.CLOSED ? "Not live: reload the page" : "Reconnecting…";
    }
  });
  source.addEventListener("message", (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    if (message && message.incident) onIncident(message.incident, Boolean(message.snapshot));
  });
  return source;
}

function selectAll() {
  const all = document.getElementById("pick-all");
  if (!all) return;
  all.closest(".select-all").hidden = false;
  all.addEventListener("change", () => {
    for (const box of document.querySelectorAll("input.pick")) box.checked = all.checked;
  });
}

showTimes();
selectAll();
setInterval(() => showTimes(), 30000);
