// Label picker for LabelMask and its remote twin, HomeDesigns Create Mask (same labels): a
// "pick labels" button opens a searchable list of the 150 labels that writes the `|` string into
// the `labels` widget. The widget stays the one source of truth: the picker parses its current
// text every time, so hand edits and picker edits mix freely.

import { app } from "../../scripts/app.js";
import {
  closest,
  parseLabels,
  removePart,
  replacePart,
  searchLabels,
  selectedLabels,
  tidyLabels,
  toggleLabel,
} from "./label_logic.js";

const NODE_TYPES = new Set(["MaskForgeLabelMask", "MaskForgeHomeDesignsCreateMask"]);
const WIDGET = "labels";
const RED = "var(--error-text, #ff5c5c)";

app.registerExtension({
  name: "MaskForge.LabelPicker",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!NODE_TYPES.has(nodeData.name)) return;

    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const result = onNodeCreated?.apply(this, arguments);
      const button = this.addWidget("button", "pick labels", null, () => openPicker(this));
      button.serialize = false; // not an input: keeps widgets_values as ComfyUI expects them
      return result;
    };

    // Unknown words in red in the title bar, from the widget's text as it is now.
    const onDrawForeground = nodeType.prototype.onDrawForeground;
    nodeType.prototype.onDrawForeground = function (ctx) {
      const result = onDrawForeground?.apply(this, arguments);
      const widget = labelsWidget(this);
      if (!widget || this.flags?.collapsed) return result;
      const unknown = parseLabels(widget.value).filter((p) => p.label === null).map((p) => p.word);
      if (unknown.length) {
        const titleHeight = globalThis.LiteGraph?.NODE_TITLE_HEIGHT ?? 30;
        ctx.save();
        ctx.font = "12px sans-serif";
        ctx.fillStyle = "#ff5c5c";
        ctx.textAlign = "right";
        ctx.fillText(`unknown: ${unknown.join(", ")}`, this.size[0] - 8, -titleHeight / 2 + 4);
        ctx.restore();
      }
      return result;
    };
  },
});

function labelsWidget(node) {
  return node.widgets?.find((w) => w.name === WIDGET);
}

function openPicker(node) {
  const widget = labelsWidget(node);
  const linked = node.inputs?.some((input) => input.name === WIDGET && input.link != null);
  if (!widget || linked) {
    notify(`${node.title}: labels comes from a link; edit the node that makes the text.`);
    return;
  }
  addStyle();

  const read = () => String(widget.value ?? "");
  const write = (text) => {
    widget.value = text;
    widget.callback?.(text, app.canvas, node);
    node.setDirtyCanvas?.(true, true);
    render();
  };

  const backdrop = element("div", { className: "maskforge-picker-backdrop" });
  const dialog = element("div", { className: "maskforge-picker", role: "dialog" });
  const search = element("input", {
    type: "search",
    placeholder: "Search labels or synonyms (couch, fridge, chairs…)",
  });
  const chips = element("div", { className: "maskforge-picker-chips" });
  const list = element("div", { className: "maskforge-picker-list" });
  const footer = element("div", { className: "maskforge-picker-footer" });
  footer.append(
    button("Tidy", "Write synonyms and plurals as label names and drop repeats", () => write(tidyLabels(read()))),
    button("Clear", "Remove every label", () => write("")),
    button("Done", "Close the picker", close),
  );
  dialog.append(
    element("div", { className: "maskforge-picker-title", textContent: `${node.title}: labels (ADE20K, 150 classes)` }),
    search,
    chips,
    list,
    footer,
  );
  backdrop.append(dialog);
  document.body.append(backdrop);

  function render() {
    const text = read();
    renderChips(text);
    renderList(text);
  }

  function renderChips(text) {
    chips.replaceChildren();
    const parts = parseLabels(text);
    if (!parts.length) chips.append(note("No labels yet: tick some below."));
    parts.forEach((part, index) => {
      const chip = element("span", { className: "maskforge-picker-chip" });
      if (part.label === null) {
        const near = closest(part.word);
        chip.classList.add("unknown");
        chip.title = near.length
          ? `unknown label '${part.word}': the node will stop with an error. Did you mean ${near.join(", ")}?`
          : `unknown label '${part.word}': the node will stop with an error.`;
        chip.append(part.word);
        for (const label of near) {
          const replace = () => write(replacePart(read(), index, label));
          chip.append(button(`→ ${label}`, `Replace '${part.word}' with '${label}'`, replace));
        }
      } else {
        chip.append(part.word === part.label ? part.label : `${part.word} → ${part.label}`);
      }
      chip.append(button("✕", `Remove '${part.word}'`, () => write(removePart(read(), index))));
      chips.append(chip);
    });
  }

  function renderList(text) {
    const selected = new Set(selectedLabels(text));
    list.replaceChildren();
    const hits = searchLabels(search.value);
    if (!hits.length) list.append(note("No label matches."));
    for (const { label, via } of hits) {
      const box = element("input", { type: "checkbox", checked: selected.has(label) });
      box.addEventListener("change", () => write(toggleLabel(read(), label)));
      const row = element("label", { className: "maskforge-picker-row" });
      row.append(box, label);
      if (via) row.append(element("small", { textContent: ` (${via})` }));
      list.append(row);
    }
  }

  function close() {
    document.removeEventListener("keydown", onKey, true);
    backdrop.remove();
  }

  function onKey(event) {
    if (event.key === "Escape") {
      event.stopPropagation();
      close();
    } else if (event.key === "Enter" && event.target === search) {
      const first = searchLabels(search.value)[0];
      if (first) write(toggleLabel(read(), first.label));
      event.preventDefault();
    }
  }

  search.addEventListener("input", () => renderList(read()));
  backdrop.addEventListener("pointerdown", (event) => {
    if (event.target === backdrop) close();
  });
  document.addEventListener("keydown", onKey, true);
  render();
  search.focus();
}

