#!/usr/bin/env node
// The `hipfrac` command-line entry: dispatches to one command per file in ./commands.
import { readFileSync } from 'node:fs';
import { COMMAND_LOADERS } from './commands/loaders.js';
import { asUsageError, CliError, exitCodeOf } from './errors.js';
import { describeError } from '../util/index.js';

function version(): string {
  const pkgUrl = new URL('../../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(pkgUrl, 'utf8')) as { version: string }).version;
}

async function help(): Promise<string> {
  // Help lists every command's summary, so it loads them all; running one command loads only that one.
  const { commands } = await import('./commands/index.js');
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [`hipfrac ${version()} — hip fracture detection on radiographs`, '', 'Usage: hipfrac <command> [options]', '', 'Commands:', ...lines, '', 'Run `hipfrac <command> --help` for the options of one command.'].join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(await help());
    return 0;
  }
  if (name === '--version' || name === '-v') {
    console.log(version());
    return 0;
  }
  const load = Object.hasOwn(COMMAND_LOADERS, name) ? COMMAND_LOADERS[name] : undefined;
  if (load === undefined) {
    throw new CliError('HF_CLI_UNKNOWN_COMMAND', `unknown command '${name}'.`, { fix: `use one of ${Object.keys(COMMAND_LOADERS).join(', ')} (hipfrac --help).` });
  }
  const command = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.usage);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    throw asUsageError(error, command.usage);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // One line with the code and the fix; the stack only when asked for (HIPFRAC_DEBUG=1). Usage errors exit 2.
    console.error(`hipfrac: ${describeError(error)}`);
    if (process.env['HIPFRAC_DEBUG'] === '1' && error instanceof Error) console.error(error.stack);
    process.exitCode = exitCodeOf(error);
  },
);
