// The one log-gamma (shared by McNemar's exact test and the Clopper–Pearson bounds) against exact values.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logGamma } from '../../src/util/index.js';

test('logGamma equals ln((n−1)!) at integers, ln √π at ½, and the reflection formula below ½', () => {
  const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
  let factorial = 1;
  for (let n = 1; n <= 25; n++) {
    close(logGamma(n), Math.log(factorial), `lnΓ(${n})`);
    factorial *= n;
  }
  close(logGamma(0.5), 0.5 * Math.log(Math.PI), 'lnΓ(½)');
  close(logGamma(1.5), Math.log(Math.sqrt(Math.PI) / 2), 'lnΓ(3/2)');
  close(logGamma(0.25), 1.2880225246980774, 'lnΓ(¼) (scipy.special.gammaln)');
  close(logGamma(100), 359.1342053695754, 'lnΓ(100) (scipy.special.gammaln)');
});
