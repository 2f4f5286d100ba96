// Every preset is a spec the engine accepts: a typo in a preset would only show as a refusal on click.
import { describe, expect, it } from 'vitest'
import { parseLimits, parseSubmitSpec } from '../../common/schema'
import { PRESETS } from '../../renderer/src/presets'

describe('presets', () => {
  it.each(PRESETS.map((p) => [p.label, p] as const))('%s validates', (_label, preset) => {
    expect(() => parseSubmitSpec(preset.spec)).not.toThrow()
    if (preset.limits) expect(() => parseLimits(preset.limits)).not.toThrow()
  })

  it('has the wait modes and the done callback', () => {
    const labels = PRESETS.map((p) => p.label)
    for (const start of ['as_completed', 'FIRST_COMPLETED', 'wait with a timeout', 'done callback']) {
      expect(labels.some((l) => l.startsWith(start))).toBe(true)
    }
  })
})
