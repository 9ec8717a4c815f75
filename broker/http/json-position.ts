/**
 * Where JSON text goes wrong, for `invalid_json` errors that name a position and nothing else (SPEC
 * B.57). Node's own messages quote the input, and many of them carry no position at all
 * ("Unexpected token '}', "{"a":}" is not valid JSON"), so the position is found here.
 */

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const HEX = /^[0-9a-fA-F]$/;
const DIGIT = /^[0-9]$/;

/**
 * The offset (in UTF-16 code units, as `JSON.parse` counts) of the first character that cannot
 * continue a JSON text, or the text's length when it ends too early; -1 when the text is valid JSON.
 * A loop with an explicit stack, so hostile nesting cannot overflow the call stack.
 */
export function jsonErrorPosition(text: string): number {
  const n = text.length;
  const open: ('}' | ']')[] = [];
  let i = 0;
  const skipWhitespace = () => {
    while (i < n && WHITESPACE.has(text[i] as string)) i++;
  };
  /** Scans the string starting at `i` (a quote); returns -1 on success, else the error offset. */
  const scanString = (): number => {
    for (i++; i < n; i++) {
      const c = text[i] as string;
      if (c === '"') {
        i++;
        return -1;
      }
      if (c.charCodeAt(0) < 0x20) return i;
      if (c !== '\\') continue;
      i++;
      if (i >= n) return n;
      if (text[i] === 'u') {
        for (let k = 1; k <= 4; k++)
          if (i + k >= n || !HEX.test(text[i + k] as string)) return Math.min(i + k, n);
        i += 4;
      } else if (!ESCAPES.has(text[i] as string)) return i;
    }
    return n;
  };
  const digits = (required: boolean): number => {
    if (required && (i >= n || !DIGIT.test(text[i] as string))) return Math.min(i, n);
    while (i < n && DIGIT.test(text[i] as string)) i++;
    return -1;
  };
  const scanNumber = (): number => {
    if (text[i] === '-') i++;
    if (i >= n) return n;
    if (text[i] === '0') i++;
    else if (digits(true) >= 0) return i;
    if (text[i] === '.') {
      i++;
      if (digits(true) >= 0) return i;
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (digits(true) >= 0) return i;
    }
    return -1;
  };
  const scanLiteral = (word: string): number => {
    for (let k = 0; k < word.length; k++, i++) if (i >= n || text[i] !== word[k]) return Math.min(i, n);
    return -1;
  };

  let expect: 'value' | 'key' | 'after' = 'value';
  for (;;) {
    skipWhitespace();
    if (expect === 'after') {
      const closer = open.at(-1);
      if (closer === undefined) return i < n ? i : -1;
      if (i >= n) return n;
      if (text[i] === ',') {
        i++;
        expect = closer === '}' ? 'key' : 'value';
      } else if (text[i] === closer) {
        i++;
        open.pop();
      } else return i;
      continue;
    }
    if (i >= n) return n;
    const c = text[i] as string;
    if (expect === 'key') {
      if (c !== '"') return i;
      const bad = scanString();
      if (bad >= 0) return bad;
      skipWhitespace();
      if (i >= n) return n;
      if (text[i] !== ':') return i;
      i++;
      expect = 'value';
      continue;
    }
    if (c === '{' || c === '[') {
      i++;
      skipWhitespace();
      const closer = c === '{' ? '}' : ']';
      if (text[i] === closer) {
        i++;
        expect = 'after';
      } else {
        open.push(closer);
        expect = c === '{' ? 'key' : 'value';
      }
      continue;
    }
    let bad: number;
    if (c === '"') bad = scanString();
    else if (c === '-' || DIGIT.test(c)) bad = scanNumber();
    else if (c === 't') bad = scanLiteral('true');
    else if (c === 'f') bad = scanLiteral('false');
    else if (c === 'n') bad = scanLiteral('null');
    else return i;
    if (bad >= 0) return bad;
    expect = 'after';
  }
}

/**
 * "body is not valid JSON at position N" for `text` that failed to parse: never Node's own message,
 * which quotes the input (B.57) and often names no position.
 */
export function jsonErrorText(text: string, what: 'body' | 'frame'): string {
  return `${what} is not valid JSON at position ${Math.max(0, jsonErrorPosition(text))}`;
}
