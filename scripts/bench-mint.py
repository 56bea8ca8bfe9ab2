#!/usr/bin/env python3
"""Keys, tokens and sealed session cookies for scripts/bench and scripts/memory-check.

    bench-mint.py DIR            write secrets, keys, JWKS files, tokens and sealed cookies
    bench-mint.py DIR --many N   also write DIR/many.cookies: N distinct sealed HS256
                                 sessions for cookie "ak_hs", one value per line

Everything is made here (Debian's python3-cryptography): the client secret signs HS256 as
authentik's Proxy Provider does, and fresh RSA-2048 / P-256 / Ed25519 keys sign RS256 / ES256 /
EdDSA, with their public halves in DIR/<alg>.jwks. Sealing follows core/src/seal.rs:
base64url(1 || nonce || AES-256-GCM(token, aad = cookie name) || tag) under
HKDF-SHA256(salt "ngx_http_authentik_module v1", ikm cookie_secret, info "session").

Files written to DIR: client.secret, cookie.secret, {rs,es,ed}.jwks, {hs,rs,es,ed}.token and
{hs,rs,es,ed}.cookie (the sealed value for cookie "ak_<alg>").
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ISSUER = "https://authentik.company/application/o/app/"
CLIENT_ID = "vMA9a8ZpHxerNIEzVACsbDMToHVSM9Qle10XqxWl"
CLIENT_SECRET = ("ZhcPOCahRS4HjUpr2D0JpSHHZzvLtTCfA2ZipuPTtxInyPvCW1s3wfbrGuNUMwLmA6cI73EGgAu3"
                 "4J3GPOJsoSpLREeb3xISTlVQfQiUS2lks5E3gkpsnO2ig6y9owZN")
COOKIE_SECRET = "KCC6C5C86LNKyJZQS5L9UlSbirUrqhnSywAqBxqfUxsikVpd"
SUB = "3944a1807a752510bdd77383390dc5f4c7802d97ca77464c1d5416e90dbb6dfe"


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(serial=None):
    """akadmin's access token as authentik issues it (tests/src/tokens.rs), valid a day."""
    now = int(time.time())
    c = {
        "iss": ISSUER, "sub": SUB, "aud": CLIENT_ID, "exp": now + 86400, "iat": now - 5,
        "auth_time": now - 120, "acr": "goauthentik.io/providers/oauth2/default",
        "amr": ["pwd"],
        "sid": "f427888b284cd64852137a3413bace07b6b039695e91a900408fd5fa62296620",
        "jti": "25a1f2564487bd68fca3782200da2368", "azp": CLIENT_ID,
        "uid": "4b5124fae70fd93478b3be6afc361eb8",
        "scope": "openid profile email entitlements ak_proxy",
        "email": "admin@authentik.company", "email_verified": False,
        "name": "authentik Default Admin", "given_name": "authentik Default Admin",
        "preferred_username": "akadmin", "nickname": "akadmin",
        "groups": ["authentik Admins", "users"], "entitlements": ["app-admin", "billing"],
        "ak_proxy": {"user_attributes": {"additionalHeaders": {"X-Foo": "bar",
                                                               "X-Team": "platform"}},
                     "is_superuser": True},
    }
    if serial is not None:
        c["jti"] = "%032x" % serial
        c["preferred_username"] = "user%06d" % serial
    return c


def jws(header, payload, sign):
    signing_input = (b64u(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64u(json.dumps(payload, separators=(",", ":")).encode()))
    return signing_input + "." + b64u(sign(signing_input.encode()))


def hs256(payload):
    key = CLIENT_SECRET.encode()
    return jws({"alg": "HS256", "typ": "JWT"}, payload,
               lambda m: hmac.new(key, m, hashlib.sha256).digest())


class Sealer:
    def __init__(self, secret):
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"ngx_http_authentik_module v1",
                   info=b"session").derive(secret)
        self.aead = AESGCM(key)

    def seal(self, name, token):
        nonce = os.urandom(12)
        return b64u(b"\x01" + nonce + self.aead.encrypt(nonce, token.encode(), name.encode()))


def write(directory, name, text):
    with open(os.path.join(directory, name), "w") as f:
        f.write(text)


def main():
    if len(sys.argv) not in (2, 4) or (len(sys.argv) == 4 and sys.argv[2] != "--many"):
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    write(out, "client.secret", CLIENT_SECRET + "\n")
    write(out, "cookie.secret", COOKIE_SECRET + "\n")
    sealer = Sealer(COOKIE_SECRET.encode())
    tokens = {"hs": hs256(claims())}

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = rsa_key.public_key().public_numbers()
    write(out, "rs.jwks", json.dumps({"keys": [{
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": "bench-rsa",
        "n": b64u(numbers.n.to_bytes(256, "big")), "e": b64u(numbers.e.to_bytes(3, "big"))}]}))
    tokens["rs"] = jws({"alg": "RS256", "typ": "JWT", "kid": "bench-rsa"}, claims(),
                       lambda m: rsa_key.sign(m, padding.PKCS1v15(), hashes.SHA256()))

    ec_key = ec.generate_private_key(ec.SECP256R1())
    point = ec_key.public_key().public_numbers()
    write(out, "es.jwks", json.dumps({"keys": [{
        "kty": "EC", "alg": "ES256", "use": "sig", "kid": "bench-ec", "crv": "P-256",
        "x": b64u(point.x.to_bytes(32, "big")), "y": b64u(point.y.to_bytes(32, "big"))}]}))

    def es256(m):
        r, s = decode_dss_signature(ec_key.sign(m, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    tokens["es"] = jws({"alg": "ES256", "typ": "JWT", "kid": "bench-ec"}, claims(), es256)

    ed_key = ed25519.Ed25519PrivateKey.generate()
    raw = ed_key.public_key().public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw)
    write(out, "ed.jwks", json.dumps({"keys": [{
        "kty": "OKP", "alg": "EdDSA", "use": "sig", "kid": "bench-ed", "crv": "Ed25519",
        "x": b64u(raw)}]}))
    tokens["ed"] = jws({"alg": "EdDSA", "typ": "JWT", "kid": "bench-ed"}, claims(), ed_key.sign)

    for alg, token in tokens.items():
        write(out, alg + ".token", token + "\n")
        write(out, alg + ".cookie", sealer.seal("ak_" + alg, token) + "\n")

    if len(sys.argv) == 4:
        with open(os.path.join(out, "many.cookies"), "w") as f:
            for serial in range(int(sys.argv[3])):
                f.write(sealer.seal("ak_hs", hs256(claims(serial))) + "\n")


if __name__ == "__main__":
    main()
