// The shape of one CLI command: a name, a one-line summary, usage text, and a run function
// that receives the raw arguments after the command name and returns an exit code.

export interface CliCommand {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  run(argv: readonly string[]): Promise<number>;
}
