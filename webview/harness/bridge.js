/* global window, document, fetch, performance, sessionStorage, URLSearchParams, location, BroadcastChannel */
// Harness stand-in for VS Code's webview bridge: `acquireVsCodeApi` with getState/setState
// kept in sessionStorage (so a reload restores state, like a re-created webview), and a host
// that answers the viewer's messages from the harness server's endpoints.
(function () {
  'use strict';
  const log = [];
  window.__hostLog = log;
  const toWebview = (msg, transfer) => window.postMessage(msg, '*', transfer || []);
  async function fetchBinary(url) {
    const r = await fetch(url);
    if (!r.ok) throw new Error(url + ': HTTP ' + r.status + ' ' + (await r.text()));
    return r.arrayBuffer();
  }
  async function fetchJson(url) {
    const r = await fetch(url);
    return r.ok ? r.json() : null;
  }
  async function onMessage(msg) {
    log.push(msg);
    try {
      if (msg.type === 'ready') {
        // ?holdTrace=1: the trace is sent when the page calls window.__releaseTrace() (a test posts
        // what the extension posts while a job is still being read, before it).
        if (new URLSearchParams(location.search).get('holdTrace') === '1')
          await new Promise((resolve) => (window.__releaseTrace = resolve));
        const info = await fetchJson('/info.json');
        const data = await fetchBinary('/trace.bin');
        window.__traceSentAt = performance.now();
        toWebview({ type: 'trace', title: info.title, data }, [data]);
        // window.__analysisAnswered says whether an analysis follows ('sent') or not ('none'), so that a
        // test can wait for the layout the analysis gives (its warnings banner moves the tracks down).
        let analysis = null;
        try {
          analysis = await fetchJson('/analysis.json');
        } finally {
          window.__analysisAnswered = analysis ? 'sent' : 'none';
        }
        if (analysis) toWebview({ type: 'analysis', analysis });
      } else if (msg.type === 'applySuggestion') {
        toWebview({ type: 'status', message: 'Re-running with ' + msg.suggestionId + '…', busy: true });
        const info = await fetchJson('/compare-info.json');
        if (!info) {
          toWebview({
            type: 'reply',
            replyTo: msg.id,
            ok: false,
            message: 'The harness has no second run to compare with.',
          });
          return;
        }
        const data = await fetchBinary('/compare.bin');
        const analysis = await fetchJson('/compare-analysis.json');
        toWebview({ type: 'comparison', suggestionId: msg.suggestionId, title: info.title, data, analysis }, [data]);
        toWebview({ type: 'status', message: 'Re-run finished.', busy: false });
        toWebview({ type: 'reply', replyTo: msg.id, ok: true });
      } else if (msg.type === 'viewSync') {
        // The extension relays a linked view's window to the other trace views; pages of the
        // harness stand in for those views through a BroadcastChannel.
        syncChannel.postMessage({
          type: 'syncView',
          startNs: msg.startNs,
          endNs: msg.endNs,
          originLabel: msg.originLabel,
        });
      } else if (msg.type === 'requestView') {
        // Protocol step 10: the harness server answers from its level-of-detail index.
        const request = {
          startNs: msg.startNs,
          endNs: msg.endNs,
          nsPerPx: msg.nsPerPx,
          tracks: msg.tracks,
          keep: msg.keep,
        };
        let data;
        try {
          data = await fetchBinary('/view.bin?request=' + encodeURIComponent(JSON.stringify(request)));
        } catch (err) {
          // As the extension does: a view the host cannot give is a failed reply, not an error page.
          toWebview({ type: 'reply', replyTo: msg.id, ok: false, message: String((err && err.message) || err) });
          return;
        }
        toWebview({ type: 'traceView', replyTo: msg.id, data }, [data]);
      } else if (msg.type === 'search') {
        const r = await fetchJson('/search.json?q=' + encodeURIComponent(msg.query));
        if (r) toWebview(Object.assign({ type: 'searchResult', replyTo: msg.id }, r));
        else toWebview({ type: 'reply', replyTo: msg.id, ok: false, message: 'The harness cannot search this run.' });
      } else if (msg.type === 'requestRange') {
        const data = await fetchBinary(
          '/range.bin?start=' + msg.startNs + '&end=' + msg.endNs + '&minDur=' + msg.minDurNs,
        );
        toWebview({ type: 'traceRange', replyTo: msg.id, data }, [data]);
      }
    } catch (err) {
      toWebview({ type: 'error', title: 'Harness host failed', message: String((err && err.message) || err) });
    }
  }
  const syncChannel = new BroadcastChannel('commlens-harness-sync');
  syncChannel.onmessage = (e) => toWebview(e.data);
  window.acquireVsCodeApi = function () {
    return {
      postMessage: (msg) => {
        void onMessage(msg);
      },
      getState: () => {
        const s = sessionStorage.getItem('commlens-state');
        return s ? JSON.parse(s) : undefined;
      },
      setState: (s) => {
        sessionStorage.setItem('commlens-state', JSON.stringify(s));
      },
    };
  };
  const theme = new URLSearchParams(location.search).get('theme') || 'dark';
  const setTheme = () => {
    document.body.className = 'vscode-' + theme;
    document.body.dataset.vscodeThemeKind = 'vscode-' + theme;
  };
  if (document.body) setTheme();
  else document.addEventListener('DOMContentLoaded', setTheme);
})();
