// bakery dashboard: live updates over server-sent events, countdowns, and
// the dialogs of the controls. Plain script, no dependencies.
(function () {
  'use strict';

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : '';
  var page = document.body.dataset.page || '';
  var pageService = document.body.dataset.service || '';

  // ---- time ----------------------------------------------------------

  function human(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    function pad(n) { return (n < 10 ? '0' : '') + n; }
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + pad(s % 60) + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + pad(Math.floor((s % 3600) / 60)) + 'm';
    return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
  }

  function clock(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    function pad(n) { return (n < 10 ? '0' : '') + n; }
    if (s >= 3600) return Math.floor(s / 3600) + ':' + pad(Math.floor((s % 3600) / 60)) + ':' + pad(s % 60);
    return Math.floor(s / 60) + ':' + pad(s % 60);
  }

  var localFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  var openFmt = { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' };

  function when(el, attr) {
    var v = el.getAttribute(attr);
    if (!v) return NaN;
    return Date.parse(v);
  }

  // tick updates every countdown, elapsed time and "ago" once a second.
  function tick(root) {
    root = root || document;
    var now = Date.now();
    root.querySelectorAll('[data-until]').forEach(function (el) {
      var t = when(el, 'data-until');
      if (isNaN(t)) return;
      el.textContent = t > now ? human(t - now) + ' left' : (el.dataset.doneText || 'bake complete');
    });
    root.querySelectorAll('[data-elapsed]').forEach(function (el) {
      var t = when(el, 'data-elapsed');
      if (!isNaN(t)) el.textContent = clock(now - t);
    });
    root.querySelectorAll('progress[data-start][data-end]').forEach(function (el) {
      var a = when(el, 'data-start'), b = when(el, 'data-end');
      if (isNaN(a) || isNaN(b) || b <= a) return;
      el.value = Math.round(Math.min(1, Math.max(0, (now - a) / (b - a))) * 1000);
    });
    root.querySelectorAll('time.ago[datetime]').forEach(function (el) {
      var t = when(el, 'datetime');
      if (!isNaN(t)) el.textContent = human(now - t) + ' ago';
    });
    root.querySelectorAll('time.local[datetime]:not([data-done])').forEach(function (el) {
      var t = when(el, 'datetime');
      if (isNaN(t)) return;
      el.title = el.textContent;
      el.textContent = localFmt.format(new Date(t));
      el.setAttribute('data-done', '');
    });
    root.querySelectorAll('time.opens[datetime]:not([data-done])').forEach(function (el) {
      var t = when(el, 'datetime');
      if (isNaN(t)) return;
      var local = new Intl.DateTimeFormat(undefined, openFmt).format(new Date(t));
      var zone = el.dataset.zone;
      var inZone = el.textContent;
      if (zone) {
        try {
          inZone = new Intl.DateTimeFormat(undefined, Object.assign({ timeZone: zone, timeZoneName: 'short' }, openFmt)).format(new Date(t)) + ' ' + zone;
        } catch (e) { /* keep the server's text */ }
      }
      el.textContent = local + ' your time (' + inZone + ')';
      el.setAttribute('data-done', '');
    });
  }
  tick();
  setInterval(function () { tick(); }, 1000);

  // ---- toast ---------------------------------------------------------

  var toastEl = document.getElementById('toast');
  var toastTimer = null;
  function toast(msg) {
    if (!toastEl) return;
    toastEl.textContent = msg;
    toastEl.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { toastEl.hidden = true; }, 5000);
  }

  // ---- fragments -----------------------------------------------------

  function signIn() {
    location.href = '/signin?next=' + encodeURIComponent(location.pathname);
  }

  function getHTML(url) {
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'text/html' }, cache: 'no-store' }).then(function (r) {
      if (r.status === 401) { signIn(); throw new Error('signed out'); }
      if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
      return r.text();
    });
  }

  function parse(html) {
    var t = document.createElement('template');
    t.innerHTML = html.trim();
    return t.content;
  }

  // swap replaces target's content (or target itself) keeping what the
  // person was doing: open output panels and the focused control.
  function swap(target, html, outer) {
    var open = Array.prototype.map.call(target.querySelectorAll('details[open][id]'), function (d) { return d.id; });
    var active = document.activeElement;
    var activeId = active && active.id && target.contains(active) ? active.id : null;
    var frag = parse(html);
    var root;
    if (outer) {
      root = frag.firstElementChild;
      if (!root) return;
      target.replaceWith(frag);
    } else {
      target.replaceChildren(frag);
      root = target;
    }
    open.forEach(function (id) {
      var d = document.getElementById(id);
      if (d) d.open = true;
    });
    if (activeId) {
      var el = document.getElementById(activeId);
      if (el) el.focus({ preventScroll: true });
    }
    tick(root);
  }

  // schedule runs fn for key soon, at most once at a time: changes that
  // arrive while a refresh runs cause one more refresh, not one each.
  var jobs = {};
  function schedule(key, fn, delay) {
    var j = jobs[key] || (jobs[key] = { timer: null, running: false, again: false });
    if (j.running) { j.again = true; return; }
    if (j.timer) return;
    j.timer = setTimeout(function () {
      j.timer = null;
      j.running = true;
      Promise.resolve().then(fn).catch(function (e) { if (window.console) console.warn(e); }).then(function () {
        j.running = false;
        if (j.again) { j.again = false; schedule(key, fn, delay); }
      });
    }, delay === undefined ? 30 : delay);
  }

  function refreshBanner() {
    return getHTML('/ui/fragments/banner').then(function (html) {
      swap(document.getElementById('banner'), html, false);
    });
  }

  function refreshIncident() {
    var el = document.getElementById('incident');
    if (!el) return;
    return getHTML('/ui/fragments/incident').then(function (html) { swap(el, html, false); });
  }

  function refreshRow(service) {
    return getHTML('/ui/fragments/services/' + encodeURIComponent(service)).then(function (html) {
      var el = document.getElementById('svc-' + service);
      var list = document.getElementById('services');
      if (el) swap(el, html, true);
      else if (!(list && list.getAttribute('data-filtered'))) refreshRows();
    });
  }

  function refreshRows() {
    var el = document.getElementById('services');
    if (!el) return;
    // The same search, state and page as the overview shows.
    return getHTML('/ui/fragments/services' + location.search).then(function (html) { swap(el, html, false); });
  }

  function refreshPage() {
    var el = document.getElementById('service-page');
    if (!el) return;
    return getHTML('/ui/fragments/services/' + encodeURIComponent(pageService) + '/page').then(function (html) {
      swap(el, html, false);
    });
  }

  // bannerHash is the hash of the banner shown; change events carry the
  // server's, so the banner is refetched only when the locks changed.
  function bannerHash() {
    var el = document.querySelector('#banner [data-banner-hash]');
    return el ? el.getAttribute('data-banner-hash') : '';
  }

  function changed(service, banner) {
    if (!banner || banner !== bannerHash()) {
      schedule('banner', refreshBanner);
      if (page === 'overview') schedule('incident', refreshIncident);
    }
    if (page === 'overview') {
      if (service === '*' || !document.getElementById('svc-' + service)) schedule('rows', refreshRows);
      else schedule('row:' + service, function () { return refreshRow(service); });
    } else if (page === 'service' && (service === '*' || service === pageService)) {
      schedule('page', refreshPage);
    }
  }

  function refreshAll() { changed('*'); }

  // ---- live updates --------------------------------------------------

  var liveEl = document.getElementById('live');
  function setLive(state, text) {
    if (!liveEl) return;
    liveEl.dataset.state = state;
    liveEl.textContent = text;
  }

  // The stream starts after the announcement the page was rendered at,
  // so a change between rendering and connecting is not missed; on a
  // reconnect EventSource resumes from the last event's id by itself.
  var seqMeta = document.querySelector('meta[name="ui-seq"]');
  var since = seqMeta ? seqMeta.content : '';
  var source = null;
  // streamQuery tells the server what this page shows, so that it renders
  // and sends only the changes of the rows on it (the overview's filter
  // and page; a service's page), and the counts when they move.
  function streamQuery() {
    var q = new URLSearchParams(page === 'overview' ? location.search : '');
    q.set('view', page === 'overview' ? 'overview' : (page === 'service' ? 'service' : 'none'));
    if (page === 'service') q.set('service', pageService);
    if (since) q.set('since', since);
    return q.toString();
  }

  // listed updates the counts per state and the summary above the rows,
  // and the banner if its hash moved.
  function listed(d) {
    if (d.counts) {
      Object.keys(d.counts).forEach(function (state) {
        var a = document.getElementById('state-' + state);
        if (!a) return;
        a.setAttribute('data-count', d.counts[state]);
        var c = a.querySelector('.count');
        if (c) c.textContent = d.counts[state];
      });
    }
    if (d.summary) {
      var sum = document.getElementById('summary');
      if (sum) sum.textContent = d.summary;
    }
    if (d.banner !== undefined && d.banner !== bannerHash()) {
      schedule('banner', refreshBanner);
      if (page === 'overview') schedule('incident', refreshIncident);
    }
  }

  function connect() {
    if (!window.EventSource || !page) return;
    source = new EventSource('/ui/events?' + streamQuery());
    source.onopen = function () { setLive('live', 'live'); };
    source.addEventListener('change', function (e) {
      if (e.lastEventId) since = e.lastEventId;
      var d;
      try { d = JSON.parse(e.data); } catch (err) { return; }
      if (d && d.service) changed(d.service, d.banner);
    });
    source.addEventListener('list', function (e) {
      if (e.lastEventId) since = e.lastEventId;
      var d;
      try { d = JSON.parse(e.data); } catch (err) { return; }
      if (d) listed(d);
    });
    source.addEventListener('signout', function () { signIn(); });
    source.onerror = function () {
      setLive('offline', 'reconnecting…');
      if (source.readyState === EventSource.CLOSED) {
        // The server refused the stream (e.g. the session ended): find
        // out why, then try again.
        source = null;
        fetch('/ui/fragments/banner', { credentials: 'same-origin' }).then(function (r) {
          if (r.status === 401) signIn();
        }).catch(function () {}).then(function () { setTimeout(connect, 3000); });
      }
    };
  }
  connect();
  window.addEventListener('pagehide', function () { if (source) source.close(); });

  // ---- controls ------------------------------------------------------

  var dlg = document.getElementById('action-dialog');
  if (!dlg) return;
  var form = document.getElementById('action-form');
  var titleEl = document.getElementById('dialog-title');
  var confirmEl = document.getElementById('dialog-confirm');
  var errorEl = document.getElementById('dialog-error');
  var submitEl = document.getElementById('dialog-submit');
  var reasonEl = document.getElementById('f-reason');
  var opener = null;
  var openerId = null;

  function showError(msg) {
    errorEl.textContent = msg;
    errorEl.hidden = !msg;
  }

  function open(button) {
    opener = button;
    openerId = button.id;
    titleEl.textContent = button.dataset.title || 'Confirm';
    confirmEl.textContent = button.dataset.confirm || '';
    submitEl.textContent = button.dataset.submit || 'Confirm';
    submitEl.disabled = false;
    var fields = (button.dataset.fields || '').split(',').filter(Boolean);
    form.querySelectorAll('.field[data-field]').forEach(function (f) {
      var on = fields.indexOf(f.dataset.field) >= 0;
      f.hidden = !on;
      var input = f.querySelector('input');
      input.value = '';
      input.required = on && f.dataset.field === 'version';
      if (f.dataset.field === 'to') input.placeholder = button.dataset.placeholderTo || '';
    });
    reasonEl.value = '';
    showError('');
    dlg.showModal();
    var first = form.querySelector('.field:not([hidden]) input, .field:not([hidden]) textarea');
    (first || reasonEl).focus();
  }

  document.addEventListener('click', function (e) {
    var b = e.target.closest && e.target.closest('button[data-action]');
    if (b) { e.preventDefault(); open(b); }
  });
  document.getElementById('dialog-cancel').addEventListener('click', function () { dlg.close(); });
  dlg.addEventListener('close', function () {
    var back = opener && document.contains(opener) ? opener : (openerId && document.getElementById(openerId));
    if (back) back.focus();
  });

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    if (!opener) return;
    var body = { reason: reasonEl.value.trim() };
    if (!body.reason) {
      showError('Give a reason: it goes on the record with your name.');
      reasonEl.focus();
      return;
    }
    var missing = null;
    form.querySelectorAll('.field[data-field]:not([hidden]) input').forEach(function (input) {
      var v = input.value.trim();
      if (v) body[input.name] = v;
      else if (input.required && !missing) missing = input;
    });
    if (missing) {
      showError('Fill in: ' + missing.labels[0].textContent);
      missing.focus();
      return;
    }
    var b = opener;
    submitEl.disabled = true;
    showError('');
    fetch(b.dataset.url, {
      method: b.dataset.method || 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.text().then(function (text) {
        var j = null;
        try { j = JSON.parse(text); } catch (err) { /* not JSON */ }
        if (r.ok) {
          dlg.close();
          toast(b.dataset.done || 'Done');
          refreshAll();
          return;
        }
        var msg = j && (j.detail || j.error) ? (j.error ? j.error + ': ' : '') + (j.detail || '') : 'HTTP ' + r.status + ' ' + text.slice(0, 300);
        if (r.status === 401) msg += ' — sign in again.';
        showError(msg);
        submitEl.disabled = false;
      });
    }).catch(function (err) {
      showError('The request did not reach bakery: ' + err.message);
      submitEl.disabled = false;
    });
  });
})();
