// One incident's page, live: when its status changes elsewhere, the page says so (and offers a reload).
import { announce, statusWord, watchIncidents } from "./ui.js";

const head = document.getElementById("incident");

if (head) {
  const id = head.dataset.id;
  watchIncidents("/api/v1/streams/incidents", (inc) => {
    if (String(inc.id) !== id) return;
    const status = statusWord(inc.status);
    if (status === head.dataset.status) return;
    head.dataset.status = status;
    const badge = head.querySelector('[data-field="status"]');
    badge.className = `badge status-${status}`;
    badge.textContent = status;
    const notice = head.querySelector(".changed");
    notice.querySelector('[data-field="now"]').textContent = status;
    notice.hidden = false;
    announce(`This incident is now ${status}`);
  });
}
