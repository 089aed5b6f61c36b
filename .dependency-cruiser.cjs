/**
 * The layering of src/ (docs/architecture.md draws it). A folder may import only folders of the
 * same or a lower rank, other folders only through their index.ts, and nothing may form a cycle.
 * `npm run lint` runs this, so CI fails on an upward import or a cycle.
 */
const ranks = [
  ['errors.ts', 'masking', 'templates', 'metrics', 'logging', 'config'],
  ['access', 'secrets', 'sandbox', 'local-secrets-manager', 'local-vault'],
  ['workflows', 'postgres'],
  ['credentials'],
  ['use-cases'],
  ['http'],
  ['agent', 'embedded'],
  ['cli'],
];

const pathOf = (names) => `^src/(${names.map((n) => n.replace('.', '\\.')).join('|')})(/|$)`;

const upward = ranks.slice(0, -1).map((names, rank) => ({
  name: `no-upward-from-rank-${rank}`,
  comment: `${names.join(', ')} may not import a folder of a higher rank (${ranks
    .slice(rank + 1)
    .flat()
    .join(', ')})`,
  severity: 'error',
  from: { path: pathOf(names) },
  to: { path: pathOf(ranks.slice(rank + 1).flat()) },
}));

module.exports = {
  forbidden: [
    ...upward,
    {
      name: 'no-cycle',
      comment: 'A module may not reach itself through its imports.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-folder-cycle',
      comment: 'Two folders may not import each other, directly or through others.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/[^/]+$' },
      to: { circular: true },
    },
    {
      name: 'through-the-index',
      comment: 'Another folder is imported through its index.ts, its public API, not past it.',
      severity: 'error',
      from: { path: '^src/([^/]+)/' },
      to: { path: '^src/[^/]+/', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$'] },
    },
    {
      name: 'no-unknown-folder',
      comment: 'Every folder of src/ has a rank above; a new folder gets one (and a line in docs/architecture.md).',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: pathOf(ranks.flat()) },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
