// The incident list, live: new incidents appear at the top and statuses change in place, without a reload.
import { announce, showTimes, statusWord, watchIncidents } from "./ui.js";

const list = document.getElementById("incident-list");
const template = document.getElementById("incident-row");
const SHOWN = { open: ["triggered", "acknowledged"], triggered: ["triggered"], acknowledged: ["acknowledged"],
                resolved: ["resolved"], all: null };

if (list && template) {
  const shown = SHOWN[list.dataset.statuses] ?? null;
  const insert = list.dataset.insert === "yes";
  const counting = list.dataset.counts === "yes";
  const needle = (list.dataset.q || "").toLowerCase();
  const names = JSON.parse(list.dataset.integrations || "{}");
  const empty = document.querySelector(".bulk .empty");
  /** what this page last knew of each incident's status (the counts move with it) */
  const known = new Map();
  let newest = 0;
  for (const row of list.querySelectorAll("li.incident")) {
    known.set(row.dataset.id, row.dataset.status);
    newest = Math.max(newest, Number(row.dataset.id));
  }

  const bump = (status, by) => {
    const names = status === "resolved" ? [status] : [status, "open"];
    for (const name of names) {
      const el = document.querySelector(`[data-count="${name}"]`);
      if (!el || el.textContent.trim().endsWith("+")) continue;
      el.textContent = String(Math.max(0, Number(el.textContent) + by));
    }
  };

  const set = (row, name, text) => {
    const el = row.querySelector(`[data-field="${name}"]`);
    if (el) el.textContent = text;
  };

  const fill = (row, inc, status) => {
    row.dataset.status = status;
    const badge = row.querySelector('[data-field="status"]');
    badge.className = `badge status-${status}`;
    badge.textContent = status;
    set(row, "title", inc.title || "");
    set(row, "alerts", String(inc.alert_count ?? 0));
    set(row, "open", String(inc.open_alerts ?? 0));
    set(row, "by", inc.acknowledged_by ? `ack by ${inc.acknowledged_by}` : "");
  };

  const build = (inc, status) => {
    const row = template.content.firstElementChild.cloneNode(true);
    const id = String(inc.id);
    row.dataset.id = id;
    row.querySelector("a.title").href = `/incidents/${encodeURIComponent(id)}`;
    const box = row.querySelector("input.pick");
    if (box) {
      box.value = id;
      box.id = `pick-${id}`;
      const label = row.querySelector("label");
      label.htmlFor = box.id;
      label.textContent = `Select incident ${id}`;
    }
    const severity = row.querySelector('[data-field="severity"]');
    severity.textContent = inc.severity || "";
    severity.className = `sev sev-${inc.severity || "unknown"}`;
    set(row, "id", id);
    set(row, "integration", names[inc.integration_id] ?? String(inc.integration_id ?? ""));
    const created = row.querySelector('[data-field="created"]');
    created.setAttribute("datetime", inc.created_at || "");
    fill(row, inc, status);
    return row;
  };

  watchIncidents(list.dataset.stream, (inc, snapshot) => {
    const id = String(inc.id);
    const status = statusWord(inc.status);
    const before = known.get(id);
    if (counting && before !== status && (before !== undefined || !snapshot)) {
      if (before !== undefined) bump(before, -1);
      bump(status, 1);
    }
    known.set(id, status);
    const row = list.querySelector(`li.incident[data-id="${CSS.escape(id)}"]`);
    if (row) {
      if (row.dataset.status !== status) announce(`Incident ${id} is now ${status}`);
      fill(row, inc, status);
      return;
    }
    const wanted = (!shown || shown.includes(status)) && (!needle || (inc.title || "").toLowerCase().includes(needle));
    if (!insert || !wanted || Number(id) <= newest) return;
    newest = Number(id);
    const fresh = build(inc, status);
    list.prepend(fresh);
    fresh.classList.add("fresh");
    if (empty) empty.hidden = true;
    showTimes(fresh);
    announce(`New incident: ${inc.title || id}`);
  });
}
