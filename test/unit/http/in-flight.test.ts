import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { InFlightResponses } from '../../../src/http/in-flight.ts';

describe('InFlightResponses', () => {
  let server: Server | undefined;

  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });

  it('counts requests begun and holds each response until it closes, answered or cut', async () => {
    const held: ServerResponse[] = [];
    server = createServer((_req, res) => held.push(res));
    const inFlight = new InFlightResponses(server);
    const settled: ServerResponse[] = [];
    inFlight.onSettled((res) => settled.push(res));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;

    const answered = connect(port, '127.0.0.1');
    const cut = connect(port, '127.0.0.1');
    for (const socket of [answered, cut]) socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    while (held.length < 2) await once(server, 'request');
    assert.equal(inFlight.started, 2);
    assert.equal(inFlight.open.size, 2);

    const [first, second] = held as [ServerResponse, ServerResponse];
    const firstSocket = first.socket!.remotePort === answered.localPort ? answered : cut;
    const toAnswer = firstSocket === answered ? first : second;
    const toCut = toAnswer === first ? second : first;
    toAnswer.end('ok');
    await once(toAnswer, 'close');
    assert.deepEqual(settled, [toAnswer]);
    assert.deepEqual([...inFlight.open], [toCut]);

    cut.destroy();
    await once(toCut, 'close');
    assert.deepEqual(settled, [toAnswer, toCut]);
    assert.equal(inFlight.open.size, 0);
    assert.equal(inFlight.started, 2, 'a counter of requests begun, not of requests open');
    answered.destroy();
  });
});
