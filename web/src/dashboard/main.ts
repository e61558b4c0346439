import { mount } from 'svelte';
import '../ui/theme.css';
import Dashboard from './Dashboard.svelte';
import { DashboardStore } from '../state/dashboard.svelte.ts';

const store = new DashboardStore();
const target = document.getElementById('app')!;
target.replaceChildren();
mount(Dashboard, { target, props: { store } });
void store.start();
