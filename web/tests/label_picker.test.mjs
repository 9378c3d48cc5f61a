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
