import assert from "node:assert/strict";
import { test } from "node:test";
import type { OutboundMessage, SendResult } from "../channel.ts";
import { ChannelRegistry, sinkFactory } from "../registry.ts";
import { SinkAdapter } from "./sink-adapter.ts";

function message(messageId: string, attempt = 1): OutboundMessage {
  return {
    workspaceId: 1,
    messageId,
    customerId: "9",
    channel: "sms",
    kind: "marketing",
    to: "+4915112345678",
    body: { kind: "text", text: `hello ${messageId}` },
    attempt,
  };
}

test("the sink keeps what it was sent and scripts the provider's answers", async () => {
  const seen: string[] = [];
  const sink = new SinkAdapter(
    { name: "sms", kind: "sms" },
    {
      respond: (m): SendResult =>
        m.messageId === "2" && m.attempt === 1
          ? { status: "retry", afterMs: 5_000, reason: "busy" }
          : { status: "sent", providerId: `p${m.messageId}` },
      onSend: (m, r) => seen.push(`${m.messageId}:${r.status}`),
    },
  );
  assert.deepEqual(await sink.send(message("1")), { status: "sent", providerId: "p1" });
  assert.equal((await sink.send(message("2"))).status, "retry");
  assert.equal((await sink.send(message("2", 2))).status, "sent");
  assert.deepEqual(
    sink.messages.map((m) => m.body.kind === "text" && m.body.text),
    ["hello 1", "hello 2"],
  );
  assert.equal(sink.records.length, 3);
  assert.equal(sink.sentCount, 2);
  assert.deepEqual(seen, ["1:sent", "2:retry", "2:sent"]);
  await sink.close();
  assert.equal((await sink.send(message("3"))).status, "retry", "a closed sink loses nothing");
});

test("a registry can send every channel into sinks, one adapter per channel", async () => {
  const sent: string[] = [];
  const registry = ChannelRegistry.every({ env: {} }, sinkFactory({ onSend: (m) => sent.push(m.channel) }));
  const channel = {
    name: "sms",
    provider: "smpp" as const,
    kind: "sms" as const,
    contact: "phone" as const,
    cost: 3,
    capacity: null,
    rate: null,
    settings: { sender: "PETALS" },
  };
  const a = registry.adapter(channel);
  const b = registry.adapter(channel);
  assert.ok(a.ok && b.ok);
  assert.equal(a.adapter, b.adapter);
  await a.adapter.send(message("1"));
  assert.deepEqual(sent, ["sms"]);
  const changed = registry.adapter({ ...channel, settings: { sender: "OTHER" } });
  assert.ok(changed.ok && changed.adapter !== a.adapter, "changed settings make a new adapter");
  await registry.close();
});
