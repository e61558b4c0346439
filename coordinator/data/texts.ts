// Texts a GPT run trains on, stored under the data dir by content: `texts/<sha256>.txt`. The
// lead uploads one (POST /api/lead/texts) and names it by its id in the create request; the
// IDLEGRAD_TEXT file of a `npm start` GPT run is put here too, so that every text run's
// dataset carries the id of its bytes and is reloaded from it after a restart or a swap.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Largest text the lead may upload (bytes). */
export const MAX_TEXT_BYTES = 8 * 1024 * 1024;

const ID = /^[0-9a-f]{64}$/;

export const textId = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

export class TextStore {
  constructor(readonly dir: string) {}

  private file(id: string): string {
    return join(this.dir, `${id}.txt`);
  }

  /** Stores `bytes` (idempotent: the same text has the same id). */
  put(bytes: Uint8Array): { id: string; bytes: number } {
    const id = textId(bytes);
    if (!existsSync(this.file(id))) {
      mkdirSync(this.dir, { recursive: true });
      const tmp = `${this.file(id)}.${process.pid}.tmp`;
      writeFileSync(tmp, bytes);
      renameSync(tmp, this.file(id)); // never a half-written text under its id
    }
    return { id, bytes: bytes.length };
  }

  has(id: string): boolean {
    return ID.test(id) && existsSync(this.file(id));
  }

  /** The bytes of text `id`; the error names what is wrong (`what` prefixes it). */
  get(id: string, what = 'text'): Uint8Array {
    if (!ID.test(id)) throw new Error(`${what}: expected the 64-hex-digit id of an uploaded text (POST /api/lead/texts), got ${JSON.stringify(id)}`);
    if (!existsSync(this.file(id))) throw new Error(`${what}: no uploaded text has id ${id}`);
    const bytes = new Uint8Array(readFileSync(this.file(id)));
    if (textId(bytes) !== id) throw new Error(`${what}: the stored text ${id} does not hash to its id (the file was changed)`);
    return bytes;
  }
}
