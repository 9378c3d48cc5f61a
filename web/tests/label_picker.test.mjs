// The extension's wiring into ComfyUI's node API, against a stand-in `app` (no browser, no DOM).
import assert from "node:assert/strict";
import { register } from "node:module";
import test from "node:test";

// label_picker.js imports ComfyUI's "../../scripts/app.js"; hand it the stand-in instead.
register(
  "data:text/javascript," +
    encodeURIComponent(`
      export async function resolve(specifier, context, next) {
        if (specifier.endsWith("/scripts/app.js")) {
          return { url: "data:text/javascript,export const app = globalThis.fakeApp;", shortCircuit: true };
        }
        return next(specifier, context);
      }`),
);

const toasts = [];
globalThis.fakeApp = {
  extensions: [],
  registerExtension(extension) {
    this.extensions.push(extension);
  },
  extensionManager: { toast: { add: (message) => toasts.push(message) } },
};
await import("../label_picker.js");
const [extension] = globalThis.fakeApp.extensions;

class FakeNode {
  constructor() {
    this.title = "Label Mask";
    this.size = [320, 200];
    this.widgets = [{ name: "labels", type: "text", value: "floor|wall" }];
  }
  addWidget(type, name, value, callback, options = {}) {
    return this.addCustomWidget({ type, name, value, callback, options });
  }
  addCustomWidget(widget) {
    this.widgets.push(widget);
    return widget;
  }
}

function pickButton(node) {
  return node.widgets.find((w) => w.name === "pick labels");
}

async function nodeClass(name) {
  const calls = [];
  class Node extends FakeNode {}
  Node.prototype.onNodeCreated = function () {
    calls.push("original onNodeCreated");
  };
  await extension.beforeRegisterNodeDef(Node, { name });
  return { Node, calls };
}

// The red row under the button: what it draws at a node width, and the height it asks for.
function unknownRow(node) {
  return node.widgets.find((w) => w.name === "unknown labels");
}

function drawn(node, width = node.size[0]) {
  const texts = [];
  const ctx = { save() {}, restore() {}, fillText: (text) => texts.push(text) };
  unknownRow(node).draw(ctx, node, width, 100);
  return texts;
}

test("registers one extension under the pack's name", () => {
  assert.equal(globalThis.fakeApp.extensions.length, 1);
  assert.equal(extension.name, "MaskForge.LabelPicker");
});

test("LabelMask and HomeDesigns nodes get a 'pick labels' button after their widgets", async () => {
  for (const name of ["MaskForgeLabelMask", "MaskForgeHomeDesignsCreateMask"]) {
    const { Node, calls } = await nodeClass(name);
    const node = new Node();
    node.onNodeCreated();
    assert.deepEqual(calls, ["original onNodeCreated"]);
    const [button, row] = node.widgets.slice(-2);
    assert.equal(button.type, "button");
    assert.equal(button.name, "pick labels");
    assert.equal(row.name, "unknown labels");
    for (const widget of [button, row]) {
      assert.equal(widget.serialize, false); // the frontend leaves it out of the workflow's widgets_values
      assert.equal(widget.options.serialize, false); // and out of the API prompt
    }
  }
});

test("other nodes are left alone", async () => {
  const { Node } = await nodeClass("MaskForgeGrowInvertMask");
  const node = new Node();
  node.onNodeCreated();
  assert.equal(node.widgets.length, 1);
});

test("unknown words are drawn under the button from the widget's current text, hand edits included", async () => {
  globalThis.document = fakeDocument();
  const { Node } = await nodeClass("MaskForgeLabelMask");
  const node = new Node();
  node.onNodeCreated();
  assert.deepEqual(drawn(node), []);
  assert.equal(unknownRow(node).computeSize(320)[1], 0); // no room taken while every word is known
  node.widgets[0].value = "floor| sofaz |Couch|windws"; // typed by hand
  assert.deepEqual(drawn(node), ["unknown: sofaz (sofa?), windws (windowpane?)"]);
  const oneLine = unknownRow(node).computeSize(320)[1];
  assert.ok(oneLine > 0);
  // A narrow node wraps the line instead of drawing past its edge, and grows to fit.
  const narrow = drawn(node, 160);
  assert.ok(narrow.length > 1 && narrow.every((line) => line.length * 6 <= 160 - 30), narrow.join(" / "));
  assert.equal(unknownRow(node).computeSize(160)[1], narrow.length * (oneLine - 4) + 4);
  delete globalThis.document;
});

