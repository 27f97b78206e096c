// Query: SQL in the user's dialect (highlighted by Prism when installed), run without blocking the page,
// cancel, explain, a paged grid, CSV and Parquet downloads, errors shown at their line and column.
"use strict";

const PAGE_ROWS = 50;

function highlight() {
  const sql = document.getElementById("sql");
  const code = document.querySelector("#highlight code");
  // a trailing newline keeps the last line's height when the text ends with one
  code.textContent = sql.value + (sql.value.endsWith("\n") ? " " : "");
  if (typeof Prism !== "undefined") Prism.highlightElement(code);
  const pre = document.getElementById("highlight");
  pre.scrollTop = sql.scrollTop;
  pre.scrollLeft = sql.scrollLeft;
}

// the offset in `text` of (line, column), both 1-based
function offsetOf(text, line, column) {
  const lines = text.split("\n");
  let offset = 0;
  for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
  return Math.min(text.length, offset + Math.max(0, (column || 1) - 1));
}

function showError(err) {
  const box = document.getElementById("error");
  const detail = err.detail && typeof err.detail === "object" ? err.detail : {};
  const where = detail.line ? `line ${detail.line}${detail.column ? `, column ${detail.column}` : ""}: ` : "";
  box.textContent = where + err.message;
  box.hidden = false;
  if (detail.line) {
    const sql = document.getElementById("sql");
    const at = offsetOf(sql.value, detail.line, detail.column);
    sql.focus();
    sql.setSelectionRange(at, Math.min(sql.value.length, at + 1));
  }
  status("the query failed", true);
}

function request(extra = {}) {
  return {
    sql: document.getElementById("sql").value,
    dialect: document.getElementById("dialect").value,
    limit: Number(document.getElementById("limit").value) || 1000,
    ...extra,
  };
}

function showResult(result) {
  const grid = document.getElementById("grid");
  const head = document.createElement("tr");
  for (const column of result.columns) {
    const th = element("th", column.name);
    th.title = column.type;
    head.append(th);
  }
  grid.tHead.replaceChildren(head);
  let page = 0;
  const pages = Math.max(1, Math.ceil(result.rows.length / PAGE_ROWS));
  const draw = () => {
    const rows = result.rows.slice(page * PAGE_ROWS, (page + 1) * PAGE_ROWS);
    fill(grid, rows, (tr, row) => row.forEach((v, i) => cell(tr, v === null ? "" : typeof v === "number" ? number(v, Number.isInteger(v) ? 0 : 4) : String(v), typeof v === "number" ? "num" : "")));
    document.getElementById("page").textContent = `page ${page + 1} of ${pages} · rows ${result.rows.length ? page * PAGE_ROWS + 1 : 0}–${page * PAGE_ROWS + rows.length} of ${number(result.row_count)}${result.truncated ? " (more rows exist: raise Rows or download)" : ""}`;
    document.getElementById("prev").disabled = page === 0;
    document.getElementById("next").disabled = page >= pages - 1;
  };
  document.getElementById("prev").onclick = () => { page -= 1; draw(); };
  document.getElementById("next").onclick = () => { page += 1; draw(); };
  draw();
  document.getElementById("result").hidden = false;
}

async function download(format) {
  status(`preparing ${format} …`);
  const response = await fetch("/query/export", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...request({ format }), limit: undefined }),
  });
  if (!response.ok) throw await failure(response);
  const blob = await response.blob();
  const a = link(URL.createObjectURL(blob), "download");
  a.download = `query.${format}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  status(`downloaded ${number(Number(response.headers.get("X-Row-Count")))} rows as ${format}`);
}

async function queryPage() {
  const sql = document.getElementById("sql");
  const params = new URLSearchParams(location.search);
  if (params.get("sql")) sql.value = params.get("sql");
  sql.addEventListener("input", highlight);
  sql.addEventListener("scroll", highlight);
  sql.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      document.getElementById("query-form").requestSubmit();
    }
  });
  highlight();
  const run = document.getElementById("run");
  const cancel = document.getElementById("cancel");
  let running = null;
  document.getElementById("query-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = `q${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    running = id;
    run.disabled = true;
    cancel.disabled = false;
    document.getElementById("error").hidden = true;
    document.getElementById("plan").hidden = true;
    const started = performance.now();
    const ticker = setInterval(() => status(`running … ${((performance.now() - started) / 1000).toFixed(1)} s`), 200);
    try {
      const result = await post("/query", request({ query_id: id }));
      showResult(result);
      status(`${number(result.row_count)} row(s) in ${result.elapsed.toFixed(3)} s${result.statements > 1 ? ` (${result.statements} statements)` : ""}`);
    } catch (err) {
      showError(err);
    } finally {
      clearInterval(ticker);
      running = null;
      run.disabled = false;
      cancel.disabled = true;
    }
  });
  cancel.addEventListener("click", () => {
    if (running) post(`/query/${running}/cancel`).catch((err) => status(err.message, true));
  });
  document.getElementById("explain").addEventListener("click", async () => {
    document.getElementById("error").hidden = true;
    try {
      const plan = await post("/query/explain", request());
      const pre = document.getElementById("plan");
      pre.textContent = plan.plan;
      pre.hidden = false;
      status("DuckDB's physical plan");
    } catch (err) {
      showError(err);
    }
  });
  for (const format of ["csv", "parquet"]) {
    document.getElementById(format).addEventListener("click", () => download(format).catch(showError));
  }
  status("write SQL and run it (Ctrl+Enter)");
}

PAGES.query = queryPage;
