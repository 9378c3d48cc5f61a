// Label picker for LabelMask and its remote twin, HomeDesigns Create Mask (same labels): a
// "pick labels" button opens a searchable list of the 150 labels that writes the `|` string into
// the `labels` widget, and a red line under the button names the words the node would reject.
// The widget stays the one source of truth: the picker edits a copy of its text that Done writes
// back and Cancel drops, so hand edits and picker edits mix freely.

import { app } from "../../scripts/app.js";
import {
  addLabel,
  closest,
  closingText,
  dialogTitle,
  enterLabel,
  focusStep,
  inputText,
  parseLabels,
  partText,
  pickerKey,
  removePart,
  replacePart,
  searchLabels,
  selectedLabels,
  tidyLabels,
  toggleLabel,
  unknownSummary,
  wrapText,
} from "./label_logic.js";

const NODE_TYPES = new Set(["MaskForgeLabelMask", "MaskForgeHomeDesignsCreateMask"]);
const WIDGET = "labels";
const RED = "#ff5c5c";
const FONT = "12px sans-serif";
const LINE_HEIGHT = 15;
const MARGIN = 15; // LiteGraph's widget margin, so the line starts where the widgets' capsules do

app.registerExtension({
  name: "MaskForge.LabelPicker",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!NODE_TYPES.has(nodeData.name)) return;

    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const result = onNodeCreated?.apply(this, arguments);
      // Neither row is an input: `serialize` keeps them out of the workflow's widgets_values,
      // `options.serialize` out of the API prompt (ComfyUI's frontend reads one for each).
      const button = this.addWidget("button", "pick labels", null, () => openPicker(this), { serialize: false });
      button.serialize = false;
      this.addCustomWidget(unknownWordsRow(this));
      return result;
    };
  },
});

// A row under the button, as tall as its text: the words the node would reject, in red, from the
// text the node will run with (a linked value where the browser knows it, else nothing).
function unknownWordsRow(node) {
  // The suggestions take milliseconds and the row is measured and drawn every frame: once per text.
  let text;
  let summary = "";
  const lines = (width) => {
    const now = inputText(node, WIDGET);
    if (now !== text) [text, summary] = [now, unknownSummary(now)];
    return wrapText(summary, width - 2 * MARGIN, measure);
  };
  let drawnLines = 0;
  return {
    name: "unknown labels",
    type: "maskforge_unknown_labels",
    value: "",
    serialize: false,
    options: { serialize: false },
    computeSize(width) {
      const count = lines(width ?? node.size[0]).length;
      return [width ?? node.size[0], count ? count * LINE_HEIGHT + 4 : 0];
    },
    draw(ctx, _node, width, y) {
      const shown = lines(width);
      // LiteGraph grows the node to fit a taller row only after drawing its frame: draw once more then.
      if (shown.length !== drawnLines) node.setDirtyCanvas?.(true, true);
      drawnLines = shown.length;
      ctx.save();
      ctx.font = FONT;
      ctx.fillStyle = RED;
      ctx.textAlign = "left";
      ctx.textBaseline = "top";
      shown.forEach((line, i) => ctx.fillText(line, MARGIN, y + 2 + i * LINE_HEIGHT));
      ctx.restore();
    },
    // A click on the warning opens the picker, where each unknown word offers its nearest labels.
    onPointerDown(pointer) {
      pointer.onClick = () => openPicker(node);
      return true;
    },
  };
}

let measuring;
function measure(text) {
  measuring ??= document.createElement("canvas").getContext("2d");
  measuring.font = FONT;
  return measuring.measureText(text).width;
}

