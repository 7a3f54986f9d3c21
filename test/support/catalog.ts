// Small signal catalogs and topologies for tests.

import {
  type DetectionConfig,
  detectionSchema,
  type SignalCatalog,
  signalCatalogSchema,
  type Topology,
  topologySchema,
} from '../../lambdas/core/config/schema';

export const testCatalog: SignalCatalog = signalCatalogSchema.parse({
  signals: [
    {
      id: 'error_ratio',
      query: 'max by (service) (service:http_errors:ratio_rate1m)',
      unit: 'ratio',
      badDirection: 'up',
      minDeviation: 0.005,
      hardLimit: { above: 0.5 },
    },
    {
      id: 'latency_p99',
      query: 'max by (service) (service:http_request_duration_seconds:p99)',
      unit: 'seconds',
      badDirection: 'up',
      limits: { 'matching-engine': { above: 0.01 } },
    },
    {
      id: 'request_rate',
      query: 'sum by (service) (service:http_requests:rate1m)',
      unit: 'requests_per_second',
      badDirection: 'both',
    },
    {
      id: 'disk_free',
      query: 'min by (service) (node:filesystem_avail:ratio)',
      unit: 'ratio',
      badDirection: 'down',
      hardLimit: { below: 0.05 },
    },
  ],
});

export const testTopology: Topology = topologySchema.parse({
  services: [
    { name: 'api-gateway', criticality: 'core', dependsOn: ['order-api', 'wallet-service'] },
    { name: 'order-api', criticality: 'core', dependsOn: ['mysql-main', 'matching-engine'] },
    { name: 'wallet-service', criticality: 'funds', dependsOn: ['mysql-main'] },
    { name: 'matching-engine', criticality: 'core' },
    { name: 'mysql-main', kind: 'datastore', criticality: 'core' },
  ],
});

export const testDetection: DetectionConfig = detectionSchema.parse({});
