// Writes a run into the docs: docs/benchmark-chart.svg (a bar chart drawn by hand, no dependency),
// and the block of docs/benchmarks.md between the two markers (the rest of the page is written by hand).
import { readFileSync, writeFileSync } from 'node:fs'
import { BASELINE } from './contenders.js'
import { describeCommit, flags, integer, markdownResults } from './report.js'

const START = '<!-- bench:results:start -->'
const END = '<!-- bench:results:end -->'
const docs = new URL('../docs/', import.meta.url)

const COLORS = { plugin: '#3b6ea5', 'fastify-jwt': '#e08a2e', jose: '#5a9e6f', bare: '#8c8c8c' }
const LEGEND = [['plugin', 'fastify-jwt-security'], ['fastify-jwt', '@fastify/jwt'], ['jose', 'a minimal jose hook'], ['bare', 'bare Fastify']]
const colorOf = (name) => COLORS[Object.keys(COLORS).find((prefix) => name.startsWith(prefix))]
const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
const text = (x, y, content, attributes) => `<text x="${x}" y="${y}" ${attributes}>${escape(content)}</text>`

/** The SVG of the HTTP results of a run: median req/s of every contender, one group per pipelining level. */
export function renderChart ({ summary, settings, machine, date }) {
  const [left, labelWidth, barArea, rowHeight, barHeight] = [20, 150, 480, 26, 18]
  const scale = barArea / Math.max(1, ...summary.flatMap(({ rows }) => rows.map((row) => row.reqPerSec)))
  const parts = [
    text(left, 30, 'fastify-jwt-security: median req/s of GET /hello (higher is better)', 'class="title"'),
    text(left, 50, `${date.slice(0, 10)}, ${describeCommit(machine)}${settings.quick ? '; --quick: a smoke test' : ''}`, 'class="note"'),
    text(left, 66, `${machine.cpus} x ${machine.cpu}, Node ${machine.node}; ${settings.connections} connections, ` +
      `${settings.duration} s per contender in ${settings.slice} s slices, median of ${settings.rounds} round(s)`, 'class="note"')
  ]
  let x = left
  for (const [key, label] of LEGEND) {
    parts.push(`<rect x="${x}" y="78" width="12" height="12" fill="${COLORS[key]}"/>`, text(x + 18, 88, label, 'class="note"'))
    x += 40 + label.length * 6
  }
  let y = 100
  let flagged = false
  for (const { pipelining, rows } of summary) {
    y += 22
    parts.push(text(left, y, `Pipelining ${pipelining}`, 'class="group"'))
    y += 10
    for (const row of rows) {
      const width = Math.max(1, row.reqPerSec * scale)
      const middle = y + rowHeight / 2 + 4
      const versus = row.contender === BASELINE || row.vsBare === null ? '' : ` · ${row.vsBare.toFixed(2)}x bare`
      const mark = flags(row) === '' ? '' : ' *'
      flagged ||= mark !== ''
      parts.push(text(left + labelWidth - 8, middle, row.contender, 'class="label" text-anchor="end"'),
        `<rect x="${left + labelWidth}" y="${y + (rowHeight - barHeight) / 2}" width="${width.toFixed(1)}" height="${barHeight}" fill="${colorOf(row.contender)}"/>`,
        text(left + labelWidth + width + 6, middle, `${integer(row.reqPerSec)} req/s${versus}${mark}`, 'class="value"'))
      y += rowHeight
    }
  }
  if (flagged) {
    y += 24
    parts.push(text(left, y, '* flagged in some round (busy machine, load generator bound, or failed responses): see docs/benchmarks.md', 'class="note"'))
  }
  const height = y + 14
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="920" height="${height}" viewBox="0 0 920 ${height}" role="img" aria-labelledby="chart-title">
<title id="chart-title">Median requests per second of each benchmark contender, by pipelining level</title>
<style>
text { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; fill: #222; }
.title { font-size: 16px; font-weight: 600; }
.group { font-size: 14px; font-weight: 600; }
.label { font-size: 13px; font-family: ui-monospace, Menlo, Consolas, monospace; }
.value { font-size: 12px; }
.note { font-size: 11px; fill: #555; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
${parts.join('\n')}
</svg>
`
}

/** Rewrites the chart and the results block; returns the files written. */
export function writeDocs (data) {
  const page = new URL('benchmarks.md', docs)
  const markdown = readFileSync(page, 'utf8')
  const start = markdown.indexOf(START)
  const end = markdown.indexOf(END)
  if (start === -1 || end < start) throw new Error(`${page.pathname} has no "${START}" ... "${END}" block to rewrite`)
  const chart = new URL('benchmark-chart.svg', docs)
  writeFileSync(chart, renderChart(data))
  writeFileSync(page, `${markdown.slice(0, start + START.length)}\n${markdownResults(data)}\n${markdown.slice(end)}`)
  return [page, chart]
}
