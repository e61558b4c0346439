// Starts the embed widget page. main.ts calls it as shipped; the e2e page (e2e/page/) calls it
// with its test hooks.
import { mount } from 'svelte';
import '../ui/theme.css';
import Embed from './Embed.svelte';
import { createVolunteerStore, type PageHooks } from '../state/volunteer.svelte.ts';
import { PARTNER_ID } from '../../../shared/wire/index.ts';
import { connectHost, hostOriginOf } from './host-bridge.ts';
import { activateLanguage, messages } from '../i18n/index.ts';

export function bootEmbedPage(hooks: PageHooks = {}): void {
  const params = new URLSearchParams(location.search);
  const raw = params.get('partner');
  // A partner id is shown to the volunteer and recorded in the ledger: plain and short only.
  const partner = raw && PARTNER_ID.test(raw) ? raw : null;
  const runParam = params.get('run');
  const run = runParam && /^\d{1,9}$/.test(runParam) ? Number(runParam) : null;
  // "Continue in a full tab" keeps the partner's credit: the app page takes ?partner= too.
  const fullTab = new URL('./', location.href);
  if (partner) fullTab.searchParams.set('partner', partner);
  const host = window.parent !== window ? hostOriginOf(params.get('host')) : null;
  // The host page's visible-only option (public/embed.js): pause while that page is hidden.
  const visibleOnly = params.get('visible') === '1';

  const target = document.getElementById('app')!;
  Promise.all([createVolunteerStore({ partner, surface: 'widget', run, ...hooks }), activateLanguage()]).then(
    ([store]) => {
      target.replaceChildren();
      if (visibleOnly) store.client.setEnvironment({ hostVisibleOnly: true });
      mount(Embed, { target, props: { store, partner, fullTabUrl: fullTab.href, visibleOnly } });
      if (host)
        connectHost({ host, parent: window.parent, subscribe: (fn) => store.client.subscribe(fn), stop: () => void store.client.stop(), events: window });
    },
    (e: unknown) => {
      target.textContent = messages().app.couldNotStart({ reason: e instanceof Error ? e.message : String(e) });
    },
  );
}
