import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { planSchema } from './schema.ts';
import type { Plan } from './schema.ts';
import { closestMatch } from './suggest.ts';
import { findMalformedVarRefs, findVarRefs } from './vars.ts';

// Plan files are YAML 1.2 (so `on` and `off` stay strings), validated with the zod schema. Every
// problem points at the line and column a person has to edit: an unknown key at the key, a bad
// value at the value, a missing key at the mapping that lacks it. A path through an alias
// (`steps: *steps`) points at the anchored node, since that is where the text is.

/** One thing wrong with a plan file. `line` and `column` are 1-based; 0 when no position applies. */
export type PlanProblem = { file: string; line: number; column: number; path: string; message: string };
export type LoadedPlan = { file: string; plan: Plan };
export type LoadResult =
  { ok: true; file: string; plan: Plan } | { ok: false; file: string; problems: PlanProblem[] };

/** `plans/billing.yml:14:9 environments.production.steps[3]: unknown key "provder"` */
export function formatProblem(problem: PlanProblem): string {
  const where = problem.line > 0 ? `${problem.file}:${problem.line}:${problem.column}` : problem.file;
  return problem.path === ''
    ? `${where}: ${problem.message}`
    : `${where} ${problem.path}: ${problem.message}`;
}

type PathKey = string | number;
type Path = readonly PathKey[];
type Issue = z.core.$ZodIssue;

/**
 * What is wrong, and where: `at` the key itself or its value; shown under `shownPath`. `missing`
 * names a required key that is absent, `meant` the key an unknown key probably is, so a typo is
 * reported once rather than also as the key it failed to be.
 */
type Finding = {
  path: Path;
  at: 'key' | 'value';
  shownPath: Path;
  message: string;
  missing?: string;
  meant?: string;
};

export function formatPath(path: Path): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(key)) text += text === '' ? key : `.${key}`;
    else text += `[${JSON.stringify(key)}]`;
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// Positions

type Position = { line: number; column: number };

class SourceMap {
  readonly #doc: Document;
  readonly #lines: LineCounter;
  constructor(doc: Document, lines: LineCounter) {
    this.#doc = doc;
    this.#lines = lines;
  }

  at(offset: number): Position {
    const { line, col } = this.#lines.linePos(offset);
    return { line, column: col };
  }

  /** Where `path` is written; the deepest existing node when the path goes further than the text. */
  locate(path: Path, at: 'key' | 'value'): Position {
    let node = this.#resolve(this.#doc.contents);
    let position = this.#start(node) ?? { line: 1, column: 1 };
    for (const [index, key] of path.entries()) {
      const last = index === path.length - 1;
      let next: unknown;
      if (isMap(node)) {
        const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(key));
        if (!pair) return position;
        const keyStart = this.#start(pair.key);
        const value = this.#resolve(pair.value);
        // `key:` with nothing after it has an empty value with no useful place of its own.
        const empty = !value || (isScalar(value) && value.source === '');
        if ((last && at === 'key') || empty) return keyStart ?? position;
        next = value;
      } else if (isSeq(node) && typeof key === 'number') {
        next = this.#resolve(node.items[key]);
        if (next === undefined) return position;
      } else {
        return position;
      }
      node = next;
      position = this.#start(node) ?? position;
    }
    return position;
  }

  #resolve(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.#doc) : node;
  }

  #start(node: unknown): Position | undefined {
    const range = (node as YamlNode | null | undefined)?.range;
    return range ? this.at(range[0]) : undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Schema lookups, to name what a key could have been

type Schema = z.core.$ZodType;