function notify(message) {
  const toast = app.extensionManager?.toast;
  if (toast?.add) toast.add({ severity: "warn", summary: "MaskForge", detail: message, life: 5000 });
  else alert(message);
}

function element(tag, props = {}) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "role") el.setAttribute("role", value);
    else el[key] = value;
  }
  return el;
}

function note(text) {
  return element("span", { className: "maskforge-picker-empty", textContent: text });
}

function button(text, title, onClick) {
  const el = element("button", { type: "button", textContent: text, title });
  el.addEventListener("click", onClick);
  return el;
}

function addStyle() {
  if (document.getElementById("maskforge-picker-style")) return;
  const style = element("style", { id: "maskforge-picker-style" });
  style.textContent = `
    .maskforge-picker-backdrop { position: fixed; inset: 0; z-index: 10000; background: rgba(0,0,0,.45);
      display: flex; align-items: center; justify-content: center; }
    .maskforge-picker { width: min(560px, 92vw); max-height: 82vh; display: flex; flex-direction: column; gap: 8px;
      padding: 12px; border-radius: 8px; font: 13px sans-serif; color: var(--fg-color, #ddd);
      background: var(--comfy-menu-bg, #222); border: 1px solid var(--border-color, #555); }
    .maskforge-picker-title { font-weight: bold; }
    .maskforge-picker input[type=search] { padding: 6px; border-radius: 4px; color: var(--input-text, #ddd);
      background: var(--comfy-input-bg, #111); border: 1px solid var(--border-color, #555); }
    .maskforge-picker-chips { display: flex; flex-wrap: wrap; gap: 4px; max-height: 20vh; overflow-y: auto; }
    .maskforge-picker-chip { display: inline-flex; align-items: center; gap: 4px; padding: 2px 6px; border-radius: 10px;
      background: var(--comfy-input-bg, #111); border: 1px solid var(--border-color, #555); }
    .maskforge-picker-chip.unknown { color: ${RED}; border-color: ${RED}; }
    .maskforge-picker button { cursor: pointer; color: inherit; background: transparent;
      border: 1px solid var(--border-color, #555); border-radius: 4px; padding: 1px 6px; }
    .maskforge-picker-list { overflow-y: auto; columns: 3 150px; min-height: 120px; }
    .maskforge-picker-row { display: block; break-inside: avoid; white-space: nowrap; cursor: pointer; }
    .maskforge-picker-row small, .maskforge-picker-empty { opacity: .7; }
    .maskforge-picker-footer { display: flex; justify-content: flex-end; gap: 6px; }
  `;
  document.head.append(style);
}
