// Monitoring: the Production Health report (`matih health`) with charts: weekly MAPE per category,
// freshness against its SLA, retraining decisions, serving latency, pipeline runs, latest monitor runs.
"use strict";

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#ff7f0e"];

function accuracyChart(report) {
  const host = document.getElementById("accuracy-chart");
  const weeks = Object.keys(report.weekly_mape);
  const categories = Object.keys(report.weekly_mape_by_category).sort();
  if (!weeks.length) {
    host.textContent = "No forecast has been scored in the period yet (accuracy_tracking scores forecasts once their actuals arrive).";
    return;
  }
  if (typeof uPlot === "undefined") {
    host.textContent = "Charts need the npm libraries: run make setup. The figures are in the table below.";
    return;
  }
  const x = weeks.map((w) => Date.parse(`${w}T00:00:00Z`) / 1000);
  const series = [
    {},
    { label: "Overall", stroke: "#111", width: 3, value: (_u, v) => (v === null ? "–" : `${(100 * v).toFixed(1)}%`) },
    ...categories.map((c, i) => ({ label: c, stroke: PALETTE[i % PALETTE.length], width: 1.2, value: (_u, v) => (v === null ? "–" : `${(100 * v).toFixed(1)}%`) })),
  ];
  const data = [x, weeks.map((w) => report.weekly_mape[w]), ...categories.map((c) => weeks.map((w) => report.weekly_mape_by_category[c][w] ?? null))];
  new uPlot(
    {
      width: Math.min(host.clientWidth || 900, 1100),
      height: 300,
      series,
      axes: [{ label: "Week starting" }, { label: "MAPE (%)", values: (_u, ticks) => ticks.map((t) => `${(100 * t).toFixed(0)}%`) }],
    },
    data,
    host,
  );
}

async function monitoringPage() {
  const report = await api("/monitoring/health?days=30");
  document.getElementById("period").textContent = `${report.title}: ${report.period[0]} to ${report.period[1]}${report.accuracy_period ? ` (forecast dates scored: ${report.accuracy_period[0]} to ${report.accuracy_period[1]})` : ""}`;
  const runs = report.pipeline_runs;
  facts(document.getElementById("runs"), [
    ["Pipeline runs", `${runs.total} (${runs.succeeded - runs.retry_then_success} success, ${runs.retry_then_success} retry-then-success, ${runs.failed} failed)`],
    ["Avg training time", seconds(report.avg_training_seconds)],
    ["Avg batch inference", seconds(report.avg_batch_inference_seconds)],
    ["Batch inference p50", seconds(report.batch_inference_p50_seconds)],
  ]);
  accuracyChart(report);
  const weeks = Object.keys(report.weekly_mape);
  const categories = Object.keys(report.weekly_mape_by_category).sort();
  const accuracy = document.getElementById("accuracy");
  const head = document.createElement("tr");
  for (const label of ["Week starting", "Overall", ...categories]) head.append(element("th", label, label === "Week starting" ? "" : "num"));
  accuracy.tHead.replaceChildren(head);
  fill(accuracy, weeks, (tr, w) => {
    cell(tr, w);
    cell(tr, percent(report.weekly_mape[w]), "num");
    for (const c of categories) cell(tr, percent(report.weekly_mape_by_category[c][w]), "num");
  });
  fill(document.getElementById("freshness"), report.freshness_detail, (tr, f) => {
    cell(tr, f.resolved && f.resolved !== f.table ? `${f.table} (${f.resolved})` : f.table);
    cell(tr, f.age_hours === null ? "never loaded" : number(f.age_hours, 1), "num");
    cell(tr, number(f.max_age_hours, 0), "num");
    cell(tr, percent(f.within_sla), "num");
    const ok = f.age_hours !== null && f.age_hours <= f.max_age_hours;
    cell(tr, ok ? "OK" : "BREACH", ok ? "pass" : "fail");
  });
  fill(document.getElementById("decisions"), report.decisions.slice(-30).reverse(), (tr, d) => {
    cell(tr, d.today || stamp(d.at));
    cell(tr, d.condition || "");
    cell(tr, d.fired ? `yes (run ${d.run_id || "–"})` : "no", d.fired ? "fail" : "");
    cell(tr, d.reason || "");
  });
  const s = report.serving;
  facts(document.getElementById("serving"), s && s.requests
    ? [
        ["Requests", number(s.requests)],
        ["API p50 latency", `${number(1000 * s.p50_seconds, 1)} ms`],
        ["API p99 latency", `${number(1000 * s.p99_seconds, 1)} ms`],
        ["Error rate", percent(s.error_rate)],
      ]
    : [["API", "no requests recorded by a server in the period"]]);
  fill(document.getElementById("monitor-runs"), report.monitor_runs, (tr, r) => {
    cell(tr, stamp(r.as_of));
    cell(tr, r.monitor_name || "");
    cell(tr, (r.sections || []).map((x) => `${x.type}: ${x.ok ? "OK" : "ALERT"}`).join(" · "), r.ok ? "" : "fail");
  });
  document.getElementById("notes").replaceChildren(...report.notes.map((n) => element("li", n)));
  status(`${weeks.length} week(s) scored · ${report.freshness_detail.filter((f) => !(f.age_hours !== null && f.age_hours <= f.max_age_hours)).length} freshness breach(es) · ${report.retraining_triggers.length} retraining trigger(s)`);
}

PAGES.monitoring = monitoringPage;