function unwrap(schema: Schema): Schema {
  let current = schema;
  for (;;) {
    if (
      current instanceof z.ZodOptional ||
      current instanceof z.ZodDefault ||
      current instanceof z.ZodNullable
    ) {
      current = current.unwrap();
    } else if (current instanceof z.ZodPipe) {
      current = current.in;
    } else {
      return current;
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function valueAt(data: unknown, path: Path): unknown {
  let value = data;
  for (const key of path) {
    if (Array.isArray(value) && typeof key === 'number') value = value[key];
    else if (isRecord(value)) value = value[key];
    else return undefined;
  }
  return value;
}

function literalValues(schema: Schema | undefined): unknown[] | undefined {
  if (!schema) return undefined;
  const inner = unwrap(schema);
  return inner instanceof z.ZodLiteral ? [...inner.values] : undefined;
}

function shapeOf(schema: Schema): Record<string, Schema> | undefined {
  const inner = unwrap(schema);
  return inner instanceof z.ZodObject ? inner.shape : undefined;
}

/** The union options `value` was most likely meant as: one, or all of them when it is a toss-up. */
function likelyOptions(options: readonly Schema[], value: unknown): { index: number; schema: Schema }[] {
  const scored = options.map((schema, index) => {
    const inner = unwrap(schema);
    const shape = shapeOf(inner);
    if (!shape) {
      const fits =
        (inner instanceof z.ZodArray && Array.isArray(value)) ||
        (inner instanceof z.ZodLiteral && inner.values.has(value as never));
      return { index, schema, score: fits ? 1 : 0 };
    }
    if (!isRecord(value)) return { index, schema, score: 0 };
    let score = 0;
    for (const [key, field] of Object.entries(shape)) {
      if (!(key in value)) continue;
      const literals = literalValues(field);
      if (literals && !literals.includes(value[key])) return { index, schema, score: -1 };
      score += literals ? 10 : 1;
    }
    return { index, schema, score };
  });
  const best = Math.max(...scored.map((option) => option.score));
  const top = scored.filter((option) => option.score === best);
  return best > 0 && top.length === 1 ? top : scored.filter((option) => option.score >= 0);
}

function unionOptions(schema: Schema): readonly Schema[] | undefined {
  const inner = unwrap(schema);
  return inner instanceof z.ZodUnion ? inner.options : undefined;
}

/** The schemas that describe `path` in `data` (several where a union cannot tell). */
function schemasAt(root: Schema, data: unknown, path: Path): Schema[] {
  let current: Schema[] = [root];
  for (const [depth, key] of path.entries()) {
    const value = valueAt(data, path.slice(0, depth));
    const next: Schema[] = [];
    for (const schema of current.flatMap((s) => expandUnion(s, value))) {
      const inner = unwrap(schema);
      const shape = shapeOf(inner);
      const child =
        shape?.[String(key)] ??
        (inner instanceof z.ZodArray ? inner.element : undefined) ??
        (inner instanceof z.ZodRecord ? inner.valueType : undefined);
      if (child) next.push(child);
    }
    current = next;
  }
  return current;
}

function expandUnion(schema: Schema, value: unknown): Schema[] {
  const options = unionOptions(schema);
  if (!options) return [schema];
  return likelyOptions(options, value).flatMap((option) => expandUnion(option.schema, value));
}

function knownKeys(root: Schema, data: unknown, path: Path): string[] {
  const value = valueAt(data, path);
  const keys = schemasAt(root, data, path)
    .flatMap((schema) => expandUnion(schema, value))
    .flatMap((schema) => Object.keys(shapeOf(schema) ?? {}));
  return [...new Set(keys)];
}

// ---------------------------------------------------------------------------------------------
// Messages

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  // YAML gives numbers and booleans here; JSON spells them as a plan does.
  return JSON.stringify(value) ?? typeof value;
}

const typeNames: Record<string, string> = {
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
};

function typeMessage(expected: string, value: unknown): string {
  const wanted = typeNames[expected] ?? expected;
  const got = describeValue(value);
  if (expected === 'string' && (typeof value === 'number' || typeof value === 'boolean')) {
    return `expected ${wanted} (got ${got}; write "${got}" in quotes)`;
  }
  return `expected ${wanted} (got ${got})`;
}

function didYouMean(word: unknown, candidates: readonly string[]): string | undefined {
  const guess = typeof word === 'string' ? closestMatch(word, candidates) : undefined;
  return guess === undefined ? undefined : `did you mean "${guess}"?`;
}

/** `unknown key "provder" (did you mean "provider"?)`, else the keys that are allowed there. */
function unknownKeyFinding(parent: Path, key: string, known: readonly string[], expected?: string): Finding {
  const guess = closestMatch(key, known);
  const allowed =
    expected ?? (known.length > 0 && known.length <= 10 ? `expected one of ${known.join(', ')}` : undefined);
  return {
    path: [...parent, key],
    at: 'key',
    shownPath: parent,
    message: withNotes(`unknown key "${key}"`, guess ? [expected, `did you mean "${guess}"?`] : [allowed]),
    ...(guess === undefined ? {} : { meant: guess }),
  };
}

/** A required key that is absent: shown at the mapping that should hold it. */
function missingKeyFinding(path: Path, expected?: string): Finding {
  const key = String(path.at(-1));
  return {
    path,
    at: 'value',
    shownPath: path.slice(0, -1),
    message: withNotes(`missing required key "${key}"`, [expected]),
    missing: key,
  };
}

/** Drops "missing key X" where the same mapping has an unknown key that is probably X misspelt. */
function dropEchoes(findings: readonly Finding[]): Finding[] {
  const meant = new Set(findings.filter((f) => f.meant).map((f) => `${formatPath(f.shownPath)}#${f.meant}`));
  return findings.filter((f) => !f.missing || !meant.has(`${formatPath(f.shownPath)}#${f.missing}`));
}

/** `text (note; note)`, leaving out the notes that are undefined. */
function withNotes(text: string, notes: readonly (string | undefined)[]): string {
  const present = notes.filter((note) => note !== undefined);
  return present.length === 0 ? text : `${text} (${present.join('; ')})`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** What a kind-like field selects: "step kind", "provider type", "target type". */
function selectorNoun(path: Path): string {
  const key = path.at(-1);
  if (key === 'kind') return 'step kind';
  const owner = path.at(-2);
  return typeof owner === 'string' ? `${owner} ${String(key)}` : String(key);
}

function selectorFinding(data: unknown, path: Path, options: readonly unknown[]): Finding {
  const names = options.map(String);
  const value = valueAt(data, path);
  if (value === undefined) return missingKeyFinding(path, `expected one of ${names.join(', ')}`);
  let context = '';
  if (path.at(-2) === 'provider') {
    const kind = valueAt(data, [...path.slice(0, -2), 'kind']);
    if (typeof kind === 'string') context = ` for a ${kind} step`;
  }
  const text =
    typeof value === 'string'
      ? `unknown ${selectorNoun(path)} "${value}"${context}`
      : `${selectorNoun(path)} must be a name${context}, not ${describeValue(value)}`;
  const expected = `expected one of ${names.join(', ')}`;
  return {
    path,
    at: 'value',
    shownPath: path,
    message: withNotes(text, [expected, didYouMean(value, names)]),
  };
}

function describeOption(schema: Schema): string {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodLiteral) return [...inner.values].map((v) => JSON.stringify(v)).join(' or ');
  if (inner instanceof z.ZodArray) return 'a list';
  if (inner instanceof z.ZodObject) return 'a mapping';
  if (inner instanceof z.ZodString) return 'a string';
  if (inner instanceof z.ZodNumber) return 'a number';
  if (inner instanceof z.ZodBoolean) return 'true or false';
  return 'another value';
}

class IssueReader {
  readonly #root: Schema;
  readonly #data: unknown;
  constructor(root: Schema, data: unknown) {
    this.#root = root;
    this.#data = data;
  }

  read(issue: Issue, base: Path = []): Finding[] {
    const path: Path = [...base, ...(issue.path as PathKey[])];
    const value = valueAt(this.#data, path);
    const atValue = (message: string): Finding[] => [{ path, at: 'value', shownPath: path, message }];
    const missing =
      value === undefined && path.length > 0 && isRecord(valueAt(this.#data, path.slice(0, -1)));
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = knownKeys(this.#root, this.#data, path);
        return issue.keys.map((key) => unknownKeyFinding(path, key, known));
      }
      case 'invalid_type':
        if (missing) return [missingKeyFinding(path)];
        return atValue(typeMessage(issue.expected, value));
      case 'invalid_value': {
        const names = issue.values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
        const expected =
          names.length === 1 ? `expected "${names[0]}"` : `expected one of ${names.join(', ')}`;
        if (missing) return [missingKeyFinding(path, expected)];
        return atValue(withNotes(expected, [`got ${describeValue(value)}`, didYouMean(value, names)]));
      }
      case 'invalid_union':
        return this.#union(issue, path, value, missing);
      case 'invalid_format': {
        const rule = issue.message.startsWith('Invalid')
          ? `expected text matching ${issue.pattern ?? issue.format}`
          : issue.message;
        return atValue(`${rule} (got ${describeValue(value)})`);
      }
      case 'too_small': {
        const min = Number(issue.minimum);
        if (issue.origin === 'array') return atValue(`expected at least ${plural(min, 'item')}`);
        if (issue.origin === 'string')
          return atValue(min === 1 ? 'must not be empty' : `expected at least ${plural(min, 'character')}`);
        return atValue(
          `must be ${issue.inclusive ? 'at least' : 'more than'} ${min} (got ${describeValue(value)})`,
        );
      }
      case 'too_big': {
        const max = Number(issue.maximum);
        if (issue.origin === 'array') return atValue(`expected at most ${plural(max, 'item')}`);
        if (issue.origin === 'string') return atValue(`expected at most ${plural(max, 'character')}`);
        return atValue(
          `must be ${issue.inclusive ? 'at most' : 'less than'} ${max} (got ${describeValue(value)})`,
        );
      }
      case 'invalid_key': {
        const reason = issue.issues[0]?.message ?? issue.message;
        const noun = path.at(-2) === 'environments' ? 'environment name' : 'key';
        return [
          {
            path,
            at: 'key',
            shownPath: path.slice(0, -1),
            message: `invalid ${noun} "${String(path.at(-1))}": ${reason}`,
          },
        ];
      }
      case 'not_multiple_of':
        return atValue(`must be a multiple of ${issue.divisor} (got ${describeValue(value)})`);
      case 'invalid_element':
      case 'custom':
        return atValue(issue.message);
    }
  }

  #union(
    issue: Extract<Issue, { code: 'invalid_union' }>,
    path: Path,
    value: unknown,
    missing: boolean,
  ): Finding[] {
    if (issue.discriminator !== undefined && 'options' in issue && issue.options) {
      return [selectorFinding(this.#data, path, issue.options)];
    }
    const options = this.#unionAt(path);
    if (!options || options.length !== issue.errors.length) {
      return [
        { path, at: 'value', shownPath: path, message: `${issue.message} (got ${describeValue(value)})` },
      ];
    }
    const likely = likelyOptions(options, value);
    const only = likely.length === 1 ? likely[0] : undefined;
    if (only) return (issue.errors[only.index] ?? []).flatMap((inner) => this.read(inner, path));

    const shapes = options.map(shapeOf).filter((shape) => shape !== undefined);
    if (isRecord(value) && shapes.length === options.length) {
      // Options told apart by a literal field (`type: file` or `type: qovery`).
      const selector = Object.keys(shapes[0] ?? {}).find((key) =>
        shapes.every((shape) => literalValues(shape[key])),
      );
      if (selector) {
        const names = shapes.flatMap((shape) => literalValues(shape[selector]) ?? []);
        return [selectorFinding(this.#data, [...path, selector], names)];
      }
      // Options told apart by which key is present (`http:` or `postgres:` or `redis:`).
      const keys = [...new Set(shapes.flatMap((shape) => Object.keys(shape)))];
      const unknown = Object.keys(value).filter((key) => !keys.includes(key));
      const required = shapes.map((shape) =>
        Object.keys(shape).find((key) => shape[key]?._zod.optin !== 'optional'),
      );
      const expected = `expected one of ${required.filter(Boolean).join(', ')}`;
      if (unknown.length > 0) return unknown.map((key) => unknownKeyFinding(path, key, keys, expected));
      return [{ path, at: 'value', shownPath: path, message: expected }];
    }
    const alternatives = [...new Set(options.map(describeOption))].join(' or ');
    if (missing) return [missingKeyFinding(path, `expected ${alternatives}`)];
    return [
      {
        path,
        at: 'value',
        shownPath: path,
        message: `expected ${alternatives} (got ${describeValue(value)})`,
      },
    ];
  }

  #unionAt(path: Path): readonly Schema[] | undefined {
    const candidates = schemasAt(this.#root, this.#data, path);
    return candidates.length === 1 && candidates[0] ? unionOptions(candidates[0]) : undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Checks the schema cannot express

function* stringsIn(value: unknown, path: PathKey[] = []): Generator<{ path: Path; text: string }> {
  if (typeof value === 'string') yield { path, text: value };
  else if (Array.isArray(value))
    for (const [i, item] of value.entries()) yield* stringsIn(item, [...path, i]);
  else if (isRecord(value))
    for (const [key, item] of Object.entries(value)) yield* stringsIn(item, [...path, key]);
}

function planChecks(data: unknown, source: SourceMap): Finding[] {
  const findings: Finding[] = [];
  const environments = isRecord(data) ? data.environments : undefined;
  if (isRecord(environments) && Object.keys(environments).length === 0) {
    findings.push({
      path: ['environments'],
      at: 'value',
      shownPath: ['environments'],
      message: 'a plan needs at least one environment, such as staging',
    });
  }
  if (isRecord(environments)) {
    for (const [envName, environment] of Object.entries(environments)) {
      const requires =
        isRecord(environment) && isRecord(environment.requires) ? environment.requires : undefined;
      if (typeof requires?.environment === 'string') {
        const path = ['environments', envName, 'requires', 'environment'];
        const other = requires.environment;
        const names = Object.keys(environments).filter((name) => name !== envName);
        if (other === envName) {
          findings.push({
            path,
            at: 'value',
            shownPath: path,
            message: `an environment cannot require itself: name the one that must soak first, such as staging`,
          });
        } else if (!(other in environments)) {
          findings.push({
            path,
            at: 'value',
            shownPath: path,
            message: withNotes(`no environment "${other}" in this plan`, [
              `it has ${names.join(', ') || 'no other'}`,
              didYouMean(other, names),
            ]),
          });
        }
      }
      const steps = isRecord(environment) ? environment.steps : undefined;
      if (!Array.isArray(steps)) continue;
      for (const [index, step] of steps.entries()) {
        if (isRecord(step) && step.forward_fix !== undefined && step.irreversible !== true) {
          const path = ['environments', envName, 'steps', index, 'forward_fix'];
          findings.push({
            path,
            at: 'key',
            shownPath: path,
            message:
              'forward_fix is the guidance shown once an irreversible step went through: add irreversible: true, or remove it',
          });
        }
      }
      const seen = new Map<string, number>();
      for (const [index, step] of steps.entries()) {
        const id = isRecord(step) ? step.id : undefined;
        if (typeof id !== 'string') continue;
        const first = seen.get(id);
        if (first === undefined) {
          seen.set(id, index);
          continue;
        }
        const path = ['environments', envName, 'steps', index, 'id'];
        const { line } = source.locate(['environments', envName, 'steps', first, 'id'], 'value');
        findings.push({
          path,
          at: 'value',
          shownPath: path,
          message: `duplicate step id "${id}" (steps[${first}], line ${line}, has it too; step ids are unique in an environment)`,
        });
      }
    }
  }
  for (const { path, text } of stringsIn(data)) {
    for (const bad of findMalformedVarRefs(text)) {
      findings.push({
        path,
        at: 'value',
        shownPath: path,
        message: `malformed variable reference "${bad}": write \${NAME} (letters, digits and underscores), or $\${ for a literal "\${"`,
      });
    }
    const inSteps = path[0] === 'environments' && path[2] === 'steps';
    const names = inSteps ? [] : findVarRefs(text);
    if (names.length > 0) {
      findings.push({
        path,
        at: 'value',
        shownPath: path,
        message: `\${${names[0]}} is not read here: variables are read only inside steps`,
      });
    }
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------
// Loading

type ParsedFile = { result: LoadResult; source: SourceMap | undefined };

function parseSource(text: string, file: string): ParsedFile {
  const lines = new LineCounter();
  // Silent: a key that is a list or a mapping is reported below as an unknown key, not printed by
  // the yaml library as a process warning on Ferry's stderr.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, logLevel: 'error' });
  const source = new SourceMap(doc, lines);
  const problem = (position: Position, path: string, message: string): PlanProblem => ({
    file,
    ...position,
    path,
    message,
  });
  const fail = (problems: PlanProblem[]): ParsedFile => ({ result: { ok: false, file, problems }, source });

  const yamlProblems = [...doc.errors, ...doc.warnings].map((error) =>
    problem(source.at(error.pos[0]), '', `YAML: ${error.message}`),
  );
  visit(doc, {
    Alias(_key, node) {
      if (!node.resolve(doc) && node.range) {
        yamlProblems.push(
          problem(
            source.at(node.range[0]),
            '',
            `YAML: alias *${node.source} has no anchor &${node.source} before it`,
          ),
        );
      }
    },
  });
  if (yamlProblems.length > 0) return fail(yamlProblems);
  if (doc.contents === null) {
    return fail([
      problem({ line: 1, column: 1 }, '', 'the file is empty; a plan needs service and environments'),
    ]);
  }

  let data: unknown;
  try {
    data = doc.toJS();
  } catch (error) {
    return fail([problem({ line: 1, column: 1 }, '', `YAML: ${(error as Error).message}`)]);
  }

  const parsed = planSchema.safeParse(data);
  const reader = new IssueReader(planSchema, data);
  const findings = dropEchoes([
    ...(parsed.success ? [] : parsed.error.issues.flatMap((issue) => reader.read(issue))),
    ...planChecks(data, source),
  ]);
  if (parsed.success && findings.length === 0)
    return { result: { ok: true, file, plan: parsed.data }, source };

  const seen = new Set<string>();
  const problems: PlanProblem[] = [];
  for (const finding of findings) {
    const item = problem(
      source.locate(finding.path, finding.at),
      formatPath(finding.shownPath),
      finding.message,
    );
    const key = formatProblem(item);
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(item);
  }
  // Stable: at one place (an anchor reused by an alias) the order stays the file's order.
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  return fail(problems);
}

/** Validates plan text; `file` is only used to name it in problems. */
export function parsePlan(text: string, file: string): LoadResult {
  return parseSource(text, file).result;
}

async function loadFile(file: string): Promise<ParsedFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    return {
      result: {
        ok: false,
        file,
        problems: [{ file, line: 0, column: 0, path: '', message: `cannot read the plan: ${reason}` }],
      },
      source: undefined,
    };
  }
  return parseSource(text, file);
}

/** Reads and validates one plan file. */
export async function loadPlanFile(file: string): Promise<LoadResult> {
  return (await loadFile(file)).result;
}

const planFileName = /\.ya?ml$/i;

/**
 * Loads a plan file, or every `*.yml` / `*.yaml` directly in a folder (sorted by name). A plan
 * with problems is left out; so is a later file claiming a service an earlier one has.
 */
export async function loadPlans(
  fileOrFolder: string,
): Promise<{ plans: LoadedPlan[]; problems: PlanProblem[]; files: string[] }> {
  const noPosition = { line: 0, column: 0, path: '' };
  let files: string[];
  try {
    const info = await stat(fileOrFolder);
    if (info.isDirectory()) {
      const names = (await readdir(fileOrFolder, { withFileTypes: true }))
        .filter((entry) => entry.isFile() && planFileName.test(entry.name))
        .map((entry) => entry.name)
        .sort();
      files = names.map((name) => join(fileOrFolder, name));
      if (files.length === 0) {
        const message = 'no plan files (*.yml, *.yaml) in this folder';
        return { plans: [], problems: [{ file: fileOrFolder, ...noPosition, message }], files };
      }
    } else {
      files = [fileOrFolder];
    }
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    const message = missing ? 'no such file or folder' : `cannot read: ${(error as Error).message}`;
    return { plans: [], problems: [{ file: fileOrFolder, ...noPosition, message }], files: [] };
  }

  const plans: LoadedPlan[] = [];
  const problems: PlanProblem[] = [];
  const owners = new Map<string, string>();
  for (const { result, source } of await Promise.all(files.map(loadFile))) {
    if (!result.ok) {
      problems.push(...result.problems);
      continue;
    }
    const owner = owners.get(result.plan.service);
    if (owner !== undefined) {
      const position = source?.locate(['service'], 'value') ?? { line: 0, column: 0 };
      problems.push({
        file: result.file,
        ...position,
        path: 'service',
        message: `service "${result.plan.service}" already has a plan in ${owner}; a service has one plan file`,
      });
      continue;
    }
    owners.set(result.plan.service, result.file);
    plans.push({ file: result.file, plan: result.plan });
  }
  return { plans, problems, files };
}
