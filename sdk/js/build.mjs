// Builds dist/parley.js (one ESM bundle, no dependencies) from src/index.ts with esbuild,
// and, when TypeScript is installed, type-checks the sources and writes the .d.ts files
// into dist/types. `node build.mjs --no-types` skips the TypeScript step.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

await build({
  entryPoints: [join(here, 'src/index.ts')],
  outfile: join(here, 'dist/parley.js'),
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: ['es2022'],
  sourcemap: true,
  logLevel: 'warning',
});

const tsc = join(here, 'node_modules/typescript/bin/tsc');
if (!process.argv.includes('--no-types') && existsSync(tsc)) {
  // Type errors fail the build; declarations come out of the same run.
  const r = spawnSync(process.execPath, [tsc, '-p', here], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
