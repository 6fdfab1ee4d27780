import { once } from 'node:events';
import net from 'node:net';

/** Sends an upgrade request for `path`, then resets the connection (SO_LINGER 0: RST, not FIN). */
export async function upgradeThenReset(port: number, path: string): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
  );
  await new Promise((resolve) => setTimeout(resolve, 1));
  socket.resetAndDestroy();
}
