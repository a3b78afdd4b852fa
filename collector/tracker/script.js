/*! pageview-lambda tracker: page views, no cookies. Attributes and API: collector/tracker.ts */
(function () {
  'use strict';
  try {
    var w = window;
    var doc = document;
    var loc = location;
    var nav = navigator;
    if (w.plausible && w.plausible.pvl) return; // loaded twice: the first copy counts

    var script = doc.currentScript || doc.querySelector('script[data-domain]');
    if (!script) return;
    var has = function (name) {
      return script.hasAttribute(name);
    };
    var endpoint = script.getAttribute('data-api') || new URL(script.src, loc.href).origin + '/api/event';
    var domain = script.getAttribute('data-domain') || loc.hostname;
    var hashMode = has('data-hash-mode');

    var ignored = function () {
      if (!has('data-allow-localhost') && (/^localhost$|^127(\.\d+){0,2}\.\d+$|^\[::1?\]$/.test(loc.hostname) || loc.protocol === 'file:')) {
        return 'localhost';
      }
      if (!has('data-allow-automation') && (nav.webdriver || w._phantom || w.__nightmare || w.Cypress)) return 'automated browser';
      return '';
    };

    var send = function (name, options) {
      var callback;
      try {
        options = options || {};
        callback = options.callback;
        var reason = ignored();
        if (reason) {
          if (w.console && console.warn) console.warn('Ignoring event (' + reason + '): ' + name);
        } else {
          var payload = { n: String(name), u: options.u || loc.href, d: domain, r: doc.referrer || null, w: w.innerWidth };
          if (hashMode) payload.h = 1;
          if (options.props) payload.p = options.props;
          var body = JSON.stringify(payload);
          var queued = false;
          try {
            // A string body is sent as text/plain: a "simple" request, no CORS preflight.
            queued = !!(nav.sendBeacon && nav.sendBeacon(endpoint, body));
          } catch (e) {}
          if (!queued && w.fetch) {
            w.fetch(endpoint, { method: 'POST', body: body, keepalive: true, headers: { 'Content-Type': 'text/plain' } })['catch'](function () {});
          }
        }
      } catch (e) {}
      try {
        if (typeof callback === 'function') callback();
      } catch (e) {}
    };

    var lastPage;
    var page = function (navigation) {
      try {
        var path = loc.pathname + (hashMode ? loc.hash : '');
        if (navigation && path === lastPage) return; // e.g. pushState of the same path, or a #fragment link
        lastPage = path;
        send('pageview');
      } catch (e) {}
    };

    var queue = (w.plausible && w.plausible.q) || [];
    var plausible = function (name, options) {
      send(name, options);
    };
    plausible.pvl = 1;
    w.plausible = plausible;

    if (!has('data-manual')) {
      var history = w.history;
      var pushState = history && history.pushState;
      if (typeof pushState === 'function') {
        history.pushState = function () {
          var result = pushState.apply(this, arguments);
          page(true);
          return result;
        };
      }
      var navigated = function () {
        page(true);
      };
      w.addEventListener('popstate', navigated);
      if (hashMode) w.addEventListener('hashchange', navigated);
      if (doc.visibilityState === 'prerender') {
        // A prerendered page counts when (if ever) it is shown.
        doc.addEventListener('visibilitychange', function () {
          if (lastPage === undefined && doc.visibilityState === 'visible') page();
        });
      } else {
        page();
      }
      // A page restored from the back-forward cache runs no script again: count it here.
      w.addEventListener('pageshow', function (e) {
        if (e && e.persisted) page();
      });
    }

    for (var i = 0; i < queue.length; i++) send.apply(null, queue[i]);
  } catch (e) {}
})();