test("the warning asks for one more frame when its height changes, so the grown node is drawn", async () => {
  globalThis.document = fakeDocument();
  const { Node } = await nodeClass("MaskForgeLabelMask");
  const node = new Node();
  node.onNodeCreated();
  let redraws = 0;
  node.setDirtyCanvas = () => redraws++;
  drawn(node);
  assert.equal(redraws, 0);
  node.widgets[0].value = "floor|sofaz";
  drawn(node);
  drawn(node);
  assert.equal(redraws, 1);
  node.widgets[0].value = "floor";
  drawn(node);
  assert.equal(redraws, 2);
  delete globalThis.document;
});

test("a linked labels input shows the linked text's unknown words, never the hidden widget's", async () => {
  globalThis.document = fakeDocument();
  const { Node } = await nodeClass("MaskForgeLabelMask");
  const node = new Node();
  node.onNodeCreated();
  node.widgets[0].value = "wall|stale"; // what the widget held before the link
  let source = { type: "PrimitiveNode", widgets: [{ name: "labels", value: "floor|sofaz" }] };
  node.inputs = [{ name: "labels", link: 3 }];
  node.getInputNode = () => source;
  assert.deepEqual(drawn(node), ["unknown: sofaz (sofa?)"]);
  source = { type: "StringConcatenate", comfyClass: "StringConcatenate", widgets: [] }; // computed at run time
  assert.deepEqual(drawn(node), []);
  assert.equal(unknownRow(node).computeSize(320)[1], 0);
  delete globalThis.document;
});

test("the picker refuses a labels input that comes from a link", async () => {
  const { Node } = await nodeClass("MaskForgeLabelMask");
  const node = new Node();
  node.onNodeCreated();
  node.inputs = [{ name: "labels", link: 7 }];
  pickButton(node).callback();
  assert.equal(toasts.length, 1);
  assert.match(toasts[0].detail, /labels comes from a link/);
});

// Just enough of a DOM for the picker dialog: elements, children, attributes, listeners, focus.
class FakeElement {
  constructor(tag, doc) {
    this.tagName = tag.toUpperCase();
    this.ownerDocument = doc;
    this.children = [];
    this.listeners = {};
    this.attributes = {};
    this.className = "";
    this.value = "";
    this.classList = { add: (name) => (this.className = `${this.className} ${name}`.trim()) };
  }
  setAttribute(name, value) {
    this.attributes[name] = value;
  }
  append(...items) {
    for (const item of items) {
      if (typeof item !== "string") item.parent = this;
      this.children.push(item);
    }
  }
  replaceChildren() {
    this.children = [];
  }
  remove() {
    const siblings = this.parent.children;
    siblings.splice(siblings.indexOf(this), 1);
    this.parent = null;
  }
  contains(other) {
    for (let el = other; el; el = el.parent) if (el === this) return true;
    return false;
  }
  addEventListener(type, listener) {
    (this.listeners[type] ??= []).push(listener);
  }
  removeEventListener(type, listener) {
    this.listeners[type] = (this.listeners[type] ?? []).filter((l) => l !== listener);
  }
  // Capture at the document, then bubbling from the target up, as a browser delivers a key press.
  dispatch(type, props = {}) {
    const event = { type, target: this, stopped: false, defaultPrevented: false, ...props };
    event.stopPropagation = () => (event.stopped = true);
    event.preventDefault = () => (event.defaultPrevented = true);
    const doc = this.ownerDocument;
    for (const listener of doc?.captures[type] ?? []) listener(event);
    for (let el = this; el && !event.stopped; el = el.parent) {
      for (const listener of el.listeners[type] ?? []) listener(event);
    }
    if (!event.stopped) doc?.reachedWindow.push(event);
    return event;
  }
  focus() {
    this.ownerDocument.activeElement = this;
  }
  get text() {
    return (this.textContent ?? "") + this.children.map((c) => (typeof c === "string" ? c : c.text)).join("");
  }
  get descendants() {
    const elements = this.children.filter((c) => typeof c !== "string");
    return elements.flatMap((c) => [c, ...c.descendants]);
  }
  findAll(className) {
    return [this, ...this.descendants].filter((el) => el.className.split(" ").includes(className));
  }
  find(tag) {
    return this.children.find((c) => c.tagName === tag.toUpperCase());
  }
  querySelectorAll(selector) {
    const tags = selector.split(",").map((tag) => tag.trim().toUpperCase());
    return this.descendants.filter((el) => tags.includes(el.tagName));
  }
  getContext() {
    return { font: "", measureText: (text) => ({ width: text.length * 6 }) };
  }
}

