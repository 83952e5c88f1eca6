// Sentences for people that name other people, channels or user groups. The engine says who is
// meant, not how a surface shows them: Slack turns a person into a mention, a Markdown report or a
// log line into a plain id. Rules and their wording live in the engine; surfaces only render.

/** A person, a user group, a channel, or a moment (each reader sees it in their own time zone). */
export type Mention =
  | { readonly user: string }
  | { readonly group: string }
  | { readonly channel: string }
  | { readonly at: number };

export type Words = ReadonlyArray<string | Mention>;

export const person = (user: string): Mention => ({ user });
export const userGroup = (group: string): Mention => ({ group });
export const channelOf = (channel: string): Mention => ({ channel });
export const moment = (at: number): Mention => ({ at });

type Part = string | number | Mention | Words;

/** A sentence with people in it: words`Ask ${person('U1')}.` */
export function words(strings: TemplateStringsArray, ...parts: readonly Part[]): Words {
  const out: Array<string | Mention> = [];
  const push = (part: string | Mention) => {
    const last = out.at(-1);
    if (typeof part === 'string' && typeof last === 'string') out[out.length - 1] = last + part;
    else if (part !== '') out.push(part);
  };
  strings.forEach((text, i) => {
    push(text);
    if (i >= parts.length) return;
    const part = parts[i]!;
    if (typeof part === 'number') push(String(part));
    else if (typeof part === 'string' || !Array.isArray(part)) push(part as string | Mention);
    else for (const p of part as Words) push(p);
  });
  return out;
}

/** "A", "A or B", "A, B or C". */
export function oneOf(items: readonly Words[], conjunction = 'or'): Words {
  if (items.length === 0) return [];
  if (items.length === 1) return items[0]!;
  const head = items.slice(0, -1).flatMap((item, i) => (i === 0 ? [...item] : [', ', ...item]));
  return words`${head} ${conjunction} ${items.at(-1)!}`;
}

export function isMention(part: string | Mention): part is Mention {
  return typeof part !== 'string';
}

/** Plain text, for logs, errors' messages and Markdown: people and groups by id. */
export function plain(sentence: Words | string): string {
  if (typeof sentence === 'string') return sentence;
  return sentence
    .map((part) =>
      typeof part === 'string'
        ? part
        : 'user' in part
          ? `@${part.user}`
          : 'group' in part
            ? `@${part.group}`
            : 'channel' in part
              ? `#${part.channel}`
              : `${new Date(part.at).toISOString().slice(11, 16)} UTC`,
    )
    .join('');
}
