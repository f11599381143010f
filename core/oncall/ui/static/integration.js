// The integration pages' copy buttons: copy a key or a snippet; without JavaScript the text stays selectable.
import { announce } from "./ui.js";

for (const button of document.querySelectorAll("button[data-copy]")) {
  const target = document.getElementById(button.dataset.copy);
  if (!target || !navigator.clipboard) continue;
  button.hidden = false;
  const label = button.textContent;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(target.textContent.trim());
      button.textContent = "Copied";
      announce("Copied to the clipboard");
    } catch {
      button.textContent = "Select and copy";
      window.getSelection()?.selectAllChildren(target);
    }
    setTimeout(() => { button.textContent = label; }, 2000);
  });
}
