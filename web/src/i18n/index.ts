// The message catalog: `en.ts` is the source of truth and is bundled; every other language is
// a module of the same type loaded on demand, so it costs the initial JavaScript nothing.
// The active language is chosen once, before a page mounts (pages do not switch language while
// open). Log lines written by web/src/client/ (the event log) stay English for now.
import { en, type Messages } from './en.ts';

export type { Messages };

/** Languages with a complete catalog, and how each is loaded. */
const LOADERS = {
  en: async () => en,
  de: async () => (await import('./de.ts')).de,
} satisfies Record<string, () => Promise<Messages>>;

export type Language = keyof typeof LOADERS;
export const LANGUAGES = Object.keys(LOADERS) as Language[];

let active: Messages = en;

/** The first of the reader's preferred languages (`navigator.languages`) that has a catalog, matched by primary subtag; English otherwise. */
export function chooseLanguage(preferred: readonly string[]): Language {
  for (const tag of preferred) {
    const primary = tag.trim().toLowerCase().split(/[-_]/)[0];
    if ((LANGUAGES as string[]).includes(primary)) return primary as Language;
  }
  return 'en';
}

export function loadMessages(lang: Language): Promise<Messages> {
  return LOADERS[lang]();
}

/** Chooses, loads and activates the reader's language and sets `<html lang>`; falls back to English if its catalog cannot load. */
export async function activateLanguage(preferred: readonly string[] = navigator.languages ?? [navigator.language]): Promise<Language> {
  let lang = chooseLanguage(preferred);
  try {
    active = await loadMessages(lang);
  } catch (e) {
    console.error(`the '${lang}' message catalog did not load; showing English`, e);
    lang = 'en';
    active = en;
  }
  document.documentElement.lang = lang;
  return lang;
}

/** The active catalog (English until activateLanguage resolves). */
export function messages(): Messages {
  return active;
}
