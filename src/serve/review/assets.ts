// The browser app: src/ui/*.ts bundled by esbuild into one app.js, with index.html and app.css copied beside it
// (dist/ui by default). Nothing is fetched from a CDN. Run as a script to build: `node dist/src/serve/review/assets.js [OUT]`.
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ReviewError } from './errors.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The checkout's root: this file runs from dist/src/serve/review (compiled) or src/serve/review (sources). */
const ROOT = path.resolve(here, here.includes(`${path.sep}dist${path.sep}`) ? '../../../..' : '../../..');
export const DEFAULT_ASSETS_DIR = path.join(ROOT, 'dist', 'ui');
const UI_SOURCES = path.join(ROOT, 'src', 'ui');

export type AssetName = 'index.html' | 'app.js' | 'app.css';
const TYPES: Readonly<Record<AssetName, string>> = { 'index.html': 'text/html; charset=utf-8', 'app.js': 'text/javascript; charset=utf-8', 'app.css': 'text/css; charset=utf-8' };

const cache = new Map<string, Buffer>();

export async function readAsset(name: AssetName, dir = DEFAULT_ASSETS_DIR): Promise<{ readonly type: string; readonly body: Buffer }> {
  const file = path.join(dir, name);
  let body = cache.get(file);
  if (body === undefined) {
    try {
      body = await readFile(file);
    } catch (cause) {
      throw new ReviewError('HF_REVIEW_NOT_FOUND', `the review app is not built (${name} missing).`, { input: dir, fix: 'run scripts/setup.sh, or `node dist/src/serve/review/assets.js`.', cause });
    }
    cache.set(file, body);
  }
  return { type: TYPES[name], body };
}

/** Bundles the app into `outDir` (default dist/ui); returns the folder. */
export async function buildReviewAssets(outDir = DEFAULT_ASSETS_DIR, options: { readonly minify?: boolean } = {}): Promise<string> {
  const esbuild = await import('esbuild');
  await mkdir(outDir, { recursive: true });
  await esbuild.build({
    entryPoints: [path.join(UI_SOURCES, 'main.ts')],
    bundle: true,
    format: 'iife',
    target: 'es2022',
    platform: 'browser',
    minify: options.minify ?? true,
    sourcemap: false,
    outfile: path.join(outDir, 'app.js'),
    logLevel: 'warning',
  });
  await copyFile(path.join(UI_SOURCES, 'index.html'), path.join(outDir, 'index.html'));
  await copyFile(path.join(UI_SOURCES, 'app.css'), path.join(outDir, 'app.css'));
  for (const name of Object.keys(TYPES)) cache.delete(path.join(outDir, name));
  return outDir;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = await buildReviewAssets(process.argv[2]);
  console.log(`hipfrac: review UI built into ${out}`);
}
