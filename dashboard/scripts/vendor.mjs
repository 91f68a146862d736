// Copies the few library files the dashboard loads into public/vendor/, so nginx serves them
// from the dashboard's own root with no extra location block and the page works offline.
// Runs by itself after `npm ci` (the postinstall script), which scripts/install.sh calls.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const files = [
  // Chart.js as one UMD file (window.Chart): its ES build imports @kurkle/color by bare name,
  // which a browser cannot resolve without an import map.
  ['chart.js/dist/chart.umd.min.js', 'chart.umd.min.js'],
  ['chart.js/LICENSE.md', 'chart.js.LICENSE.md'],
  // Swagger UI for /docs (gateway/docs/index.html loads it from /vendor/swagger-ui/).
  ['swagger-ui-dist/swagger-ui-bundle.js', 'swagger-ui/swagger-ui-bundle.js'],
  ['swagger-ui-dist/swagger-ui.css', 'swagger-ui/swagger-ui.css'],
  ['swagger-ui-dist/LICENSE', 'swagger-ui/LICENSE'],
];
const out = join(here, 'public', 'vendor');
mkdirSync(out, { recursive: true });
for (const [from, to] of files) {
  mkdirSync(dirname(join(out, to)), { recursive: true });
  copyFileSync(join(here, 'node_modules', from), join(out, to));
}
console.log(`dashboard: ${files.length} library files copied into public/vendor/`);
