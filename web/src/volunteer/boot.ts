// Starts the volunteer app page. main.ts calls it as shipped; the e2e page (e2e/page/) calls it
// with its test hooks, so nothing of theirs is in the production bundle.
import { mount } from 'svelte';
import '../ui/theme.css';
import App from './App.svelte';
import { createVolunteerStore, type PageHooks } from '../state/volunteer.svelte.ts';
import { PwaState } from '../state/pwa.svelte.ts';
import { PARTNER_ID } from '../../../shared/wire/index.ts';
import { activateLanguage, messages } from '../i18n/index.ts';

export function bootVolunteerPage(hooks: PageHooks = {}): void {
  // Arriving from a partner's widget ("continue in a full tab"): that partner keeps the credit.
  const partnerParam = new URLSearchParams(location.search).get('partner');
  const partner = partnerParam && PARTNER_ID.test(partnerParam) ? partnerParam : null;

  const target = document.getElementById('app')!;
  // The reader's language loads beside the store (German is a separate chunk), before mounting.
  Promise.all([createVolunteerStore({ partner, ...hooks }), activateLanguage()]).then(
    ([store]) => {
      const pwa = new PwaState(() => store.client.deliverOutbox());
      pwa.register();
      target.replaceChildren();
      mount(App, { target, props: { store, pwa } });
    },
    (e: unknown) => {
      target.textContent = messages().app.couldNotStart({ reason: e instanceof Error ? e.message : String(e) });
      console.error(e);
    },
  );
}
