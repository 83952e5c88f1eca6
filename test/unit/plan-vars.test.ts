import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FerryError } from '../../src/errors.ts';
import {
  checkEnvironmentVars,
  findMalformedVarRefs,
  findVarRefs,
  loadPlanFile,
  missingVars,
  resolveVars,
  unsetVariables,
} from '../../src/plan/index.ts';

const fixtures = fileURLToPath(new URL('../fixtures/plans', import.meta.url));

function thrown(fn: () => unknown): FerryError {
  try {
    fn();
  } catch (error) {
    if (error instanceof FerryError) return error;
    throw error;
  }
  throw new Error('expected a FerryError, nothing was thrown');
}

describe('findVarRefs', () => {
  it('finds each referenced name once, deep in lists and mappings, in order of appearance', () => {
    const step = {
      id: 'x',
      provider: { url: 'redis://${REDIS_HOST}:${REDIS_PORT}/0', token: '${TOKEN}' },
      checks: [{ http: { url: 'https://${REDIS_HOST}/healthz', samples: 3 } }],
      enabled: true,
    };
    expect(findVarRefs(step)).toEqual(['REDIS_HOST', 'REDIS_PORT', 'TOKEN']);
  });

  it('ignores escaped $${NAME}, keys, and text that only looks like a reference', () => {
    expect(findVarRefs({ '${KEY}': 'price: $5, $${LITERAL}, $NAME, ${lower-case}, ${ SPACED }' })).toEqual(
      [],
    );
  });
});

describe('resolveVars', () => {
  it('substitutes every reference deep in a copy and leaves the original alone', () => {
    const first = { id: 'a', provider: { url: 'rediss://:${PASSWORD}@host:6380', key: 'billing:${FLAG}' } };
    const steps = [first, { id: 'b', checks: [{ http: { url: '${BASE}/healthz', expect_status: 200 } }] }];
    const env = { PASSWORD: 'p@ss', FLAG: 'paused', BASE: 'https://billing.example.com' };
    expect(resolveVars(steps, env)).toEqual([
      { id: 'a', provider: { url: 'rediss://:p@ss@host:6380', key: 'billing:paused' } },
      { id: 'b', checks: [{ http: { url: 'https://billing.example.com/healthz', expect_status: 200 } }] },
    ]);
    expect(first.provider.url).toBe('rediss://:${PASSWORD}@host:6380');
  });

  it('writes $${NAME} as a literal ${NAME} and does not expand references inside values', () => {
    expect(resolveVars({ a: '$${HOME} and ${X}' }, { X: '${HOME}', HOME: '/root' })).toEqual({
      a: '${HOME} and ${HOME}',
    });
  });

  it('refuses to resolve while any variable is unset, naming all of them at once', () => {
    const error = thrown(() =>
      resolveVars({ a: '${ONE}', b: ['${TWO}', '${SET}'], c: '${THREE}' }, { SET: 'x', THREE: '' }),
    );
    expect(error.code).toBe('env_missing');
    expect(error.message).toBe(
      "This step needs `ONE`, `TWO`, `THREE` set in Ferry's environment; then try again.",
    );
  });

  it('says it the way every refusal over unset variables says it', () => {
    expect(thrown(() => resolveVars('${ONLY}', {})).message).toContain(unsetVariables(['ONLY']));
  });
});

describe('missingVars and checkEnvironmentVars', () => {
  it('lists the unset or empty variables a value needs', () => {
    expect(missingVars([{ url: '${A}' }, { url: '${B}' }, { url: '${C}' }], { A: 'x', B: '' })).toEqual([
      'B',
      'C',
    ]);
  });

  it('lists what the example plan still needs before a production run may start', async () => {
    const result = await loadPlanFile(join(fixtures, 'billing.yml'));
    if (!result.ok) throw new Error('billing.yml should be valid');
    expect(
      checkEnvironmentVars(result.plan, 'production', { SOURCE_REDIS_URL: 'redis://127.0.0.1:6379' }),
    ).toEqual(['BILLING_ADMIN_TOKEN', 'TARGET_REDIS_URL', 'TARGET_DATABASE_URL']);
    const all = {
      BILLING_ADMIN_TOKEN: 't',
      SOURCE_REDIS_URL: 'redis://a',
      TARGET_REDIS_URL: 'redis://b',
      TARGET_DATABASE_URL: 'postgres://c',
    };
    expect(checkEnvironmentVars(result.plan, 'production', all)).toEqual([]);
    const error = thrown(() => checkEnvironmentVars(result.plan, 'prod', all));
    expect(error.code).toBe('plan_not_found');
  });
});

describe('findMalformedVarRefs', () => {
  it('returns each ${ that is neither a reference nor escaped', () => {
    expect(findMalformedVarRefs('${OK} ${bad-name} $${ESCAPED} ${ SPACED } ${UNCLOSED')).toEqual([
      '${bad-name}',
      '${ SPACED }',
      '${UNCLOSED...',
    ]);
  });
});
