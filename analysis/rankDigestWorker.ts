/**
 * Worker entry of the Kineto scan pool for `analyze` and the viewer's job analysis: the scan
 * service (trace/kinetoScanService.ts), with each reduced rank digested before it leaves the
 * worker when the request asks for it (analysis/rankDigest.ts).
 */
import { serveScanRequests, type RankTransform } from '../trace/kinetoScanService';
import { digestReducedRank } from './rankDigest';

const transform: RankTransform = (options, r) => digestReducedRank(options, r);

serveScanRequests(transform);
