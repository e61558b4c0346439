// Plural choice through Intl.PluralRules, so each language supplies only the forms it has
// ('one' and 'other' in English and German; 'few', 'many' … where a language needs them).
export type PluralForms = Partial<Record<Intl.LDMLPluralRule, string>> & { other: string };

const rules = new Map<string, Intl.PluralRules>();

/** The form of `forms` that `n` takes in `locale`, with `#` replaced by `n` as given. */
export function plural(locale: string, n: number, forms: PluralForms, shown: string = String(n)): string {
  let pr = rules.get(locale);
  if (!pr) rules.set(locale, (pr = new Intl.PluralRules(locale)));
  return (forms[pr.select(n)] ?? forms.other).replaceAll('#', shown);
}
