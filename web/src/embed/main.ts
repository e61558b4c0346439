import { mount } from 'svelte';
import '../ui/theme.css';
import Embed from './Embed.svelte';
import { createVolunteerStore } from '../state/volunteer.svelte.ts';

const params = new URLSearchParams(location.search);
const raw = params.get('partner');
// A partner name is shown to the volunteer: keep it short and plain.
const partner = raw && /^[\w.\- ]{1,64}$/.test(raw) ? raw : null;
const fullTabUrl = new URL('./', location.href).href;

const target = document.getElementById('app')!;
createVolunteerStore({ partner, surface: 'widget' }).then(
  (store) => {
    target.replaceChildren();
    mount(Embed, { target, props: { store, partner, fullTabUrl } });
  },
  (e: unknown) => {
    target.textContent = `idlegrad could not start: ${e instanceof Error ? e.message : String(e)}`;
  },
);
