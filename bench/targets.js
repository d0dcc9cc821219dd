// The targets of the performance issue: ratios measured within one run, on the medians of the
// rounds. `min` is the ratio each must reach; null for a ratio that is reported without a target.

export const targets = [
  {
    label: 'Header policy, 1,000 tokens reused, vs bare Fastify',
    contender: 'plugin-hs256',
    reference: 'bare',
    pipelining: [1, 10],
    min: 0.9
  },
  {
    label: 'Header policy, 1,000 tokens reused, vs @fastify/jwt default',
    contender: 'plugin-hs256',
    reference: 'fastify-jwt',
    pipelining: [1, 10],
    min: 2.0
  },
  {
    label: 'Cold path (every token new), vs @fastify/jwt default under the same load',
    contender: 'plugin-cold',
    reference: 'fastify-jwt-cold',
    pipelining: [1, 10],
    min: 0.75
  },
  {
    label: 'Cookie policy, 1,000 tokens reused, vs bare Fastify',
    contender: 'plugin-cookie',
    reference: 'bare',
    pipelining: [1, 10],
    min: 0.85
  },
  {
    label: 'Anonymous request to a public route, plugin registered, vs bare Fastify',
    contender: 'plugin-anonymous',
    reference: 'bare',
    pipelining: [1, 10],
    min: 0.97
  },
  {
    label: 'createJwtToken ops/s (one at a time) vs fast-jwt\'s signer',
    signing: true,
    contender: 'plugin',
    reference: 'fast-jwt',
    min: null
  }
]

/** The measured ratio of every target the run has both sides of, with a verdict when `min` is set. */
export function evaluateTargets (summary, signSummary) {
  const results = []
  for (const target of targets) {
    if (target.signing) {
      const rows = signSummary?.rows ?? []
      const own = rows.find((row) => row.signer === target.contender)
      const reference = rows.find((row) => row.signer === target.reference)
      if (own !== undefined && reference !== undefined) results.push(verdict(target, null, own.opsPerSec / reference.opsPerSec))
      continue
    }
    for (const level of target.pipelining) {
      const rows = summary.find(({ pipelining }) => pipelining === level)?.rows ?? []
      const own = rows.find((row) => row.contender === target.contender)
      const reference = rows.find((row) => row.contender === target.reference)
      if (own !== undefined && reference !== undefined) {
        results.push(verdict(target, level, own.reqPerSec / reference.reqPerSec, own.sliceVs?.[target.reference] ?? null))
      }
    }
  }
  return results
}

function verdict (target, pipelining, ratio, sliceRatio = null) {
  return {
    label: target.label,
    contender: target.contender,
    reference: target.reference,
    pipelining,
    ratio,
    sliceRatio,
    min: target.min,
    // Met only when both estimates reach the minimum: the ratio of the rounds' medians, and the
    // paired ratio of slices (when the run has slices), which the machine's drift disturbs less.
    met: target.min === null ? null : ratio >= target.min && (sliceRatio === null || sliceRatio >= target.min)
  }
}
