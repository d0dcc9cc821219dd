// Whether `name` names two pairs of the header, as the cookie parser reads names: between a ';' (or
// the start) and a '=', with spaces and tabs around them ignored.
export function hasTwoPairs (header: string, name: string): boolean {
  let found = 0
  for (let index = header.indexOf(name); index !== -1; index = header.indexOf(name, index + name.length)) {
    let before = index - 1
    while (before >= 0 && (header[before] === ' ' || header[before] === '\t')) before--
    let after = index + name.length
    while (header[after] === ' ' || header[after] === '\t') after++
    if ((before === -1 || header[before] === ';') && header[after] === '=' && ++found === 2) return true
  }
  return false
}
