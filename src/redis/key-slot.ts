/** CRC16/XMODEM (polynomial 0x1021), the checksum Redis Cluster hashes keys and channels with. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/**
 * The Redis Cluster slot (0 to 16383) of a key or a sharded channel, as `CLUSTER KEYSLOT` computes it:
 * only the part between the first `{` and the next `}` is hashed when that part is not empty (a hash
 * tag), so `metrics{eu}:a` and `metrics{eu}:b` share a slot.
 */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key);
  const open = bytes.indexOf(0x7b); // {
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1); // }
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % 16384;
  }
  return crc16(bytes) % 16384;
}
