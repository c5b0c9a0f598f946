/*
 * bakery banner: tells employees using an app which environment they are on
 * and how far the one before it is ahead. Include it in the app's pages:
 *
 *   <script src="https://bakery.example/banner.js" data-service="web"
 *     data-environment="production" data-token="BANNER_TOKEN"></script>
 *
 * The token is public to anyone who loads the page: use a banner token
 * (bakery token create --name web-banner --role banner), which reads this
 * banner and nothing else, never a viewer token. With server.banner.public
 * set, leave data-token out.
 *
 * Optional: data-newer-url="https://staging.example" makes "use staging" a
 * link; data-always shows the bar even when nothing newer is waiting.
 *
 * On an environment whose use an exposure gate counts in people (staging,
 * when production has exposure.people), the banner says "You are helping
 * bake web 3f2c1ab — 2 of 3 people so far" and the script sends one beacon
 * per release: a random id made once per browser (crypto.getRandomValues,
 * kept in localStorage under bakery-person; no name, no e-mail, no
 * fingerprint) with the ticket bakery signed for this banner read. It is
 * shown whether or not anything newer waits.
 * It is self-contained: no other file, no styles leak in or out (it styles
 * its own elements from script, which a style-src policy allows).
 */
(function () {
  'use strict';
  var me = document.currentScript;
  if (!me || !window.fetch) return;
  var service = me.getAttribute('data-service');
  var env = me.getAttribute('data-environment');
  var token = me.getAttribute('data-token');
  var newerURL = me.getAttribute('data-newer-url');
  var always = me.hasAttribute('data-always');
  if (!service || !env) return;
  var base = new URL(me.src, location.href).origin;
  var key = 'bakery-banner:' + service + '/' + env;
  var headers = { Accept: 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;

  fetch(base + '/api/v1/services/' + encodeURIComponent(service) + '/environments/' + encodeURIComponent(env) + '/banner',
    { headers: headers, credentials: 'omit', mode: 'cors' })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (b) {
      if (b && b.beacon) beacon(b.beacon);
      if (!b || (!b.newer_count && !always && !b.exposure)) return;
      var stamp = String(b.version) + '/' + b.newer_count;
      try { if (sessionStorage.getItem(key) === stamp) return; } catch (e) { /* storage off */ }
      if (document.body) show(b, stamp);
      else document.addEventListener('DOMContentLoaded', function () { show(b, stamp); });
    })
    .catch(function () { /* bakery unreachable: show nothing */ });

  // person is this browser's random id, made once and kept in
  // localStorage; null when storage is off (then no beacon is sent).
  function person() {
    try {
      var id = localStorage.getItem('bakery-person');
      if (id && /^[0-9a-f]{32}$/.test(id)) return id;
      var bytes = new Uint8Array(16);
      crypto.getRandomValues(bytes);
      id = '';
      for (var i = 0; i < bytes.length; i++) id += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
      localStorage.setItem('bakery-person', id);
      return id;
    } catch (e) { return null; }
  }

  // beacon tells bakery that this browser used the release the ticket
  // names, once per release.
  function beacon(t) {
    var id = person();
    if (!id || !t.ticket || !t.url) return;
    var release = '';
    try { release = atob(t.ticket.split('.')[0].replace(/-/g, '+').replace(/_/g, '/')).split('|')[3]; } catch (e) { return; }
    var sent = 'bakery-beacon:' + service + '/' + env;
    try { if (localStorage.getItem(sent) === release) return; } catch (e) { return; }
    var h = { 'Content-Type': 'application/json' };
    if (token) h.Authorization = 'Bearer ' + token;
    fetch(base + t.url, { method: 'POST', headers: h, credentials: 'omit', mode: 'cors', keepalive: true,
      body: JSON.stringify({ ticket: t.ticket, id: id }) })
      .then(function (r) { if (r.ok) { try { localStorage.setItem(sent, release); } catch (e) { /* storage off */ } } })
      .catch(function () { /* bakery unreachable: counted next time */ });
  }

  function css(el, styles) {
    for (var k in styles) el.style[k] = styles[k];
    return el;
  }

  function show(b, stamp) {
    var host = document.createElement('div');
    host.setAttribute('data-bakery-banner', '');
    var root = host.attachShadow ? host.attachShadow({ mode: 'open' }) : host;
    var bar = css(document.createElement('div'), {
      display: 'flex', alignItems: 'center', gap: '12px', padding: '8px 14px', background: b.newer_count ? '#7c2d12' : '#1e3a5f',
      color: '#fff', font: '14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif', boxShadow: '0 2px 6px rgba(0,0,0,.25)'
    });
    bar.setAttribute('role', 'status');
    var text = css(document.createElement('span'), { flex: '1' });
    text.textContent = b.message;
    bar.appendChild(text);
    if (newerURL && b.newer_in && b.newer_count) {
      var a = css(document.createElement('a'), { color: '#fff', fontWeight: '700' });
      a.href = newerURL;
      a.textContent = 'Open ' + b.newer_in;
      bar.appendChild(a);
    }
    var close = css(document.createElement('button'), {
      background: 'transparent', color: '#fff', border: '1px solid rgba(255,255,255,.6)', borderRadius: '4px',
      padding: '2px 8px', font: 'inherit', cursor: 'pointer'
    });
    close.type = 'button';
    close.textContent = '×';
    close.setAttribute('aria-label', 'Dismiss the environment banner');
    close.addEventListener('click', function () {
      try { sessionStorage.setItem(key, stamp); } catch (e) { /* storage off */ }
      host.remove();
    });
    bar.appendChild(close);
    root.appendChild(bar);
    css(host, { position: 'sticky', top: '0', zIndex: '2147483647', display: 'block' });
    document.body.insertBefore(host, document.body.firstChild);
  }
})();
