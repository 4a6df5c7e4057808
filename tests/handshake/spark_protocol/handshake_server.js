// The judge of particle_py/handshake/tcp.py: spark-protocol 0.1.6's Handshake (the open-source
// Particle cloud's TCP handshake, lib/Handshake.js, unchanged) run as a server.
//
//   node handshake_server.js <spark-protocol folder> <server private key PEM> <device keys folder>
//
// The device keys folder holds `<device id>.pub.pem` for each device the server knows, as
// spark-server keeps them. Prints "judge listening <port>", then one line per connection:
// "judge <n> sends the session key" or "judge <n> failed: <spark-protocol's reason>".
'use strict';
const Module = require('module');
const net = require('net');
const path = require('path');

const [sparkProtocol, serverKeyFile, deviceKeysDir] = process.argv.slice(2);
if (!deviceKeysDir) {
    console.error('usage: node handshake_server.js <spark-protocol folder> <server key PEM> <device keys folder>');
    process.exit(64);
}

const shim = path.join(__dirname, 'ursa_shim.js');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
    return request === 'ursa' ? shim : resolve.call(this, request, ...rest);
};

global.settings = { coreKeysDir: deviceKeysDir };
const Handshake = require(path.join(sparkProtocol, 'lib', 'Handshake.js'));
const CryptoLib = require(path.join(sparkProtocol, 'lib', 'ICrypto.js'));
if (!CryptoLib.loadServerKeys(serverKeyFile)) {
    console.error(`judge: no server key at ${serverKeyFile}`);
    process.exit(66);
}

function say(line) { process.stdout.write(`judge ${line}\n`); }

// what spark-protocol does after it closes the connection is not the judge's business
process.on('uncaughtException', (err) => { console.error(`judge: after the handshake: ${err && err.message}`); });

const sendSessionKey = Handshake.prototype.send_sessionkey;
Handshake.prototype.send_sessionkey = function () {
    sendSessionKey.call(this);
    say(`${this.client._connection_key} sends the session key`);
};

let connections = 0;
const server = net.createServer((socket) => {
    const n = ++connections;
    socket.on('error', () => {});
    // the parts of spark-protocol's SparkCore that Handshake touches before the Hello
    const client = { socket, _connection_key: n, routeMessage() {}, parseMessage() { return null; }, sendMessage() {} };
    new Handshake().handshake(client, () => {}, (reason) => {
        say(`${n} failed: ${reason}`);
        socket.destroy();       // as SparkCore.disconnect does on a failed handshake
    });
});
server.listen(0, '127.0.0.1', () => say(`listening ${server.address().port}`));
