// `hipfrac user`: local accounts of the review UI (add, list, passwd, unlock, disable). Passwords come from
// standard input (first line) or, on a terminal, from a prompt without echo; they are stored as argon2id hashes.
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { REVIEW_MIGRATIONS, ReviewRepository, hashPassword, ROLES, type Role } from '../../serve/review/index.js';
import { openStore } from '../../serve/store/index.js';
import { HipfracError } from '../../util/index.js';
import { CliError } from '../errors.js';
import { nodeDataDir } from '../nodeData.js';

const usage = `Usage: hipfrac user <add|list|passwd|unlock|disable> [NAME] [options]

Manages the review UI's local users in the node's store.

  add NAME --role radiologist|admin|viewer   create a user; the password is read from stdin or prompted
  list                                       users, roles, lock state
  passwd NAME                                set a new password (stdin or prompt)
  unlock NAME                                clear a lock-out after repeated failed sign-ins
  disable NAME                               end the user's sessions and refuse sign-in (verdicts are kept)

Options:
  --data <dir>     the node's data folder (default $HIPFRAC_DATA or ./hipfrac-data)
  --role <role>    radiologist (reads, verdicts), admin (also audit settings), viewer (worklist and images only)`;

async function readSecret(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(chunk as Buffer);
    return (Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '');
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (data: Buffer): void => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stderr.write('\n');
          resolve(text);
          return;
        }
        if (ch === '\u0003') {
          stdin.setRawMode(false);
          reject(new CliError('HF_CLI_CANCELLED', 'cancelled.'));
          return;
        }
        if (ch === '\u007f') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}

async function newPassword(): Promise<string> {
  const first = await readSecret('Password: ');
  if (process.stdin.isTTY) {
    const again = await readSecret('Again: ');
    if (again !== first) throw new CliError('HF_CLI_BAD_OPTION', 'the two passwords differ.', { fix: 'run the command again.' });
  }
  return first;
}

export const userCommand: CliCommand = {
  name: 'user',
  summary: 'Add, list, unlock or disable the review UI\'s users (argon2id passwords, roles)',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({ args: [...argv], allowPositionals: true, options: { data: { type: 'string' }, role: { type: 'string' } } });
    const [action, name] = positionals;
    if (action === undefined || !['add', 'list', 'passwd', 'unlock', 'disable'].includes(action) || (action !== 'list' && name === undefined)) {
      throw new CliError('HF_CLI_MISSING_OPTION', 'give an action (add, list, passwd, unlock, disable) and, except for list, a user name.', { fix: usage.split('\n')[0] ?? '' });
    }
    if (action === 'add' && (values.role === undefined || !ROLES.includes(values.role as Role))) {
      throw new CliError(values.role === undefined ? 'HF_CLI_MISSING_OPTION' : 'HF_CLI_BAD_OPTION', `--role must be one of ${ROLES.join(', ')}${values.role === undefined ? '' : `, got '${values.role}'`}.`, { input: '--role', fix: `e.g. hipfrac user add ${name ?? 'NAME'} --role radiologist` });
    }
    // Adding a user may set up a new node's store; every other action needs an existing one.
    const { store } = openStore(nodeDataDir(values.data, action !== 'add'), { migrations: REVIEW_MIGRATIONS });
    try {
      const repo = new ReviewRepository(store);
      if (action === 'list') {
        for (const u of repo.listUsers()) console.log(`${u.name}\t${u.role}${u.disabled ? '\tdisabled' : ''}${u.lockedUntil !== null && Date.parse(u.lockedUntil) > Date.now() ? `\tlocked until ${u.lockedUntil}` : ''}`);
        return 0;
      }
      const who = name as string;
      if (action === 'add') {
        if (repo.userByName(who) !== undefined) throw new HipfracError('HF_REVIEW_BAD_USER', `user '${who}' exists already.`, { fix: 'use `hipfrac user passwd NAME` to change the password.' });
        const hash = await hashPassword(await newPassword());
        repo.addUser(who, values.role as Role, hash);
        store.audit('cli', 'review.user-added', '', `${who} as ${values.role}`);
        console.log(`Added ${who} (${values.role}).`);
      } else if (action === 'passwd') {
        repo.setPassword(who, await hashPassword(await newPassword()));
        store.audit('cli', 'review.user-password', '', who);
        console.log(`Password of ${who} changed.`);
      } else if (action === 'unlock') {
        repo.unlock(who);
        store.audit('cli', 'review.user-unlocked', '', who);
        console.log(`${who} unlocked.`);
      } else {
        repo.disable(who);
        store.audit('cli', 'review.user-disabled', '', who);
        console.log(`${who} disabled; their sessions ended.`);
      }
      return 0;
    } finally {
      store.close();
    }
  },
};
