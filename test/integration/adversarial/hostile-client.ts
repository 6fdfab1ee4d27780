// A StreamManager in a Node process of its own, pointed at HOSTILE_URL: prints one line per event, so that
// hostile-server.test.ts can watch what it does and whether the process survives what the server sends.
import { WebSocket } from 'ws';
import { StreamManager } from '../../../src/client/stream-manager.js';
import type { WebSocketConstructor } from '../../../src/client/environment.js';

const manager = new StreamManager({
  url: process.env['HOSTILE_URL'] ?? '',
  WebSocket: WebSocket as unknown as WebSocketConstructor,
  authCheckUrl: false,
});
manager.on('state', (status) => console.log(`state ${status.state}`));
manager.on('discarded', ({ reason, count }) => console.log(`discarded ${reason} ${count}`));
manager.on('system_metric', (envelope) => console.log(`metric ${envelope.data.value}`));
manager.connect();
console.log('started');
