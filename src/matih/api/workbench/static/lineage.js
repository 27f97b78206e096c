// Lineage: the workspace's graph (Cytoscape.js when installed, the edge table always), a node's
// neighbours, a table's column lineage, and cycles marked in red.
"use strict";

const KIND_COLOURS = { source: "#2b6cb0", table: "#4a5568", query: "#805ad5", pipeline: "#b7791f", model: "#c05621", task: "#b7791f" };
const kindOf = (node) => (node.kind === "model" && node.id.includes("@") ? "version" : node.kind);
// a short label keeps a row of tables readable: "postgresql.shopify.orders" -> "shopify.orders"
const shortName = (id) => (id.includes(":") ? id.split(":").slice(1).join(":") : id.split(".").slice(-2).join("."));

async function showNode(name, graph) {
  document.getElementById("node").hidden = false;
  document.getElementById("node-title").textContent = name;
  for (const [id, names] of [
    ["node-in", graph.edges.filter((e) => e.target === name).map((e) => `${e.source} (${e.kind}, ${e.via})`)],
    ["node-out", graph.edges.filter((e) => e.source === name).map((e) => `${e.target} (${e.kind}, ${e.via})`)],
  ]) {
    document.getElementById(id).replaceChildren(...(names.length ? names : ["–"]).map((n) => element("li", n)));
  }
  const columns = document.getElementById("node-columns");
  columns.hidden = !graph.with_columns.includes(name);
  if (columns.hidden) return;
  const detail = await api(`/lineage/${encodeURIComponent(name)}?columns=true&direction=upstream`);
  const chips = document.getElementById("columns");
  const lineage = document.getElementById("column-lineage");
  lineage.hidden = true;
  chips.replaceChildren(
    ...Object.keys(detail.columns).sort().map((column) => {
      const chip = element("button", column, "chip");
      chip.type = "button";
      chip.addEventListener("click", () => {
        for (const other of chips.children) other.setAttribute("aria-pressed", String(other === chip));
        fill(lineage, [column], (tr) => {
          cell(tr, column);
          cell(tr, detail.columns[column].join(", ") || "computed here (no source column)");
        });
        status(`${name}.${column} comes from ${detail.columns[column].length} source column(s)`);
      });
      return chip;
    }),
  );
}

function drawGraph(graph, cyclic) {
  const host = document.getElementById("graph");
  if (typeof cytoscape === "undefined") {
    host.textContent = "The graph needs the npm libraries: run make setup. Every edge is in the table below.";
    return null;
  }
  const cy = cytoscape({
    container: host,
    elements: [
      ...graph.nodes.map((n) => ({ data: { id: n.id, label: shortName(n.id), kind: kindOf(n) } })),
      ...graph.edges.map((e, i) => ({
        data: { id: `e${i}`, source: e.source, target: e.target, label: e.kind, cyclic: cyclic.has(`${e.source}\u0000${e.target}`) ? 1 : 0 },
      })),
    ],
    layout: { name: "breadthfirst", directed: true, spacingFactor: 1.05, padding: 10 },
    style: [
      { selector: "node", style: { label: "data(label)", "font-size": 9, "text-wrap": "wrap", "text-max-width": 90, "text-valign": "bottom", width: 14, height: 14, "background-color": "#4a5568" } },
      ...Object.entries(KIND_COLOURS).map(([kind, colour]) => ({ selector: `node[kind = "${kind}"]`, style: { "background-color": colour } })),
      { selector: "edge", style: { width: 1.2, "curve-style": "bezier", "target-arrow-shape": "triangle", "line-color": "#a0aec0", "target-arrow-color": "#a0aec0" } },
      { selector: "edge[cyclic = 1]", style: { "line-color": "#c00", "target-arrow-color": "#c00", width: 2.5 } },
      { selector: ":selected", style: { "background-color": "#b33c00", "line-color": "#b33c00" } },
      { selector: ".faded", style: { opacity: 0.2 } },
    ],
    wheelSensitivity: 0.3,
  });
  return cy;
}

async function lineagePage() {
  const graph = await api("/lineage");
  const cyclic = new Set();
  for (const cycle of graph.cycles) for (let i = 0; i + 1 < cycle.length; i++) cyclic.add(`${cycle[i]}\u0000${cycle[i + 1]}`);
  document.getElementById("legend").replaceChildren(
    ...Object.entries(KIND_COLOURS).filter(([k]) => k !== "task").map(([kind, colour]) => {
      const item = element("span", kind, "key");
      item.style.setProperty("--key", colour);
      return item;
    }),
  );
  document.getElementById("cycles").textContent = graph.cycles.length
    ? `Cycles (drawn in red): ${graph.cycles.map((c) => c.join(" → ")).join("; ")}`
    : "No cycles.";
  document.getElementById("cycles").className = graph.cycles.length ? "fail" : "";
  const pick = (name) => {
    history.replaceState(null, "", `?node=${encodeURIComponent(name)}`);
    showNode(name, graph).catch((err) => status(err.message, true));
  };
  fill(document.getElementById("edges"), graph.edges, (tr, e) => {
    for (const name of [e.source, null, e.target]) {
      if (name === null) { cell(tr, e.kind); continue; }
      const b = element("button", name, "linkish");
      b.type = "button";
      b.addEventListener("click", () => pick(name));
      cell(tr, b, cyclic.has(`${e.source}\u0000${e.target}`) ? "fail" : "");
    }
    cell(tr, e.via);
  });
  const cy = drawGraph(graph, cyclic);
  if (cy) {
    cy.on("tap", "node", (event) => {
      const node = event.target;
      cy.elements().addClass("faded");
      node.closedNeighborhood().removeClass("faded");
      pick(node.id());
    });
    cy.on("tap", (event) => { if (event.target === cy) cy.elements().removeClass("faded"); });
  }
  const wanted = new URLSearchParams(location.search).get("node");
  if (wanted) await showNode(wanted, graph);
  status(`${graph.nodes.length} nodes, ${graph.edges.length} edges${graph.cycles.length ? `, ${graph.cycles.length} cycle(s)` : ""}`);
}

PAGES.lineage = lineagePage;
