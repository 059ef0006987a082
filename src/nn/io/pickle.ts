// A restricted pickle virtual machine: enough of protocols 2–5 to read PyTorch weight files.
// It never runs code: every global goes through the caller's allow-list, and anything else is refused.
import { HipfracError } from '../../util/index.js';

/** A Python callable the allow-list lets through (a class or function); REDUCE and NEWOBJ call it. */
export class PyCallable {
  constructor(
    readonly qualifiedName: string,
    private readonly fn: (args: readonly unknown[]) => unknown,
  ) {}
  call(args: readonly unknown[]): unknown {
    return this.fn(args);
  }
}

/** Objects that accept pickle's BUILD (Python's __setstate__). */
export interface PyBuildable {
  setState(state: unknown): void;
}

/** Python's dict (and OrderedDict): a Map, so int and str keys both work and order is kept. */
export type PyDict = Map<unknown, unknown>;

export interface UnpickleOptions {
  /** Names the file in errors. */
  readonly source: string;
  /** Resolves `module.name` to a value (usually a PyCallable) or throws to refuse it. */
  findGlobal(module: string, name: string): unknown;
  /** Resolves a persistent id (PyTorch's storages); absent means persistent ids are an error. */
  persistentLoad?(pid: unknown): unknown;
}

export interface UnpickleResult {
  readonly value: unknown;
  /** Offset just past the STOP opcode (legacy .pth files hold several pickles in a row). */
  readonly end: number;
}

