// A result destination, `AE@HOST:PORT` as the command line and the config name it.
import { HipfracError } from '../../util/index.js';

export interface Destination {
  readonly aeTitle: string;
  readonly host: string;
  readonly port: number;
}

export function parseDestination(text: string): Destination {
  const m = /^([^@\s]{1,16})@([^:\s]+|\[[^\]]+\]):(\d{1,5})$/.exec(text.trim());
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !(port > 0 && port < 65536)) {
    throw new HipfracError('HF_SERVE_BAD_CONFIG', `a destination must read AE@HOST:PORT, got '${text}'.`, { input: '--destination', fix: 'e.g. --destination PACS@10.0.0.5:104 (AE title up to 16 characters).' });
  }
  return { aeTitle: m[1] as string, host: (m[2] as string).replace(/^\[|\]$/g, ''), port };
}

export const destinationText = (d: Destination): string => `${d.aeTitle}@${d.host}:${d.port}`;
