// The few things a page cannot do without a script: copy buttons, "/" to search, the charts.
"use strict";

function setUpCopyButtons() {
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      const text = button.dataset.copy;
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch (_) {
        button.textContent = "Copy failed: select the text";
      }
      setTimeout(() => { button.textContent = "Copy"; }, 2000);
    });
  }
}

function setUpSearchKey() {
  const search = document.getElementById("q");
  if (!search) return;
  document.addEventListener("keydown", (event) => {
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
    if (event.key === "/" && !typing) {
      event.preventDefault();
      search.focus();
    }
  });
}

function drawGrowthChart() {
  const box = document.getElementById("growth");
  if (!box || typeof uPlot === "undefined") return;
  const data = JSON.parse(box.dataset.chart);
  const xs = data.labels.map((_, i) => i);
  const options = {
    width: Math.min(box.clientWidth || 800, 1000),
    height: 260,
    scales: { x: { time: false } },
    axes: [
      { values: (_, ticks) => ticks.map((i) => data.labels[i] ?? "") },
      { label: "files", scale: "files" },
      { label: "bytes", scale: "bytes", side: 1, grid: { show: false } },
    ],
    series: [
      { label: "version", value: (_, i) => data.labels[i] ?? "" },
      { label: "files", scale: "files", stroke: "#0550ae", width: 2, points: { show: true } },
      { label: "bytes", scale: "bytes", stroke: "#bc4c00", width: 2, points: { show: true } },
    ],
  };
  new uPlot(options, [xs, data.files, data.bytes], box);
}

function drawScalarPlots() {
  if (typeof uPlot === "undefined") return;
  const colours = ["#0550ae", "#bc4c00", "#116329", "#8250df", "#cf222e", "#4d2d00"];
  for (const box of document.querySelectorAll("div.scalar-plot")) {
    const plot = JSON.parse(box.dataset.chart);
    const options = {
      width: Math.min(box.clientWidth || 800, 1000),
      height: 240,
      scales: { x: { time: false } },
      axes: [{ label: "iteration" }, {}],
      series: [
        { label: "iteration" },
        ...plot.series.map((s, i) => ({
          label: s.label,
          stroke: colours[i % colours.length],
          width: 2,
          spanGaps: true,
          points: { show: plot.xs.length < 50 },
        })),
      ],
    };
    new uPlot(options, [plot.xs, ...plot.series.map((s) => s.ys)], box);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setUpCopyButtons();
  setUpSearchKey();
  drawGrowthChart();
  drawScalarPlots();
});
