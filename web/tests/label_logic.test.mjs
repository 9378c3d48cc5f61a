// Run with: node --test web/tests/
// (.mjs, not .js: ComfyUI loads every .js file under web/ into the browser as an extension.)
import assert from "node:assert/strict";
import test from "node:test";

import {
  LABELS,
  SYNONYMS,
  canonical,
  closest,
  normalise,
  parseLabels,
  removePart,
  replacePart,
  searchLabels,
  selectedLabels,
  tidyLabels,
  toggleLabel,
  unknownWords,
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
