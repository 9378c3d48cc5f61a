// The label picker's logic, free of DOM and ComfyUI so Node's test runner can check it.
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

/** Puts `label` in place of the part at `index`, e.g. a suggestion for a misspelt word. */
export function replacePart(text, index, label) {
  return formatLabels(parseLabels(text).map((p, i) => (i === index ? label : p.word)));
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
