// Bundle the UI into dist/: index.html, assets/app.js, assets/app.css. Run by `make build`
// (and by the browser tests when dist/ is missing). Everything is local: no CDN, works offline.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'dist');

/** Bundle into `outDir` (default packages/ui/dist); returns the directory and the JS size. */
export async function buildUi({ minify = true, outDir = dist } = {}) {
  const out = outDir;
  fs.mkdirSync(path.join(out, 'assets'), { recursive: true });
  const r = await esbuild.build({
    entryPoints: [path.join(here, 'src/main.ts')],
    bundle: true,
    format: 'esm',
    target: ['chrome110', 'firefox110', 'safari16'],
    minify,
    sourcemap: 'linked',
    outfile: path.join(out, 'assets/app.js'),
    metafile: true,
    logLevel: 'warning',
  });
  fs.copyFileSync(path.join(here, 'src/style.css'), path.join(out, 'assets/app.css'));
  fs.copyFileSync(path.join(here, 'src/index.html'), path.join(out, 'index.html'));
  const bytes = Object.values(r.metafile.outputs)
    .filter((o) => o.entryPoint)
    .reduce((n, o) => n + o.bytes, 0);
  return { dir: out, bytes };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { bytes } = await buildUi({ minify: !process.argv.includes('--dev') });
  process.stderr.write(`ui: dist/assets/app.js ${(bytes / 1024).toFixed(1)} KiB\n`);
}
