import { mount } from 'svelte';
import '../ui/theme.css';
import App from './App.svelte';
import { createVolunteerStore } from '../state/volunteer.svelte.ts';
import { PwaState } from '../state/pwa.svelte.ts';

const target = document.getElementById('app')!;
createVolunteerStore().then(
  (store) => {
    const pwa = new PwaState(() => store.client.deliverOutbox());
    pwa.register();
    target.replaceChildren();
    mount(App, { target, props: { store, pwa } });
  },
  (e: unknown) => {
    target.textContent = `idlegrad could not start: ${e instanceof Error ? e.message : String(e)}`;
    console.error(e);
  },
);
