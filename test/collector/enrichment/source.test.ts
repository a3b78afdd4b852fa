import { describe, expect, it } from 'vitest';
import { KNOWN_SOURCES } from '../../../collector/enrichment/known-sources.ts';
import { parsePageUrl } from '../../../collector/enrichment/page-url.ts';
import { knownSourceOfHost, mapTaggedSource, visitSource } from '../../../collector/enrichment/source.ts';

const source = (pageUrl: string | undefined, referrer: string | undefined): string | undefined => visitSource(parsePageUrl(pageUrl), referrer);

const PAGE = 'https://example.com/pricing';

/** [case, page URL, referrer, expected source]: written by hand from Plausible's rules, not from the code. */
const TABLE: [string, string | undefined, string | undefined, string | undefined][] = [
  ['nothing: Direct / None', PAGE, undefined, undefined],
  ['empty referrer', PAGE, '', undefined],
  ['blank referrer', PAGE, '   ', undefined],
  ['google.com with www', PAGE, 'https://www.google.com/', 'Google'],
  ['Google country domain', PAGE, 'https://www.google.co.uk/search?q=x', 'Google'],
  ['Google com.au', PAGE, 'https://google.com.au/', 'Google'],
  ['Google subdomain', PAGE, 'https://news.google.de/articles/1', 'Google'],
  ['Gmail beats google.*', PAGE, 'https://mail.google.com/mail/u/0/', 'Gmail'],
  ['Gemini beats google.*', PAGE, 'https://gemini.google.com/app', 'Gemini'],
  ['google.* is not any host containing google', PAGE, 'https://google.evil.com/', 'google.evil.com'],
  ['Bing', PAGE, 'https://www.bing.com/search?q=x', 'Bing'],
  ['DuckDuckGo', PAGE, 'https://duckduckgo.com/', 'DuckDuckGo'],
  ['Yahoo Japan', PAGE, 'https://search.yahoo.co.jp/search', 'Yahoo!'],
  ['Yandex Turkey', PAGE, 'https://yandex.com.tr/search/', 'Yandex'],
  ['Baidu', PAGE, 'https://www.baidu.com/s?wd=x', 'Baidu'],
  ['Ecosia', PAGE, 'https://www.ecosia.org/search?q=x', 'Ecosia'],
  ['Brave Search', PAGE, 'https://search.brave.com/search?q=x', 'Brave'],
  ['Facebook link shim', PAGE, 'https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.com', 'Facebook'],
  ['Facebook mobile', PAGE, 'https://m.facebook.com/', 'Facebook'],
  ['Instagram', PAGE, 'https://l.instagram.com/', 'Instagram'],
  ['t.co is Twitter', PAGE, 'https://t.co/AbC123', 'Twitter'],
  ['x.com is Twitter', PAGE, 'https://x.com/someone/status/1', 'Twitter'],
  ['lnkd.in is LinkedIn', PAGE, 'https://lnkd.in/abc', 'LinkedIn'],
  ['Reddit old', PAGE, 'https://old.reddit.com/r/x', 'Reddit'],
  ['Youtube short links', PAGE, 'https://youtu.be/xyz', 'Youtube'],
  ['Pinterest country domain', PAGE, 'https://www.pinterest.de/pin/1', 'Pinterest'],
  ['GitHub with user info', PAGE, 'https://user:secret@github.com/org/repo', 'GitHub'],
  ['Hacker News', PAGE, 'https://news.ycombinator.com/item?id=1', 'Hacker News'],
  ['any Wikipedia', PAGE, 'https://en.m.wikipedia.org/wiki/Lambda', 'Wikipedia'],
  ['ChatGPT', PAGE, 'https://chatgpt.com/', 'ChatGPT'],
  ['ChatGPT old host', PAGE, 'https://chat.openai.com/c/1', 'ChatGPT'],
  ['Perplexity', PAGE, 'https://www.perplexity.ai/search/x', 'Perplexity'],
  ['unknown host: lower case, no www, no port', PAGE, 'https://WWW.Blog.Example.org:8443/post?a=1#top', 'blog.example.org'],
  ['only the first www. goes', PAGE, 'https://www.www.example.org/', 'www.example.org'],
  ['trailing dot', PAGE, 'https://www.google.com./', 'Google'],
  ['IPv4 host', PAGE, 'http://203.0.113.7:8080/', '203.0.113.7'],
  ['internal: same host', PAGE, 'https://example.com/blog', undefined],
  ['internal: www. on one side', 'https://www.example.com/', 'https://example.com/', undefined],
  ['internal: other port and scheme', 'https://example.com:8443/', 'http://example.com/', undefined],
  ['internal: case', 'https://Example.COM/', 'https://EXAMPLE.com/', undefined],
  ['subdomain is not internal', PAGE, 'https://blog.example.com/', 'blog.example.com'],
  ['no page URL: no internal check', undefined, 'https://example.com/', 'example.com'],
  ['path-only page: no internal check', '/pricing', 'https://example.com/', 'example.com'],
  ['unparsable page URL: referrer still counts', 'not a url', 'https://bing.com/', 'Bing'],
  ['localhost', PAGE, 'http://localhost:3000/', undefined],
  ['missing scheme', PAGE, 'google.com/search?q=x', 'Google'],
  ['missing scheme, unknown host and port', PAGE, 'Blog.Example.org:8080/post', 'blog.example.org'],
  ['protocol-relative', PAGE, '//news.ycombinator.com/', 'Hacker News'],
  ['missing scheme, internal', PAGE, 'example.com/other', undefined],
  ['a bare word is not a host', PAGE, 'foo', undefined],
  ['text with spaces', PAGE, 'not a url', undefined],
  ['IDN host in ASCII form', PAGE, 'https://bücher.example/katalog', 'xn--bcher-kva.example'],
  ['IDN internal (Unicode page, ASCII referrer)', 'https://www.bücher.example/', 'https://xn--bcher-kva.example/', undefined],
  ['android-app: known app', PAGE, 'android-app://com.google.android.gm/', 'Gmail'],
  ['android-app: Google app', PAGE, 'android-app://com.google.android.googlequicksearchbox/https/www.google.com', 'Google'],
  ['android-app: Reddit', PAGE, 'android-app://com.reddit.frontpage', 'Reddit'],
  ['android-app: unknown app kept as Plausible does', PAGE, 'android-app://com.Example.App/', 'android-app://com.example.app'],
  ['file: referrer', PAGE, 'file:///C:/page.html', undefined],
  ['extension referrer', PAGE, 'chrome-extension://abcdef/popup.html', undefined],
  ['about:blank', PAGE, 'about:blank', undefined],
  ['data: URL', PAGE, 'data:text/html,hello', undefined],
  ['mailto:', PAGE, 'mailto:someone@example.org', undefined],
  // Tagged sources.
  ['utm_source overrides the referrer', `${PAGE}?utm_source=newsletter`, 'https://google.com/', 'newsletter'],
  ['utm_source overrides an internal referrer', `${PAGE}?utm_source=newsletter`, 'https://example.com/', 'newsletter'],
  ['utm_source keeps its case when unknown', `${PAGE}?utm_source=NewsLetter`, undefined, 'NewsLetter'],
  ['utm_source=google is Google', `${PAGE}?utm_source=google`, undefined, 'Google'],
  ['utm_source=GOOGLE is Google', `${PAGE}?utm_source=GOOGLE`, undefined, 'Google'],
  ['utm_source alias ig', `${PAGE}?utm_source=ig`, undefined, 'Instagram'],
  ['utm_source alias adwords', `${PAGE}?utm_source=adwords`, undefined, 'Google'],
  ['utm_source a known host (ChatGPT tags its links so)', `${PAGE}?utm_source=chatgpt.com`, undefined, 'ChatGPT'],
  ['utm_source a known host with www', `${PAGE}?utm_source=www.google.co.uk`, undefined, 'Google'],
  ['utm_source a multi-word name', `${PAGE}?utm_source=hacker+news`, undefined, 'Hacker News'],
  ['utm_source an unknown host stays as given', `${PAGE}?utm_source=Partner.example`, undefined, 'Partner.example'],
  ['utm_source a URL stays as given', `${PAGE}?utm_source=https%3A%2F%2Fgoogle.com`, undefined, 'https://google.com'],
  ['source before ref', `${PAGE}?ref=a&source=b`, undefined, 'b'],
  ['utm_source before source', `${PAGE}?source=b&utm_source=c`, undefined, 'c'],
  ['ref alone', `${PAGE}?ref=producthunt`, 'https://google.com/', 'producthunt'],
  ['empty utm_source falls through to source', `${PAGE}?utm_source=&source=twitter`, undefined, 'Twitter'],
  ['blank utm_source falls through to the referrer', `${PAGE}?utm_source=%20%20`, 'https://www.bing.com/', 'Bing'],
  ['the first non-empty value of a parameter', `${PAGE}?utm_source=&utm_source=second`, undefined, 'second'],
  ['percent-encoded', `${PAGE}?utm_source=My%20Newsletter`, undefined, 'My Newsletter'],
  ['percent-encoded UTF-8', `${PAGE}?utm_source=caf%C3%A9`, undefined, 'café'],
  ['malformed percent-encoding stays literal', `${PAGE}?utm_source=50%`, undefined, '50%'],
  ['control characters become spaces, then trimmed', `${PAGE}?utm_source=%00news%0Aletter%09`, undefined, 'news letter'],
  ['parameter names are case-sensitive', `${PAGE}?UTM_SOURCE=x`, undefined, undefined],
  ['a fragment is not a query', `${PAGE}#utm_source=x`, 'https://bing.com/', 'Bing'],
  ['path-only page URL with a query', '/landing?utm_source=partner', undefined, 'partner'],
];