/** Reads one pickle starting at `offset` in `bytes`. */
export function unpickle(bytes: Uint8Array, offset: number, options: UnpickleOptions): UnpickleResult {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8');
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let at = offset;

  const fail = (what: string, code = 'HF_IO_PICKLE'): HipfracError =>
    new HipfracError(code, `the pickle cannot be read: ${what} (at byte ${at}).`, {
      input: options.source,
      fix: 'the file is damaged, truncated or not a PyTorch weight file; re-save it with torch.save(model.state_dict(), path).',
    });
  const need = (n: number): number => {
    if (n < 0 || at + n > bytes.length) throw fail(`the data ends after ${bytes.length - offset} bytes, inside an opcode`, 'HF_IO_TRUNCATED');
    const start = at;
    at += n;
    return start;
  };
  const size64 = (): number => {
    const value = view.getBigUint64(need(8), true);
    if (value > BigInt(bytes.length)) throw fail(`a length of ${value} bytes exceeds the file`, 'HF_IO_TRUNCATED');
    return Number(value);
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= (marks[marks.length - 1] as number))) throw fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) throw fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const mark = marks.pop();
    if (mark === undefined) throw fail('no MARK to pop to');
    return stack.splice(mark);
  };
  const readLine = (): string => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) throw fail('a text line has no end', 'HF_IO_TRUNCATED');
    const line = utf8.decode(bytes.subarray(at, end));
    at = end + 1;
    return line;
  };
  const text = (length: number): string => utf8.decode(bytes.subarray(need(length), at));
  const raw = (length: number): Uint8Array => bytes.slice(need(length), at);
  const memoGet = (index: number): unknown => {
    if (!memo.has(index)) throw fail(`memo entry ${index} was never stored`);
    return memo.get(index);
  };
  const asDict = (value: unknown): PyDict => {
    if (!(value instanceof Map)) throw fail(`SETITEM on a ${describe(value)}, not a dict`);
    return value;
  };
  const asList = (value: unknown): unknown[] => {
    if (!Array.isArray(value)) throw fail(`APPEND on a ${describe(value)}, not a list`);
    return value;
  };
  const asCallable = (value: unknown): PyCallable => {
    if (!(value instanceof PyCallable)) throw fail(`a ${describe(value)} is called as a function`);
    return value;
  };
  const asArgs = (value: unknown): readonly unknown[] => {
    if (!Array.isArray(value)) throw fail(`call arguments are a ${describe(value)}, not a tuple`);
    return value;
  };

  for (;;) {
    const opcode = bytes[need(1)] as number;
    switch (opcode) {
      case 0x80: // PROTO
        if ((bytes[need(1)] as number) > 5) throw fail(`pickle protocol ${bytes[at - 1]} is newer than 5`);
        break;
      case 0x95: // FRAME: a length hint only
        need(8);
        break;
      case 0x2e: {
        // STOP
        const value = pop();
        return { value, end: at };
      }
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (marks.length > 0 && stack.length === marks[marks.length - 1]) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;

      // --- constants and numbers ---
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        stack.push(bytes[need(1)]);
        break;
      case 0x4d: // BININT2
        stack.push(view.getUint16(need(2), true));
        break;
      case 0x49: {
        // INT (text; protocol 0, still used for True/False by old writers)
        const line = readLine();
        stack.push(line === '01' ? true : line === '00' ? false : parseIntStrict(line, fail));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(toNumberIfSafe(parseBigIntStrict(readLine().replace(/L$/, ''), fail)));
        break;
      case 0x8a: // LONG1
        stack.push(readLong(bytes.subarray(need(bytes[need(1)] as number), at)));
        break;
      case 0x8b: {
        // LONG4
        const length = view.getInt32(need(4), true);
        stack.push(readLong(bytes.subarray(need(length), at)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        stack.push(view.getFloat64(need(8), false));
        break;

      // --- strings and bytes ---
      case 0x58: // BINUNICODE
        stack.push(text(view.getUint32(need(4), true)));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(bytes[need(1)] as number));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(size64()));
        break;
      case 0x54: // BINSTRING (Python 2 str; torch.load decodes it as UTF-8)
        stack.push(text(view.getInt32(need(4), true)));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(text(bytes[need(1)] as number));
        break;
      case 0x42: // BINBYTES
        stack.push(raw(view.getUint32(need(4), true)));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(raw(bytes[need(1)] as number));
        break;
      case 0x8e: // BINBYTES8
        stack.push(raw(size64()));
        break;

      // --- containers ---
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        const dict: PyDict = new Map();
        for (let i = 0; i + 1 < items.length; i += 2) dict.set(items[i], items[i + 1]);
        stack.push(dict);
        break;
      }
      case 0x6c: // LIST
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        asDict(top()).set(key, value);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        const dict = asDict(top());
        for (let i = 0; i + 1 < items.length; i += 2) dict.set(items[i], items[i + 1]);
        break;
      }
      case 0x61: {
        // APPEND
        const value = pop();
        asList(top()).push(value);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        asList(top()).push(...items);
        break;
      }
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const set = top();
        if (!(set instanceof Set)) throw fail(`ADDITEMS on a ${describe(set)}, not a set`);
        for (const item of items) set.add(item);
        break;
      }

      // --- memo ---
      case 0x68: // BINGET
        stack.push(memoGet(bytes[need(1)] as number));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(view.getUint32(need(4), true)));
        break;
      case 0x71: // BINPUT
        memo.set(bytes[need(1)] as number, top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(view.getUint32(need(4), true), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;

      // --- globals, calls, objects ---
      case 0x63: {
        // GLOBAL
        const module = readLine();
        const name = readLine();
        stack.push(options.findGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw fail('STACK_GLOBAL needs two strings');
        stack.push(options.findGlobal(module, name));
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (options.persistentLoad === undefined) throw fail('a persistent id appears where none is expected');
        stack.push(options.persistentLoad(pid));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = asArgs(pop());
        stack.push(asCallable(pop()).call(args));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args); the allow-listed classes build themselves from args
        const args = asArgs(pop());
        stack.push(asCallable(pop()).call(args));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = asArgs(pop());
        if (!(kwargs instanceof Map) || kwargs.size > 0) throw fail('NEWOBJ_EX with keyword arguments is not supported');
        stack.push(asCallable(pop()).call(args));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const target = top();
        if (target instanceof Map) break; // OrderedDict attributes such as state_dict's _metadata: not needed
        if (target !== null && typeof target === 'object' && typeof (target as Partial<PyBuildable>).setState === 'function') {
          (target as PyBuildable).setState(state);
          break;
        }
        throw fail(`BUILD on a ${describe(target)}`);
      }
      default:
        throw fail(`unsupported pickle opcode 0x${opcode.toString(16).padStart(2, '0')}`, 'HF_IO_PICKLE_OPCODE');
    }
  }
}

/** Little-endian two's complement integer (LONG1/LONG4): a number when safe, else a bigint. */
function readLong(data: Uint8Array): number | bigint {
  if (data.length === 0) return 0;
  let value = 0n;
  for (let i = data.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(data[i] as number);
  if (((data[data.length - 1] as number) & 0x80) !== 0) value -= 1n << BigInt(8 * data.length);
  return toNumberIfSafe(value);
}

function toNumberIfSafe(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

function parseIntStrict(line: string, fail: (what: string) => Error): number {
  if (!/^-?\d+$/.test(line)) throw fail(`'${line}' is not an integer`);
  return Number(line);
}

function parseBigIntStrict(line: string, fail: (what: string) => Error): bigint {
  if (!/^-?\d+$/.test(line)) throw fail(`'${line}' is not an integer`);
  return BigInt(line);
}

/** A short name of a value's Python-side kind, for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'None';
  if (value instanceof Map) return 'dict';
  if (Array.isArray(value)) return 'tuple/list';
  if (value instanceof Uint8Array) return 'bytes';
  if (value instanceof PyCallable) return `global ${value.qualifiedName}`;
  if (typeof value === 'object') return (value as object).constructor.name;
  return typeof value;
}
