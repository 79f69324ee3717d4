// Writes a .gz beside every built asset (level 9, no timestamp, so the
// output is the same on every machine) and prints the first-load size.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const dir = new URL('../../internal/console/dist/assets/', import.meta.url).pathname;
let js = 0;
for (const f of readdirSync(dir)) {
  if (f.endsWith('.gz')) continue;
  const gz = gzipSync(readFileSync(join(dir, f)), { level: 9 });
  writeFileSync(join(dir, f + '.gz'), gz);
  if (f.endsWith('.js')) js += gz.length;
  console.log(`${f}: ${gz.length} bytes gzip`);
}
console.log(`first-load JavaScript: ${(js / 1024).toFixed(1)} KiB gzip`);
