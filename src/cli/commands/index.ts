// Every CLI command, in the order `hipfrac --help` lists them. Each lives in its own file.
import type { CliCommand } from '../command.js';
import { doctorCommand } from './doctor.js';

export const commands: readonly CliCommand[] = [
  doctorCommand,
];
