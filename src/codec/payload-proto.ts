/**
 * Wire encoding of a Temporal `Payload` message (temporal.api.common.v1.Payload: `map<string, bytes>
 * metadata = 1; bytes data = 2;`). The codec encrypts the whole serialised payload, metadata
 * included, the same way Temporal's encryption samples do, so a payload's original encoding is
 * hidden too. Written against protobufjs's minimal Reader/Writer to avoid depending on
 * @temporalio/proto directly; unknown fields are skipped on read.
 */
import { Reader, Writer } from 'protobufjs/minimal';
import type { Payload } from '@temporalio/common';

const METADATA_FIELD = 1;
const DATA_FIELD = 2;
const LENGTH_DELIMITED = 2;

function tag(field: number): number {
  return (field << 3) | LENGTH_DELIMITED;
}

export function encodePayloadProto(payload: Payload): Uint8Array {
  const writer = Writer.create();
  for (const [key, value] of Object.entries(payload.metadata ?? {})) {
    writer.uint32(tag(METADATA_FIELD)).fork().uint32(tag(1)).string(key).uint32(tag(2)).bytes(value).ldelim();
  }
  if (payload.data && payload.data.length > 0) writer.uint32(tag(DATA_FIELD)).bytes(payload.data);
  return writer.finish();
}

export function decodePayloadProto(bytes: Uint8Array): Payload {
  const reader = Reader.create(bytes);
  const metadata: Record<string, Uint8Array> = {};
  let data: Uint8Array = new Uint8Array(0);
  while (reader.pos < reader.len) {
    const t = reader.uint32();
    switch (t >>> 3) {
      case METADATA_FIELD: {
        const end = reader.uint32() + reader.pos;
        let key = '';
        let value: Uint8Array = new Uint8Array(0);
        while (reader.pos < end) {
          const et = reader.uint32();
          if (et >>> 3 === 1) key = reader.string();
          else if (et >>> 3 === 2) value = reader.bytes();
          else reader.skipType(et & 7);
        }
        metadata[key] = value;
        break;
      }
      case DATA_FIELD:
        data = reader.bytes();
        break;
      default:
        reader.skipType(t & 7);
    }
  }
  return { metadata, data };
}
