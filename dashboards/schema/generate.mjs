// Turns each dashboard (dashboards/*.json) into a TypeScript module that checks it against
// `ShepardDashboard` with `satisfies`: an object literal, so TypeScript also rejects unknown
// properties. The JSON text is kept verbatim after a one-line prefix, so the line numbers of
// type errors are the JSON file's own.

import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dashboards = join(here, '..');
const out = join(here, 'generated');

rmSync(out, { recursive: true, force: true });
mkdirSync(out);
const files = readdirSync(dashboards).filter((f) => f.endsWith('.json') && f !== 'package.json' && f !== 'package-lock.json');
if (files.length === 0) {
  console.error('no dashboards found in', dashboards);
  process.exit(1);
}
for (const file of files) {
  const text = readFileSync(join(dashboards, file), 'utf8');
  JSON.parse(text); // a syntax error is reported here, with the file name
  const prefix = "import type { ShepardDashboard } from '../shepard-dashboard'; export default ";
  writeFileSync(join(out, file.replace(/\.json$/, '.ts')), `${prefix}${text.trimEnd()} satisfies ShepardDashboard;\n`);
}
console.log(`generated type checks for ${files.join(', ')}`);
