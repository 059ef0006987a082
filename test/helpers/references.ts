// The one place that finds the reference tools tests compare against or run as real peers (PyTorch, scikit-learn,
// Pillow, ONNX, dcmtk, Orthanc, Chromium …). Where a reference is missing a dependent test skips, except under
// CI=true or HIPFRAC_REQUIRE_REFERENCES=1: there a failing test names the missing reference and the package to install.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';

/** The interpreter with torch; HIPFRAC_PYTHON overrides it (e.g. a CUDA machine's own PyTorch). */
export const PYTHON = process.env['HIPFRAC_PYTHON'] ?? '/usr/bin/python3';

/** Every reference by name: how to tell it is there, and the Debian package that brings it. */
const REFERENCES = {
  torch: { python: 'torch', debian: 'python3-torch' },
  torchvision: { python: 'torchvision', debian: 'python3-torchvision' },
  sklearn: { python: 'sklearn', debian: 'python3-sklearn' },
  scipy: { python: 'scipy', debian: 'python3-scipy' },
  PIL: { python: 'PIL', debian: 'python3-pil' },
  numpy: { python: 'numpy', debian: 'python3-numpy' },
  pydicom: { python: 'pydicom', debian: 'python3-pydicom' },
  onnx: { python: 'onnx', debian: 'python3-onnx' },
  dcmtk: { programs: ['dcmdump', 'storescu', 'echoscu', 'storescp', 'dsrdump', 'dcmconv'], debian: 'dcmtk' },
  dicom3tools: { programs: ['dciodvfy'], debian: 'dicom3tools' },
  gdcm: { programs: ['gdcmconv'], debian: 'libgdcm-tools' },
  orthanc: { programs: ['Orthanc'], debian: 'orthanc' },
  chromium: { programs: ['chromium'], debian: 'chromium' },
} as const satisfies Record<string, { python?: string; programs?: readonly string[]; debian: string }>;

export type ReferenceName = keyof typeof REFERENCES;

/** True when references missing must fail the run rather than skip (CI, or asked for). */
export const REFERENCES_REQUIRED = process.env['CI'] === 'true' || process.env['HIPFRAC_REQUIRE_REFERENCES'] === '1';

const found = new Map<ReferenceName, boolean>();
const reported = new Set<ReferenceName>();

function onPath(program: string): boolean {
  if (program.includes('/')) return existsSync(program);
  return (process.env['PATH'] ?? '/usr/bin:/bin').split(':').some((dir) => dir !== '' && existsSync(`${dir}/${program}`));
}

/** Whether one reference is installed (cached per process). */
export function hasReference(name: ReferenceName): boolean {
  const cached = found.get(name);
  if (cached !== undefined) return cached;
  const ref: { python?: string; programs?: readonly string[] } = REFERENCES[name];
  let ok = true;
  if (ref.programs !== undefined) ok = ref.programs.every(onPath);
  if (ok && ref.python !== undefined) {
    const probe = spawnSync(PYTHON, ['-c', `import ${ref.python}`], { stdio: 'ignore', timeout: 60_000 });
    ok = probe.status === 0;
  }
  found.set(name, ok);
  return ok;
}

/** The Debian package that installs a reference. */
export function debianPackageOf(name: ReferenceName): string {
  return REFERENCES[name].debian;
}

/**
 * Test options for a test or suite that needs these references: `test('…', needs('torch'), () => …)`.
 * All present: the test runs. One missing: the test skips naming it, and under CI=true or
 * HIPFRAC_REQUIRE_REFERENCES=1 a failing test is registered in its place (once per reference and file).
 */
export function needs(...names: ReferenceName[]): { skip: string | false } {
  const missing = names.filter((name) => !hasReference(name));
  if (missing.length === 0) return { skip: false };
  const what = missing.map((name) => `${name} (apt-get install ${debianPackageOf(name)})`).join(', ');
  if (REFERENCES_REQUIRED) {
    for (const name of missing) {
      if (reported.has(name)) continue;
      reported.add(name);
      test(`reference ${name} is installed (required under CI)`, () => {
        throw new Error(`the reference ${name} is missing (${PYTHON} for Python modules): run scripts/setup.sh with HIPFRAC_SETUP_TESTS=1 or apt-get install ${debianPackageOf(name)}`);
      });
    }
  }
  return { skip: `needs ${what}` };
}
