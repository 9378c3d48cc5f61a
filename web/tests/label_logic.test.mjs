// Run with: node --test web/tests/
// (.mjs, not .js: ComfyUI loads every .js file under web/ into the browser as an extension.)
import assert from "node:assert/strict";
import test from "node:test";

import {
  LABELS,
  SYNONYMS,
  addLabel,
  canonical,
  closest,
  closingText,
  dialogTitle,
  enterLabel,
  focusStep,
  inputText,
  normalise,
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
  unknownWords,
  wrapText,
} from "../label_logic.js";

test("vocabulary has the 150 ADE20K labels in index order", () => {
  assert.equal(LABELS.length, 150);
  assert.equal(new Set(LABELS).size, 150);
  assert.deepEqual(LABELS.slice(0, 4), ["wall", "building", "sky", "floor"]);
  assert.equal(LABELS[149], "flag");
  for (const target of Object.values(SYNONYMS)) assert.ok(LABELS.includes(target), target);
});

test("normalise ignores case, repeated spaces and underscores", () => {
  assert.equal(normalise("  Coffee   Table "), "coffee table");
  assert.equal(normalise("chest_of__drawers"), "chest of drawers");
  assert.equal(normalise("\tSOFA\n"), "sofa");
});

test("canonical maps names, synonyms and plurals, and nothing else", () => {
  assert.equal(canonical("Sofa"), "sofa");
  assert.equal(canonical("couch"), "sofa");
  assert.equal(canonical("TV"), "television receiver");
  assert.equal(canonical("trash  can"), "ashcan");
  assert.equal(canonical("chairs"), "chair");
  assert.equal(canonical("Coffee_Tables"), "coffee table");
  assert.equal(canonical("sofas"), "sofa");
  assert.equal(canonical("sofaz"), null);
  assert.equal(canonical(""), null);
  assert.equal(canonical("toString"), null); // not an Object.prototype key
});

test("parseLabels keeps each part as written, drops empty parts", () => {
  assert.deepEqual(parseLabels(" Floor || wall |  | sofaz "), [
    { word: "Floor", label: "floor" },
    { word: "wall", label: "wall" },
    { word: "sofaz", label: null },
  ]);
  assert.deepEqual(parseLabels(""), []);
  assert.deepEqual(parseLabels(undefined), []);
});

test("selectedLabels lists each label once, in the order written", () => {
  assert.deepEqual(selectedLabels("wall|couch|sofa|Walls|nonsense|floor"), ["wall", "sofa", "floor"]);
});

test("unknownWords names the words LabelMask rejects with suggestions", () => {
  assert.deepEqual(unknownWords("floor|sofaz|chiar"), [
    { word: "sofaz", suggestions: closest("sofaz") },
    { word: "chiar", suggestions: closest("chiar") },
  ]);
  assert.equal(unknownWords("chiar")[0].suggestions[0], "chair");
  assert.deepEqual(unknownWords("floor|couch|chairs"), []);
});

test("closest gives labels.py's suggestions, synonyms mapped to their label", () => {
  assert.deepEqual(closest("chiar"), ["chair", "car", "column"]);
  assert.equal(closest("couches")[0], "sofa");
  assert.deepEqual(closest("qqqqqq"), []);
});

test("toggling an unselected label appends it", () => {
  assert.equal(toggleLabel("", "floor"), "floor");
  assert.equal(toggleLabel("floor", "wall"), "floor|wall");
  assert.equal(toggleLabel(" Floor | sofaz ", "wall"), "Floor|sofaz|wall");
});

test("toggling a selected label removes every word meaning it", () => {
  assert.equal(toggleLabel("floor|Couch|sofas|wall", "sofa"), "floor|wall");
  assert.equal(toggleLabel("floor", "floor"), "");
});

test("toggle twice gives the same selection back", () => {
  const text = "wall|floor";
  assert.deepEqual(selectedLabels(toggleLabel(toggleLabel(text, "bed"), "bed")), selectedLabels(text));
});

test("hand edits between toggles are kept: the text is parsed each time", () => {
  let text = toggleLabel("", "floor"); // picker writes
  text += "| Couch | windws"; // user types in the widget
  assert.deepEqual(selectedLabels(text), ["floor", "sofa"]);
  assert.deepEqual(unknownWords(text).map((u) => u.word), ["windws"]);
  text = toggleLabel(text, "wall"); // picker again, on the edited text
  assert.equal(text, "floor|Couch|windws|wall");
  text = toggleLabel(text, "sofa");
  assert.equal(text, "floor|windws|wall");
});

test("removePart drops one part by position", () => {
  assert.equal(removePart("floor|sofaz|wall", 1), "floor|wall");
  assert.equal(removePart("floor||sofaz", 1), "floor");
});

