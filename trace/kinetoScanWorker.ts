/** Worker entry of the streaming Kineto ingest (trace/kinetoScanPool.ts): trace/kinetoScanService.ts. */
import { serveScanRequests } from './kinetoScanService';

serveScanRequests();
