import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { jsonSchemas } from './json-schemas.js';

/** Writes schemas/integration.schema.json and schemas/workflow.schema.json under `root`. */
export async function writeJsonSchemas(root: string): Promise<string[]> {
  const dir = path.join(root, 'schemas');
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [kind, schema] of Object.entries(jsonSchemas())) {
    const file = path.join(dir, `${kind}.schema.json`);
    await writeFile(file, `${JSON.stringify(schema, null, 2)}\n`);
    written.push(file);
  }
  return written;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const file of await writeJsonSchemas(process.cwd())) process.stdout.write(`wrote ${file}\n`);
}
