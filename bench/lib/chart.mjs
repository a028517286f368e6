// One SVG with the run's headline figures, written as plain text (no chart library): horizontal
// bars, one panel per question the benchmarks answer.

const W = 920;
const LABEL_W = 330;
const BAR_W = 440;
const ROW_H = 22;
const FONT = "font-family='system-ui, -apple-system, Segoe UI, sans-serif'";

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** @param {{ title: string, unit: string, rows: {label: string, value: number, highlight?: boolean}[], limit?: {value: number, label: string} }} panel */
function panel(y, { title, unit, rows, limit }) {
  const max = Math.max(...rows.map((r) => r.value), limit?.value ?? 0) * 1.05 || 1;
  const parts = [`<text x='20' y='${y + 16}' ${FONT} font-size='15' font-weight='600' fill='#111'>${esc(title)}</text>`];
  rows.forEach((row, i) => {
    const top = y + 28 + i * ROW_H;
    const w = Math.max(1, (row.value / max) * BAR_W);
    parts.push(
      `<text x='${LABEL_W - 8}' y='${top + 14}' ${FONT} font-size='12' text-anchor='end' fill='#333'>${esc(row.label)}</text>`,
      `<rect x='${LABEL_W}' y='${top + 3}' width='${w.toFixed(1)}' height='${ROW_H - 7}' rx='2' fill='${row.highlight ? "#f38020" : "#8aa4c8"}'/>`,
      `<text x='${(LABEL_W + w + 6).toFixed(1)}' y='${top + 14}' ${FONT} font-size='12' fill='#111'>${esc(format(row.value))} ${esc(unit)}</text>`,
    );
  });
  if (limit) {
    const lx = LABEL_W + (limit.value / max) * BAR_W;
    const bottom = y + 28 + rows.length * ROW_H;
    parts.push(
      `<line x1='${lx.toFixed(1)}' y1='${y + 24}' x2='${lx.toFixed(1)}' y2='${bottom}' stroke='#c00' stroke-dasharray='4 3'/>`,
      `<text x='${(lx + 4).toFixed(1)}' y='${y + 22}' ${FONT} font-size='11' fill='#c00'>${esc(limit.label)}</text>`,
    );
  }
  return { svg: parts.join("\n"), height: 28 + rows.length * ROW_H + 24 };
}

function format(v) {
  if (v >= 1000) return Math.round(v).toLocaleString("en-US");
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export function renderChart(r) {
  const panels = [];
  const v = r.verify?.workerd;
  if (v) {
    panels.push({
      title: "Verification inside workerd — µs per token (lower is better)",
      unit: "µs",
      rows: [
        ["verifier-hot", "this verifier, hot"],
        ["verifier-cold", "this verifier, cold"],
        ["jose-jwtVerify", "jose.jwtVerify"],
        ["clerk-verifyToken-jwtKey", "@clerk/backend verifyToken (jwtKey)"],
        ["clerk-verifyToken-jwks", "@clerk/backend verifyToken (JWKS)"],
        ["subtle-verify-from-token", "bare crypto.subtle.verify (from token)"],
        ["subtle-verify-bytes", "bare crypto.subtle.verify (bytes ready)"],
      ].map(([k, label]) => ({ label, value: v[k].usPerOp, highlight: k.startsWith("verifier") })),
    });
  }
  const o = r.overhead;
  if (o) {
    panels.push({
      title: `Throughput, GET ${o.path} with a token — req/s (higher is better)`,
      unit: "req/s",
      rows: Object.entries(o.workers).map(([name, w]) => ({ label: `${name} Worker`, value: w.rps, highlight: name === "gateway" })),
    });
    panels.push({
      title: "Latency, one request at a time — p50 µs (lower is better)",
      unit: "µs",
      rows: Object.entries(o.workers).map(([name, w]) => ({ label: `${name} Worker`, value: w.p50Us, highlight: name === "gateway" })),
    });
  }
  const s = r.start;
  if (s) {
    panels.push({
      title: "Bundle, gzipped — KiB (budget 60 KiB)",
      unit: "KiB",
      rows: Object.entries(s.bundles).map(([name, b]) => ({ label: `${name} Worker`, value: b.gzipBytes / 1024, highlight: name === "gateway" })),
      limit: { value: 60, label: "60 KiB" },
    });
    panels.push({
      title: "First authenticated request on a new isolate — ms (lower is better)",
      unit: "ms",
      rows: Object.entries(s.firstRequestMs).map(([name, f]) => ({ label: name, value: f.firstMs, highlight: name.startsWith("gateway") })),
    });
  }
  let y = 50;
  const body = [];
  for (const p of panels) {
    const { svg, height } = panel(y, p);
    body.push(svg);
    y += height;
  }
  const m = r.machine;
  const header = [
    `<text x='20' y='26' ${FONT} font-size='18' font-weight='700' fill='#111'>mastra-edge-auth benchmarks${r.smoke ? " (smoke run: not a measurement)" : ""}</text>`,
    `<text x='20' y='42' ${FONT} font-size='11' fill='#555'>${esc(`${m.date.slice(0, 10)} · ${m.cpu}, ${m.cores} cores · Node ${m.node} · workerd ${m.workerd} · ${r.command}`)}</text>`,
  ];
  return `<svg xmlns='http://www.w3.org/2000/svg' width='${W}' height='${y + 10}' viewBox='0 0 ${W} ${y + 10}'>\n<rect width='100%' height='100%' fill='#fff'/>\n${header.join("\n")}\n${body.join("\n")}\n</svg>\n`;
}
