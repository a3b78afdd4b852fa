import { describe, expect, it } from 'vitest';
import { cleanText } from '../../../collector/enrichment/text.ts';

describe('cleanText', () => {
  it.each([
    ['plain', 'abc', 'abc'],
    ['trimmed', '  abc \t', 'abc'],
    ['empty', '', undefined],
    ['blank', ' \u00a0\ufeff ', undefined],
    ['C0 control', 'a\u0000b', 'a b'],
    ['DEL and C1', 'a\u007fb\u0085c', 'a b c'],
    ['lone high surrogate', 'a\ud800', 'a\ufffd'],
    ['lone low surrogate', '\udc00a', '\ufffda'],
    ['pair kept', 'a\u{1f600}', 'a\u{1f600}'],
    ['non-characters removed', 'a\ufdd0\ufffe\u{10ffff}b', 'ab'],
    ['only controls', '\u0001\u0002', undefined],
  ])('%s', (_name, input, expected) => {
    expect(cleanText(input, 100)).toBe(expected);
  });

  it('drops, never cuts, a value longer than the limit (counted after cleaning)', () => {
    expect(cleanText('abcd', 3)).toBeUndefined();
    expect(cleanText(' abc ', 3)).toBe('abc');
  });
});
