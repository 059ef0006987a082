// `hipfrac token create|list|revoke`: API tokens of a node's store (hashed at rest; the secret is shown once).
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { openStore, type TokenScope } from '../../serve/index.js';
import { HipfracError } from '../../util/index.js';

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
    if (values.data === undefined) throw new HipfracError('HF_CLI_BAD_OPTION', '--data is required.', { fix: 'pass the data folder of hipfrac serve.' });
    const { store } = openStore(values.data);
    try {
      if (action === 'create') {
        if (values.name === undefined) throw new HipfracError('HF_CLI_BAD_OPTION', '--name is required.', { fix: 'e.g. --name monitoring' });
        const { token, record } = store.createToken(values.name, (values.scope ?? ['read']) as TokenScope[]);
        store.audit('cli', 'token-create', '', `${record.id} ${record.scopes.join(',')}`);
        console.log(token);
        console.error(`token ${record.id} (${record.scopes.join(', ')}) created; it is shown only now.`);
      } else if (action === 'list') {
        for (const t of store.listTokens()) console.log(`${t.id}  ${t.name}  ${t.scopes.join(',')}  created ${t.createdAt}${t.revokedAt === null ? '' : `  revoked ${t.revokedAt}`}`);
      } else if (action === 'revoke') {
        if (values.id === undefined) throw new HipfracError('HF_CLI_BAD_OPTION', '--id is required.');
        store.revokeToken(values.id);
        store.audit('cli', 'token-revoke', '', values.id);
      } else {
        throw new HipfracError('HF_CLI_BAD_OPTION', `unknown action '${action ?? ''}'.`, { fix: usage });
      }
    } finally {
      store.close();
    }
    return 0;
  },
};
