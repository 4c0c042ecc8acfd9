// The keyboard: j/k move between items, Enter opens the focused item's detail, x selects it
// for a bulk decision, ? lists the keys. Typing in a field is never taken for a key.

import { $ } from "./dom.js";

function typing(target) {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))
  );
}

/** The items of the view on show, in reading order (zone by zone). */
function visibleItems() {
  return [...document.querySelectorAll(".items > li")].filter((node) => node.offsetParent !== null);
}

function currentItem() {
  const focused = document.activeElement;
  return focused && focused.closest ? focused.closest(".items > li") : null;
}

function move(step) {
  const items = visibleItems();
  if (items.length === 0) return;
  const index = items.indexOf(currentItem());
  const next = index < 0 ? (step > 0 ? 0 : items.length - 1) : Math.min(items.length - 1, Math.max(0, index + step));
  items[next].focus();
}

/**
 * Listen for the keys. `open(item)` is the item's button that opens its detail (or null);
 * `select()` is told when x ticked or cleared an item.
 */
export function wireKeys({ open, select }) {
  $("#keys-close").addEventListener("click", () => $("#keys").close());
  $("#keys-open").addEventListener("click", () => $("#keys").showModal());
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target) || document.querySelector("dialog[open]")) return;
    if ($("#dashboard").hidden) return; // signed out
    const item = currentItem();
    if (event.key === "j" || event.key === "k") {
      move(event.key === "j" ? 1 : -1);
    } else if (event.key === "Enter" && item && event.target === item) {
      const button = open(item);
      if (!button) return;
      button.click();
    } else if (event.key === "x" && item) {
      const box = item.querySelector(".select");
      if (!box) return;
      box.checked = !box.checked;
      select();
    } else if (event.key === "?") {
      $("#keys").showModal();
    } else {
      return;
    }
    event.preventDefault();
  });
}
