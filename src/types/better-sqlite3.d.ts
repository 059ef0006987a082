// The part of better-sqlite3's API hipfrac uses (the package ships no type declarations and @types is not installed).
declare module 'better-sqlite3' {
  export interface RunResult {
    changes: number;
    lastInsertRowid: number | bigint;
  }
  export interface Statement<Row = unknown> {
    run(...params: unknown[]): RunResult;
    get(...params: unknown[]): Row | undefined;
    all(...params: unknown[]): Row[];
  }
  export interface Transaction<F extends (...args: never[]) => unknown> {
    (...args: Parameters<F>): ReturnType<F>;
    immediate(...args: Parameters<F>): ReturnType<F>;
  }
  export interface SqliteDatabase {
    readonly open: boolean;
    readonly inTransaction: boolean;
    readonly name: string;
    prepare<Row = unknown>(sql: string): Statement<Row>;
    exec(sql: string): SqliteDatabase;
    pragma(source: string, options?: { simple?: boolean }): unknown;
    transaction<F extends (...args: never[]) => unknown>(fn: F): Transaction<F>;
    close(): SqliteDatabase;
  }
  export interface SqliteOptions {
    readonly?: boolean;
    fileMustExist?: boolean;
    timeout?: number;
  }
  const Database: new (filename: string, options?: SqliteOptions) => SqliteDatabase;
  export default Database;
}
