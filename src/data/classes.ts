// The one vocabulary of class words: what a label cell or a folder name may say for "fracture" and "no fracture",
// shared by import, predict, attack and triage-calibrate. Spaces, hyphens and underscores count as one separator.

/** Class names of a binary fracture model, by index. */
export const FRACTURE_CLASSES = ['no fracture', 'fracture'] as const;

/** Words that mean class 1 (fracture), in normalised form. */
export const POSITIVE_WORDS: readonly string[] = ['1', 'fracture', 'fractured', 'positive', 'pos', 'yes', 'y', 'true'];
/** Words that mean class 0 (no fracture), in normalised form. */
export const NEGATIVE_WORDS: readonly string[] = ['0', 'no-fracture', 'nofracture', 'non-fractured', 'not-fractured', 'normal', 'intact', 'negative', 'neg', 'no', 'n', 'false'];

const WORD_CLASS = new Map<string, number>([...POSITIVE_WORDS.map((w) => [w, 1] as const), ...NEGATIVE_WORDS.map((w) => [w, 0] as const)]);

/** Lower case, trimmed, runs of spaces, hyphens and underscores as one '-'. */
export function normaliseClassWord(raw: string): string {
  return raw.trim().toLowerCase().replace(/[\s_-]+/g, '-');
}

/**
 * The class index a label names, or undefined when it names none: a word of the vocabulary (binary classes only),
 * one of `classes` by name (case and separators ignored), or an integer index. Without `classes` any
 * non-negative integer is a class (a multi-class import); with them the index must be below classes.length.
 */
export function classIndexOf(raw: string, classes?: readonly string[]): number | undefined {
  const word = normaliseClassWord(raw);
  if (word === '') return undefined;
  if (classes !== undefined) {
    const byName = classes.findIndex((c) => normaliseClassWord(c) === word);
    if (byName >= 0) return byName;
  }
  if (/^\d+$/.test(word)) {
    const index = Number(word);
    return classes === undefined || index < classes.length ? index : undefined;
  }
  const fromWord = WORD_CLASS.get(word);
  return fromWord !== undefined && (classes === undefined || classes.length === 2) ? fromWord : undefined;
}

/** What a label may say, for error messages. */
export function describeClassWords(classes?: readonly string[]): string {
  const names = classes === undefined ? '' : `${classes.map((c) => `'${c}'`).join(', ')} or an index below ${classes.length}; `;
  return `${names}for fracture ${POSITIVE_WORDS.join('/')}, for no fracture ${NEGATIVE_WORDS.join('/')}`;
}