function fakeDocument() {
  const doc = new FakeElement("document");
  doc.ownerDocument = doc;
  doc.captures = {};
  doc.reachedWindow = [];
  doc.addEventListener = (type, listener, capture) => {
    if (capture) (doc.captures[type] ??= []).push(listener);
  };
  doc.removeEventListener = (type, listener) => {
    doc.captures[type] = (doc.captures[type] ?? []).filter((l) => l !== listener);
  };
  doc.body = new FakeElement("body", doc);
  doc.head = new FakeElement("head", doc);
  doc.createElement = (tag) => new FakeElement(tag, doc);
  doc.getElementById = (id) => doc.head.children.find((c) => c.id === id) ?? null;
  return doc;
}

// A LabelMask node with `text` in its labels widget, its picker open; `written` collects the widget's callbacks.
async function openOn(text) {
  globalThis.document = fakeDocument();
  const { Node } = await nodeClass("MaskForgeLabelMask");
  const node = new Node();
  node.onNodeCreated();
  const labels = node.widgets[0];
  const written = [];
  labels.value = text;
  labels.callback = (value) => written.push(value);
  node.setDirtyCanvas = () => {};
  const canvasButton = new FakeElement("canvas", document);
  document.body.append(canvasButton);
  canvasButton.focus();
  pickButton(node).callback();
  const dialog = document.body.findAll("maskforge-picker")[0];
  const rows = () => dialog.findAll("maskforge-picker-row");
  return {
    node,
    labels,
    written,
    dialog,
    rows,
    row: (label) => rows().find((r) => r.children[1] === label),
    search: dialog.find("input"),
    footer: (name) => dialog.findAll("maskforge-picker-footer")[0].children.find((b) => b.textContent === name),
    isOpen: () => dialog.parent.parent != null,
    returnFocus: canvasButton,
  };
}

function typeInto(search, query) {
  search.value = query;
  search.dispatch("input");
}

test("the dialog is a labelled modal that names ADE20K once and takes focus", async () => {
  const { dialog, search } = await openOn("wall");
  assert.equal(dialog.attributes.role, "dialog");
  assert.equal(dialog.attributes["aria-modal"], "true");
  const title = dialog.findAll("maskforge-picker-title")[0];
  assert.equal(dialog.attributes["aria-labelledby"], title.id);
  assert.equal(title.textContent, "Label Mask: labels (ADE20K)");
  assert.equal(document.activeElement, search);
  delete globalThis.document;
});

