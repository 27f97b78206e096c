// MATIH workbench: each page fetches the JSON API and draws it. Nothing here computes a figure.
"use strict";

const status = (text, error = false) => {
  const el = document.getElementById("status");
  el.textContent = text;
  el.classList.toggle("error", error);
};

class ApiError extends Error {
  constructor(message, status, detail) {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

// a 401 means this browser must sign in first (a remote host, or an expired session)
function signIn() {
  if (document.body.dataset.page !== "signin") location.assign(`/ui/signin?next=${encodeURIComponent(location.pathname + location.search)}`);
}

// the error an API response carries: its detail's message (and line and column, for SQL)
async function failure(response) {
  if (response.status === 401) signIn();
  const body = await response.json().catch(() => ({}));
  const detail = body.detail;
  const message = typeof detail === "string" ? detail : (detail && detail.message) || response.statusText;
  return new ApiError(message, response.status, detail);
}

async function api(path, options = {}) {
  const response = await fetch(path, { headers: { Accept: "application/json" }, ...options });
  if (!response.ok) throw await failure(response);
  return response.json();
}

// a JSON POST: the pages' writes (a same-site cookie and a JSON body: another site cannot forge one)
const post = (path, body = {}) =>
  api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function element(tag, text, className) {
  const el = document.createElement(tag);
  if (text !== undefined && text !== null) el.textContent = text;
  if (className) el.className = className;
  return el;
}

function table(headers, className = "grid") {
  const t = element("table", null, className);
  const head = document.createElement("tr");
  for (const label of headers) {
    const th = element("th", label.replace(/^#/, ""));
    if (label.startsWith("#")) th.className = "num";
    head.append(th);
  }
  t.append(document.createElement("thead"), document.createElement("tbody"));
  t.tHead.append(head);
  return t;
}

const seconds = (value) => (value === null || value === undefined ? "–" : value < 60 ? `${value.toFixed(1)}s` : `${Math.floor(value / 60)}m ${Math.round(value % 60)}s`);
const stamp = (iso) => (iso ? String(iso).slice(0, 19).replace("T", " ") : "–");

const number = (value, digits = 0) =>
  value === null || value === undefined || Number.isNaN(value)
    ? "–"
    : Number(value).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const percent = (value) => (value === null || value === undefined || Number.isNaN(value) ? "–" : `${(100 * value).toFixed(1)}%`);

function cell(row, content, className) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content);
  else td.textContent = content;
  if (className) td.className = className;
  row.append(td);
  return td;
}

function fill(table, rows, render) {
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const item of rows) {
    const tr = document.createElement("tr");
    render(tr, item);
    body.append(tr);
  }
  table.hidden = false;
}

function facts(list, pairs) {
  list.replaceChildren();
  for (const [term, value] of pairs) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    list.append(dt, dd);
  }
}

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

// -- Catalog ----------------------------------------------------------------------------------------
async function catalogPage() {
  const form = document.getElementById("search");
  const input = document.getElementById("column");
  const search = async (column) => {
    status(`searching for ${column} …`);
    const rows = await api(`/catalog/search?column=${encodeURIComponent(column)}`);
    fill(document.getElementById("results"), rows, (tr, r) => {
      cell(tr, link(`/ui/tables/${encodeURIComponent(r.table)}`, r.table));
      cell(tr, column);
      cell(tr, r.type || "");
      cell(tr, r.role || "");
      cell(tr, number(r.rows), "num");
    });
    status(`${rows.length} table(s) have a column ${column}`);
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    history.replaceState(null, "", `?column=${encodeURIComponent(input.value)}`);
    search(input.value).catch((err) => status(err.message, true));
  });
  const tables = await api("/catalog/tables");
  fill(document.getElementById("tables"), tables, (tr, t) => {
    cell(tr, link(`/ui/tables/${encodeURIComponent(t.name)}`, t.name));
    cell(tr, number(t.rows), "num");
    cell(tr, (t.primary_key || []).join(", "));
    cell(tr, t.owner || "");
    cell(tr, t.updated_at || "");
  });
  const wanted = new URLSearchParams(location.search).get("column");
  if (wanted) {
    input.value = wanted;
    await search(wanted);
  } else {
    status(`${tables.length} tables`);
  }
}

