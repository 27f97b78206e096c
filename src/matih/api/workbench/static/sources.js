// Sources: streams, cursors, last syncs, next runs; "Sync now" starts the source's sync pipeline on
// Temporal and follows it (task state and the sync's own log lines) until it ends.
"use strict";

function sourceSection(source) {
  const section = element("section", null, "source");
  section.id = `source-${source.name}`;
  const title = element("h2", `${source.name}`);
  const about = element(
    "p",
    `${source.connector} → ${source.destination} · cron ${source.schedule} · next runs ${source.next_runs.slice(0, 2).map(stamp).join(", ")} UTC`,
  );
  const bar = element("div", null, "bar");
  const button = element("button", "Sync now");
  button.type = "button";
  button.className = "sync";
  const progress = element("span", "", "progress");
  progress.setAttribute("role", "status");
  bar.append(button, progress);
  const streams = table(["Stream", "Mode", "Cursor", "#Rows last sync", "Last success", "Last run"]);
  streams.classList.add("streams");
  fill(streams, source.streams, (tr, s) => {
    cell(tr, s.stream);
    cell(tr, s.mode);
    cell(tr, s.cursor || "");
    cell(tr, s.rows_last_sync === null ? "" : number(s.rows_last_sync), "num");
    cell(tr, s.last_success ? stamp(s.last_success) : "never");
    cell(tr, (s.last_status || "") + (s.last_error ? `: ${s.last_error}` : ""), s.last_status === "failed" ? "fail" : "");
  });
  const runs = table(["Started (UTC)", "Status", "#Rows", "#Seconds", "#HTTP retries", "Error"]);
  runs.classList.add("runs");
  fill(runs, source.runs, (tr, r) => {
    cell(tr, stamp(r.started_at));
    cell(tr, r.status + (r.full_refresh ? " (full refresh)" : ""), r.status === "succeeded" ? "pass" : r.status === "failed" ? "fail" : "");
    cell(tr, number(r.rows), "num");
    cell(tr, number(r.seconds, 1), "num");
    cell(tr, String(r.retries || 0), "num");
    cell(tr, r.error || "");
  });
  if (!source.runs.length) runs.tBodies[0].append(Object.assign(element("tr"), { innerHTML: "<td colspan='6'>never synced</td>" }));
  button.addEventListener("click", () => syncNow(source, button, progress).catch((err) => {
    progress.textContent = err.message;
    progress.classList.add("fail");
    button.disabled = false;
  }));
  section.append(title, about, bar, element("h3", "Streams"), streams, element("h3", "Last syncs"), runs);
  return section;
}

async function syncNow(source, button, progress) {
  button.disabled = true;
  progress.classList.remove("fail", "pass");
  progress.textContent = "starting …";
  const started = await startRun(source.sync_pipeline);
  const run = await followRun(started.run_id, async (r) => {
    const task = r.tasks[0];
    let line = "";
    if (task && task.state !== "pending") {
      const log = await api(`/runs/${encodeURIComponent(r.run_id)}/tasks/${encodeURIComponent(task.task_id)}/log?lines=1`).catch(() => null);
      line = log && log.lines.length ? ` · ${logMessage(log.lines[log.lines.length - 1])}` : "";
    }
    progress.textContent = `${r.run_id}: ${task ? task.state : r.status}${task && task.attempts > 1 ? ` (attempt ${task.attempts})` : ""}${line}`;
  });
  const task = run.tasks[0] || {};
  progress.textContent = `${run.run_id}: ${run.status}${task.summary ? ` · ${task.summary}` : ""}${task.error ? ` · ${task.error}` : ""}`;
  progress.classList.add(run.status === "succeeded" ? "pass" : "fail");
  button.disabled = false;
  await sourcesPage({ keep: source.name, note: progress.textContent, ok: run.status === "succeeded" });
}

async function sourcesPage(after = null) {
  const found = await api("/sources");
  const host = document.getElementById("sources");
  host.replaceChildren(...found.map(sourceSection));
  if (after) {
    const progress = document.querySelector(`#source-${CSS.escape(after.keep)} .progress`);
    progress.textContent = after.note;
    progress.classList.add(after.ok ? "pass" : "fail");
  }
  const failing = found.filter((s) => s.streams.some((st) => st.last_status === "failed")).length;
  status(`${found.length} sources, ${found.reduce((n, s) => n + s.streams.length, 0)} streams${failing ? `; ${failing} failed last time` : ""}`);
}

PAGES.sources = () => sourcesPage();
