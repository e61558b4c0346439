/*
 * idlegrad embed loader. On a partner page:
 *
 *   <script src="https://COORDINATOR/embed.js" data-partner="NAME" async></script>
 *
 * It inserts, right after the script tag (or inside the element named by an optional
 * data-target="#css-selector"), a 360×220 iframe of COORDINATOR/embed.html?partner=NAME.
 * Everything runs inside that frame, on idlegrad's origin: this loader reads and writes no
 * cookies or storage on the host page, loads nothing else, and computes nothing.
 */
(function () {
  'use strict';
  var current = document.currentScript;
  var scripts = current ? [current] : document.querySelectorAll('script[src*="embed.js"][data-partner]');
  for (var i = 0; i < scripts.length; i++) mountOne(scripts[i]);

  function mountOne(script) {
    if (!script || script.hasAttribute('data-idlegrad-mounted')) return;
    script.setAttribute('data-idlegrad-mounted', '');
    var origin;
    try {
      origin = new URL(script.src, location.href).origin;
    } catch (e) {
      return;
    }
    var partner = script.getAttribute('data-partner') || '';
    var frame = document.createElement('iframe');
    frame.src = origin + '/embed.html?partner=' + encodeURIComponent(partner);
    frame.title = 'idlegrad: lend your GPU to train a shared neural network';
    frame.width = '360';
    frame.height = '220';
    frame.loading = 'lazy';
    frame.referrerPolicy = 'no-referrer';
    // Scripts and storage on idlegrad's own origin; popups for "continue in a full tab".
    frame.setAttribute('sandbox', 'allow-scripts allow-same-origin allow-popups allow-popups-to-escape-sandbox');
    frame.setAttribute('style', 'display:block;width:360px;height:220px;max-width:100%;border:1px solid #e2e6eb;border-radius:10px;background:transparent');
    var selector = script.getAttribute('data-target');
    var target = selector ? document.querySelector(selector) : null;
    if (target) target.replaceChildren(frame);
    else script.insertAdjacentElement('afterend', frame);
  }
})();
