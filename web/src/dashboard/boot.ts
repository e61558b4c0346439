// Starts the dashboard page. main.ts calls it as shipped; the e2e page (e2e/page/) calls it
// with a hook that sees the store.
import { mount } from 'svelte';
import '../ui/theme.css';
import Dashboard from './Dashboard.svelte';
import { DashboardStore } from '../state/dashboard.svelte.ts';
import { LeadStore } from '../state/lead.svelte.ts';
import { activateLanguage } from '../i18n/index.ts';

export async function bootDashboardPage(hooks: { onStore?: (store: DashboardStore) => void } = {}): Promise<void> {
  const store = new DashboardStore();
  hooks.onStore?.(store);
  // activateLanguage never rejects: a catalog that fails to load falls back to English.
  await activateLanguage();
  const target = document.getElementById('app')!;
  target.replaceChildren();
  mount(Dashboard, { target, props: { store, lead: new LeadStore() } });
  void store.start();
}
