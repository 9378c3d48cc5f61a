// Screenshots of the label picker in a real ComfyUI frontend, and the checks only a browser can make.
//
// Starts a ComfyUI checkout (outside this repo) with the pack linked into a temporary custom_nodes
// folder, drives its frontend in the system Chromium with playwright-core, and saves screenshots of
// LabelMask and HomeDesigns Create Mask at 1280×720 and 1920×1080: the nodes with unknown words, the
// picker's full list, a search, and a labels input fed by links. It also checks, in that frontend, that
// the queued API prompt, Export (API) and saved workflows hold no picker rows, that Escape, Cancel and
// a click beside the dialog change nothing while Done writes, that Enter adds once, that Tab stays in
// the dialog, and that the dialog and its chips keep their place. A tool to run by hand, not part of CI:
//
//   npm install --prefix /tmp/maskforge-picker-npm playwright-core
//   node tools/picker_screenshots.mjs --comfyui /path/to/ComfyUI --python /path/to/venv/bin/python
//
// Options: --out DIR (default /tmp/maskforge-picker), --port N (8190), --chromium PATH
// (/usr/bin/chromium), --playwright DIR (where node_modules/playwright-core is; default
// /tmp/maskforge-picker-npm), --keep (leave the temporary ComfyUI folder and its log).
// Exits 1 when a check fails; the screenshots are written either way.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SIZES = [
  [1280, 720],
  [1920, 1080],
];
const NODES = { LabelMask: "MaskForgeLabelMask", HomeDesigns: "MaskForgeHomeDesignsCreateMask" };
// Known and unknown words, a synonym, a plural, a case-only and a spacing-only difference.
const LABELS = "floor|Wall|couch|sofaz|windws|chiar|coffee  table|chairs|qqqq";
// Canvas offset at zoom 1 that keeps the nodes clear of the workflow tabs along the top.
const VIEW = [30, 90];
const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
];

