/* lockgate web UI: draws run and pipeline graphs with Cytoscape.js (dagre layout) and keeps a
   running run's graph live by polling its /api/runs/{id}/graph until the run has ended. */
(function () {
  "use strict";

  var COLORS = {
    PENDING: "#c5cad3", RUNNING: "#2f7de1", RETRYING: "#e8962a", SUCCEEDED: "#2e9e57",
    FAILED: "#d64541", SKIPPED: "#eceef1", ABORTED: "#8e5bb5", QUEUED: "#c5cad3", TIMED_OUT: "#d64541"
  };
  var TERMINAL = { SUCCEEDED: true, FAILED: true, TIMED_OUT: true, ABORTED: true };
  var POLL_MS = 1000;

  function label(node) {
    var text = node.label;
    if (node.counts) {
      var parts = Object.keys(node.counts).sort().map(function (status) {
        return status.toLowerCase() + " " + node.counts[status];
      });
      if (parts.length) { text += "\n" + parts.join(" · "); }
    }
    return text;
  }

  function elements(graph) {
    var out = [];
    graph.nodes.forEach(function (n) {
      var data = { id: n.id, label: label(n), name: n.label, status: n.status, kind: n.kind, counts: n.counts || null };
      if (n.parent) { data.parent = n.parent; }
      out.push({ group: "nodes", data: data });
    });
    graph.edges.forEach(function (e) {
      var data = { id: e.id, source: e.source, target: e.target };
      if (e.label) { data.label = e.label; }
      out.push({ group: "edges", data: data });
    });
    return out;
  }

  function style() {
    var rules = [
      { selector: "node", style: {
        "shape": "round-rectangle", "label": "data(label)", "text-wrap": "wrap", "text-valign": "center",
        "text-halign": "center", "font-size": 12, "font-family": "system-ui, sans-serif", "color": "#16191f",
        "background-color": COLORS.PENDING, "border-width": 1, "border-color": "#6b7280",
        "width": function (ele) {
          var lines = String(ele.data("label")).split("\n");
          var longest = Math.max.apply(null, lines.map(function (l) { return l.length; }));
          return Math.max(70, longest * 7 + 20);
        },
        "height": function (ele) { return String(ele.data("label")).split("\n").length > 1 ? 44 : 30; }
      } },
      { selector: ":parent", style: {
        "text-valign": "top", "background-opacity": 0.12, "border-style": "dashed", "padding": 12
      } },
      { selector: "node[?collapsed]", style: {
        "text-valign": "center", "background-opacity": 0.35, "border-style": "double", "border-width": 3, "padding": 0
      } },
      { selector: "edge.group-edge", style: { "line-style": "dashed" } },
      { selector: "edge", style: {
        "curve-style": "bezier", "target-arrow-shape": "triangle", "width": 1.5,
        "line-color": "#8a93a3", "target-arrow-color": "#8a93a3"
      } },
      { selector: "edge[label]", style: {
        "label": "data(label)", "font-size": 10, "font-family": "system-ui, sans-serif", "color": "#374151",
        "text-background-color": "#ffffff", "text-background-opacity": 0.85, "text-background-padding": 2,
        "text-rotation": "autorotate"
      } }
    ];
    Object.keys(COLORS).forEach(function (status) {
      rules.push({ selector: 'node[status = "' + status + '"]', style: { "background-color": COLORS[status] } });
    });
    ["RUNNING", "SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"].forEach(function (status) {
      rules.push({ selector: 'node[status = "' + status + '"]:childless', style: { "color": "#ffffff" } });
    });
    rules.push({ selector: 'node[status = "RUNNING"]', style: { "border-width": 3, "border-color": "#123f7a" } });
    return rules;
  }

  function layout(cy) {
    cy.layout({ name: "dagre", rankDir: "LR", nodeSep: 24, rankSep: 48, fit: true, padding: 16 }).run();
    if (cy.zoom() > 1.25) {  // a small graph is not blown up to fill the box
      cy.zoom(1.25);
      cy.center();
    }
  }

  function draw(container, graph) {
    var cy = window.cytoscape({
      container: container, elements: elements(graph), style: style(), autoungrabify: true,
      boxSelectionEnabled: false, minZoom: 0.2, maxZoom: 2.5
    });
    layout(cy);
    return cy;
  }

  function sameShape(cy, graph) {
    if (cy.nodes().length !== graph.nodes.length || cy.edges().length !== graph.edges.length) { return false; }
    return graph.nodes.every(function (n) { return cy.getElementById(n.id).nonempty(); });
  }

  // Task groups (compound nodes) collapse to one node when tapped, and expand when tapped again:
  // their steps are taken out of the graph (kept to be put back) and the arrows that crossed the
  // group's border are drawn to and from the group itself.
  var collapsed = {};

  function collapse(cy, id, relayout) {
    var group = cy.getElementById(id);
    if (group.empty() || collapsed[id] || !group.isParent()) { return; }
    var inside = group.descendants();
    var steps = inside.filter(function (n) { return n.isChildless(); }).length;
    var crossing = {};
    inside.connectedEdges().forEach(function (e) {
      var source = inside.contains(e.source()) ? id : e.source().id();
      var target = inside.contains(e.target()) ? id : e.target().id();
      if (source !== target) {
        crossing["group-edge:" + source + "->" + target] = { source: source, target: target };
      }
    });
    collapsed[id] = cy.remove(inside.union(inside.connectedEdges()));
    Object.keys(crossing).forEach(function (edgeId) {
      if (cy.getElementById(edgeId).empty()) {
        cy.add({ group: "edges", data: { id: edgeId, source: crossing[edgeId].source, target: crossing[edgeId].target },
                 classes: "group-edge" });
      }
    });
    group.data({ collapsed: true, steps: steps, label: group.data("name") + "\n" + steps + " steps ▸" });
    if (relayout) { layout(cy); }
  }

  function expand(cy, id, relayout) {
    var removed = collapsed[id];
    if (!removed) { return; }
    delete collapsed[id];
    cy.edges(".group-edge").filter(function (e) {
      return e.source().id() === id || e.target().id() === id;
    }).remove();
    removed.restore();
    var group = cy.getElementById(id);
    group.data({ collapsed: false, label: group.data("name") });
    if (relayout) { layout(cy); }
  }

  function update(cy, graph) {
    var folded = Object.keys(collapsed);
    folded.forEach(function (id) { expand(cy, id, false); });  // statuses reach the steps inside too
    if (!sameShape(cy, graph)) {
      cy.elements().remove();
      cy.add(elements(graph));
      layout(cy);
    } else {
      cy.batch(function () {
        graph.nodes.forEach(function (n) {
          cy.getElementById(n.id).data({ status: n.status, label: label(n), counts: n.counts || null });
        });
      });
    }
    folded.forEach(function (id) { collapse(cy, id, false); });
  }

  function follow(container, cy, url) {
    function again(ms) { window.setTimeout(tick, ms); }
    function tick() {
      window.fetch(url, { headers: { "Accept": "application/json" }, cache: "no-store" })
        .then(function (answer) {
          if (!answer.ok) { throw new Error("HTTP " + answer.status); }
          return answer.json();
        })
        .then(function (graph) {
          update(cy, graph);
          container.setAttribute("data-status", graph.status);
          if (!TERMINAL[graph.status]) { again(POLL_MS); }
        })
        .catch(function () { again(POLL_MS * 3); });
    }
    again(POLL_MS);
  }

  function start() {
    var container = document.getElementById("graph");
    if (!container || !window.cytoscape) { return; }
    var graph = JSON.parse(container.getAttribute("data-graph"));
    var cy = draw(container, graph);
    window.lockgateGraph = cy;
    var logUrl = container.getAttribute("data-log-url");
    var pipelineUrl = container.getAttribute("data-pipeline-url");
    cy.on("tap", "node", function (event) {
      var node = event.target;
      var id = node.id();
      if (node.data("kind") === "group") {
        if (collapsed[id]) { expand(cy, id, true); } else { collapse(cy, id, true); }
        return;
      }
      if (!node.isChildless()) { return; }
      if (logUrl) { window.location.href = logUrl + encodeURIComponent(id); }
      else if (pipelineUrl) { window.location.href = pipelineUrl + encodeURIComponent(id); }
    });
    container.setAttribute("data-status", graph.status || "");
    var url = container.getAttribute("data-graph-url");
    if (url && !TERMINAL[graph.status]) { follow(container, cy, url); }
    container.setAttribute("data-ready", "true");
  }

  start();
}());
