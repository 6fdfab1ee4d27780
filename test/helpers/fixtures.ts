import type { ContainerStatusMessage, SystemMetricMessage, AlertMessage } from '../../src/protocol/wire.js';

export function metric(metric_type = 'cpu', value = 45.2, source = 'host', time = new Date().toISOString()): SystemMetricMessage {
  return { type: 'system_metric', data: { time, metric_type, value, source, meta: { unit: 'percent' } } };
}

export function container(name = 'tick-archiver', status: ContainerStatusMessage['data']['status'] = 'running'): ContainerStatusMessage {
  return { type: 'container_status', data: { container: name, status, time: new Date().toISOString() } };
}

export function alert(level: AlertMessage['data']['level'] = 'critical', value = 95): AlertMessage {
  return {
    type: 'alert',
    data: {
      level,
      metric_type: 'cpu',
      source: 'host',
      value,
      threshold: 90,
      message: `cpu on host at ${value} %`,
      time: new Date().toISOString(),
    },
  };
}