test("replacePart swaps one part, e.g. for a suggestion", () => {
  assert.equal(replacePart("floor| sofaz |wall", 1, "sofa"), "floor|sofa|wall");
  assert.deepEqual(unknownWords(replacePart("sofaz", 0, closest("sofaz")[0])), []);
});

test("a suggestion for a label already there drops the misspelt word instead of repeating the label", () => {
  assert.equal(replacePart("wall|sofa|sofaz", 2, "sofa"), "wall|sofa");
  assert.equal(replacePart("wall|sofaz|Couch", 1, "sofa"), "wall|Couch"); // a synonym selects it too
  assert.equal(replacePart("sofaz|wall|sofa", 0, "sofa"), "wall|sofa");
  for (const text of ["wall|sofa|sofaz", "couch|sofaz", "sofaz|sofas"]) {
    const index = parseLabels(text).findIndex((p) => p.label === null);
    const labels = parseLabels(replacePart(text, index, "sofa")).map((p) => p.label);
    assert.equal(new Set(labels).size, labels.length, text);
  }
});

test("addLabel adds a label once: adding it again leaves the text as it was", () => {
  assert.equal(addLabel("", "sofa"), "sofa");
  assert.equal(addLabel("floor", "sofa"), "floor|sofa");
  assert.equal(addLabel(addLabel("floor", "sofa"), "sofa"), "floor|sofa");
  assert.equal(addLabel("floor|Couch", "sofa"), "floor|Couch"); // a synonym already selects it
  assert.equal(addLabel(" floor | sofaz ", "wall"), "floor|sofaz|wall");
});

test("Enter adds the best hit of a non-empty search, twice over still once", () => {
  assert.equal(enterLabel("couch"), "sofa");
  assert.equal(enterLabel("  TABLE "), "table");
  assert.equal(enterLabel(""), null);
  assert.equal(enterLabel("   "), null);
  assert.equal(enterLabel("zzzz"), null);
  let text = "wall";
  for (let i = 0; i < 2; i++) text = addLabel(text, enterLabel("couch"));
  assert.equal(text, "wall|sofa");
});

test("keys: Escape cancels, Enter in the search adds, Tab and Shift+Tab stay in the dialog", () => {
  assert.equal(pickerKey({ key: "Escape" }), "cancel");
  assert.equal(pickerKey({ key: "Escape", inSearch: true }), "cancel");
  assert.equal(pickerKey({ key: "Enter", inSearch: true }), "add");
  assert.equal(pickerKey({ key: "Enter" }), null); // on a button: the button's own click
  assert.equal(pickerKey({ key: "Enter", inSearch: true, isComposing: true }), null);
  assert.equal(pickerKey({ key: "Tab" }), "next");
  assert.equal(pickerKey({ key: "Tab", shiftKey: true }), "previous");
  assert.equal(pickerKey({ key: "a", inSearch: true }), null);
});

test("focus wraps round the dialog's controls in both directions", () => {
  assert.equal(focusStep(0, 3, false), 1);
  assert.equal(focusStep(2, 3, false), 0);
  assert.equal(focusStep(0, 3, true), 2);
  assert.equal(focusStep(1, 3, true), 0);
  assert.equal(focusStep(-1, 3, false), 0); // focus outside: back to the first control
  assert.equal(focusStep(-1, 3, true), 2);
});

test("Done writes a changed draft; Cancel, Escape and the backdrop write nothing", () => {
  assert.equal(closingText("wall", "wall|sofa", "done"), "wall|sofa");
  assert.equal(closingText("wall", "wall", "done"), null);
  assert.equal(closingText("wall", "wall|sofa", "cancel"), null);
  assert.equal(closingText("wall", "", "cancel"), null);
  assert.equal(closingText("wall", "", "done"), "");
});

test("the dialog's title names ADE20K once", () => {
  assert.equal(dialogTitle("Label Mask (ADE20K)"), "Label Mask (ADE20K): labels");
  assert.equal(dialogTitle("HomeDesigns Create Mask"), "HomeDesigns Create Mask: labels (ADE20K)");
  assert.equal(dialogTitle("my ade20k node"), "my ade20k node: labels");
});

test("a chip shows a rename only where the label differs by more than case or spacing", () => {
  const chip = (text) => parseLabels(text).map(partText);
  assert.deepEqual(chip("Wall|coffee  Table|WALL"), ["Wall", "coffee  Table", "WALL"]);
  assert.deepEqual(chip("couch|chairs|TV"), ["couch → sofa", "chairs → chair", "TV → television receiver"]);
  assert.deepEqual(chip("sofaz"), ["sofaz"]);
});

