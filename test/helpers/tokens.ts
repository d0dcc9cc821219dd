// A token whose signature is wrong for certain: its last four characters replaced. A fixed
// replacement ("AAAA") would leave about one signature in 16 million unchanged, and "AA" one in
// a thousand, so that the test then sends the genuine token. The last character stays canonical.
export function withBadSignature (token: string): string {
  const replacement = token.endsWith('AAAA') ? 'BAAA' : 'AAAA'
  return token.slice(0, -4) + replacement
}
