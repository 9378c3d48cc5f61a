// The label picker's logic, free of the DOM and of ComfyUI's modules so Node's test runner can check it.
// It follows labels.py rule for rule: case/spacing-insensitive keys, synonyms, plain plurals,
// and the same "did you mean" suggestions (difflib's ratio and ordering).

import { LABELS, SYNONYMS } from "./label_vocabulary.js";

export { LABELS, SYNONYMS };

const INDEX = new Map(LABELS.map((name, i) => [name, i]));
const WORDS = [...LABELS, ...Object.keys(SYNONYMS)];

/** Case- and spacing-insensitive key: "  Coffee   Table" → "coffee table". */
export function normalise(text) {
  return String(text).replace(/[\s_]+/g, " ").trim().toLowerCase();
}

/** The vocabulary label a user's word stands for, or null. */
export function canonical(word) {
  const key = normalise(word);
  if (INDEX.has(key)) return key;
  if (Object.hasOwn(SYNONYMS, key)) return SYNONYMS[key];
  if (key.endsWith("s") && INDEX.has(key.slice(0, -1))) return key.slice(0, -1); // "chairs"
  return null;
}

/** The parts of a `|` string in order, each as written (trimmed) with its label or null. */
export function parseLabels(text) {
  return String(text ?? "")
    .split("|")
    .map((word) => word.trim())
    .filter((word) => normalise(word) !== "")
    .map((word) => ({ word, label: canonical(word) }));
}

export function formatLabels(words) {
  return words.join("|");
}

/** The labels the text selects, in the order written, each once. */
export function selectedLabels(text) {
  return [...new Set(parseLabels(text).map((p) => p.label).filter((label) => label !== null))];
}

/** Words LabelMask would reject, each with its nearest valid names. */
export function unknownWords(text) {
  return parseLabels(text)
    .filter((p) => p.label === null)
    .map((p) => ({ word: p.word, suggestions: closest(p.word) }));
}

/** Adds `label` unless the text already selects it: Enter in the search adds, and pressing it again keeps it. */
export function addLabel(text, label) {
  return selectedLabels(text).includes(label) ? String(text ?? "") : toggleLabel(text, label);
}

/** Ticks or unticks a label: unticking drops every word that means it ("couch" for "sofa");
 * ticking appends it. The other words stay as the user wrote them, unknown ones included. */
export function toggleLabel(text, label) {
  const parts = parseLabels(text);
  if (parts.some((p) => p.label === label)) {
    return formatLabels(parts.filter((p) => p.label !== label).map((p) => p.word));
  }
  return formatLabels([...parts.map((p) => p.word), label]);
}

/** Drops the part at `index` (as parseLabels numbers them). */
export function removePart(text, index) {
  return formatLabels(parseLabels(text).filter((_, i) => i !== index).map((p) => p.word));
}

/** Puts `label` in place of the part at `index`, e.g. a suggestion for a misspelt word; where another part
 * already selects `label`, the part is dropped instead, so a suggestion never repeats a label. */
export function replacePart(text, index, label) {
  const parts = parseLabels(text);
  const taken = parts.some((p, i) => i !== index && p.label === label);
  return formatLabels(parts.flatMap((p, i) => (i !== index ? [p.word] : taken ? [] : [label])));
}

/** A chip's text: the word as written, with the label it stands for where that is more than a change of case
 * or spacing ("couch → sofa", but "Wall" and "coffee  table" as they are). */
export function partText({ word, label }) {
  return label === null || normalise(word) === label ? word : `${word} → ${label}`;
}

/** Rewrites synonyms and plurals as vocabulary names and drops repeats; unknown words stay. */
export function tidyLabels(text) {
  const words = parseLabels(text).map((p) => p.label ?? normalise(p.word));
  return formatLabels([...new Set(words)]);
}

/** Labels matching a search, best first: the word's own label, then names starting with it,
 * then names containing it, then labels reached through a synonym (with that synonym). */
export function searchLabels(query) {
  const q = normalise(query);
  if (!q) return LABELS.map((label) => ({ label, via: null }));
  const rank = new Map();
  const via = new Map();
  const offer = (label, r, synonym = null) => {
    if (!rank.has(label) || r < rank.get(label)) {
      rank.set(label, r);
      via.set(label, synonym);
    }
  };
  const exact = canonical(q);
  if (exact !== null) offer(exact, 0, INDEX.has(q) ? null : q);
  for (const label of LABELS) {
    if (label.startsWith(q)) offer(label, 1);
    else if (label.includes(q)) offer(label, 2);
  }
  for (const [synonym, label] of Object.entries(SYNONYMS)) {
    if (synonym.includes(q)) offer(label, 3, synonym);
  }
  return [...rank.keys()]
    .sort((a, b) => rank.get(a) - rank.get(b) || INDEX.get(a) - INDEX.get(b))
    .map((label) => ({ label, via: via.get(label) }));
}

/** The label Enter adds for a search: its best hit, or null for an empty search or one with no hit. */
export function enterLabel(query) {
  return normalise(query) ? (searchLabels(query)[0]?.label ?? null) : null;
}

/** What a key does while the picker is open: "cancel" (Escape), "add" (Enter in the search), "next" or
 * "previous" (Tab and Shift+Tab, which the dialog keeps to itself), or null (the key's usual job). */
export function pickerKey({ key, shiftKey = false, isComposing = false, inSearch = false }) {
  if (isComposing) return null; // Enter or Escape that ends an IME composition
  if (key === "Escape") return "cancel";
  if (key === "Enter" && inSearch) return "add";
  if (key === "Tab") return shiftKey ? "previous" : "next";
  return null;
}

