// Starts the dashboard page. main.ts calls it as shipped; the e2e page (e2e/page/) calls it
// with a hook that sees the store.
import { mount } from 'svelte';
import '../ui/theme.css';
import Dashboard from './Dashboard.svelte';
import { DashboardStore } from '../state/dashboard.svelte.ts';
import { LeadStore } from '../state/lead.svelte.ts';

export function bootDashboardPage(hooks: { onStore?: (store: DashboardStore) => void } = {}): void {
  const store = new DashboardStore();
  hooks.onStore?.(store);
  const target = document.getElementById('app')!;
  target.replaceChildren();
  mount(Dashboard, { target, props: { store, lead: new LeadStore() } });
  void store.start();
}
