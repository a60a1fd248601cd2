// kbrel release viewer: progressive enhancement only (every page reads fine without it).
// - file filter: hides documents whose paths do not contain the typed text (Enter submits the
//   form and filters on the server across all pages);
// - language toggle: shows one language's column or all;
// - j / k: next / previous document.
(function () {
  'use strict';
  var root = document.documentElement;
  root.classList.add('js');

  function all(sel) {
    return Array.prototype.slice.call(document.querySelectorAll(sel));
  }

  var filter = document.getElementById('filter');
  var count = document.getElementById('filter-count');
  function applyFilter() {
    var q = filter.value.trim().toLowerCase();
    var docs = all('[data-paths]');
    var shown = 0;
    docs.forEach(function (d) {
      var hit = q === '' || d.getAttribute('data-paths').toLowerCase().indexOf(q) !== -1;
      d.hidden = !hit;
      if (hit) shown += 1;
    });
    if (count) {
      count.textContent = shown + ' of ' + docs.length + ' documents on this page shown';
    }
  }
  if (filter) {
    filter.addEventListener('input', applyFilter);
  }

  var toggle = document.getElementById('lang-toggle');
  function applyLang(lang) {
    all('.side[data-lang]').forEach(function (s) {
      s.hidden = lang !== 'all' && s.getAttribute('data-lang') !== lang;
    });
    root.setAttribute('data-lang-shown', lang);
  }
  if (toggle) {
    toggle.hidden = false;
    toggle.addEventListener('change', function (e) {
      if (e.target && e.target.name === 'lang') {
        applyLang(e.target.value);
      }
    });
  }

  function typing(t) {
    if (!t) return false;
    var tag = t.tagName;
    return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || t.isContentEditable;
  }
  document.addEventListener('keydown', function (e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    if (e.key !== 'j' && e.key !== 'k') return;
    var items = all('[data-nav]').filter(function (x) {
      return !x.hidden && x.getClientRects().length > 0;
    });
    if (items.length === 0) return;
    var active = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest('[data-nav]')
      : null;
    var i = items.indexOf(active);
    var next;
    if (i === -1) {
      next = e.key === 'j' ? items[0] : items[items.length - 1];
    } else {
      next = items[Math.max(0, Math.min(items.length - 1, i + (e.key === 'j' ? 1 : -1)))];
    }
    e.preventDefault();
    next.focus();
    next.scrollIntoView({ block: 'start' });
  });
})();