async function tablePage() {
  const name = document.getElementById("card").dataset.table;
  status(`loading ${name} …`);
  const card = await api(`/catalog/tables/${encodeURIComponent(name)}`);
  facts(document.getElementById("facts"), [
    ["Rows", number(card.rows)],
    ["Primary key", (card.primary_key || []).join(", ") || "–"],
    ["Owner", card.owner || "–"],
    ["Tags", (card.tags || []).join(", ") || "–"],
    ["Updated", card.updated_at || "–"],
    ["Freshness", card.freshness_hours === null ? "–" : `${number(card.freshness_hours, 1)} h`],
  ]);
  fill(document.getElementById("columns"), card.columns, (tr, c) => {
    cell(tr, c.name);
    cell(tr, c.type || "");
    cell(tr, c.role || "");
    cell(tr, c.references || "");
  });
  for (const [id, names] of [["lineage-in", card.lineage_in], ["lineage-out", card.lineage_out]]) {
    const list = document.getElementById(id);
    list.replaceChildren(...(names.length ? names : ["–"]).map((n) => {
      const li = document.createElement("li");
      li.append(n === "–" ? n : link(`/ui/tables/${encodeURIComponent(n)}`, n));
      return li;
    }));
  }
  const sample = await api("/query", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ sql: `SELECT * FROM ${card.name}`, limit: 10 }),
  });
  const table = document.getElementById("sample");
  const head = document.createElement("tr");
  for (const column of sample.columns) {
    const th = document.createElement("th");
    th.textContent = column.name;
    th.title = column.type;
    head.append(th);
  }
  table.querySelector("thead").replaceChildren(head);
  fill(table, sample.rows, (tr, row) => row.forEach((v) => cell(tr, v === null ? "" : String(v))));
  status(`${card.name}: ${number(card.rows)} rows, ${card.columns.length} columns`);
}

// -- Models -----------------------------------------------------------------------------------------------
// formatted as the CLI's validation table formats them (matih evaluate)
const signed = (value, digits) => (value === null ? "–" : `${value >= 0 ? "+" : ""}${value.toFixed(digits)}`);

async function modelsPage() {
  const models = await api("/ml/models");
  const section = document.getElementById("models");
  section.replaceChildren();
  for (const model of models) {
    const h2 = document.createElement("h2");
    h2.textContent = `${model.name} (${model.family})`;
    const table = document.createElement("table");
    table.className = "grid";
    table.innerHTML =
      "<thead><tr><th class='num'>Version</th><th>Aliases</th><th>Gate</th><th class='num'>Holdout MAPE</th><th>Registered</th></tr></thead><tbody></tbody>";
    fill(table, model.versions, (tr, v) => {
      cell(tr, link(`?model=${encodeURIComponent(model.name)}&version=${v.version}`, `v${v.version}`), "num");
      cell(tr, v.aliases.join(", ") || "–");
      const status = v.tags.validation_status || "not evaluated";
      cell(tr, status, status === "passed" ? "pass" : status === "failed" ? "fail" : "");
      cell(tr, v.tags.holdout_mape ? percent(Number(v.tags.holdout_mape)) : "–", "num");
      cell(tr, new Date(v.created).toISOString().slice(0, 16).replace("T", " "));
    });
    section.append(h2, table);
    if (!model.versions.length) section.append("No version registered yet: matih train.");
  }
  const wanted = new URLSearchParams(location.search);
  const name = wanted.get("model") || (models[0] && models[0].name);
  const champion = models.length && models[0].versions.find((v) => v.aliases.includes("champion"));
  const version = wanted.get("version") || (champion && champion.version);
  if (name && version) await showVersion(name, version, models[0].gate);
  else status(`${models.length} model(s)`);
}

async function showVersion(name, version, gate) {
  const detail = await api(`/ml/models/${encodeURIComponent(name)}/versions/${version}`);
  document.getElementById("version").hidden = false;
  const report = detail.evaluation;
  document.getElementById("version-title").textContent = report
    ? `Per-Category Validation Results (${report.holdout[0]} .. ${report.holdout[1]} holdout, ${report.model_version})`
    : `${name} v${version}`;
  document.getElementById("summary").textContent = detail.training_summary || "No training summary logged.";
  if (!report) {
    document.getElementById("verdict").textContent = "Not evaluated yet: matih evaluate.";
    status(`${name} v${version}`);
    return;
  }
  fill(document.getElementById("validation"), report.per_category, (tr, g) => {
    cell(tr, g.name);
    cell(tr, percent(g.mape), "num");
    cell(tr, g.rmse === null ? "–" : g.rmse.toFixed(1), "num");
    cell(tr, signed(g.bias, 2), "num");
    cell(tr, g.coverage === null ? "–" : `${Math.round(100 * g.coverage)}%`, "num");
    cell(tr, number(g.wql, 3), "num");
    cell(tr, g.status, g.status === "PASS" ? "pass" : "fail");
  });
  facts(document.getElementById("overall"), [
    ["Overall weighted MAPE", `${percent(report.overall_mape)} (threshold ${Math.round(100 * gate.mape_max)}%)`],
    ["Overall bias", `${signed(report.overall_bias, 3)} (range ${gate.bias_range.join(" .. ")})`],
    ["80% interval coverage", percent(report.interval_coverage)],
    ["Seasonal naive MAPE", percent(report.seasonal_naive_mape)],
  ]);
  document.getElementById("verdict").textContent = report.passed
    ? `${report.model_version} passed the gate${report.promoted ? " and was promoted to champion" : ""}.`
    : `${report.model_version} failed the gate: ${report.reasons.join("; ")}`;
  status(`${name} v${version}: ${report.per_category.length} categories`);
}

