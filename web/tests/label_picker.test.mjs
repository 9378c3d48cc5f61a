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
  addWidget(type, name, value, callback) {
    const widget = { type, name, value, callback };
    this.widgets.push(widget);
    return widget;
  }
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

function drawn(node) {
  const texts = [];
  const ctx = { save() {}, restore() {}, fillText: (text) => texts.push(text) };
  node.onDrawForeground(ctx);
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
    const button = node.widgets.at(-1);
    assert.equal(button.type, "button");
    assert.equal(button.name, "pick labels");
    assert.equal(button.serialize, false); // keeps widgets_values as the node's inputs
  }
});

test("other nodes are left alone", async () => {
  const { Node } = await nodeClass("MaskForgeGrowInvertMask");
  assert.equal(Node.prototype.onDrawForeground, undefined);
  const node = new Node();
  node.onNodeCreated();
  assert.equal(node.widgets.length, 1);
});

test("unknown words are drawn from the widget's current text, hand edits included", async () => {
  const { Node } = await nodeClass("MaskForgeLabelMask");
  const node = new Node();
  node.onNodeCreated();
  assert.deepEqual(drawn(node), []);
  node.widgets[0].value = "floor| sofaz |Couch|windws"; // typed by hand
  assert.deepEqual(drawn(node), ["unknown: sofaz, windws"]);
  node.flags = { collapsed: true };
  assert.deepEqual(drawn(node), []);
});

test("the picker refuses a labels input that comes from a link", async () => {
  const { Node } = await nodeClass("MaskForgeLabelMask");
  const node = new Node();
  node.onNodeCreated();
  node.inputs = [{ name: "labels", link: 7 }];
  node.widgets.at(-1).callback();
  assert.equal(toasts.length, 1);
  assert.match(toasts[0].detail, /labels comes from a link/);
});

// Just enough of a DOM for the picker dialog: elements, children, listeners.
class FakeElement {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.children = [];
    this.listeners = {};
    this.className = "";
    this.value = "";
    this.classList = { add: (name) => (this.className = `${this.className} ${name}`.trim()) };
  }
  setAttribute(name, value) {
    this[name] = value;
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
  }
  addEventListener(type, listener) {
    (this.listeners[type] ??= []).push(listener);
  }
  removeEventListener() {}
  dispatch(type, event = {}) {
    for (const listener of this.listeners[type] ?? []) listener({ target: this, preventDefault() {}, stopPropagation() {}, ...event });
  }
  focus() {}
  get text() {
    return (this.textContent ?? "") + this.children.map((c) => (typeof c === "string" ? c : c.text)).join("");
  }
  findAll(className) {
    const own = this.className.split(" ").includes(className) ? [this] : [];
    return own.concat(...this.children.filter((c) => typeof c !== "string").map((c) => c.findAll(className)));
  }
  find(tag) {
    return this.children.find((c) => c.tagName === tag.toUpperCase());
  }
}

function fakeDocument() {
  const doc = new FakeElement("document");
  doc.body = new FakeElement("body");
  doc.head = new FakeElement("head");
  doc.createElement = (tag) => new FakeElement(tag);
  doc.getElementById = (id) => doc.head.children.find((c) => c.id === id) ?? null;
  return doc;
}

test("the picker writes ticks into the widget, keeps hand edits, flags unknown words", async () => {
  globalThis.document = fakeDocument();
  const { Node } = await nodeClass("MaskForgeLabelMask");
  const node = new Node();
  node.onNodeCreated();
  const labels = node.widgets[0];
  const written = [];
  labels.value = "floor|Couch|sofaz";
  labels.callback = (value) => written.push(value);
  node.setDirtyCanvas = () => {};

  node.widgets.at(-1).callback(); // open
  const dialog = document.body.findAll("maskforge-picker")[0];
  const rows = () => dialog.findAll("maskforge-picker-row");
  const row = (label) => rows().find((r) => r.children[1] === label);
  assert.equal(rows().length, 150);
  assert.deepEqual(rows().filter((r) => r.find("input").checked).map((r) => r.children[1]), ["floor", "sofa"]);
  const unknown = dialog.findAll("unknown");
  assert.equal(unknown.length, 1);
  assert.match(unknown[0].text, /^sofaz/);

  row("wall").find("input").dispatch("change");
  assert.equal(labels.value, "floor|Couch|sofaz|wall");
  assert.deepEqual(written, ["floor|Couch|sofaz|wall"]);

  labels.value += "|chairs"; // typed while the picker is open
  row("sofa").find("input").dispatch("change");
  assert.equal(labels.value, "floor|sofaz|wall|chairs");

  const search = dialog.find("input");
  search.value = "fridge";
  search.dispatch("input");
  assert.deepEqual(rows().map((r) => r.text), ["refrigerator (fridge)"]);

  dialog.findAll("unknown")[0].find("button").dispatch("click"); // first suggestion for "sofaz"
  assert.equal(labels.value, "floor|sofa|wall|chairs");

  document.listeners.keydown[0]({ key: "Escape", target: document, stopPropagation() {} });
  assert.equal(document.body.children.length, 0);
  delete globalThis.document;
});
