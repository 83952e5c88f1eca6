// @ts-check
import js from '@eslint/js';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * Which folders of src/ may not import which: Slack -> use cases (runs) -> engine and store ->
 * adapters, with the pure core (engine, plan, report, the leaf modules) depending on no shell. The
 * workers (executor, publisher) sit beside the use cases. Only the composition root (ferry.ts,
 * main.ts, cli.ts) and the sandbox may reach everything.
 */
const shell = ['store', 'runs', 'slack', 'executor', 'publisher', 'adapters', 'http', 'sandbox'];
const layers = [
  { target: 'engine', from: [...shell, 'report'], why: 'the engine is pure: no I/O, no Slack' },
  {
    target: 'plan',
    from: [...shell, 'engine', 'report'],
    why: 'plans are data: they depend on nothing above them',
  },
  { target: 'report', from: shell, why: 'reports are built from data, with no I/O' },
  {
    target: 'adapters',
    from: ['engine', 'store', 'runs', 'slack', 'executor', 'publisher', 'http', 'sandbox', 'report'],
    why: 'adapters talk to one external system each; they know nothing of runs, Slack or the database',
  },
  {
    target: 'store',
    from: ['runs', 'slack', 'executor', 'publisher', 'http', 'sandbox'],
    why: 'the store holds the queries; nothing above it',
  },
  {
    target: 'runs',
    from: ['slack', 'executor', 'publisher', 'http', 'sandbox'],
    why: 'use cases are called by Slack, never the other way round',
  },
  {
    target: 'executor',
    from: ['runs', 'slack', 'publisher', 'http', 'sandbox'],
    why: 'the executor acts on steps; it does not start runs or talk to Slack',
  },
  {
    target: 'publisher',
    from: ['runs', 'executor', 'adapters', 'slack/listeners', 'http', 'sandbox'],
    why: 'the publisher renders the store into Slack through the views only',
  },
  {
    target: 'slack',
    from: ['store', 'executor', 'publisher', 'adapters', 'http', 'sandbox'],
    why: 'Slack handlers hold no SQL and call no adapter: they go through the use cases in runs/',
  },
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      '.ferry/',
      'scratch/',
      'coverage/',
      'test-results/',
      'bench/results/',
      'src/sandbox/console/vendor/',
    ],
  },
  js.configs.recommended,
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver': { node: { extensions: ['.ts', '.js'] } } },
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: layers.map(({ target, from, why }) => ({
            target: `./src/${target}`,
            from: from.map((f) => `./src/${f}`),
            message: why,
          })),
        },
      ],
      'import-x/no-cycle': 'error',
    },
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'bin/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // The global escape() URL-encodes and type-checks anywhere: views must use escapeMrkdwn.
      'no-restricted-globals': ['error', 'escape', 'unescape'],
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration in src/config.ts only.' },
      ],
    },
  },
  {
    files: ['src/config.ts', 'test/**', 'bench/**', 'drills/**', 'bin/**', '*.config.*'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['test/**', 'bench/**', 'drills/**'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