// -- Experiments and routing ---------------------------------------------------------------------------
async function experimentsPage() {
  const [list, routing] = await Promise.all([api("/ml/experiments"), api("/ml/routing")]);
  const section = document.getElementById("experiment");
  section.replaceChildren();
  for (const item of list) {
    const report = await api(`/ml/experiments/${encodeURIComponent(item.experiment)}`);
    const h2 = document.createElement("h2");
    h2.textContent = `Results Matrix: ${report.experiment} (${report.cutoffs.length} cutoffs, MAPE)`;
    const table = document.createElement("table");
    table.className = "grid matrix";
    const head = document.createElement("tr");
    for (const label of ["Category", ...report.families, "Winner"]) {
      const th = document.createElement("th");
      th.textContent = label;
      head.append(th);
    }
    table.append(document.createElement("thead"), document.createElement("tbody"));
    table.tHead.append(head);
    fill(table, report.categories, (tr, category) => {
      cell(tr, category);
      const winner = report.winners[category];
      for (const family of report.families) {
        const td = cell(tr, percent(report.matrix[category][family]), "num");
        if (family === winner) td.classList.add("best");
      }
      const test = report.significance[category];
      cell(tr, `${winner}${test ? (test.significant ? " *" : " (n.s.)") : ""}`);
    });
    const foot = document.createElement("tr");
    cell(foot, "Wins");
    for (const family of report.families) cell(foot, String(report.wins[family]), "num");
    cell(foot, "");
    table.tBodies[0].append(foot);
    const note = document.createElement("p");
    note.textContent = `* significant win over ${report.baseline} (paired bootstrap, p < ${report.alpha}). ${number(report.rows)} rows in ${report.table}.`;
    section.append(h2, table, note);
  }
  if (!list.length) section.textContent = "No experiment has run yet: matih experiment run NAME.";
  const routes = [];
  for (const override of (routing.current && routing.current.overrides) || []) {
    for (const category of override.categories) routes.push([category, override.model]);
  }
  fill(document.getElementById("routes"), routes, (tr, [category, family]) => {
    cell(tr, category);
    cell(tr, family);
  });
  fill(document.getElementById("versions"), routing.versions, (tr, v) => {
    cell(tr, `v${v.version}`, "num");
    cell(tr, v.at);
    cell(tr, v.reason);
    cell(tr, Object.entries(v.overrides).map(([c, f]) => `${c} → ${f}`).join(", ") || "–");
  });
  status(`${list.length} experiment(s); routing has ${routing.versions.length} version(s)`);
}

// -- Forecast explorer ---------------------------------------------------------------------------------
let chart = null;

function drawChart(view) {
  const host = document.getElementById("chart");
  if (typeof uPlot === "undefined") {
    host.textContent = "Charts need the npm libraries: run make setup.";
    return;
  }
  const days = [...view.history.map((h) => h.date), ...view.forecast.map((f) => f.forecast_date)];
  const x = days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
  const pad = (n) => Array(n).fill(null);
  const sold = [...view.history.map((h) => h.units), ...pad(view.forecast.length)];
  const ahead = [...pad(view.history.length), ...view.forecast.map((f) => f.predicted_units)];
  const low = [...pad(view.history.length), ...view.forecast.map((f) => f.prediction_interval_lower)];
  const high = [...pad(view.history.length), ...view.forecast.map((f) => f.prediction_interval_upper)];
  if (chart) chart.destroy();
  const level = view.forecast.length ? Math.round(100 * view.forecast[0].interval_level) : 80;
  chart = new uPlot(
    {
      width: Math.min(host.clientWidth || 900, 1100),
      height: 320,
      series: [
        {},
        { label: "Sold (units)", stroke: "#334", width: 1.5 },
        { label: "Forecast (units)", stroke: "#c40", width: 2 },
        { label: `${level}% lower`, stroke: "#e9a", dash: [4, 4] },
        { label: `${level}% upper`, stroke: "#e9a", dash: [4, 4] },
      ],
      bands: [{ series: [4, 3], fill: "rgba(220,100,60,0.15)" }],
      axes: [{ label: "Date" }, { label: "Units per day" }],
    },
    [x, sold, ahead, low, high],
    host,
  );
}

