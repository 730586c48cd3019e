/**
 * Webview entry point: connects the App to the VS Code bridge (`acquireVsCodeApi`), posts
 * `ready` (the handshake: the host sends the trace only after it), and routes host messages.
 */
import { App, perf, type Host } from './app';
import type { HostToWebview, WebviewState } from './protocol';
import { frameTimes } from './timeline/timeline';

interface VsCodeApi {
  postMessage(msg: unknown, transfer?: Transferable[]): void;
  getState(): unknown;
  setState(s: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

function start(): void {
  const root = document.getElementById('app');
  if (!root) throw new Error('CommLens webview: #app element missing from the HTML');
  const api = acquireVsCodeApi();
  const host: Host = {
    post: (msg, transfer) => (transfer ? api.postMessage(msg, transfer) : api.postMessage(msg)),
    getState: () => {
      const s = api.getState() as WebviewState | undefined;
      return s && s.version === 1 ? s : undefined;
    },
    setState: (s) => api.setState(s),
  };
  const app = new App(root, host);
  window.addEventListener('message', (e: MessageEvent<HostToWebview>) => {
    if (e.data && typeof e.data === 'object' && typeof e.data.type === 'string') app.receive(e.data);
  });
  // Read by the harness tests and the benchmark; harmless in VS Code.
  (window as unknown as { commlens: unknown }).commlens = {
    perf,
    frameTimes,
    rectOf: (m: number) => app.pageRectOf(m),
    trackRect: (t: number) => app.pageRectOfTrack(t),
    foldRect: (pid: number) => app.pageRectOfFold(pid),
    setLod: (on: boolean) => app.setLod(on),
    heatCell: (rank: number, step: number) => app.heatCellRect(rank, step),
    viewStatus: () => app.viewStatus(),
  };
  host.post({ type: 'ready' });
}

start();
