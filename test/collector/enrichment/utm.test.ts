import { describe, expect, it } from 'vitest';
import { parsePageUrl } from '../../../collector/enrichment/page-url.ts';
import { utmFields, type UtmFields } from '../../../collector/enrichment/utm.ts';

const utm = (pageUrl: string | undefined): UtmFields => utmFields(parsePageUrl(pageUrl));

/** [case, page URL, expected fields]: by hand. */
const TABLE: [string, string | undefined, UtmFields][] = [
  ['no page URL', undefined, {}],
  ['no query', 'https://example.com/p', {}],
  [
    'all five',
    'https://example.com/p?utm_medium=email&utm_source=nl&utm_campaign=spring&utm_content=hero&utm_term=shoes',
    { utmMedium: 'email', utmSource: 'nl', utmCampaign: 'spring', utmContent: 'hero', utmTerm: 'shoes' },
  ],
  ['utmSource is kept as given (source maps it)', 'https://example.com/?utm_source=GOOGLE', { utmSource: 'GOOGLE' }],
  ['empty and blank are absent', 'https://example.com/?utm_medium=&utm_campaign=%20%20&utm_term', {}],
  ['the first non-empty value', 'https://example.com/?utm_campaign=&utm_campaign=b&utm_campaign=c', { utmCampaign: 'b' }],
  ['the first value', 'https://example.com/?utm_campaign=a&utm_campaign=b', { utmCampaign: 'a' }],
  ['decoded: UTF-8 and + as space', 'https://example.com/?utm_campaign=%C3%A9t%C3%A9+2024', { utmCampaign: 'été 2024' }],
  ['trimmed', 'https://example.com/?utm_term=%20%20running+shoes%20', { utmTerm: 'running shoes' }],
  ['names are case-sensitive', 'https://example.com/?UTM_MEDIUM=cpc&Utm_Source=x', {}],
  ['path-only page URL', '/landing?utm_medium=cpc', { utmMedium: 'cpc' }],
  ['protocol-relative page URL is not a path', '//example.com/?utm_medium=cpc', {}],
  ['unparsable page URL', 'http://exa mple.com/?utm_medium=cpc', {}],
  ['a control character becomes a space', 'https://example.com/?utm_term=a%0Db', { utmTerm: 'a b' }],
  ['a lone surrogate becomes U+FFFD', 'https://example.com/?utm_term=a\uD800b', { utmTerm: 'a\uFFFDb' }],
  ['a non-character is removed', 'https://example.com/?utm_term=a%EF%BF%BEb', { utmTerm: 'ab' }],
  ['other parameters are ignored', 'https://example.com/?utm_id=1&utm_source_platform=x&gclid=y', {}],
];

describe('utmFields', () => {
  it.each(TABLE)('%s', (_name, pageUrl, expected) => {
    expect(utm(pageUrl)).toEqual(expected);
  });

  it('keeps a value of 2048 characters and drops one of 2049', () => {
    expect(utm(`https://example.com/?utm_content=${'x'.repeat(2048)}`).utmContent).toHaveLength(2048);
    expect(utm(`https://example.com/?utm_content=${'x'.repeat(2049)}`)).toEqual({});
  });

  it('writes the fields in VISIT_FIELDS order', () => {
    const fields = utm('https://example.com/?utm_term=t&utm_content=c&utm_campaign=k&utm_source=s&utm_medium=m');
    expect(Object.keys(fields)).toEqual(['utmMedium', 'utmSource', 'utmCampaign', 'utmContent', 'utmTerm']);
  });
});
