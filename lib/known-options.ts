import { InvalidOptionError } from './errors.js'

/** Refuses an options object that is not an object or has a key outside `names`: typos fail loudly. */
export function checkKnownOptions (options: unknown, names: ReadonlySet<string>, prefix = ''): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionError(prefix === '' ? 'options' : prefix.slice(0, -1), 'expected an object')
  }
  for (const name of Object.keys(options)) {
    if (!names.has(name)) throw new InvalidOptionError(`${prefix}${name}`, 'unknown option')
  }
}