describe('visitSource', () => {
  it.each(TABLE)('%s', (_name, pageUrl, referrer, expected) => {
    expect(source(pageUrl, referrer)).toBe(expected);
  });

  it('has at least 25 rows', () => {
    expect(TABLE.length).toBeGreaterThanOrEqual(25);
  });

  it('drops a source longer than the schema allows, never cuts it', () => {
    const long = 'a'.repeat(2049);
    expect(source(`${PAGE}?utm_source=${long}`, undefined)).toBeUndefined();
    expect(source(`${PAGE}?utm_source=${long.slice(1)}`, undefined)).toBe(long.slice(1));
  });

  it('ignores a referrer that is not a string', () => {
    expect(visitSource(parsePageUrl(PAGE), 42)).toBeUndefined();
  });
});

describe('knownSourceOfHost', () => {
  it('matches every host of the table, and its subdomains', () => {
    for (const { name, hosts } of KNOWN_SOURCES) {
      for (const host of hosts) {
        const concrete = host.replace(/\.\*$/, '.com');
        expect(knownSourceOfHost(concrete), concrete).toBe(name);
        expect(knownSourceOfHost(`sub.${concrete}`), `sub.${concrete}`).toBe(name);
      }
    }
  });

  it('gives undefined for unknown hosts', () => {
    expect(knownSourceOfHost('example.com')).toBeUndefined();
    expect(knownSourceOfHost('com')).toBeUndefined();
    expect(knownSourceOfHost('')).toBeUndefined();
    expect(knownSourceOfHost('google.example.com')).toBeUndefined();
  });

  it('names each source once', () => {
    const names = KNOWN_SOURCES.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('mapTaggedSource', () => {
  it('does not map prototype keys', () => {
    expect(mapTaggedSource('constructor')).toBe('constructor');
    expect(mapTaggedSource('__proto__')).toBe('__proto__');
  });
});
