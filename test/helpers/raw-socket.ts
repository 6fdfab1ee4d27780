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

/**
 * Completes a WebSocket handshake for `target` (path and query) on a raw socket, then never reads again: the
 * socket is paused, so the kernel's buffers fill and then the server's. Resolves with the socket once the
 * 101 has arrived (rejects with the status line otherwise; with `deflate`, also when the server did not
 * accept permessage-deflate). The caller destroys it.
 */
export function openNonReadingSocket(port: number, target: string, { deflate = false } = {}): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.pause();
      if (head.startsWith('HTTP/1.1 101') && (!deflate || /^sec-websocket-extensions: permessage-deflate/im.test(head))) resolve(socket);
      else {
        socket.destroy();
        reject(new Error(`handshake refused: ${head.split('\r\n')[0]}`));
      }
    };
    socket.on('data', onData);
    socket.write(
      `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
        (deflate ? 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n' : '') +
        '\r\n',
    );
  });
}
