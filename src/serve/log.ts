// The node's logger: pino with redaction of credentials and of any patient field that slips into a log object.
// Log lines carry pseudonymous study keys, AE titles and counts — never names, IDs, UIDs of patients or URLs.
import { pino, type DestinationStream, type Logger } from 'pino';

/** Keys redacted wherever they appear (one level deep and at the top). */
const REDACTED_KEYS = ['authorization', 'cookie', 'token', 'patientName', 'patientId', 'PatientName', 'PatientID', 'PatientBirthDate', 'accessionNumber', 'AccessionNumber'];

export const REDACT_PATHS: readonly string[] = [
  ...REDACTED_KEYS,
  ...REDACTED_KEYS.map((k) => `*.${k}`),
  'req.headers.authorization',
  'req.headers.cookie',
];

/** A logger writing JSON lines to `destination` (default stdout) at `level` (default info). */
export function createServeLogger(options: { readonly level?: string; readonly destination?: DestinationStream } = {}): Logger {
  return pino({
    level: options.level ?? 'info',
    base: { service: 'hipfrac-serve' },
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    // Fastify's request logs: the method and the route pattern (/v1/studies/:uid), never the URL with its UIDs or query.
    serializers: {
      req: (req: { method?: string; routeOptions?: { url?: string } }) => ({ method: req.method, route: req.routeOptions?.url ?? 'unmatched' }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
    },
  }, options.destination);
}