/** The position focus moves to among `count` focusable controls from `index` (-1: none of them), wrapping
 * round at either end so Tab never leaves the dialog. */
export function focusStep(index, count, backwards) {
  if (index < 0) return backwards ? count - 1 : 0;
  return (index + (backwards ? count - 1 : 1)) % count;
}

/** The text to write into the widget as the dialog closes: the draft on "done" when it differs from what the
 * widget held, otherwise null (Cancel, Escape and a click beside the dialog leave the widget as it was). */
export function closingText(original, draft, how) {
  return how === "done" && draft !== original ? draft : null;
}

/** The dialog's heading, naming ADE20K once whether or not the node's title already does. */
export function dialogTitle(nodeTitle) {
  return /ade20k/i.test(nodeTitle) ? `${nodeTitle}: labels` : `${nodeTitle}: labels (ADE20K)`;
}

/** The node's warning line for words it would reject, each with its nearest label, or "" when all are known. */
export function unknownSummary(text) {
  const words = unknownWords(text ?? "").map(({ word, suggestions }) =>
    suggestions.length ? `${word} (${suggestions[0]}?)` : word,
  );
  return words.length ? `unknown: ${words.join(", ")}` : "";
}

/** `text` broken at spaces into lines no wider than `width` as `measure` gives widths, at most `maxLines`
 * of them; a cut-off last line ends in "…". A single word wider than a line keeps its own line. */
export function wrapText(text, width, measure, maxLines = 3) {
  const lines = [];
  for (const word of String(text).split(" ").filter(Boolean)) {
    const last = lines.at(-1);
    if (last !== undefined && measure(`${last} ${word}`) <= width) lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(word);
  }
  if (lines.length <= maxLines) return lines;
  const kept = lines.slice(0, maxLines);
  let tail = kept[maxLines - 1];
  while (tail.includes(" ") && measure(`${tail} …`) > width) tail = tail.slice(0, tail.lastIndexOf(" "));
  kept[maxLines - 1] = `${tail} …`;
  return kept;
}

// Core's "String" and "String (Multiline)" nodes pass their `value` on unchanged.
const STRING_NODES = new Set(["PrimitiveString", "PrimitiveStringMultiline"]);

/** The text a node's input `name` will carry when the workflow runs, as far as the graph in the browser tells:
 * the widget's own text, or for a linked input the text at the link's other end where the frontend holds it
 * (a Primitive node, core's String nodes, through reroute nodes); null where only the run can tell (another
 * node computes it). `node` is a LiteGraph node or anything shaped like one. */
export function inputText(node, name, depth = 0) {
  const slot = node.inputs?.findIndex((input) => input.name === name) ?? -1;
  if (slot < 0 || node.inputs[slot].link == null) {
    const value = node.widgets?.find((w) => w.name === name)?.value;
    return typeof value === "string" ? value : null;
  }
  const source = depth < 16 ? node.getInputNode?.(slot) : null;
  if (!source) return null;
  if (source.type === "PrimitiveNode") {
    // Its "Run widget replace on values" option rewrites %date% and the like at queue time.
    const value = source.widgets?.[0]?.value;
    return typeof value === "string" && !source.properties?.["Run widget replace on values"] ? value : null;
  }
  if (source.type === "Reroute") return source.inputs?.length ? inputText(source, source.inputs[0].name, depth + 1) : null;
  if (STRING_NODES.has(source.comfyClass ?? source.type)) return inputText(source, "value", depth + 1);
  return null;
}

/** The vocabulary labels nearest to `word` in spelling, as labels.closest gives them. */
export function closest(word, count = 3) {
  const key = normalise(word);
  const scored = WORDS.map((w) => [ratio(w, key), w]).filter(([score]) => score >= 0.5);
  // difflib.get_close_matches keeps the n best by (score, word), both descending.
  scored.sort((x, y) => y[0] - x[0] || (y[1] > x[1] ? 1 : y[1] < x[1] ? -1 : 0));
  const names = scored.slice(0, count * 2).map(([, w]) => SYNONYMS[w] ?? w);
  return [...new Set(names)].slice(0, count);
}

/** difflib.SequenceMatcher(None, a, b).ratio() for short strings (no junk heuristics apply). */
export function ratio(first, second) {
  const [a, b] = [[...first], [...second]]; // code points, as Python indexes strings
  if (a.length + b.length === 0) return 1;
  const positions = new Map();
  b.forEach((ch, j) => positions.set(ch, [...(positions.get(ch) ?? []), j]));
  let matched = 0;
  const queue = [[0, a.length, 0, b.length]];
  while (queue.length) {
    const [alo, ahi, blo, bhi] = queue.pop();
    const [i, j, size] = longestMatch(a, positions, alo, ahi, blo, bhi);
    if (size === 0) continue;
    matched += size;
    if (alo < i && blo < j) queue.push([alo, i, blo, j]);
    if (i + size < ahi && j + size < bhi) queue.push([i + size, ahi, j + size, bhi]);
  }
  return (2 * matched) / (a.length + b.length);
}

// The longest common block of a[alo:ahi] and b[blo:bhi], earliest in a then in b on ties.
function longestMatch(a, positions, alo, ahi, blo, bhi) {
  let best = [alo, blo, 0];
  let lengths = new Map();
  for (let i = alo; i < ahi; i++) {
    const next = new Map();
    for (const j of positions.get(a[i]) ?? []) {
      if (j < blo) continue;
      if (j >= bhi) break;
      const k = (lengths.get(j - 1) ?? 0) + 1;
      next.set(j, k);
      if (k > best[2]) best = [i - k + 1, j - k + 1, k];
    }
    lengths = next;
  }
  return best;
}
