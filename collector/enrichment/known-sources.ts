/**
 * The well-known sources: the one table that turns a referrer host, an Android app id or a
 * `utm_source` value into a name ("Google" for google.co.uk, android-app://com.google.android.gm
 * is "Gmail", utm_source=ig is "Instagram"). Data only; source.ts reads it.
 *
 * Names follow Plausible's spelling where Plausible has one ("Youtube", "Yahoo!", "Brave",
 * "Twitter"), so that filters written for Plausible match; x.com is Twitter too (our choice).
 */

export interface KnownSource {
  /** The name stored as the source. */
  readonly name: string;
  /**
   * Hosts without `www.`; each matches its subdomains too (facebook.com matches l.facebook.com),
   * and the most specific entry wins (mail.google.com is Gmail, news.google.com is Google).
   * `google.*` stands for google followed by a generic or country ending: google.com,
   * google.de, google.co.uk, google.com.au ({@link WILDCARD_ENDING_RE}).
   */
  readonly hosts: readonly string[];
  /** Android app ids, for `android-app://<id>/` referrers (the Android apps send them). */
  readonly apps?: readonly string[];
  /** `utm_source` shorthands (lower case), besides the name and the hosts, which match too. */
  readonly aliases?: readonly string[];
}

/** What may follow `name.` for a `name.*` host: com, net, org, a country code, or co./com./… plus a country code. */
export const WILDCARD_ENDING_RE = /^(?:com|net|org|[a-z]{2}|(?:co|com|net|org|ne|or|ac)\.[a-z]{2})$/;

export const KNOWN_SOURCES: readonly KnownSource[] = [
  // Search engines.
  { name: 'Google', hosts: ['google.*'], apps: ['com.google.android.googlequicksearchbox'], aliases: ['adwords', 'google ads', 'google-ads', 'google_ads', 'googleads', 'gads'] },
  { name: 'Bing', hosts: ['bing.com'], aliases: ['bing ads', 'bing-ads', 'microsoft ads'] },
  { name: 'DuckDuckGo', hosts: ['duckduckgo.com'], aliases: ['ddg'] },
  { name: 'Yahoo!', hosts: ['yahoo.*'], aliases: ['yahoo'] },
  { name: 'Yandex', hosts: ['yandex.*', 'ya.ru'] },
  { name: 'Baidu', hosts: ['baidu.com'] },
  { name: 'Ecosia', hosts: ['ecosia.org'] },
  { name: 'Brave', hosts: ['search.brave.com'], aliases: ['brave search'] },
  { name: 'Qwant', hosts: ['qwant.com'] },
  { name: 'Startpage', hosts: ['startpage.com'] },
  { name: 'Naver', hosts: ['naver.com'] },
  { name: 'Seznam', hosts: ['seznam.cz'] },
  // Answer engines and assistants.
  { name: 'ChatGPT', hosts: ['chatgpt.com', 'chat.openai.com'], apps: ['com.openai.chatgpt'] },
  { name: 'Perplexity', hosts: ['perplexity.ai'], apps: ['ai.perplexity.app.android'] },
  { name: 'Claude', hosts: ['claude.ai'] },
  { name: 'Gemini', hosts: ['gemini.google.com', 'bard.google.com'] },
  { name: 'Copilot', hosts: ['copilot.microsoft.com'] },
  // Social networks, communities, messaging.
  { name: 'Facebook', hosts: ['facebook.com', 'fb.me', 'fb.com'], apps: ['com.facebook.katana', 'com.facebook.lite'], aliases: ['fb', 'fb-ads', 'fbads', 'facebook-ads', 'facebook_ads'] },
  { name: 'Instagram', hosts: ['instagram.com'], apps: ['com.instagram.android'], aliases: ['ig'] },
  { name: 'Twitter', hosts: ['twitter.com', 't.co', 'x.com'], apps: ['com.twitter.android'], aliases: ['twitter-ads'] },
  { name: 'LinkedIn', hosts: ['linkedin.com', 'lnkd.in'], apps: ['com.linkedin.android'] },
  { name: 'Reddit', hosts: ['reddit.com', 'redd.it'], apps: ['com.reddit.frontpage'], aliases: ['reddit-ads'] },
  { name: 'Youtube', hosts: ['youtube.com', 'youtu.be'], apps: ['com.google.android.youtube'], aliases: ['yt', 'yt-ads'] },
  { name: 'Pinterest', hosts: ['pinterest.*', 'pin.it'], apps: ['com.pinterest'] },
  { name: 'TikTok', hosts: ['tiktok.com'], apps: ['com.zhiliaoapp.musically'], aliases: ['tiktokads'] },
  { name: 'Threads', hosts: ['threads.net', 'threads.com'] },
  { name: 'Bluesky', hosts: ['bsky.app'] },
  { name: 'Vkontakte', hosts: ['vk.com'] },
  { name: 'Telegram', hosts: ['t.me', 'web.telegram.org'], apps: ['org.telegram.messenger'] },
  { name: 'Discord', hosts: ['discord.com', 'discordapp.com'], apps: ['com.discord'] },
  { name: 'Slack', hosts: ['slack.com'], apps: ['com.slack'] },
  { name: 'GitHub', hosts: ['github.com'] },
  { name: 'Hacker News', hosts: ['news.ycombinator.com'], aliases: ['hn', 'hackernews'] },
  { name: 'Stack Overflow', hosts: ['stackoverflow.com'] },
  { name: 'Wikipedia', hosts: ['wikipedia.org'] },
  { name: 'Product Hunt', hosts: ['producthunt.com'] },
  { name: 'Linktree', hosts: ['linktr.ee'] },
  // Mail.
  { name: 'Gmail', hosts: ['mail.google.com'], apps: ['com.google.android.gm'] },
  { name: 'Outlook.com', hosts: ['outlook.live.com', 'outlook.office.com', 'outlook.office365.com'], apps: ['com.microsoft.office.outlook'] },
  { name: 'Yahoo! Mail', hosts: ['mail.yahoo.com'] },
];