async function forecastsPage() {
  const form = document.getElementById("product-form");
  const input = document.getElementById("product");
  const options = document.getElementById("products");
  const suggest = async () => {
    const found = await api(`/ml/products?q=${encodeURIComponent(input.value)}&limit=20`);
    options.replaceChildren(...found.map((p) => {
      const option = document.createElement("option");
      option.value = p.product_id;
      option.label = `${p.product_name || ""} (${p.category})`;
      return option;
    }));
    return found;
  };
  input.addEventListener("input", () => suggest().catch(() => {}));
  const show = async (product) => {
    status(`loading ${product} …`);
    const view = await api(`/ml/forecasts/${encodeURIComponent(product)}`);
    document.getElementById("product-view").hidden = false;
    const first = view.forecast[0];
    document.getElementById("answered").textContent = first
      ? `${view.category}: answered by ${first.model}, version ${first.model_version}, from ${first.forecast_origin}`
      : `${view.category}: no live forecast for this product`;
    drawChart(view);
    fill(document.getElementById("forecast"), view.forecast, (tr, f) => {
      cell(tr, f.forecast_date);
      cell(tr, String(f.horizon_days), "num");
      cell(tr, number(f.predicted_units, 2), "num");
      cell(tr, number(f.prediction_interval_lower, 2), "num");
      cell(tr, number(f.prediction_interval_upper, 2), "num");
      cell(tr, f.model);
      cell(tr, f.model_version);
    });
    const sold = Object.fromEntries(view.history.map((h) => [h.date, h.units]));
    fill(document.getElementById("past"), view.past, (tr, p) => {
      cell(tr, p.forecast_date);
      cell(tr, String(p.lead), "num");
      cell(tr, number(p.predicted_units, 2), "num");
      cell(tr, number(sold[p.forecast_date], 0), "num");
      cell(tr, p.model_version);
    });
    if (!view.past.length) {
      const tr = document.createElement("tr");
      cell(tr, "No forecast of this product has matured yet (the archive keeps every published batch).").colSpan = 5;
      document.querySelector("#past tbody").append(tr);
    }
    status(`${product}: ${view.history.length} days of history to ${view.last_actual}, ${view.forecast.length} forecast days`);
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    history.replaceState(null, "", `?product=${encodeURIComponent(input.value)}`);
    show(input.value).catch((err) => status(err.message, true));
  });
  const wanted = new URLSearchParams(location.search).get("product");
  if (wanted) {
    input.value = wanted;
    await show(wanted);
  } else {
    const found = await suggest();
    status(found.length ? `${found.length}+ products; pick one` : "no forecast has been published yet");
  }
}

// -- Runs on Temporal (sources and pipelines pages) ---------------------------------------------------
const RUN_ENDED = new Set(["succeeded", "failed", "rolled_back", "timed_out", "terminated", "cancelled"]);

// poll a run until it ends; `each` sees every state (the page never blocks while it waits)
async function followRun(runId, each, { every = 1000 } = {}) {
  for (;;) {
    const run = await api(`/runs/${encodeURIComponent(runId)}`);
    await each(run);
    if (RUN_ENDED.has(run.status)) return run;
    await sleep(every);
  }
}

// a worker log line without its time, level and logger: "… INFO matih.sources.sync: page 3" -> "page 3"
const logMessage = (line) => line.replace(/^\S+ \S+ [A-Z]+ [\w.]+: /, "").slice(0, 200);

async function startRun(pipelineId, options = {}) {
  return post(`/pipelines/${encodeURIComponent(pipelineId)}/runs`, options);
}

// each page's script registers itself here (scripts load in order, before DOMContentLoaded)
const PAGES = {
  catalog: catalogPage,
  table: tablePage,
  models: modelsPage,
  experiments: experimentsPage,
  forecasts: forecastsPage,
};

// who this browser is, in the header; pages ask it before offering writes
let me = null;
async function whoami() {
  me = await api("/auth/me");
  const where = document.getElementById("who");
  where.replaceChildren(`${me.who} (${me.role})`, " · ", link("/ui/signin", me.who.startsWith("key:") ? "Sign out" : "Sign in"));
  return me;
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  const run = document.getElementById("card") ? tablePage : PAGES[page];
  // data-ready: when the page has drawn its data (ms since navigation); tests and the benchmark wait on it
  whoami()
    .catch(() => {})
    .then(() => run && run())
    .catch((err) => status(err.message, true))
    .finally(() => { document.body.dataset.ready = String(Math.round(performance.now())); });
});
