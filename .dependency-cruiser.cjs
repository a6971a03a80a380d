// Package layering, enforced by `make deps-check` and test/layering.test.ts.
//
// A package may import only packages of LOWER layers (never one of its own layer, never a
// higher one), only through the package's name (@agentsight/x), never test/ or tools/.
// tools/ and test/ sit above every package. Cycles are forbidden everywhere, inside
// packages too. This table is the one statement of the layering: CONTRIBUTING.md explains
// it, a new package gets a row here.
const LAYERS = [
  // The event schema and NDJSON; launching processes; the mock LLM server tests run against.
  ['events', 'launch', 'mock-llm'],
  // Secrets: what a capture must not keep (used by the decoders and every output); which
  // processes are agents (by executable, package path, argv), asked by capture and by outputs;
  // which container (and Kubernetes pod) a process runs in.
  ['redact', 'agents', 'container'],
  // Tool conventions (flags, exit codes, output); the BPF loader (which never imports the
  // CLI: it throws BpfErrors, the CLI maps them to exit 77); wire decoders.
  ['cli', 'bpf', 'http', 'mcp'],
  // Capture on the loader; the normalized LLM call.
  ['proc', 'sslsniff', 'llm'],
  // Capture on capture; analysis of calls.
  ['stdiocap', 'trace'],
  // Outputs.
  ['otel', 'report', 'serve', 'fleet'],
  // The whole pipeline in one process.
  ['exec'],
  // The long-running service over the pipeline and its store.
  ['monitor'],
  // The live terminal view over the monitor's store (or a capture of its own).
  ['top'],
  // The browser UI bundle.
  ['ui'],
];

const ALL = LAYERS.flat();
const any = (names) => `^packages/(${names.join('|')})/`;

const layerRules = LAYERS.flatMap((layer, i) => {
  const notBelow = LAYERS.slice(i).flat();
  return layer.map((pkg) => ({
    name: `layer-${pkg}`,
    comment: `${pkg} (layer ${i}) imports only packages of lower layers: ${LAYERS.slice(0, i).flat().join(', ') || 'none'}`,
    severity: 'error',
    from: { path: `^packages/${pkg}/` },
    to: { path: any(notBelow.filter((p) => p !== pkg)) },
  }));
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'package-without-layer',
      comment: 'every package has a row in LAYERS (.dependency-cruiser.cjs)',
      severity: 'error',
      from: { path: '^packages/[^/]+/', pathNot: any(ALL) },
      to: {},
    },
    {
      name: 'package-imports-tools-or-tests',
      comment: 'packages never import tools/ or test/',
      severity: 'error',
      from: { path: '^packages/' },
      to: { path: '^(tools|test)/' },
    },
    {
      name: 'into-another-package',
      comment: 'another package is imported by its name (@agentsight/x), not by a path into its files',
      severity: 'error',
      from: { path: '^packages/([^/]+)/src/' },
      to: { path: '^packages/[^/]+/src/', pathNot: '^packages/$1/', dependencyTypesNot: ['aliased'] },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'an import that does not resolve would escape every rule above',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-circular',
      comment: 'no import cycles, between packages or inside one',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules', '/dist/'] },
    exclude: { path: ['/dist/', '\\.d\\.ts$'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.depcruise.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
