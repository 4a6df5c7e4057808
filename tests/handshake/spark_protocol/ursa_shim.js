// The part of the `ursa` module that spark-protocol 0.1.6's Handshake.js uses (through
// lib/ICrypto.js and lib/utilities.js), backed by Node's own crypto: ursa is a native OpenSSL
// binding that no longer builds, so the peer cache installs it unbuilt and the judge script
// resolves require('ursa') to this file.
//
// Node 20 refuses RSA_PKCS1_PADDING for private decryption (CVE-2023-46809), so that one call
// decrypts without padding and checks the PKCS#1 v1.5 block here, failing as OpenSSL (and so
// ursa) did on a bad block.
'use strict';
const crypto = require('crypto');

const RSA_NO_PADDING = crypto.constants.RSA_NO_PADDING;
const RSA_PKCS1_PADDING = crypto.constants.RSA_PKCS1_PADDING;
const RSA_PKCS1_OAEP_PADDING = crypto.constants.RSA_PKCS1_OAEP_PADDING;

function input(buf, encoding) {
    return Buffer.isBuffer(buf) ? buf : Buffer.from(buf, encoding || 'utf8');
}

function output(buf, encoding) {
    return encoding ? buf.toString(encoding) : buf;
}

function unpadType2(block) {
    // 00 02, at least 8 non-zero bytes, 00, the message
    const separator = block.indexOf(0, 2);
    if (block[0] !== 0 || block[1] !== 2 || separator < 10) {
        throw new Error('Error: rsa routines: padding check failed');
    }
    return block.subarray(separator + 1);
}

class PublicKey {
    constructor(keyObject) { this.keyObject = keyObject; }
    encrypt(buf, bufEncoding, outEncoding, padding) {
        const pad = padding === undefined ? RSA_PKCS1_OAEP_PADDING : padding;
        return output(crypto.publicEncrypt({ key: this.keyObject, padding: pad }, input(buf, bufEncoding)), outEncoding);
    }
    publicDecrypt(buf, bufEncoding, outEncoding) {
        return output(crypto.publicDecrypt({ key: this.keyObject, padding: RSA_PKCS1_PADDING },
            input(buf, bufEncoding)), outEncoding);
    }
    toPublicPem(encoding) {
        const pem = crypto.createPublicKey(this.keyObject).export({ type: 'spki', format: 'pem' });
        return output(Buffer.from(pem), encoding);
    }
}

class PrivateKey extends PublicKey {
    decrypt(buf, bufEncoding, outEncoding, padding) {
        const pad = padding === undefined ? RSA_PKCS1_OAEP_PADDING : padding;
        const data = input(buf, bufEncoding);
        if (pad !== RSA_PKCS1_PADDING) {
            return output(crypto.privateDecrypt({ key: this.keyObject, padding: pad }, data), outEncoding);
        }
        const block = crypto.privateDecrypt({ key: this.keyObject, padding: RSA_NO_PADDING }, data);
        return output(Buffer.from(unpadType2(block)), outEncoding);
    }
    // ursa's privateEncrypt: PKCS#1 v1.5 type 1 over the bytes as given, no DigestInfo
    privateEncrypt(buf, bufEncoding, outEncoding) {
        return output(crypto.privateEncrypt({ key: this.keyObject, padding: RSA_PKCS1_PADDING },
            input(buf, bufEncoding)), outEncoding);
    }
}

function createPublicKey(pem, encoding) {
    return new PublicKey(crypto.createPublicKey(input(pem, encoding)));
}

function createPrivateKey(pem, password, encoding) {
    const options = { key: input(pem, encoding) };
    if (password !== undefined && password !== null) { options.passphrase = password; }
    return new PrivateKey(crypto.createPrivateKey(options));
}

function createKey(pem, password, encoding) {
    const text = input(pem, encoding).toString('latin1');
    return /PRIVATE KEY-----/.test(text) ? createPrivateKey(pem, password, encoding) : createPublicKey(pem, encoding);
}

function generatePrivateKey(modulusBits, exponent) {
    const pair = crypto.generateKeyPairSync('rsa', { modulusLength: modulusBits || 2048, publicExponent: exponent || 65537 });
    return new PrivateKey(pair.privateKey);
}

module.exports = {
    RSA_NO_PADDING, RSA_PKCS1_PADDING, RSA_PKCS1_OAEP_PADDING,
    createPublicKey, createPrivateKey, createKey, generatePrivateKey,
    isKey: (obj) => obj instanceof PublicKey,
    isPublicKey: (obj) => obj instanceof PublicKey && !(obj instanceof PrivateKey),
    isPrivateKey: (obj) => obj instanceof PrivateKey,
};