test("ticks edit the picker's draft; Done writes it into the widget once", async () => {
  const { labels, written, dialog, rows, row, search, footer, isOpen, returnFocus } = await openOn("floor|Couch|sofaz|Wall");
  assert.equal(rows().length, 150);
  assert.deepEqual(rows().filter((r) => r.find("input").checked).map((r) => r.children[1]), ["wall", "floor", "sofa"]);
  const chips = dialog.findAll("maskforge-picker-chip").map((c) => c.children[0]);
  assert.deepEqual(chips, ["floor", "Couch → sofa", "sofaz", "Wall"]); // "Wall" is no rename
  const unknown = dialog.findAll("unknown");
  assert.equal(unknown.length, 1);
  assert.match(unknown[0].text, /^sofaz/);

  row("bed").find("input").dispatch("change");
  row("sofa").find("input").dispatch("change");
  typeInto(search, "fridge");
  assert.deepEqual(rows().map((r) => r.text), ["refrigerator (fridge)"]);
  assert.equal(labels.value, "floor|Couch|sofaz|Wall"); // nothing written while the picker is open
  assert.deepEqual(written, []);

  footer("Done").dispatch("click");
  assert.equal(isOpen(), false);
  assert.equal(labels.value, "floor|sofaz|Wall|bed");
  assert.deepEqual(written, ["floor|sofaz|Wall|bed"]);
  assert.equal(document.activeElement, returnFocus);
  delete globalThis.document;
});

test("Escape, Cancel and a click beside the dialog close it and leave the widget as it was", async () => {
  for (const how of ["Escape", "Cancel", "backdrop"]) {
    const { labels, written, dialog, row, search, footer, isOpen } = await openOn("floor|wall");
    row("bed").find("input").dispatch("change");
    if (how === "Escape") {
      const event = search.dispatch("keydown", { key: "Escape" });
      assert.equal(event.stopped, true, "ComfyUI's own Escape handling does not run");
    } else if (how === "Cancel") footer("Cancel").dispatch("click");
    else {
      dialog.dispatch("pointerdown"); // inside the dialog: stays open
      assert.equal(isOpen(), true);
      dialog.parent.dispatch("pointerdown");
    }
    assert.equal(isOpen(), false, how);
    assert.equal(labels.value, "floor|wall", how);
    assert.deepEqual(written, [], how);
    assert.deepEqual(document.captures.keydown, [], `${how}: the key listener goes with the dialog`);
    delete globalThis.document;
  }
});

test("Enter adds the search's best hit; a second Enter leaves it in place", async () => {
  const { labels, row, search, footer } = await openOn("wall");
  typeInto(search, "couch");
  search.dispatch("keydown", { key: "Enter" });
  assert.equal(row("sofa").find("input").checked, true);
  search.dispatch("keydown", { key: "Enter" });
  assert.equal(row("sofa").find("input").checked, true);
  typeInto(search, "");
  search.dispatch("keydown", { key: "Enter" }); // an empty search adds nothing
  footer("Done").dispatch("click");
  assert.equal(labels.value, "wall|sofa");
  delete globalThis.document;
});

test("a suggestion for a label already there never repeats it", async () => {
  const { labels, dialog, footer } = await openOn("wall|sofa|sofaz");
  const suggestion = dialog.findAll("unknown")[0].children.find((c) => c.textContent === "→ sofa");
  suggestion.dispatch("click");
  footer("Done").dispatch("click");
  assert.equal(labels.value, "wall|sofa");
  delete globalThis.document;
});

test("Tab and Shift+Tab keep focus inside the dialog; no key reaches ComfyUI's shortcuts", async () => {
  const { dialog, search, footer } = await openOn("wall");
  const controls = dialog.querySelectorAll("input, button");
  footer("Done").focus();
  assert.equal(controls.at(-1), footer("Done"));
  footer("Done").dispatch("keydown", { key: "Tab" });
  assert.equal(document.activeElement, search);
  search.dispatch("keydown", { key: "Tab", shiftKey: true });
  assert.equal(document.activeElement, footer("Done"));
  search.focus();
  search.dispatch("keydown", { key: "Tab" });
  assert.equal(document.activeElement, controls[1]); // the first chip's ✕
  for (const key of ["a", "Delete", "Enter"]) {
    assert.equal(search.dispatch("keydown", { key }).stopped, true, key);
  }
  // Focus lost to the page (a click on the backdrop's edge, say): keys still stop at the dialog.
  const outside = document.body.children[0];
  const event = outside.dispatch("keydown", { key: "Delete" });
  assert.equal(event.stopped && event.defaultPrevented, true);
  assert.deepEqual(document.reachedWindow, []);
  delete globalThis.document;
});