const { values: opts } = parseArgs({
  options: {
    comfyui: { type: "string" },
    python: { type: "string" },
    out: { type: "string", default: "/tmp/maskforge-picker" },
    port: { type: "string", default: "8190" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    playwright: { type: "string", default: "/tmp/maskforge-picker-npm" },
    keep: { type: "boolean", default: false },
  },
});
if (!opts.comfyui || !opts.python) {
  console.error("usage: node tools/picker_screenshots.mjs --comfyui COMFYUI_DIR --python VENV_PYTHON [--out DIR]");
  process.exit(2);
}
const { chromium } = loadPlaywright(opts.playwright);
const URL = `http://127.0.0.1:${opts.port}`;
fs.mkdirSync(opts.out, { recursive: true });

const results = [];
function check(name, ok, detail = "") {
  results.push({ name, ok: Boolean(ok), detail });
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? ` (${detail})` : ""}`);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "maskforge-picker-"));
const server = await startComfyUI(work);
let browser;
try {
  browser = await chromium.launchPersistentContext(path.join(work, "chromium-profile"), {
    executablePath: opts.chromium,
    headless: true, // Playwright passes --headless
    args: CHROMIUM_FLAGS,
    acceptDownloads: true,
  });
  for (const [width, height] of SIZES) {
    try {
      await runAt(browser, width, height);
    } catch (error) {
      check(`${width}x${height}: the run went through`, false, String(error.stack ?? error));
    }
  }
} finally {
  await browser?.close();
  await stop(server);
  if (opts.keep) console.log(`kept ${work}`);
  else fs.rmSync(work, { recursive: true, force: true });
}
fs.writeFileSync(path.join(opts.out, "checks.json"), JSON.stringify(results, null, 2));
const failed = results.filter((r) => !r.ok);
console.log(`${results.length - failed.length}/${results.length} checks passed; screenshots in ${opts.out}`);
process.exit(failed.length ? 1 : 0);

function loadPlaywright(dir) {
  try {
    return createRequire(path.join(dir, "package.json"))("playwright-core");
  } catch {
    console.error(`playwright-core not found under ${dir}; install it with:\n  npm install --prefix ${dir} playwright-core`);
    process.exit(2);
  }
}

// ComfyUI with a base directory of its own (custom_nodes, user settings, models, output) in `work`,
// so the checkout itself is never written to.
async function startComfyUI(work) {
  const base = path.join(work, "comfyui");
  fs.mkdirSync(path.join(base, "custom_nodes"), { recursive: true });
  fs.symlinkSync(REPO, path.join(base, "custom_nodes", "maskforge"));
  fs.mkdirSync(path.join(base, "user", "default"), { recursive: true });
  const settings = {
    "Comfy.TutorialCompleted": true, // no template browser on the first visit
    "Comfy.Minimap.Visible": false,
    "Comfy.PromptFilename": false, // Export (API) downloads without asking for a name
  };
  fs.writeFileSync(path.join(base, "user", "default", "comfy.settings.json"), JSON.stringify(settings));

  const env = { ...process.env, PYTHONDONTWRITEBYTECODE: "1" };
  const probe = spawnSync(opts.python, ["-c", "import torchvision"], { env, encoding: "utf8" });
  if (probe.status !== 0) {
    // ComfyUI core imports torchvision at start-up but uses it only inside a few models; where it does not
    // import, a stand-in package on PYTHONPATH lets the server start (those models would fail if used).
    const stub = path.join(work, "torchvision-stand-in", "torchvision");
    fs.mkdirSync(stub, { recursive: true });
    const missing = 'def __getattr__(name):\n    raise AttributeError(f"torchvision stand-in: no {name}")\n';
    fs.writeFileSync(path.join(stub, "__init__.py"), `from . import models, transforms\n${missing}`);
    fs.writeFileSync(path.join(stub, "models.py"), missing);
    fs.writeFileSync(path.join(stub, "transforms.py"), missing);
    env.PYTHONPATH = [path.dirname(stub), env.PYTHONPATH].filter(Boolean).join(path.delimiter);
    console.log(`torchvision does not import in ${opts.python}: using a stand-in from ${path.dirname(stub)}`);
  }
  const log = fs.openSync(path.join(work, "comfyui.log"), "w");
  const args = ["main.py", "--cpu", "--listen", "127.0.0.1", "--port", opts.port, "--base-directory", base,
    "--database-url", "sqlite:///:memory:", "--disable-auto-launch"];
  const child = spawn(opts.python, args, { cwd: opts.comfyui, env, stdio: ["ignore", log, log], detached: true });
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(`${URL}/object_info/${NODES.LabelMask}`);
      if (res.ok && NODES.LabelMask in (await res.json())) {
        console.log(`ComfyUI is up on ${URL} with the pack from ${REPO}`);
        return child;
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  await stop(child);
  console.error(fs.readFileSync(path.join(work, "comfyui.log"), "utf8").slice(-4000));
  throw new Error("ComfyUI did not start, or started without MaskForge's nodes (log above)");
}

// Ends the server started above (its own process group, so a worker it started goes too).
async function stop(child) {
  const running = () => child.exitCode === null && child.signalCode === null;
  if (!running()) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  process.kill(-child.pid, "SIGTERM");
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  if (running()) process.kill(-child.pid, "SIGKILL");
}

async function runAt(browser, width, height) {
  const size = `${width}x${height}`;
  const page = await browser.newPage();
  await page.setViewportSize({ width, height });
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error.stack ?? error)));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`${message.text()} @ ${message.location().url}`);
  });
  await page.goto(URL);
  await page.waitForFunction(() => window.app?.graph && window.app.extensions?.some((e) => e.name === "MaskForge.LabelPicker"),
    null, { timeout: 120_000 });
  await page.waitForTimeout(1000);
  const shot = (name) => page.screenshot({ path: path.join(opts.out, `${size}-${name}.png`) });

  // The nodes themselves: the unknown words under the button, the title left alone.
  await page.evaluate(({ nodes, labels, view }) => {
    app.graph.clear();
    Object.values(nodes).forEach((type, i) => {
      const node = LiteGraph.createNode(type);
      node.pos = [40 + i * 380, 40];
      app.graph.add(node);
      node.widgets.find((w) => w.name === "labels").value = labels;
    });
    app.canvas.ds.scale = 1;
    app.canvas.ds.offset = view;
    app.canvas.setDirty(true, true);
  }, { nodes: NODES, labels: LABELS, view: VIEW });
  await page.waitForTimeout(300);
  await shot("nodes-unknown-words");
  const rows = await page.evaluate(() => app.graph.nodes.map((node) => {
    const at = (name) => node.widgets.find((w) => w.name === name);
    return { type: node.type, button: at("pick labels").y, row: at("unknown labels").y, height: at("unknown labels").computeSize()[1] };
  }));
  for (const row of rows) {
    check(`${size} ${row.type}: unknown words on a row under the button, not in the title`, row.row > row.button && row.height > 0,
      `row at y=${row.row}, ${row.height}px tall`);
  }

  for (const [name, type] of Object.entries(NODES)) await pickerChecks(page, shot, size, name, type);
  await linkedChecks(page, shot, size);
  await promptChecks(page, size);
  check(`${size}: no errors in the browser console from the pack`,
    !errors.some((e) => /maskforge|label_(picker|logic)/i.test(e)), errors.filter((e) => /maskforge/i.test(e)).join("; "));
  await page.close();
}

// A node of `type` alone on the canvas with LABELS, its picker opened by a real click on the button
// (or on another row, `via`).
async function openPicker(page, type, via = "pick labels") {
  const at = await page.evaluate(({ type, labels, view, via }) => {
    app.graph.clear();
    const node = LiteGraph.createNode(type);
    node.pos = [60, 40];
    app.graph.add(node);
    node.widgets.find((w) => w.name === "labels").value = labels;
    app.canvas.ds.scale = 1;
    app.canvas.ds.offset = view;
    app.canvas.setDirty(true, true);
    const row = node.widgets.find((w) => w.name === via);
    const box = app.canvas.canvas.getBoundingClientRect();
    const [x, y] = app.canvas.ds.convertOffsetToCanvas([node.pos[0] + node.size[0] / 2, node.pos[1] + row.y + 10]);
    return { x: box.left + x, y: box.top + y };
  }, { type, labels: LABELS, view: VIEW, via });
  await page.waitForTimeout(200);
  await page.mouse.click(at.x, at.y);
  await page.waitForSelector(".maskforge-picker", { timeout: 5000 });
}

function labelsValue(page) {
  return page.evaluate(() => app.graph.nodes[0].widgets.find((w) => w.name === "labels").value);
}

function isOpen(page) {
  return page.evaluate(() => document.querySelector(".maskforge-picker") !== null);
}

async function pickerChecks(page, shot, size, name, type) {
  const label = `${size} ${name}`;
  await openPicker(page, type);
  await shot(`${name}-picker-full-list`);
  const layout = await page.evaluate(() => {
    const rect = (el) => el.getBoundingClientRect();
    const dialog = document.querySelector(".maskforge-picker");
    const chips = dialog.querySelector(".maskforge-picker-chips");
    const list = dialog.querySelector(".maskforge-picker-list");
    const chipRects = [...chips.querySelectorAll(".maskforge-picker-chip")].map(rect);
    return {
      role: dialog.getAttribute("role"),
      modal: dialog.getAttribute("aria-modal"),
      title: dialog.querySelector(".maskforge-picker-title").textContent,
      chipText: [...chips.querySelectorAll(".maskforge-picker-chip")].map((c) => c.firstChild.textContent),
      unknown: chips.querySelectorAll(".unknown").length,
      chipsFit: chips.scrollHeight <= chips.clientHeight + 1,
      chipsInside: chipRects.every((r) => r.top >= rect(chips).top - 1 && r.bottom <= rect(chips).bottom + 1),
      listBelow: rect(list).top >= rect(chips).bottom,
      listScrolls: list.scrollHeight > list.clientHeight,
      dialog: rect(dialog).toJSON(),
      search: rect(dialog.querySelector("input[type=search]")).toJSON(),
      inViewport: rect(dialog).bottom <= innerHeight && rect(dialog).top >= 0,
    };
  });
  check(`${label}: dialog is role=dialog, aria-modal=true`, layout.role === "dialog" && layout.modal === "true");
  check(`${label}: title names ADE20K once`, (layout.title.match(/ADE20K/g) ?? []).length === 1, layout.title);
  check(`${label}: every chip shown whole without a search, the list below them`,
    layout.chipsFit && layout.chipsInside && layout.listBelow && layout.unknown === 4, `${layout.chipText.length} chips, ${layout.unknown} unknown`);
  check(`${label}: case and spacing differences are not renames`,
    layout.chipText.includes("Wall") && layout.chipText.includes("coffee  table") && layout.chipText.includes("couch → sofa"),
    layout.chipText.join(" | "));
  check(`${label}: dialog inside the window, the list scrolls`, layout.inViewport && layout.listScrolls);

  await page.keyboard.type("table");
  await page.waitForTimeout(200);
  await shot(`${name}-picker-search`);
  const moved = await page.evaluate(() => {
    const dialog = document.querySelector(".maskforge-picker");
    return { dialog: dialog.getBoundingClientRect().toJSON(), search: dialog.querySelector("input").getBoundingClientRect().toJSON(),
      rows: dialog.querySelectorAll(".maskforge-picker-row").length };
  });
  check(`${label}: dialog and search field keep their place while the list shrinks`,
    moved.search.top === layout.search.top && moved.dialog.height === layout.dialog.height && moved.rows < 150,
    `search top ${layout.search.top} → ${moved.search.top}, ${moved.rows} rows`);

  // Enter adds the best hit, and a second Enter leaves it in place.
  await page.fill(".maskforge-picker input[type=search]", "bed");
  await page.keyboard.press("Enter");
  await page.keyboard.press("Enter");
  const beds = await page.evaluate(() =>
    [...document.querySelectorAll(".maskforge-picker-chip")].filter((c) => c.firstChild.textContent === "bed").length);
  check(`${label}: Enter twice adds 'bed' once`, beds === 1, `${beds} bed chips`);

  // Tab stays in the dialog, both ways round.
  await page.focus(".maskforge-picker-footer button:last-child");
  await page.keyboard.press("Tab");
  const afterTab = await page.evaluate(() => document.activeElement?.type);
  await page.keyboard.press("Shift+Tab");
  const afterBack = await page.evaluate(() => document.activeElement?.textContent);
  let inside = true;
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press("Shift+Tab");
    inside &&= await page.evaluate(() => document.querySelector(".maskforge-picker").contains(document.activeElement));
  }
  check(`${label}: Tab from Done goes to the search, Shift+Tab back to Done, focus never leaves`,
    afterTab === "search" && afterBack === "Done" && inside, `${afterTab}, ${afterBack}`);

  // Escape drops the changes (the ticked bed) and ComfyUI's own Escape does nothing else.
  await page.keyboard.press("Escape");
  check(`${label}: Escape closes and leaves the labels as they were`, !(await isOpen(page)) && (await labelsValue(page)) === LABELS);

  await openPicker(page, type);
  await page.click(".maskforge-picker-row:has-text('bed') input");
  await page.mouse.click(5, page.viewportSize().height - 5); // the backdrop beside the dialog
  check(`${label}: a click beside the dialog cancels`, !(await isOpen(page)) && (await labelsValue(page)) === LABELS);

  await openPicker(page, type);
  await page.click(".maskforge-picker-row:has-text('bed') input");
  await page.click(".maskforge-picker-chip.unknown button:has-text('→ windowpane')"); // a new label for 'windws'
  await page.click(".maskforge-picker-footer button:has-text('Done')");
  const done = await labelsValue(page);
  check(`${label}: Done writes the ticks and the chosen suggestion`,
    !(await isOpen(page)) && done === LABELS.replace("windws", "windowpane") + "|bed", done);

  await openPicker(page, type, "unknown labels");
  check(`${label}: a click on the red words opens the picker`, await isOpen(page));
  await page.keyboard.press("Escape");

  // Suggestions for labels already there ("couch" selects sofa, "chairs" chair) drop the word instead.
  await openPicker(page, type);
  await page.click(".maskforge-picker-chip.unknown:has-text('sofaz') button:has-text('→ sofa')");
  await page.click(".maskforge-picker-chip.unknown:has-text('chiar') button:has-text('→ chair')");
  await page.click(".maskforge-picker-footer button:has-text('Done')");
  const deduped = await labelsValue(page);
  check(`${label}: a suggestion never repeats a label`, deduped === LABELS.replace("|sofaz", "").replace("|chiar", ""), deduped);
}

// Labels fed by links: from a Primitive node (its text is known), from a node that computes it (not known).
async function linkedChecks(page, shot, size) {
  const result = await page.evaluate((view) => {
    app.graph.clear();
    const add = (type, pos) => {
      const node = LiteGraph.createNode(type);
      node.pos = pos;
      app.graph.add(node);
      return node;
    };
    const stale = "wall|windws"; // in the widget from before the link: must not be warned about
    const fromPrimitive = add("MaskForgeLabelMask", [500, 20]);
    const fromComputed = add("MaskForgeHomeDesignsCreateMask", [500, 420]);
    for (const node of [fromPrimitive, fromComputed]) node.widgets.find((w) => w.name === "labels").value = stale;
    const slot = (node) => node.inputs.findIndex((input) => input.name === "labels");
    const primitive = add("PrimitiveNode", [40, 40]);
    primitive.connect(0, fromPrimitive, slot(fromPrimitive));
    primitive.widgets[0].value = "floor|sofaz";
    const concat = add("StringConcatenate", [40, 300]);
    concat.connect(0, fromComputed, slot(fromComputed));
    app.canvas.ds.scale = 1;
    app.canvas.ds.offset = view;
    app.canvas.setDirty(true, true);
    const height = (node) => node.widgets.find((w) => w.name === "unknown labels").computeSize()[1];
    return { primitive: height(fromPrimitive), computed: height(fromComputed) };
  }, VIEW);
  await page.waitForTimeout(300);
  await shot("linked-labels");
  check(`${size}: labels from a Primitive node: its unknown word is shown`, result.primitive > 0, `${result.primitive}px`);
  check(`${size}: labels computed by another node: no warning from the stale widget`, result.computed === 0);

  await page.evaluate(() => app.graph.nodes[0].widgets.find((w) => w.name === "pick labels").callback());
  const toast = await page.waitForSelector(".p-toast-message", { timeout: 5000 }).then((el) => el.textContent(), () => "");
  check(`${size}: pick labels on a linked input explains instead of opening`,
    !(await isOpen(page)) && /comes from a link/.test(toast), toast.trim());
}

// The API prompt as queued and as exported, and a workflow saved before the picker rows existed.
async function promptChecks(page, size) {
  const queued = [];
  await page.route("**/api/prompt", async (route) => {
    if (route.request().method() !== "POST") return route.continue();
    queued.push(route.request().postDataJSON());
    await route.fulfill({ json: { prompt_id: "picker-check", number: 1, node_errors: {} } });
  });
  const saved = {
    last_node_id: 2,
    last_link_id: 0,
    nodes: [
      { id: 1, type: NODES.LabelMask, pos: [40, 40], size: [320, 330], flags: {}, order: 0, mode: 0, inputs: [], outputs: [],
        properties: {}, widgets_values: ["segformer-b0-finetuned-ade-512-512", "sofa|Couch|rugz", "raise", 8, true, 512, true, false] },
      { id: 2, type: NODES.HomeDesigns, pos: [420, 40], size: [320, 150], flags: {}, order: 1, mode: 0, inputs: [], outputs: [],
        properties: {}, widgets_values: ["floor|wall", "webp"] },
    ],
    links: [],
    groups: [],
    config: {},
    extra: {},
    version: 0.4,
  };
  const loaded = await page.evaluate(async (saved) => {
    await app.loadGraphData(structuredClone(saved));
    return app.graph.nodes.map((node) => node.widgets.filter((w) => w.serialize !== false).map((w) => w.value));
  }, saved);
  check(`${size}: a workflow saved before loads with the same widget values`,
    JSON.stringify(loaded) === JSON.stringify(saved.nodes.map((n) => n.widgets_values)), JSON.stringify(loaded));

  await page.evaluate(() => app.queuePrompt(0, 1));
  await page.waitForTimeout(500);
  const body = queued.at(-1);
  const inputs = body ? Object.values(body.prompt).map((n) => Object.keys(n.inputs)) : [];
  const values = body ? body.extra_data.extra_pnginfo.workflow.nodes.map((n) => n.widgets_values) : [];
  check(`${size}: queued API prompt has no picker entries`,
    body && inputs.every((keys) => !keys.includes("pick labels") && !keys.includes("unknown labels")), JSON.stringify(inputs));
  check(`${size}: queued workflow's widgets_values are the inputs alone`,
    JSON.stringify(values) === JSON.stringify(saved.nodes.map((n) => n.widgets_values)), JSON.stringify(values));

  const [download] = await Promise.all([
    page.waitForEvent("download", { timeout: 10_000 }),
    page.evaluate(() => app.extensionManager.command.execute("Comfy.ExportWorkflowAPI")),
  ]);
  const exported = JSON.parse(fs.readFileSync(await download.path(), "utf8"));
  const exportedKeys = Object.values(exported).map((n) => Object.keys(n.inputs));
  check(`${size}: Export (API) JSON has no picker entries`,
    exportedKeys.length === 2 && exportedKeys.every((keys) => !keys.includes("pick labels") && !keys.includes("unknown labels")),
    JSON.stringify(exportedKeys));
  await page.unroute("**/api/prompt");
}
