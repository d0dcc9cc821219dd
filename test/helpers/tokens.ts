// A token whose signature is wrong for certain: its last four characters replaced. A fixed
// replacement would sometimes leave the signature unchanged, and the test would send the genuine
// token: "AAAA" about once in four million HS256 tokens (once in a million HS512), "AA" once in
// 1,024 (once in 256). "A" is a canonical last character for every signature length.
export function withBadSignature (token: string): string {
  const replacement = token.endsWith('AAAA') ? 'BAAA' : 'AAAA'
  return token.slice(0, -4) + replacement
}
