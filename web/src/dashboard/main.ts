import { mount } from 'svelte';
import '../ui/theme.css';
import Dashboard from './Dashboard.svelte';
import { DashboardStore } from '../state/dashboard.svelte.ts';
import { LeadStore } from '../state/lead.svelte.ts';

const store = new DashboardStore();
const target = document.getElementById('app')!;
target.replaceChildren();
mount(Dashboard, { target, props: { store, lead: new LeadStore() } });
void store.start();
