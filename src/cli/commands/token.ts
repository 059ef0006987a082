// `hipfrac token create|list|revoke`: API tokens of a node's store (hashed at rest; the secret is shown once).
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { openStore, type TokenScope } from '../../serve/index.js';
import { CliError } from '../errors.js';
import { nodeDataDir } from '../nodeData.js';

const usage = `Usage: hipfrac token create --data DIR --name NAME [--scope read|admin ...]
       hipfrac token list --data DIR
       hipfrac token revoke --data DIR --id ID

Tokens for the HTTP API of hipfrac serve (Authorization: Bearer TOKEN). 'read' reads studies and /metrics;
'admin' also stores over STOW-RS. The store keeps only a hash: the token is printed once, on creation.`;

export const tokenCommand: CliCommand = {
  name: 'token',
  summary: 'Create, list or revoke API tokens for hipfrac serve',
  usage,
  async run(argv) {
    const [action, ...rest] = argv;
    const { values } = parseArgs({ args: rest, options: { data: { type: 'string' }, name: { type: 'string' }, scope: { type: 'string', multiple: true }, id: { type: 'string' } } });
    if (action !== 'create' && action !== 'list' && action !== 'revoke') {
      throw new CliError('HF_CLI_MISSING_OPTION', `give an action: create, list or revoke${action === undefined ? '' : `, not '${action}'`}.`, { fix: usage.split('\n')[0] ?? '' });
    }
    if (values.data === undefined) throw new CliError('HF_CLI_MISSING_OPTION', '--data is required.', { input: '--data', fix: 'pass the data folder of hipfrac serve.' });
    if (action === 'create' && values.name === undefined) throw new CliError('HF_CLI_MISSING_OPTION', '--name is required.', { input: '--name', fix: 'e.g. --name monitoring' });
    if (action === 'revoke' && values.id === undefined) throw new CliError('HF_CLI_MISSING_OPTION', '--id is required.', { input: '--id', fix: 'hipfrac token list --data DIR shows the ids.' });
    const scopes = values.scope ?? ['read'];
    const bad = scopes.find((s) => s !== 'read' && s !== 'admin');
    if (bad !== undefined) throw new CliError('HF_CLI_BAD_OPTION', `--scope must be read or admin, got '${bad}'.`, { input: '--scope', fix: 'use --scope read or --scope admin.' });
    // A token may be made before the node's first start; listing and revoking need an existing store.
    const { store } = openStore(nodeDataDir(values.data, action !== 'create'));
    try {
      if (action === 'create') {
        const { token, record } = store.createToken(values.name as string, scopes as TokenScope[]);
        store.audit('cli', 'token-create', '', `${record.id} ${record.scopes.join(',')}`);
        console.log(token);
        console.error(`token ${record.id} (${record.scopes.join(', ')}) created; it is shown only now.`);
      } else if (action === 'list') {
        for (const t of store.listTokens()) console.log(`${t.id}  ${t.name}  ${t.scopes.join(',')}  created ${t.createdAt}${t.revokedAt === null ? '' : `  revoked ${t.revokedAt}`}`);
      } else {
        store.revokeToken(values.id as string);
        store.audit('cli', 'token-revoke', '', values.id as string);
      }
    } finally {
      store.close();
    }
    return 0;
  },
};