test("the node's warning names each unknown word with its nearest label", () => {
  assert.equal(unknownSummary("floor|sofaz|qqqqqq|Couch"), "unknown: sofaz (sofa?), qqqqqq");
  assert.equal(unknownSummary("floor|Couch"), "");
  assert.equal(unknownSummary(null), "");
});

test("wrapText breaks at spaces within the width and cuts off past the last line", () => {
  const measure = (text) => text.length; // one unit a character
  assert.deepEqual(wrapText("aa bb cc", 5, measure), ["aa bb", "cc"]);
  assert.deepEqual(wrapText("", 5, measure), []);
  assert.deepEqual(wrapText("abcdefgh ij", 5, measure), ["abcdefgh", "ij"]); // a long word keeps its own line
  const cut = wrapText("a b c d e f g h", 3, measure, 2);
  assert.deepEqual(cut, ["a b", "c …"]);
  for (const line of wrapText("unknown: sofaz (sofa?), windws (windowpane?), chiar (chair?)", 24, measure)) {
    assert.ok(line.length <= 24, line);
  }
});

// LiteGraph-shaped nodes: inputs with links, widgets, and getInputNode for the node at a link's other end.
function graphNode({ type = "X", comfyClass, widgets = {}, inputs = {}, properties } = {}) {
  const names = Object.keys(inputs);
  return {
    type,
    comfyClass,
    properties,
    widgets: Object.entries(widgets).map(([name, value]) => ({ name, value })),
    inputs: names.map((name) => ({ name, link: inputs[name] ? 1 : null })),
    getInputNode: (slot) => inputs[names[slot]] ?? null,
  };
}

test("the labels text comes from the widget, or from a linked value the browser holds", () => {
  const labelMask = (source) => graphNode({ widgets: { labels: "wall|stale" }, inputs: { image: null, labels: source } });
  assert.equal(inputText(labelMask(null), "labels"), "wall|stale");
  const primitive = graphNode({ type: "PrimitiveNode", widgets: { labels: "floor|sofaz" } });
  assert.equal(inputText(labelMask(primitive), "labels"), "floor|sofaz");
  const string = graphNode({ type: "PrimitiveStringMultiline", comfyClass: "PrimitiveStringMultiline", widgets: { value: "bed" } });
  assert.equal(inputText(labelMask(string), "labels"), "bed");
  const reroute = graphNode({ type: "Reroute", inputs: { "": string } });
  assert.equal(inputText(labelMask(reroute), "labels"), "bed");
});

test("a linked labels input whose text only the run knows gives null, never the hidden widget's text", () => {
  const labelMask = (source) => graphNode({ widgets: { labels: "wall|stale" }, inputs: { labels: source } });
  const computed = graphNode({ type: "StringConcatenate", comfyClass: "StringConcatenate", widgets: { delimiter: "|" } });
  assert.equal(inputText(labelMask(computed), "labels"), null);
  const replaced = graphNode({ type: "PrimitiveNode", widgets: { v: "%date%" }, properties: { "Run widget replace on values": true } });
  assert.equal(inputText(labelMask(replaced), "labels"), null);
  const stringFromLink = graphNode({ type: "PrimitiveString", inputs: { value: computed }, widgets: { value: "old" } });
  assert.equal(inputText(labelMask(stringFromLink), "labels"), null);
  const dangling = graphNode({ type: "Reroute", inputs: { "": null } });
  assert.equal(inputText(labelMask(dangling), "labels"), null);
  // a link whose other end the graph cannot find (e.g. a subgraph's input)
  const lost = graphNode({ widgets: { labels: "stale" }, inputs: { labels: null } });
  lost.inputs[0].link = 5;
  assert.equal(inputText(lost, "labels"), null);
  assert.equal(unknownSummary(inputText(labelMask(computed), "labels")), "");
});

test("tidyLabels writes vocabulary names once and keeps unknown words", () => {
  assert.equal(tidyLabels(" Couch|walls|Sofa | XYZ  Thing|floor"), "sofa|wall|xyz thing|floor");
});

test("search ranks the word's own label, then prefixes, then substrings, then synonyms", () => {
  const labels = (q) => searchLabels(q).map((r) => r.label);
  assert.deepEqual(labels("").length, 150);
  assert.equal(labels("chairs")[0], "chair");
  assert.deepEqual(searchLabels("couch")[0], { label: "sofa", via: "couch" });
  const table = labels("table");
  assert.equal(table[0], "table");
  assert.ok(table.includes("coffee table") && table.includes("pool table"));
  assert.ok(table.indexOf("coffee table") > 0);
  assert.ok(labels("fridge").includes("refrigerator"));
  assert.deepEqual(labels("  WALL "), ["wall"]);
  assert.deepEqual(searchLabels("zzzz"), []);
});

test("every label finds itself first", () => {
  for (const label of LABELS) assert.equal(searchLabels(label)[0].label, label);
});
