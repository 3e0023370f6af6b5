// Builds the web app into a directory (default: dist/, CMake passes <build>/web):
// index.html and app.css copied, src/main.ts bundled with the SDK's sources (sdk/js/src)
// into app.js by esbuild; with TypeScript present, the sources are type-checked first
// (errors fail the build). esbuild and TypeScript are the SDK's pinned dev dependencies
// (sdk/js/package-lock.json, installed by scripts/install-deps.sh).
//   node web/build.mjs [--out DIR]
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sdk = join(here, '../sdk/js');
const outArg = process.argv.indexOf('--out');
const out = resolve(outArg > 0 ? process.argv[outArg + 1] : join(here, 'dist'));
const require = createRequire(join(sdk, 'package.json'));

const tsc = join(sdk, 'node_modules/typescript/bin/tsc');
if (existsSync(tsc)) {
  const r = spawnSync(process.execPath, [tsc, '-p', here], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const { build } = require('esbuild');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, 'src/main.ts')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});
for (const f of ['index.html', 'app.css']) copyFileSync(join(here, f), join(out, f));
