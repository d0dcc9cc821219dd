// Writes the results of a run into the docs: docs/benchmark-chart.svg, and the block of
// docs/benchmarks.md between the two markers (the rest of that file is written by hand).
import { readFileSync, writeFileSync } from 'node:fs'
import { renderChart } from './chart.js'
import { markdownResults } from './report.js'

const START = '<!-- bench:results:start -->'
const END = '<!-- bench:results:end -->'
const docs = new URL('../docs/', import.meta.url)

/** Rewrites the chart and the results block; returns the files written. */
export function writeDocs (data) {
  const page = new URL('benchmarks.md', docs)
  const text = readFileSync(page, 'utf8')
  const start = text.indexOf(START)
  const end = text.indexOf(END)
  if (start === -1 || end < start) {
    throw new Error(`${page.pathname} has no "${START}" ... "${END}" block to rewrite`)
  }
  const chart = new URL('benchmark-chart.svg', docs)
  writeFileSync(chart, renderChart(data))
  writeFileSync(page, `${text.slice(0, start + START.length)}\n${markdownResults(data)}\n${text.slice(end)}`)
  return [page, chart]
}
