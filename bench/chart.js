// docs/benchmark-chart.svg: a horizontal bar chart of the median req/s of every contender, one
// group per pipelining level, written by hand (no dependency).
import { BASELINE } from './contenders.js'
import { describeCommit, integer, sliceOf } from './report.js'

const WIDTH = 920
const LABEL_WIDTH = 150
const BAR_AREA = 480
const BAR_HEIGHT = 18
const ROW_HEIGHT = 26
const GROUP_GAP = 22
const LEFT = 20

const COLORS = { plugin: '#3b6ea5', 'fastify-jwt': '#e08a2e', jose: '#5a9e6f', bare: '#8c8c8c' }
const LEGEND = [['plugin', 'fastify-jwt-security'], ['fastify-jwt', '@fastify/jwt'], ['jose', 'a bare jose hook'], ['bare', 'bare Fastify']]

// By the name's prefix: bare (bare-token, bare-cookie, and the controls bare-work and bare-hook, are bare routes), fastify-jwt, jose, plugin.
function colorOf (name) {
  if (name === BASELINE || name.startsWith(`${BASELINE}-`)) return COLORS.bare
  if (name.startsWith('fastify-jwt')) return COLORS['fastify-jwt']
  return name.startsWith('jose-') ? COLORS.jose : COLORS.plugin
}

const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

function text (x, y, content, attributes = '') {
  return `<text x="${x}" y="${y}"${attributes ? ' ' + attributes : ''}>${escape(content)}</text>`
}

/** The SVG of the HTTP results of a run (`data` as in bench/results/latest.json). */
export function renderChart (data) {
  const { summary, settings, machine } = data
  const max = Math.max(1, ...summary.flatMap(({ rows }) => rows.map((row) => row.reqPerSec)))
  const scale = BAR_AREA / max
  const parts = []
  let y = 30
  parts.push(text(LEFT, y, 'fastify-jwt-security: median req/s of GET /hello (higher is better)', 'class="title"'))
  y += 20
  parts.push(text(LEFT, y, `${data.date.slice(0, 10)}, ${describeCommit(machine)}` + (settings.quick ? '; --quick: a smoke test' : ''), 'class="note"'))
  y += 16
  parts.push(text(LEFT, y, `${machine.cpus} x ${machine.cpu}, Node ${machine.node}; ${settings.connections} connections, ` +
    `${settings.duration} s per contender in ${sliceOf(settings)} s slices, median of ${settings.rounds} round(s)`, 'class="note"'))
  y += 22
  let x = LEFT
  for (const [key, label] of LEGEND) {
    parts.push(`<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${COLORS[key]}"/>`)
    parts.push(text(x + 18, y, label, 'class="note"'))
    x += 40 + label.length * 6
  }
  y += 12
  let anyFlagged = false
  for (const { pipelining, rows } of summary) {
    y += GROUP_GAP
    parts.push(text(LEFT, y, `Pipelining ${pipelining}`, 'class="group"'))
    y += 10
    for (const row of rows) {
      const width = Math.max(1, row.reqPerSec * scale)
      const top = y + (ROW_HEIGHT - BAR_HEIGHT) / 2
      const middle = y + ROW_HEIGHT / 2 + 4
      const versus = row.contender === BASELINE || row.vs[BASELINE] === null ? '' : ` · ${row.vs[BASELINE].toFixed(2)}x bare`
      const flagged = row.busy > 0 || row.generatorBound > 0 || row.non2xx > 0 || row.errors > 0 || row.reused > 0 ? ' *' : ''
      if (flagged !== '') anyFlagged = true
      parts.push(text(LEFT + LABEL_WIDTH - 8, middle, row.contender, 'class="label" text-anchor="end"'))
      parts.push(`<rect x="${LEFT + LABEL_WIDTH}" y="${top}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" fill="${colorOf(row.contender)}"/>`)
      parts.push(text(LEFT + LABEL_WIDTH + width + 6, middle, `${integer(row.reqPerSec)} req/s${versus}${flagged}`, 'class="value"'))
      y += ROW_HEIGHT
    }
  }
  if (anyFlagged) {
    y += 24
    parts.push(text(LEFT, y, '* flagged in some round (busy machine, load generator bound, or failed responses): see docs/benchmarks.md', 'class="note"'))
  }
  const height = y + 14
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-labelledby="chart-title">
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