function openPicker(node) {
  const widget = node.widgets?.find((w) => w.name === WIDGET);
  const linked = node.inputs?.some((input) => input.name === WIDGET && input.link != null);
  if (!widget || linked) {
    notify(`${node.title}: labels comes from a link; edit the node that makes the text.`);
    return;
  }
  addStyle();

  const original = String(widget.value ?? "");
  let draft = original;
  const edit = (text) => {
    draft = text;
    render();
  };
  const returnFocus = document.activeElement;

  const backdrop = element("div", { className: "maskforge-picker-backdrop" });
  const dialog = element("div", { className: "maskforge-picker", tabIndex: -1 });
  dialog.setAttribute("role", "dialog");
  dialog.setAttribute("aria-modal", "true");
  dialog.setAttribute("aria-labelledby", "maskforge-picker-title");
  const search = element("input", {
    type: "search",
    placeholder: "Search the 150 labels or synonyms (couch, fridge, chairs…)",
  });
  search.setAttribute("aria-label", "Search labels");
  const chips = element("div", { className: "maskforge-picker-chips" });
  const list = element("div", { className: "maskforge-picker-list" });
  const footer = element("div", { className: "maskforge-picker-footer" });
  footer.append(
    button("Tidy", "Write synonyms and plurals as label names and drop repeats", () => edit(tidyLabels(draft))),
    button("Clear", "Remove every label", () => edit("")),
    element("span", { className: "maskforge-picker-gap" }),
    button("Cancel", "Close without changing the labels (Escape)", () => close("cancel")),
    button("Done", "Write these labels into the node", () => close("done")),
  );
  dialog.append(
    element("div", { className: "maskforge-picker-title", id: "maskforge-picker-title", textContent: dialogTitle(node.title) }),
    search,
    chips,
    list,
    footer,
  );
  backdrop.append(dialog);
  document.body.append(backdrop);

  function render() {
    renderChips();
    renderList();
  }

  function renderChips() {
    chips.replaceChildren();
    const parts = parseLabels(draft);
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
          const replace = () => edit(replacePart(draft, index, label));
          chip.append(button(`→ ${label}`, `Replace '${part.word}' with '${label}'`, replace));
        }
      } else {
        chip.append(partText(part));
      }
      chip.append(button("✕", `Remove '${part.word}'`, () => edit(removePart(draft, index))));
      chips.append(chip);
    });
  }

  function renderList() {
    const selected = new Set(selectedLabels(draft));
    list.replaceChildren();
    const hits = searchLabels(search.value);
    if (!hits.length) list.append(note("No label matches."));
    for (const { label, via } of hits) {
      const box = element("input", { type: "checkbox", checked: selected.has(label) });
      box.addEventListener("change", () => edit(toggleLabel(draft, label)));
      const row = element("label", { className: "maskforge-picker-row" });
      row.append(box, label);
      if (via) row.append(element("small", { textContent: ` (${via})` }));
      list.append(row);
    }
  }

  function close(how) {
    document.removeEventListener("keydown", onKey, true);
    backdrop.remove();
    const text = closingText(original, draft, how);
    if (text !== null) {
      widget.value = text;
      widget.callback?.(text, app.canvas, node);
      node.setDirtyCanvas?.(true, true);
    }
    returnFocus?.focus?.();
  }

  // Document, capture phase: the dialog is modal, so no key reaches ComfyUI's shortcuts while it is open.
  function onKey(event) {
    const action = pickerKey({
      key: event.key,
      shiftKey: event.shiftKey,
      isComposing: event.isComposing,
      inSearch: event.target === search,
    });
    if (action || !dialog.contains(event.target)) {
      event.preventDefault();
      event.stopPropagation();
    }
    if (action === "cancel") close("cancel");
    else if (action === "add") {
      const label = enterLabel(search.value);
      if (label) edit(addLabel(draft, label));
    } else if (action) {
      const controls = [...dialog.querySelectorAll("input, button")];
      controls[focusStep(controls.indexOf(document.activeElement), controls.length, action === "previous")]?.focus();
    }
  }

  search.addEventListener("input", renderList);
  // Keys typed inside the dialog stop here, before the window's shortcut handlers see them.
  dialog.addEventListener("keydown", (event) => event.stopPropagation());
  backdrop.addEventListener("pointerdown", (event) => {
    if (event.target === backdrop) close("cancel");
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
  return Object.assign(document.createElement(tag), props);
}

function note(text) {
  return element("span", { className: "maskforge-picker-empty", textContent: text });
}

function button(text, title, onClick) {
  const el = element("button", { type: "button", textContent: text, title });
  el.addEventListener("click", onClick);
  return el;
}

// The dialog has a fixed place and height, so nothing moves while the list changes; the chips take
// the height they need (up to 40% of the dialog, then they scroll) and the list scrolls in the rest.
function addStyle() {
  if (document.getElementById("maskforge-picker-style")) return;
  const style = element("style", { id: "maskforge-picker-style" });
  style.textContent = `
    .maskforge-picker-backdrop { position: fixed; inset: 0; z-index: 10000; background: rgba(0,0,0,.45); }
    .maskforge-picker { position: absolute; top: 6vh; left: 0; right: 0; margin: 0 auto; box-sizing: border-box;
      width: min(640px, 94vw); height: min(88vh, 800px); display: flex; flex-direction: column; gap: 8px;
      padding: 12px; border-radius: 8px; font: 13px sans-serif; color: var(--fg-color, #ddd); outline: none;
      background: var(--comfy-menu-bg, #222); border: 1px solid var(--border-color, #555); }
    .maskforge-picker-title { flex: none; font-weight: bold; }
    .maskforge-picker input[type=search] { flex: none; padding: 6px; border-radius: 4px; color: var(--input-text, #ddd);
      background: var(--comfy-input-bg, #111); border: 1px solid var(--border-color, #555); }
    .maskforge-picker-chips { flex: none; max-height: 40%; overflow-y: auto; display: flex; flex-wrap: wrap;
      align-content: flex-start; gap: 4px; }
    .maskforge-picker-chip { display: inline-flex; flex-wrap: wrap; align-items: center; gap: 4px; padding: 2px 6px;
      border-radius: 10px; background: var(--comfy-input-bg, #111); border: 1px solid var(--border-color, #555); }
    .maskforge-picker-chip.unknown { color: ${RED}; border-color: ${RED}; }
    .maskforge-picker button { cursor: pointer; color: inherit; background: transparent;
      border: 1px solid var(--border-color, #555); border-radius: 4px; padding: 1px 6px; }
    .maskforge-picker-list { flex: 1 1 0; min-height: 0; overflow-y: auto; display: grid; align-content: start;
      grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); grid-auto-rows: max-content; column-gap: 8px; }
    .maskforge-picker-row { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; cursor: pointer; }
    .maskforge-picker-row small, .maskforge-picker-empty { opacity: .7; }
    .maskforge-picker-footer { flex: none; display: flex; gap: 6px; }
    .maskforge-picker-gap { flex: 1; }
  `;
  document.head.append(style);
}
