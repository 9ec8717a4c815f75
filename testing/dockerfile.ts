/**
 * Reads the images' Dockerfiles (no docker here): their stages and instructions, for the checks
 * of scripts/dockerfiles.test.ts and for e2e/production-layout.test.ts, which builds the layout
 * the last stage copies from what the Dockerfile says rather than from a second description.
 *
 * Enough of the Dockerfile grammar for these files: `#` comment lines (also inside a continued
 * instruction, as Docker drops them there), `\` line continuations, flags (`--from=build`) before
 * an instruction's arguments, and JSON (exec) form. Parser directives are comments here.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root, where the Dockerfiles and their build context are. */
export const REPO_ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface Instruction {
  /** Upper-cased: `FROM`, `RUN`, `COPY` … */
  keyword: string;
  /** `--name=value` flags before the arguments (`--from=build`, `--interval=30s`). */
  flags: Record<string, string>;
  /** The arguments after the flags, as written (continuations joined by a space). */
  args: string;
  /** The 1-based line the instruction starts on, for messages. */
  line: number;
}

export interface Stage {
  /** The image it starts from (`FROM IMAGE [AS name]`). */
  from: string;
  /** `AS name`, or null for an unnamed stage. */
  name: string | null;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** Instructions before the first FROM (global ARGs). */
  preamble: Instruction[];
  stages: Stage[];
}

function splitFlags(text: string): { flags: Record<string, string>; args: string } {
  const flags: Record<string, string> = {};
  let rest = text.trimStart();
  for (
    let match = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest);
    match;
    match = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest)
  ) {
    flags[match[1] as string] = match[2] ?? 'true';
    rest = rest.slice(match[0].length);
  }
  return { flags, args: rest.trim() };
}

/** The instructions of a Dockerfile's text, in order. */
export function parseInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  let pending: { text: string; line: number } | null = null;
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (/^\s*#/.test(line) || (pending === null && line.trim() === '')) return;
    const continued = /\\\s*$/.test(line);
    const piece = continued ? line.replace(/\\\s*$/, '') : line;
    pending = pending
      ? { text: `${pending.text} ${piece.trim()}`, line: pending.line }
      : { text: piece, line: i + 1 };
    if (continued) return;
    const match = /^\s*([A-Za-z]+)\s*(.*)$/.exec(pending.text);
    if (match) {
      const { flags, args } = splitFlags(match[2] as string);
      out.push({ keyword: (match[1] as string).toUpperCase(), flags, args, line: pending.line });
    }
    pending = null;
  });
  return out;
}

/** Splits the instructions into stages at each FROM. */
export function parseDockerfile(text: string): Dockerfile {
  const result: Dockerfile = { preamble: [], stages: [] };
  for (const instruction of parseInstructions(text)) {
    if (instruction.keyword === 'FROM') {
      const [from, as, name] = instruction.args.split(/\s+/);
      result.stages.push({
        from: from as string,
        name: as?.toUpperCase() === 'AS' && name ? name : null,
        instructions: [],
      });
    } else {
      const stage = result.stages.at(-1);
      (stage ? stage.instructions : result.preamble).push(instruction);
    }
  }
  return result;
}

/** Reads and parses a Dockerfile of the repository (`Dockerfile.broker`, `Dockerfile.runtime`). */
export function readDockerfile(name: string): Dockerfile {
  return parseDockerfile(readFileSync(path.join(REPO_ROOT, name), 'utf8'));
}

/** The JSON (exec) form's words, or null for the shell form. */
export function execForm(args: string): string[] | null {
  if (!args.startsWith('[')) return null;
  try {
    const words: unknown = JSON.parse(args);
    return Array.isArray(words) && words.every((w) => typeof w === 'string') ? words : null;
  } catch {
    return null;
  }
}

/** The stage a name points at (`--from=build`). */
export function stageNamed(file: Dockerfile, name: string): Stage | undefined {
  return file.stages.find((s) => s.name === name);
}

/** What the image's last stage copies in: sources (in the context or a stage) and destination. */
export interface LayoutCopy {
  /** The stage copied from, or null for the build context. */
  from: string | null;
  sources: string[];
  destination: string;
}

/** The COPY instructions of the last stage, read as source lists and a destination. */
export function finalCopies(file: Dockerfile): LayoutCopy[] {
  const last = file.stages.at(-1);
  if (!last) return [];
  return last.instructions
    .filter((i) => i.keyword === 'COPY')
    .map((i) => {
      const words = execForm(i.args) ?? i.args.split(/\s+/);
      return { from: i.flags.from ?? null, sources: words.slice(0, -1), destination: words.at(-1) as string };
    });
}
