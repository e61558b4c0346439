/*
 * idlegrad widget loader. On a partner page:
 *
 *   <script src="https://PLATFORM/embed.js" async></script>
 *   <idlegrad-widget run="1" partner="your-site"></idlegrad-widget>
 *
 * Options (attributes): run, partner, and visible-only (present: the widget trains only while
 * this page is visible, whatever the volunteer chose elsewhere).
 *
 * <idlegrad-widget> renders a small card holding an iframe of PLATFORM/embed.html. Keys,
 * consent, storage and compute live inside that frame, on the platform's origin; this loader
 * reads and writes no cookies or storage of the host page, loads nothing else and computes
 * nothing. The frame never starts by itself: the volunteer opts in and presses Start in it.
 *
 * Events for the host page, dispatched on the element (and mirrored in its status line):
 *   'idlegrad-state'        detail: { state, phase, round, creditWei, contributions }
 *   'idlegrad-contribution' detail: { round, state, reason }
 * They arrive by postMessage and are accepted only from the frame's own window with the
 * platform's exact origin; the frame posts only to this page's exact origin. element.stop()
 * asks the frame to stop (the host page can stop the widget, never start it).
 */
(function () {
  'use strict';
  if (!window.customElements || customElements.get('idlegrad-widget')) return;
  var script = document.currentScript || document.querySelector('script[src$="/embed.js"]');
  var ORIGIN;
  try {
    ORIGIN = new URL(script.src, location.href).origin;
  } catch (e) {
    return;
  }
  var PARTNER = /^[A-Za-z0-9][\w.\-]{0,63}$/;
  var CSS =
    ':host{display:block;max-width:100%;width:360px;font:14px/1.35 system-ui,sans-serif;color:#1d2733}' +
    '.card{border:1px solid #e2e6eb;border-radius:10px;background:#fff;overflow:hidden}' +
    '.bar{display:flex;gap:.5em;align-items:baseline;padding:.45em .8em;border-bottom:1px solid #e2e6eb;background:#f6f8fa;font-size:12px}' +
    '.bar b{color:#2a62c9}.st{margin-left:auto;color:#5b6673}' +
    'iframe{display:block;width:100%;height:230px;border:0;background:transparent}';

  class IdlegradWidget extends HTMLElement {
    connectedCallback() {
      if (!this._frame) this._render();
      window.addEventListener('message', this._onMessage);
    }

    disconnectedCallback() {
      window.removeEventListener('message', this._onMessage);
    }

    /** Ask the frame to stop training (it cannot be started from the host page). */
    stop() {
      if (this._frame && this._frame.contentWindow) this._frame.contentWindow.postMessage({ type: 'idlegrad:stop' }, ORIGIN);
    }

    _render() {
      var partner = this.getAttribute('partner') || '';
      var run = this.getAttribute('run') || '';
      var root = this.attachShadow({ mode: 'open' });
      var style = document.createElement('style');
      style.textContent = CSS;
      var card = document.createElement('div');
      card.className = 'card';
      var bar = document.createElement('div');
      bar.className = 'bar';
      var name = document.createElement('b');
      name.textContent = 'idlegrad';
      var what = document.createElement('span');
      what.textContent = 'volunteer compute, only if you opt in';
      var status = document.createElement('span');
      status.className = 'st';
      status.setAttribute('part', 'status');
      status.textContent = 'not started';
      bar.append(name, what, status);
      var q = new URLSearchParams({ host: location.origin });
      if (PARTNER.test(partner)) q.set('partner', partner);
      if (/^\d{1,9}$/.test(run)) q.set('run', run);
      if (this.hasAttribute('visible-only')) q.set('visible', '1');
      var frame = document.createElement('iframe');
      frame.src = ORIGIN + '/embed.html?' + q.toString();
      frame.title = 'idlegrad: lend this computer to train a shared neural network';
      frame.referrerPolicy = 'no-referrer';
      // Scripts and storage on the platform's own origin; popups for "continue in a full tab".
      frame.setAttribute('sandbox', 'allow-scripts allow-same-origin allow-popups allow-popups-to-escape-sandbox');
      // What the frame reads to be a good guest: the battery (pause on a low one, or off the
      // charger) and CPU pressure (ease off when the computer is busy). Cross-origin frames get
      // neither unless the embedding page delegates them here.
      frame.setAttribute('allow', 'battery; compute-pressure');
      card.append(bar, frame);
      root.append(style, card);
      this._frame = frame;
      var self = this;
      this._onMessage = function (e) {
        // Exact checks: this widget's own frame, on the platform's origin.
        if (e.source !== frame.contentWindow || e.origin !== ORIGIN) return;
        var d = e.data;
        if (!d || typeof d !== 'object' || typeof d.type !== 'string') return;
        if (d.type === 'idlegrad:state') {
          self.state = d;
          status.textContent = d.state + (d.round != null ? ' · round ' + d.round : '');
          self.dispatchEvent(new CustomEvent('idlegrad-state', { detail: d }));
        } else if (d.type === 'idlegrad:contribution') {
          self.dispatchEvent(new CustomEvent('idlegrad-contribution', { detail: d }));
        }
      };
    }
  }

  customElements.define('idlegrad-widget', IdlegradWidget);
})();
