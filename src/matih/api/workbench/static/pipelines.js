// Pipelines: what the workspace can run, its tasks as a DAG (coloured by the selected run's states),
// runs with per-task state, attempts, waits and durations, a task's log, starting a run, schedules.
"use strict";

// tasks in levels: a task sits one level after the deepest task it depends on
function levels(tasks) {
  const depth = {};
  const of = (id, seen = new Set()) => {
    if (depth[id] !== undefined) return depth[id];
    if (seen.has(id)) return 0; // a cycle would be refused by the spec; never loop here
    seen.add(id);
    const task = tasks.find((t) => t.task_id === id);
    depth[id] = task && task.depends_on.length ? 1 + Math.max(...task.depends_on.map((d) => of(d, seen))) : 0;
    return depth[id];
  };
  const out = [];
  for (const t of tasks) (out[of(t.task_id)] ||= []).push(t);
  return out;
}

function drawDag(tasks, run) {
  const host = document.getElementById("dag");
  const state = Object.fromEntries(((run && run.tasks) || []).map((t) => [t.task_id, t]));
  host.replaceChildren(
    ...levels(tasks).map((level) => {
      const column = element("div", null, "level");
      for (const t of level) {
        const got = state[t.task_id];
        const box = element("button", null, `task state-${got ? got.state : "none"}`);
        box.type = "button";
        box.dataset.task = t.task_id;
        box.append(element("strong", t.task_id), element("span", t.type));
        if (got) box.append(element("span", `${got.state}${got.attempts > 1 ? ` · ${got.attempts} attempts` : ""}${got.seconds !== null ? ` · ${seconds(got.seconds)}` : ""}`));
        if (t.depends_on.length) box.append(element("span", `after ${t.depends_on.join(", ")}`, "after"));
        box.title = got ? `${t.task_id}: ${got.state}` : t.task_id;
        if (run) box.addEventListener("click", () => showLog(run.run_id, t.task_id).catch((err) => status(err.message, true)));
        column.append(box);
      }
      return column;
    }),
  );
}

async function showLog(runId, taskId) {
  const log = await api(`/runs/${encodeURIComponent(runId)}/tasks/${encodeURIComponent(taskId)}/log`);
  const title = document.getElementById("log-title");
  const pre = document.getElementById("log");
  title.hidden = pre.hidden = false;
  title.textContent = `${taskId} log (${log.source}, last ${log.lines.length} lines)`;
  pre.textContent = log.lines.join("\n") || "(empty)";
}

function showRun(run, tasks) {
  document.getElementById("run").hidden = false;
  document.getElementById("run-title").textContent = `${run.run_id}: ${run.status}${run.seconds !== null ? ` in ${seconds(run.seconds)}` : ""}`;
  document.getElementById("run-message").textContent = [run.message, ...run.notifications.map((n) => `notification: ${n}`), ...run.monitors.map((m) => `monitor: ${m}`)].filter(Boolean).join("\n");
  fill(document.getElementById("tasks"), run.tasks, (tr, t) => {
    cell(tr, t.task_id);
    cell(tr, t.type);
    cell(tr, t.state, t.state === "succeeded" ? "pass" : ["failed", "rolled_back"].includes(t.state) ? "fail" : "");
    cell(tr, String(t.attempts || ""), "num");
    cell(tr, (t.waits || []).map(seconds).join(", ") || "–");
    cell(tr, seconds(t.seconds), "num");
    cell(tr, (["failed", "rolled_back"].includes(t.state) ? t.error : t.summary) || "");
    const button = element("button", "log", "secondary small");
    button.type = "button";
    button.addEventListener("click", () => showLog(run.run_id, t.task_id).catch((err) => status(err.message, true)));
    cell(tr, button);
  });
  drawDag(tasks, run);
}

async function pipelinesPage() {
  const [found, crons] = await Promise.all([api("/pipelines"), api("/schedules")]);
  const select = document.getElementById("pipeline");
  select.replaceChildren(...found.map((p) => Object.assign(element("option", `${p.pipeline_id} (${p.kind})`), { value: p.pipeline_id })));
  const wanted = new URLSearchParams(location.search).get("pipeline");
  if (wanted && found.some((p) => p.pipeline_id === wanted)) select.value = wanted;
  const current = () => found.find((p) => p.pipeline_id === select.value);

  const showRuns = async () => {
    const p = current();
    document.getElementById("about").textContent = p.problem ? `cannot run: ${p.problem}` : `${p.name} · ${p.tasks.length} task(s) · cron ${p.schedule || "–"}`;
    drawDag(p.tasks, null);
    status(`loading runs of ${p.pipeline_id} …`);
    const runs = await api(`/pipelines/${encodeURIComponent(p.pipeline_id)}/runs?limit=20`);
    fill(document.getElementById("runs"), runs, (tr, r) => {
      const open = element("button", r.run_id, "linkish");
      open.type = "button";
      open.addEventListener("click", () => showRun(r, p.tasks));
      cell(tr, open);
      cell(tr, stamp(r.started));
      cell(tr, r.status, r.status === "succeeded" ? "pass" : RUN_ENDED.has(r.status) ? "fail" : "");
      cell(tr, seconds(r.seconds), "num");
      cell(tr, r.tasks.map((t) => `${t.task_id} ${t.state}${t.attempts > 1 ? ` ${t.attempts}x` : ""}`).join(" · "));
    });
    if (runs.length) showRun(runs[0], p.tasks);
    else document.getElementById("run").hidden = true;
    status(`${runs.length} run(s) of ${p.pipeline_id}`);
  };
  select.addEventListener("change", () => {
    history.replaceState(null, "", `?pipeline=${encodeURIComponent(select.value)}`);
    showRuns().catch((err) => status(err.message, true));
  });
  document.getElementById("start").addEventListener("click", async () => {
    const p = current();
    const button = document.getElementById("start");
    button.disabled = true;
    try {
      const started = await startRun(p.pipeline_id);
      status(`started ${started.run_id}`);
      const run = await followRun(started.run_id, (r) => {
        showRun(r, p.tasks);
        status(`${r.run_id}: ${r.status} · ${r.tasks.filter((t) => t.state === "succeeded").length}/${r.tasks.length} tasks done`);
      });
      await showRuns();
      showRun(run, p.tasks);
      status(`run ${run.run_id} ${run.status}${run.seconds !== null ? ` in ${seconds(run.seconds)}` : ""}`, run.status !== "succeeded");
    } catch (err) {
      status(err.message, true);
    } finally {
      button.disabled = false;
    }
  });
  const rows = [
    ...crons.temporal.map((v) => [v.schedule_id, v.cron, v.next_runs.slice(0, 2).map(stamp).join(", "), v.paused ? "yes" : ""]),
    ...crons.sources
      .filter((s) => !crons.temporal.some((v) => v.schedule_id === `matih-source-${s.source}`))
      .map((s) => [`${s.source} (source cron, not registered: matih pipeline schedule ${s.source} --source)`, s.expression, s.next_runs.slice(0, 2).map(stamp).join(", "), ""]),
  ];
  fill(document.getElementById("schedules"), rows, (tr, row) => row.forEach((v) => cell(tr, v)));
  await showRuns();
}

PAGES.pipelines = pipelinesPage;
